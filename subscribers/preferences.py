"""The preferences pages (`/preferences/{token}`): every setting behind CSRF
protection, a preview of the next digest, a JSON export and erasure."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest.preferences import WEEKDAYS
from digest.previews import plan_for_email, preview_message
from digest.store import subscriptions as store
from digest.store.subscribers import Subscriber, remove_subscriber, update_subscriber
from digest.subscriber_input import InputError, apply_options
from digest.tokens import make_token
from digest.topics import load_catalog
from subscribers.account import email_response, subscriber_of, token_of, web_of
from subscribers.forms import name_from_form, options_from_form, timezones, topic_rows
from subscribers.pages import error_page, render
from subscribers.security import CSRF_COOKIE, csrf_ok, csrf_pair


def _preferences_form(
    request: Request, subscriber: Subscriber, *, error=None, saved=False, status=200
) -> Response:
    web = web_of(request)
    cookie, field = csrf_pair(web.secret, request)
    response = render(
        "preferences",
        status,
        subscriber=subscriber,
        prefs=subscriber.prefs,
        topic_rows=topic_rows(load_catalog(), subscriber.prefs.topics),
        weekdays=list(enumerate(WEEKDAYS)),
        timezones=timezones(),
        csrf=field,
        error=error,
        saved=saved,
        token=token_of(request),
        unsubscribe_token=make_token(web.secret, "unsubscribe", subscriber.id, subscriber.email),
    )
    secure = web.settings.base_url.startswith("https://")
    response.set_cookie(
        CSRF_COOKIE, cookie, path="/preferences", httponly=True, samesite="strict", secure=secure
    )
    return response


def preferences_page(request: Request) -> Response:
    subscriber = subscriber_of(request, "preferences")
    return _preferences_form(request, subscriber, saved=request.query_params.get("saved") == "1")


def _forbidden() -> Response:
    message = "This form has expired. Open the page again from your email and resubmit."
    return error_page(403, "Form expired", message)


async def save_preferences(request: Request) -> Response:
    web = web_of(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    form = await request.form()
    subscriber = await run_in_threadpool(subscriber_of, request, "preferences")
    if not csrf_ok(web.secret, request, form.get("csrf")):
        return _forbidden()
    catalog = load_catalog()
    try:
        prefs = apply_options(
            subscriber.prefs, options_from_form(form, catalog, full=True), catalog
        )
    except InputError as error:
        return _preferences_form(request, subscriber, error=str(error), status=400)

    def save() -> None:
        with web.engine.begin() as conn:
            update_subscriber(conn, subscriber.id, prefs, now=web.clock())
            store.set_name(conn, subscriber.id, name_from_form(form))

    await run_in_threadpool(save)
    return RedirectResponse(f"/preferences/{token_of(request)}?saved=1", status_code=303)


def preview_page(request: Request) -> Response:
    subscriber = subscriber_of(request, "preferences")
    return render("preview", subscriber=subscriber, token=token_of(request))


def preview_email(request: Request) -> Response:
    """The subscriber's next digest from the current candidates, recording nothing."""
    web = web_of(request)
    subscriber = subscriber_of(request, "preferences")
    with web.engine.begin() as conn:
        preview = plan_for_email(
            conn,
            subscriber.email,
            now=web.clock(),
            on_date=None,
            retention_days=web.settings.retention_days,
        )
    # The edition `send` would send next (or, when today's was sent, the next one).
    return email_response(preview_message(preview.planned, web.site, web.secret))


def export(request: Request) -> Response:
    """Everything stored about the subscriber, as JSON."""
    web = web_of(request)
    subscriber = subscriber_of(request, "preferences")
    with web.engine.begin() as conn:
        consents = store.consent_records(conn, subscriber.id)
        history = store.edition_history(conn, subscriber.id)
    data = {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "created_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
        "preferences": subscriber.prefs.as_dict(),
        "consents": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in c.items()}
            for c in consents
        ],
        "editions": history,
    }
    body = json.dumps(data, indent=2, ensure_ascii=False)
    disposition = 'attachment; filename="my-trending-papers-data.json"'
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": disposition},
    )


async def erase(request: Request) -> Response:
    """Erase the subscriber; only a hashed suppression entry remains."""
    web = web_of(request)
    form = await request.form()
    subscriber = await run_in_threadpool(subscriber_of, request, "preferences")
    if not csrf_ok(web.secret, request, form.get("csrf")):
        return _forbidden()
    if not form.get("confirm_erase"):
        message = "Tick the box to confirm that everything about you should be erased."
        return _preferences_form(request, subscriber, error=message, status=400)

    def run() -> None:
        with web.engine.begin() as conn:
            remove_subscriber(conn, subscriber.email, now=web.clock(), reason="erased")

    await run_in_threadpool(run)
    return render("erased")
