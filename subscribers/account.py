"""Pages reached through a signed link in an email: confirm, unsubscribe,
preferences (with preview, export and erasure) and the edition as sent.

A GET never changes anything (mail scanners open links); a bad or expired
token gets a friendly page with status 400.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from digest.delivery import render_batch
from digest.editions import Planned, digest_from_record
from digest.preferences import WEEKDAYS
from digest.previews import plan_for_email, preview_message
from digest.render import CompileCache
from digest.store import editions as edition_store
from digest.store import subscriptions as store
from digest.store.papers import get_papers
from digest.store.subscribers import Subscriber, remove_subscriber, update_subscriber
from digest.subscriber_input import InputError, apply_options
from digest.tokens import (
    BadToken,
    link_urls,
    make_token,
    matches,
    read_edition_token,
    read_token,
)
from digest.topics import load_catalog
from subscribers import subscription
from subscribers.emails import settings_lines
from subscribers.forms import name_from_form, options_from_form, timezones, topic_rows
from subscribers.pages import error_page, render
from subscribers.security import CSRF_COOKIE, EMAIL_CSP, client_ip, csrf_ok, csrf_pair
from subscribers.subscription import Visitor, subscriber_for

BAD_LINK = "Link not valid"


def _web(request: Request):
    return request.app.state.web


def _bad_link(error: BadToken) -> Response:
    message = f"Sorry, {error}. You can sign up again or use the link in a more recent email."
    return error_page(400, BAD_LINK, message)


def _subscriber(request: Request, purpose: str) -> Subscriber:
    web = _web(request)
    return subscriber_for(web.engine, web.secret, purpose, request.path_params["token"])


# --- confirm ----------------------------------------------------------------------


def confirm_page(request: Request) -> Response:
    try:
        subscriber = _subscriber(request, "confirm")
    except BadToken as error:
        return _bad_link(error)
    if subscriber.status not in ("pending", "active"):
        return _bad_link(BadToken("this link is no longer valid; please sign up again"))
    return render("confirm", subscriber=subscriber, done=subscriber.status == "active")


async def confirm(request: Request) -> Response:
    web = _web(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    visitor = Visitor(client_ip(request), request.headers.get("user-agent"))
    try:
        subscriber = await run_in_threadpool(
            subscription.confirm,
            web.engine,
            web.mail,
            request.path_params["token"],
            now=web.clock(),
            visitor=visitor,
        )
    except BadToken as error:
        return _bad_link(error)
    _, preferences = _links(request, subscriber)
    return render(
        "confirmed",
        subscriber=subscriber,
        settings=settings_lines(subscriber),
        preferences_url=preferences,
    )


def _links(request: Request, subscriber: Subscriber) -> tuple[str, str]:
    web = _web(request)
    return link_urls(web.site.base_url, web.secret, subscriber.id, subscriber.email)


# --- unsubscribe --------------------------------------------------------------------


def unsubscribe_page(request: Request) -> Response:
    try:
        subscriber = _subscriber(request, "unsubscribe")
    except BadToken as error:
        return _bad_link(error)
    left = subscriber.status in ("unsubscribed", "suppressed")
    return render("unsubscribe", subscriber=subscriber, left=left, token=_token(request))


def _token(request: Request) -> str:
    return request.path_params["token"]


async def unsubscribe(request: Request) -> Response:
    """The button on the page and RFC 8058's one-click POST (body
    `List-Unsubscribe=One-Click`, no cookies, no CSRF token): 200, no redirect."""
    web = _web(request)
    try:
        subscriber_id, hash_prefix = read_token(web.secret, "unsubscribe", _token(request))
    except BadToken as error:
        return _bad_link(error)

    def run() -> Subscriber | None:
        with web.engine.begin() as conn:
            found = store.get_by_id(conn, subscriber_id)
        if found is None or not matches(found.email, hash_prefix):
            return None  # erased, or the id was reused: nothing to stop
        subscription.unsubscribe(web.engine, found.id, now=web.clock())
        return found

    subscriber = await run_in_threadpool(run)
    return render("unsubscribe", subscriber=subscriber, left=True, token=_token(request))


async def resubscribe(request: Request) -> Response:
    web = _web(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    try:
        subscriber = await run_in_threadpool(_subscriber, request, "unsubscribe")
    except BadToken as error:
        return _bad_link(error)
    await run_in_threadpool(
        subscription.resubscribe, web.engine, web.mail, subscriber.id, now=web.clock()
    )
    return render("check_inbox", email=subscriber.email)


# --- preferences --------------------------------------------------------------------


def _preferences_form(
    request: Request, subscriber: Subscriber, *, error=None, saved=False, status=200
) -> Response:
    web = _web(request)
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
        token=_token(request),
        unsubscribe_token=make_token(web.secret, "unsubscribe", subscriber.id, subscriber.email),
    )
    secure = web.settings.base_url.startswith("https://")
    response.set_cookie(
        CSRF_COOKIE, cookie, path="/preferences", httponly=True, samesite="strict", secure=secure
    )
    return response


def preferences_page(request: Request) -> Response:
    try:
        subscriber = _subscriber(request, "preferences")
    except BadToken as error:
        return _bad_link(error)
    return _preferences_form(request, subscriber, saved=request.query_params.get("saved") == "1")


def _forbidden() -> Response:
    message = "This form has expired. Open the page again from your email and resubmit."
    return error_page(403, "Form expired", message)


async def save_preferences(request: Request) -> Response:
    web = _web(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    form = await request.form()
    try:
        subscriber = await run_in_threadpool(_subscriber, request, "preferences")
    except BadToken as error:
        return _bad_link(error)
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
    return RedirectResponse(f"/preferences/{_token(request)}?saved=1", status_code=303)


def preview_page(request: Request) -> Response:
    try:
        subscriber = _subscriber(request, "preferences")
    except BadToken as error:
        return _bad_link(error)
    return render("preview", subscriber=subscriber, token=_token(request))


def preview_email(request: Request) -> Response:
    """The subscriber's next digest from the current candidates, recording nothing."""
    web = _web(request)
    try:
        subscriber = _subscriber(request, "preferences")
    except BadToken as error:
        return _bad_link(error)
    with web.engine.begin() as conn:
        planned = plan_for_email(
            conn,
            subscriber.email,
            now=web.clock(),
            on_date=None,
            retention_days=web.settings.retention_days,
        )
    return _email_response(preview_message(planned, web.site, web.secret))


def _email_response(message) -> Response:
    headers = {"Content-Security-Policy": EMAIL_CSP}
    if message.html is None:
        return PlainTextResponse(message.text, headers=headers)
    return HTMLResponse(message.html, headers=headers)


def export(request: Request) -> Response:
    """Everything stored about the subscriber, as JSON."""
    web = _web(request)
    try:
        subscriber = _subscriber(request, "preferences")
    except BadToken as error:
        return _bad_link(error)
    with web.engine.begin() as conn:
        consents = store.consent_records(conn, subscriber.id)
        history = store.edition_history(conn, subscriber.id)
    data = {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "created_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
        "preferences": _prefs_json(subscriber),
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


def _prefs_json(subscriber: Subscriber) -> dict:
    prefs = subscriber.prefs
    return {
        "topics": [t.spec() for t in prefs.topics],
        "keywords": prefs.keywords,
        "categories": prefs.categories,
        "authors": prefs.authors,
        "mute": prefs.mute,
        "frequency": prefs.frequency,
        "weekday": WEEKDAYS[prefs.weekday],
        "timezone": prefs.timezone,
        "hour": prefs.hour,
        "max_papers": prefs.max_papers,
        "format": prefs.format,
        "cross_lists": prefs.cross_lists,
        "min_upvotes": prefs.min_upvotes,
    }


async def erase(request: Request) -> Response:
    """Erase the subscriber; only a hashed suppression entry remains."""
    web = _web(request)
    form = await request.form()
    try:
        subscriber = await run_in_threadpool(_subscriber, request, "preferences")
    except BadToken as error:
        return _bad_link(error)
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


# --- the edition as sent --------------------------------------------------------------


def edition(request: Request) -> Response:
    """The edition as it was sent, rebuilt from its record of sections."""
    web = _web(request)
    try:
        subscriber_id, hash_prefix, period = read_edition_token(web.secret, _token(request))
        with web.engine.begin() as conn:
            subscriber = store.get_by_id(conn, subscriber_id)
            if subscriber is None or not matches(subscriber.email, hash_prefix):
                raise BadToken("this link is no longer valid")
            record = edition_store.get_edition(conn, subscriber.id, period)
            if record is None or record["sections"] is None or record["status"] == "failed":
                return error_page(404, "Edition not found", "This edition was never sent.")
            keys = [key for section in record["sections"] for key, _ in section["entries"]]
            papers = get_papers(conn, keys)
    except BadToken as error:
        return _bad_link(error)
    prefs = subscriber.prefs
    digest = digest_from_record(
        record["sections"], papers, period=period, frequency=prefs.frequency, fmt=prefs.format
    )
    planned = Planned(subscriber, period, digest, edition_id=record["id"])
    message = render_batch([planned], CompileCache(web.site), web.secret)[0]
    return _email_response(message)
