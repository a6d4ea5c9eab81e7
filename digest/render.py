"""Digests to emails: compile once per distinct digest, personalize per recipient.

`compile_digest` renders the subject, the MJML (Jinja2, autoescape on) and the
plain text (its own template) and compiles the MJML to HTML with mjml-python —
once per distinct digest (DESIGN.md "Grouping"). Personal values are not known
then: the templates emit fixed tokens (`render_view.token`) and `personalize`
swaps them in by plain string substitution, so feed text is never template
source and never passes through Jinja twice. Feed text cannot spell a token
(`render_view.inert`).

Gmail clips HTML over about 102 KB, which would hide the footer with the
unsubscribe link: a digest whose HTML would exceed `HTML_BUDGET` shows fewer
papers and says how many more there are, in both parts alike.
"""

from __future__ import annotations

import functools
import html
import itertools
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from mjml import mjml2html

from digest.digests import Digest, Message, Recipient, Template
from digest.excerpt import plural
from digest.html_budget import fit_html, most_that_fit
from digest.render_fragments import Fragments, render_card
from digest.render_view import (
    TOKEN_PATTERN,
    SiteInfo,
    base_context,
    fill_tokens,
    section_views,
    take,
    tokens,
    wrap,
)
from digest.text import one_line, safe_url
from digest.web_links import papers_url

__all__ = [
    "HTML_BUDGET",
    "CompileCache",
    "CompiledDigest",
    "SiteInfo",
    "compile_digest",
    "compile_empty",
    "mjml_source",
    "personalize",
    "render_digest",
    "shown_papers",
    "substitutions",
    "templates_dir",
]

HTML_BUDGET = 102_000  # bytes of HTML, personal values included
SUBJECT_LIMIT = 120
# Digests whose shown papers (and claim record) a CompileCache remembers.
SHOWN_KEPT = 10_000
_COMPILES = itertools.count(1)  # numbers the compiles of this process (Template keys)


def templates_dir() -> Path:
    """`templates/`: inside the package when installed from a wheel, else at the
    repository root."""
    package = Path(__file__).parent
    shipped = package / "templates"
    return shipped if shipped.is_dir() else package.parent / "templates"


@functools.cache
def _environment(part: str) -> jinja2.Environment:
    """One environment per part, created once: "html" autoescapes (MJML is
    markup), "text" does not (feed text is still only ever data)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=part == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates ship with the package and do not change under a
        # running process: no stat of the file at every get_template.
        auto_reload=False,
    )
    env.filters["wrap"] = wrap
    return env


def _render(name: str, part: str, context: dict) -> str:
    return _environment(part).get_template(name).render(context)


@dataclass(frozen=True)
class CompiledDigest:
    """One digest rendered for everybody who shares its rendering key; `text`,
    `html` and `mjml` still hold the personal tokens. `paper_keys` are the papers
    both parts show (fewer than the digest's when the HTML budget cut it; only
    these should be logged as sent)."""

    subject: str
    text: str
    html: str | None
    mjml: str | None
    list_id: str
    paper_keys: tuple[str, ...] = ()
    total: int = 0
    mjml_compiles: int = 0
    # The html JSON-escaped (`Template.html_json`), when assembled from fragments.
    html_json: str | None = field(default=None, repr=False, compare=False)
    template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One Template object shared by every message of this digest. Its key
        # names this compile: equal keys are the same content. (A hash of the
        # content cost about 0.3 ms a digest, encoding and hashing some 100
        # KB, for tens of thousands of digests a day; a key is only ever
        # compared within the process that compiled it.)
        key = f"{os.getpid()}-{next(_COMPILES)}"
        template = Template(key, self.subject, self.text, self.html, self.html_json)
        object.__setattr__(self, "template", template)

    # Split once at the tokens so personalizing is a join, not a search.
    @functools.cached_property
    def _text_parts(self) -> list[str]:
        return TOKEN_PATTERN.split(self.text)

    @functools.cached_property
    def _html_parts(self) -> list[str] | None:
        return TOKEN_PATTERN.split(self.html) if self.html is not None else None

    @functools.cached_property
    def _tokens(self) -> tuple[str, ...]:
        html_tokens = self._html_parts[1::2] if self._html_parts else []
        return tuple(dict.fromkeys(self._text_parts[1::2] + html_tokens))

    @property
    def omitted(self) -> int:
        return self.total - len(self.paper_keys)


def compile_digest(
    digest: Digest,
    site: SiteInfo,
    fragments: Fragments | None = None,
    shown: int | None = None,
    *,
    json_html: bool = True,
) -> CompiledDigest:
    """Render `digest` for everybody: subject, text and (format "html") MJML
    compiled to HTML within `HTML_BUDGET`. One MJML compile of the whole digest
    in the common case; given `fragments` (one send run's, see
    `digest.render_fragments`), the same result assembled from paper cards and
    frames compiled once per run, the budget checked on their sizes (or, given
    `shown`, what `shown_papers` found with the same fragments; with
    `json_html`, the HTML JSON-escaped too: `Template.html_json`)."""
    context, total, subject = _contexts(digest, site, fragments)
    fitted, shown = shown, total
    mjml, html_out, html_json, compiles = None, None, None, 0
    if digest.format != "text" and fragments is not None:
        before = fragments.compiles
        shown = _fitting(context, total, subject, fragments) if fitted is None else fitted
        html_context = {**context("html", shown), **subject}
        mjml, html_out, html_json = fragments.html(html_context, json_html=json_html)
        compiles = fragments.compiles - before
    elif digest.format != "text":
        fit = fit_html(
            lambda k: _render("digest/body.mjml.j2", "html", {**context("html", k), **subject}),
            total,
            HTML_BUDGET,
            lambda mjml: (mjml, mjml2html(mjml)),
        )
        shown, mjml, html_out, compiles = fit.shown, fit.mjml, fit.html, fit.compiles
    if fragments is not None:
        text = fragments.text(context("text", shown))
    else:
        text = _render("digest/body.txt.j2", "text", context("text", shown))
    keys = tuple(p.key for p in digest.papers[:shown])
    return CompiledDigest(
        subject["subject"], text, html_out, mjml, site.list_id, keys, total, compiles, html_json
    )


def shown_papers(digest: Digest, site: SiteInfo, fragments: Fragments) -> tuple[str, ...]:
    """The keys of the papers `compile_digest(digest, site, fragments)` shows
    (all, unless the HTML budget cuts), found from fragment sizes without
    assembling the email: what a claim records, before delivery compiles it."""
    context, total, subject = _contexts(digest, site, fragments)
    shown = total if digest.format == "text" else _fitting(context, total, subject, fragments)
    return tuple(p.key for p in digest.papers[:shown])


def _contexts(digest: Digest, site: SiteInfo, fragments: Fragments | None):
    """(context(part, shown) for the body templates, the paper count, the
    subject as a context entry)."""
    if fragments is not None:
        sections = fragments.section_views(digest.sections)
        cards = {"html": None, "text": fragments.text_card}
    else:
        sections = section_views(digest.sections, site)
        cards = {part: functools.partial(_card, part) for part in ("html", "text")}
    total = sum(len(s["papers"]) for s in sections)

    def context(part: str, shown: int) -> dict:
        ctx = _digest_context(digest, site, sections, total, shown, part)
        return {**ctx, "card": cards[part]}

    return context, total, _subject(context("text", total))


def _fitting(context, total: int, subject: dict, fragments: Fragments) -> int:
    """How many papers the assembled HTML can show within `HTML_BUDGET`."""
    return most_that_fit(
        lambda k: fragments.html_size({**context("html", k), **subject}), total, HTML_BUDGET
    )


def _card(part: str, view) -> str:
    card = render_card(_render, view, part)
    return Markup(card) if part == "html" else card


def compile_empty(
    period: str, edition_date: date, frequency: str, site: SiteInfo, format: str = "html"
) -> CompiledDigest:
    """The short "nothing new" note for an edition without papers."""
    text_ctx = base_context(site, period, edition_date, frequency, "text")
    subject = _subject({**text_ctx, "count": 0, "count_text": ""})
    text = _render("digest/empty.txt.j2", "text", text_ctx)
    mjml = html_out = None
    if format != "text":
        html_ctx = base_context(site, period, edition_date, frequency, "html")
        mjml = _render("digest/empty.mjml.j2", "html", {**html_ctx, **subject, "preheader": ""})
        html_out = mjml2html(mjml)
    compiles = 0 if html_out is None else 1
    return CompiledDigest(subject["subject"], text, html_out, mjml, site.list_id, (), 0, compiles)


def _digest_context(
    digest: Digest, site: SiteInfo, sections: list[dict], total: int, shown: int, part: str
) -> dict:
    ctx = base_context(site, digest.period, digest.edition_date, digest.frequency, part)
    visible = take(sections, shown)
    titles = [p.title for s in visible for p in s["papers"]][:3]
    more = None
    if shown < total:
        label = f"and {plural(total - shown, 'more paper')} — see them on the web"
        omitted = [p.key for p in digest.papers[shown:]]
        more = {"count": total - shown, "label": label, "url": papers_url(site.base_url, omitted)}
    count_text = plural(total, "new paper")
    return {
        **ctx,
        "sections": visible,
        "count": total,
        "count_text": count_text,
        "count_label": f"{count_text} in your topics",
        "intro": f"Here are the new papers in your topics {ctx['period_word']}.",
        "preheader": one_line(" · ".join(titles), 150),
        "more": more,
    }


def _subject(context: dict) -> dict:
    """{"subject": ...}: one line, capped, from plain data only (what
    subject.txt.j2 reads of the context: the product's name, the count and
    the edition's short label; a run has a handful of distinct subjects)."""
    site = context["site"]
    line = _subject_line(
        site.product_name, context["count"], context["count_text"], context["edition_short"]
    )
    return {"subject": line}


@functools.lru_cache(maxsize=1024)
def _subject_line(product_name: str, count: int, count_text: str, edition_short: str) -> str:
    values = {"site": {"product_name": product_name}, "count": count, "count_text": count_text}
    subject = _render("digest/subject.txt.j2", "text", {**values, "edition_short": edition_short})
    return one_line(subject, SUBJECT_LIMIT)


def substitutions(recipient: Recipient) -> dict[str, str]:
    """Every personal token mapped to this recipient's value; HTML tokens get
    HTML-escaped values. Also what a mailer that substitutes server-side needs."""
    name = one_line(recipient.name, 100)
    values = {
        "greeting": f"Hello {name}," if name else "Hello,",
        "email": one_line(recipient.email, 320),
        "unsubscribe_url": _checked_url(recipient.unsubscribe_url, "unsubscribe"),
        "preferences_url": _checked_url(recipient.preferences_url, "preferences"),
        "view_url": _checked_url(recipient.view_url or recipient.preferences_url, "view"),
    }
    out = {_TEXT_TOKENS[k]: v for k, v in values.items()}
    out.update({_HTML_TOKENS[k]: html.escape(v, quote=True) for k, v in values.items()})
    return out


# Each personal field's tokens, made once (every email asks for all of them).
_TEXT_TOKENS = tokens("text")
_HTML_TOKENS = tokens("html")


def _checked_url(url: str, what: str) -> str:
    checked = safe_url(url)
    if checked is None:
        raise ValueError(f"the {what} URL must be an http(s) URL without spaces or quotes")
    return checked


def personalize(compiled: CompiledDigest, recipient: Recipient) -> Message:
    """The email for one recipient: tokens filled, list headers set (RFC 2369,
    RFC 2919, RFC 8058 one-click), and the shared template with this
    recipient's substitutions for mailers that fill tokens server-side. No
    template is rendered here."""
    values = substitutions(recipient)
    html_parts = compiled._html_parts
    return Message(
        to=recipient.email,
        subject=compiled.subject,
        text=fill_tokens(compiled._text_parts, values),
        html=fill_tokens(html_parts, values) if html_parts is not None else None,
        headers={
            "List-Id": compiled.list_id,
            "List-Unsubscribe": f"<{values[_TEXT_TOKENS['unsubscribe_url']]}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        subscriber_id=recipient.subscriber_id,
        template=compiled.template,
        substitutions={t: values[t] for t in compiled._tokens},
    )


def render_digest(digest: Digest, site: SiteInfo, recipient: Recipient) -> Message:
    """Compile and personalize in one step (previews, single sends)."""
    return personalize(compile_digest(digest, site), recipient)


def mjml_source(digest: Digest, site: SiteInfo, recipient: Recipient | None = None) -> str:
    """The MJML that is compiled for `digest` (after the budget cut), with the
    tokens left in or, given a recipient, filled with its values."""
    compiled = compile_digest(replace(digest, format="html"), site)
    assert compiled.mjml is not None
    if recipient is None:
        return compiled.mjml
    return fill_tokens(TOKEN_PATTERN.split(compiled.mjml), substitutions(recipient))


class CompileCache:
    """Compiled digests by rendering key (the "nothing new" note for an empty
    one), so subscribers who share a digest share one compile. Bounded (least
    recently used goes first); one per send run, as paper data may change
    between runs. A digest given to it must not change afterwards: what it
    found for a digest object is remembered by that object."""

    def __init__(self, site: SiteInfo, maxsize: int = 256, *, json_html: bool = True) -> None:
        # json_html: compiles carry their HTML JSON-escaped (a SendGrid request's).
        self.site, self.maxsize, self.json_html = site, maxsize, json_html
        self.hits = self.misses = 0
        self._items: OrderedDict[tuple, CompiledDigest] = OrderedDict()
        self._shown: OrderedDict[int, list] = OrderedDict()
        # Shown keys by rendering key: a replan makes a new digest object
        # that often renders like one already measured (a fifth of them).
        self._shown_keys: OrderedDict[tuple, tuple[str, ...]] = OrderedDict()
        self.fragments = Fragments(site, _render)

    def shown(self, digest: Digest) -> tuple[str, ...]:
        """The keys of the papers `get(digest)` shows, without compiling it;
        kept per digest object (a run's planner shares one object among the
        subscribers who get the same plan), the `SHOWN_KEPT` latest."""
        return self._entry(digest)[1]

    def record(self, digest: Digest, build: Callable[[Digest, tuple[str, ...]], Any]) -> Any:
        """`build(digest, shown(digest))`, kept with the shown papers (a claim's
        record of what the email shows is made once per digest object)."""
        entry = self._entry(digest)
        if entry[2] is None:
            entry[2] = build(digest, entry[1])
        return entry[2]

    def _entry(self, digest: Digest) -> list:
        """[digest, shown keys, record or None]; the digest is kept with its
        answers so that its id is not reused."""
        found = self._shown.pop(id(digest), None)
        if found is None:
            rendering = digest.rendering_key()
            compiled = self._items.get(rendering)
            if compiled is not None:
                keys = compiled.paper_keys
            elif digest.paper_count == 0:
                keys = ()
            else:
                keys = self._shown_keys.pop(rendering, None)
                if keys is None:
                    keys = shown_papers(digest, self.site, self.fragments)
                    if len(self._shown_keys) >= SHOWN_KEPT:
                        self._shown_keys.popitem(last=False)
                self._shown_keys[rendering] = keys
            found = [digest, keys, None]
            if len(self._shown) >= SHOWN_KEPT:
                self._shown.popitem(last=False)
        self._shown[id(digest)] = found
        return found

    def get(self, digest: Digest) -> CompiledDigest:
        key = digest.rendering_key()  # kept by the digest once made
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        if digest.paper_count == 0:
            compiled = compile_empty(
                digest.period, digest.edition_date, digest.frequency, self.site, digest.format
            )
        else:
            known = self._shown.get(id(digest))
            shown = None if known is None else len(known[1])
            compiled = compile_digest(
                digest, self.site, self.fragments, shown, json_html=self.json_html
            )
        self._items[key] = compiled
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return compiled
