"""Pages anyone can open: the daily-papers home page, the sign-up form, topic
archives with their RSS feeds, and the list of papers a cut digest links to."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest.papers import Paper
from digest.preferences import WEEKDAYS, Preferences
from digest.ranking import rank_topic
from digest.store import listings
from digest.store.papers import get_papers
from digest.subscriber_input import InputError, apply_options, normalize_email
from digest.topics import get_topic, load_catalog
from digest.web_links import MAX_LINKED_PAPERS
from subscribers.feeds import rss_response
from subscribers.forms import (
    name_from_form,
    options_from_form,
    require_interests,
    timezones,
    topic_rows,
)
from subscribers.pages import day_label, error_page, paper_card, render
from subscribers.security import client_ip
from subscribers.subscription import Visitor, sign_up

ARCHIVE_DAYS = 14
FEED_ITEMS = 50


def _web(request: Request):
    return request.app.state.web


def _trending_order(papers: list[Paper]) -> list[Paper]:
    return sorted(papers, key=lambda p: (-(p.upvotes or 0), -(p.comments or 0), p.key))


def _relevant(papers: list[Paper], slug: str, now: datetime) -> list[Paper]:
    keys = {ranked.key for ranked in rank_topic(get_topic(slug), papers, now)}
    return [paper for paper in papers if paper.key in keys]


def home(request: Request) -> Response:
    """Today's papers (or the chosen day's), trending first, under the banner."""
    web, catalog = _web(request), load_catalog()
    now = web.clock()
    topic = request.query_params.get("topic") or ""
    if topic and topic not in catalog:
        return error_page(400, "Unknown topic", "Pick a topic from the list.")
    try:
        asked = request.query_params.get("date")
        day = date.fromisoformat(asked) if asked else None
    except ValueError:
        return error_page(400, "Not a date", "The date must look like 2026-11-20.")
    with web.engine.begin() as conn:
        day = day or listings.latest_day(conn, not_after=now) or now.date()
        papers = listings.on_day(conn, day)
    if topic:
        papers = _relevant(papers, topic, now)
    return render(
        "home",
        papers=[paper_card(p) for p in _trending_order(papers)],
        day=day.isoformat(),
        day_label=day_label(day),
        previous=(day - timedelta(days=1)).isoformat(),
        next=(day + timedelta(days=1)).isoformat() if day < now.date() else None,
        topic=topic,
        topics=[(slug, t.name) for slug, t in catalog.items()],
    )


def _form_page(request: Request, prefs: Preferences, *, email="", name="", error=None, status=200):
    return render(
        "subscribe",
        status,
        email=email,
        name=name or "",
        error=error,
        prefs=prefs,
        topic_rows=topic_rows(load_catalog(), prefs.topics),
        weekdays=list(enumerate(WEEKDAYS)),
        timezones=timezones(),
    )


def subscribe_form(request: Request) -> Response:
    """The sign-up form; `?email=` and `?topic=` pre-fill it (from the home page)."""
    catalog = load_catalog()
    wanted = [s for s in request.query_params.getlist("topic") if s in catalog]
    prefs = apply_options(Preferences(), {"topics": wanted}, catalog)
    return _form_page(request, prefs, email=(request.query_params.get("email") or "")[:320])


async def subscribe(request: Request) -> Response:
    """Sign up: the same answer whether or not the address is known."""
    web = _web(request)
    limited = web.limited(request)
    if limited is not None:
        return limited
    form = await request.form()
    typed = str(form.get("email") or "")[:320]
    if form.get("website"):
        # The honeypot: people never see this field; bots fill it in.
        return render("check_inbox", email=typed.strip())
    catalog = load_catalog()
    try:
        email = normalize_email(typed)
        prefs = apply_options(Preferences(), options_from_form(form, catalog, full=False), catalog)
        require_interests(prefs)
    except InputError as error:
        keep = Preferences(topics=[])
        try:
            options = {"topics": [s for s in form.getlist("topics") if s in catalog]}
            keep = apply_options(Preferences(), options, catalog)
        except InputError:
            pass
        return _form_page(
            request, keep, email=typed, name=name_from_form(form), error=str(error), status=400
        )
    visitor = Visitor(client_ip(request), request.headers.get("user-agent"))
    await run_in_threadpool(
        sign_up,
        web.engine,
        web.mail,
        email,
        prefs,
        name=name_from_form(form),
        now=web.clock(),
        visitor=visitor,
    )
    return render("check_inbox", email=email)


def paper_list(request: Request) -> Response:
    """Exactly the papers a digest left out for size (`?k=KEY` repeated)."""
    keys = request.query_params.getlist("k")[:MAX_LINKED_PAPERS]
    with _web(request).engine.begin() as conn:
        found = get_papers(conn, keys)
    papers = [paper_card(found[key]) for key in dict.fromkeys(keys) if key in found]
    return render("papers", papers=papers)


def topic_index(request: Request) -> Response:
    catalog = load_catalog()
    return render("topics", topics=[(slug, t.name, t.description) for slug, t in catalog.items()])


def _archive(request: Request, slug: str) -> list[Paper]:
    """The topic's relevant papers of the last ARCHIVE_DAYS, newest first."""
    web = _web(request)
    now = web.clock()
    start = datetime.combine(now.date() - timedelta(days=ARCHIVE_DAYS), time(0), tzinfo=UTC)
    with web.engine.begin() as conn:
        pool = listings.dated_between(conn, start, now + timedelta(days=1))
    papers = _relevant(pool, slug, now)
    return sorted(papers, key=lambda p: (_own_date(p), p.upvotes or 0, p.key), reverse=True)


def _own_date(paper: Paper) -> datetime:
    dates = [d for d in (paper.available_at, paper.trending_at) if d is not None]
    return max(dates) if dates else datetime.min.replace(tzinfo=UTC)


def topic_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    catalog = load_catalog()
    if slug not in catalog:
        return error_page(404, "Unknown topic", "There is no topic with this name.")
    days: dict[date, list[dict]] = {}
    for paper in _archive(request, slug):
        days.setdefault(_own_date(paper).date(), []).append(paper_card(paper))
    return render(
        "topic",
        topic=catalog[slug],
        days=[(day_label(day), cards) for day, cards in days.items()],
    )


def topic_feed(request: Request) -> Response:
    slug = request.path_params["slug"]
    catalog = load_catalog()
    if slug not in catalog:
        return error_page(404, "Unknown topic", "There is no topic with this name.")
    papers = _archive(request, slug)[:FEED_ITEMS]
    return rss_response(_web(request).site, catalog[slug], papers, _own_date)
