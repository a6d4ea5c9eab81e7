"""Pages reached through a signed link in an email: confirm, unsubscribe and
the edition as sent (preferences are in `subscribers.preferences`).

A GET never changes anything (mail scanners open links); a bad or expired
token gets a friendly page with status 400.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from digest.delivery import render_batch
from digest.editions import Planned, digest_from_record
from digest.render import CompileCache
from digest.store import editions as edition_store
from digest.store import subscriptions as store
from digest.store.papers import get_papers
from digest.store.subscribers import Subscriber
from digest.tokens import BadToken, link_urls, matches, read_edition_token, read_token
from subscribers import subscription
from subscribers.emails import settings_lines
from subscribers.pages import error_page, render
from subscribers.security import EMAIL_CSP, client_ip
from subscribers.subscription import Visitor, subscriber_for

BAD_LINK = "Link not valid"


def web_of(request: Request):
    return request.app.state.web


async def bad_link(request: Request, error: BadToken) -> Response:
    """Every page's answer to a tampered, expired or stale link (the app's
    handler for BadToken, which the token readers raise): a friendly 400."""
    message = f"Sorry, {error}. You can sign up again or use the link in a more recent email."
    return error_page(400, BAD_LINK, message)


def subscriber_of(request: Request, purpose: str) -> Subscriber:
    web = web_of(request)
    return subscriber_for(web.engine, web.secret, purpose, request.path_params["token"])


def token_of(request: Request) -> str:
    return request.path_params["token"]


def email_response(message) -> Response:
    """A rendered email as a page: inline styles allowed, nothing active."""
    headers = {"Content-Security-Policy": EMAIL_CSP}
    if message.html is None:
        return PlainTextResponse(message.text, headers=headers)
    return HTMLResponse(message.html, headers=headers)


# --- confirm ----------------------------------------------------------------------


def confirm_page(request: Request) -> Response:
    subscriber = subscriber_of(request, "confirm")
    if subscriber.status not in ("pending", "active"):
        raise BadToken("this link is no longer valid; please sign up again")
    return render("confirm", subscriber=subscriber, done=subscriber.status == "active")


async def confirm(request: Request) -> Response:
    web = web_of(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    visitor = Visitor(client_ip(request), request.headers.get("user-agent"))
    subscriber = await run_in_threadpool(
        subscription.confirm,
        web.engine,
        web.mail,
        request.path_params["token"],
        now=web.clock(),
        visitor=visitor,
    )
    _, preferences = _links(request, subscriber)
    return render(
        "confirmed",
        subscriber=subscriber,
        settings=settings_lines(subscriber),
        preferences_url=preferences,
    )


def _links(request: Request, subscriber: Subscriber) -> tuple[str, str]:
    web = web_of(request)
    return link_urls(web.site.base_url, web.secret, subscriber.id, subscriber.email)


# --- unsubscribe --------------------------------------------------------------------


def unsubscribe_page(request: Request) -> Response:
    subscriber = subscriber_of(request, "unsubscribe")
    left = subscriber.status in ("unsubscribed", "suppressed")
    return render("unsubscribe", subscriber=subscriber, left=left, token=token_of(request))


async def unsubscribe(request: Request) -> Response:
    """The button on the page and RFC 8058's one-click POST (body
    `List-Unsubscribe=One-Click`, no cookies, no CSRF token): 200, no redirect."""
    web = web_of(request)
    subscriber_id, hash_prefix = read_token(web.secret, "unsubscribe", token_of(request))

    def run() -> Subscriber | None:
        with web.engine.begin() as conn:
            found = store.get_by_id(conn, subscriber_id)
        if found is None or not matches(found.email, hash_prefix):
            return None  # erased, or the id was reused: nothing to stop
        subscription.unsubscribe(web.engine, found.id, now=web.clock())
        return found

    subscriber = await run_in_threadpool(run)
    return render("unsubscribe", subscriber=subscriber, left=True, token=token_of(request))


async def resubscribe(request: Request) -> Response:
    web = web_of(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    subscriber = await run_in_threadpool(subscriber_of, request, "unsubscribe")
    await run_in_threadpool(
        subscription.resubscribe, web.engine, web.mail, subscriber.id, now=web.clock()
    )
    return render("check_inbox", email=subscriber.email)


# --- the edition as sent --------------------------------------------------------------


def edition(request: Request) -> Response:
    """The edition as it was sent, rebuilt from its record of sections."""
    web = web_of(request)
    subscriber_id, hash_prefix, period = read_edition_token(web.secret, token_of(request))
    with web.engine.begin() as conn:
        subscriber = store.get_by_id(conn, subscriber_id)
        if subscriber is None or not matches(subscriber.email, hash_prefix):
            raise BadToken("this link is no longer valid")
        record = edition_store.get_edition(conn, subscriber.id, period)
        if record is None or record["sections"] is None or record["status"] == "failed":
            return error_page(404, "Edition not found", "This edition was never sent.")
        keys = [key for section in record["sections"] for key, _ in section["entries"]]
        papers = get_papers(conn, keys)
    prefs = subscriber.prefs
    digest = digest_from_record(
        record["sections"], papers, period=period, frequency=prefs.frequency, fmt=prefs.format
    )
    planned = Planned(subscriber, period, digest, edition_id=record["id"])
    message = render_batch([planned], CompileCache(web.site), web.secret)[0]
    return email_response(message)
