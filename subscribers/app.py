"""The ASGI app (Starlette): what people and SendGrid reach over HTTP.

`create_app(runtime)` wires the pages to the runtime's database, secret, site
and mailer; `clock` and the rate limits are parameters so tests can hold them.
Routes and what each page is for are listed in the README ("Web app").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digest.render import templates_dir
from digest.tokens import BadToken
from digest.wiring import Runtime
from subscribers import account, metrics, preferences, public, webhook
from subscribers.pages import error_page
from subscribers.security import RateLimiter, SecurityHeaders, client_ip
from subscribers.subscription import Mail

log = logging.getLogger(__name__)

# Form posts per client IP: enough for a person, too few for a script.
FORM_RATE = (10, 60.0)


@dataclass
class Web:
    """What every handler needs, on `app.state.web`."""

    runtime: Runtime
    clock: Callable[[], datetime]
    form_limiter: RateLimiter

    @property
    def engine(self):
        return self.runtime.engine

    @property
    def secret(self) -> str:
        return self.runtime.secret

    @property
    def site(self):
        return self.runtime.site

    @property
    def settings(self):
        return self.runtime.settings

    @property
    def mail(self) -> Mail:
        return Mail(self.runtime.mailer, self.site, self.secret)

    def limited(self, request: Request) -> Response | None:
        """A 429 page when this client posted too many forms lately, else None."""
        if self.form_limiter.allow(client_ip(request)):
            return None
        return error_page(
            429,
            "Too many requests",
            "You sent this form many times in a short while. Please wait a minute and try again.",
            headers={"Retry-After": str(int(self.form_limiter.window))},
        )


def web_of(request: Request) -> Web:
    return request.app.state.web


async def healthz(request: Request) -> Response:
    def check() -> bool:
        try:
            with web_of(request).engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            log.exception("health check failed")
            return False

    ok = await run_in_threadpool(check)
    return JSONResponse({"status": "ok" if ok else "database unavailable"}, 200 if ok else 503)


async def not_found(request: Request, exc: Exception) -> Response:
    return error_page(404, "Page not found", "There is no page at this address.")


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return await not_found(request, exc)
    return error_page(exc.status_code, "Request not accepted", str(exc.detail or ""))


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(500, "Something went wrong", "Please try again in a few minutes.")


def routes() -> list:
    return [
        Route("/", public.home),
        Route("/subscribe", public.subscribe_form, methods=["GET"]),
        Route("/subscribe", public.subscribe, methods=["POST"]),
        Route("/papers", public.paper_list),
        Route("/topics", public.topic_index),
        Route("/topics/{slug}.rss", public.topic_feed),
        Route("/topics/{slug}", public.topic_page),
        Route("/confirm/{token}", account.confirm_page, methods=["GET"]),
        Route("/confirm/{token}", account.confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", account.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", account.unsubscribe, methods=["POST"]),
        Route("/unsubscribe/{token}/resubscribe", account.resubscribe, methods=["POST"]),
        Route("/preferences/{token}", preferences.preferences_page, methods=["GET"]),
        Route("/preferences/{token}", preferences.save_preferences, methods=["POST"]),
        Route("/preferences/{token}/preview", preferences.preview_page),
        Route("/preferences/{token}/preview/email", preferences.preview_email),
        Route("/preferences/{token}/export", preferences.export),
        Route("/preferences/{token}/erase", preferences.erase, methods=["POST"]),
        Route("/editions/{token}", account.edition),
        Route("/webhooks/sendgrid", webhook.sendgrid_events, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics.metrics),
        Mount("/static", StaticFiles(directory=templates_dir() / "web" / "static"), name="static"),
    ]


def create_app(
    runtime: Runtime,
    *,
    clock: Callable[[], datetime] | None = None,
    form_rate: tuple[int, float] = FORM_RATE,
) -> Starlette:
    """The web app over `runtime` (settings, database, secret, mailer)."""
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(SecurityHeaders, https=runtime.settings.base_url.startswith("https://"))
        ],
        exception_handlers={
            404: not_found,
            HTTPException: http_error,
            BadToken: account.bad_link,
            Exception: server_error,
        },
    )
    app.state.web = Web(
        runtime=runtime,
        clock=clock or (lambda: datetime.now(UTC)),
        form_limiter=RateLimiter(*form_rate),
    )
    return app
