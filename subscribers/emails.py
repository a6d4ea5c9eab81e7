"""Transactional emails: the double opt-in confirmation and the welcome.

Both are rendered from their own templates (Jinja2 with autoescape → MJML →
HTML, plus a plain-text part), carry no List-Unsubscribe header and no digest
content. The confirmation holds nothing the visitor typed except the address it
is sent to, so the form cannot be used to mail arbitrary text to a stranger.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jinja2
from mjml import mjml2html

from digest.digests import Message
from digest.preferences import WEEKDAYS
from digest.render import SiteInfo, templates_dir
from digest.store.subscribers import Subscriber
from digest.text import one_line
from digest.tokens import CONFIRM_MAX_AGE, link_urls, make_token
from digest.topics import load_catalog

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Links:
    confirm: str = ""
    preferences: str = ""
    unsubscribe: str = ""


def confirm_url(site: SiteInfo, secret: str, subscriber: Subscriber) -> str:
    token = make_token(secret, "confirm", subscriber.id, subscriber.email)
    return f"{site.base_url}/confirm/{token}"


def confirmation_message(site: SiteInfo, secret: str, subscriber: Subscriber) -> Message:
    """The double opt-in email for a pending subscriber."""
    links = Links(confirm=confirm_url(site, secret, subscriber))
    context = {"days": CONFIRM_MAX_AGE // 86400}
    return _message("confirm", site, subscriber, links, context)


def welcome_message(site: SiteInfo, secret: str, subscriber: Subscriber) -> Message:
    """The welcome after confirming: the chosen settings and the preferences link."""
    unsubscribe, preferences = link_urls(site.base_url, secret, subscriber.id, subscriber.email)
    links = Links(preferences=preferences, unsubscribe=unsubscribe)
    return _message("welcome", site, subscriber, links, {"settings": settings_lines(subscriber)})


def settings_lines(subscriber: Subscriber) -> list[tuple[str, str]]:
    """The subscriber's settings as (label, value) lines, for people to read."""
    prefs, catalog = subscriber.prefs, load_catalog()
    topics = []
    for choice in prefs.topics:
        name = catalog[choice.slug].name if choice.slug in catalog else choice.slug
        limits = []
        if choice.max_papers is not None:
            limits.append(f"at most {choice.max_papers}")
        if choice.min_upvotes is not None:
            limits.append(f"{choice.min_upvotes}+ upvotes")
        topics.append(name + (f" ({', '.join(limits)})" if limits else ""))
    when = f"daily at {prefs.hour:02d}:00"
    if prefs.frequency == "weekly":
        when = f"weekly on {_DAY_NAMES[prefs.weekday]} at {prefs.hour:02d}:00"
    lines = [
        ("Topics", ", ".join(topics) or "none"),
        ("Delivery", f"{when} ({prefs.timezone})"),
        ("At most", f"{prefs.max_papers} papers per digest"),
        ("Format", "HTML and plain text" if prefs.format == "html" else "plain text only"),
    ]
    for label, items in (
        ("Keywords", prefs.keywords),
        ("Categories", prefs.categories),
        ("Authors", prefs.authors),
        ("Muted", prefs.mute),
    ):
        if items:
            lines.append((label, "; ".join(items)))
    return [(label, one_line(value, 600)) for label, value in lines]


def _message(
    kind: str, site: SiteInfo, subscriber: Subscriber, links: Links, extra: dict
) -> Message:
    context = {
        "site": site,
        "links": links,
        "email": subscriber.email,
        "home_url": site.base_url + "/",
        "weekdays": WEEKDAYS,
        **extra,
    }
    subject = one_line(
        _environment(False).get_template(f"email/{kind}.subject.txt.j2").render(context), 120
    )
    text = _environment(False).get_template(f"email/{kind}.txt.j2").render(context)
    mjml = (
        _environment(True)
        .get_template(f"email/{kind}.mjml.j2")
        .render({**context, "subject": subject})
    )
    return Message(
        to=subscriber.email,
        subject=subject,
        text=text,
        html=mjml2html(mjml),
        subscriber_id=subscriber.id,
        kind="confirmation" if kind == "confirm" else kind,
    )
