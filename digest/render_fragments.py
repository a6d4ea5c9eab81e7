"""Digest HTML assembled from fragments compiled once per send run.

A day has a few thousand papers, but a large list has tens of thousands of
distinct digests (each a different mix of the same papers). So the work is
done per paper and per digest shape, not per digest:

- each paper's view (`render_view.paper_view`) is made once per (paper, reason);
- each paper card is rendered (Jinja) and compiled (MJML -> HTML) once per run,
  the compiles of new cards batched into one MJML document; its text card once
  per width of its number (the text numbers papers: the number is put over
  nines of its width);
- the frame — head, header, one block per section, the "more" line, footer — is
  compiled once per shape (number of sections, whether a "more" line follows,
  which values are empty) with markers where a digest's own values go;
- a digest's MJML and HTML are then the frame with its values and its cards put
  in: string joins, no MJML compile. Personal tokens are left as they are, for
  `render.personalize`;
- the text part likewise: a text frame per shape (number of sections, whether
  a "more" line follows) rendered once with markers, then its values and the
  text cards put in, with no template rendered per digest. The one value the
  template wraps (the intro) is put in wrapped as the filter wraps it.

Why that equals compiling the whole digest: MJML copies an `mj-text`'s content
unchanged except that it drops whitespace-only text between elements, and each
card is one element (`<div class="tp-rule">…</div>`), so compiling cards one by
one or all together gives the same bytes; a frame marker sits exactly where the
value goes in the template, and the value put there is escaped exactly as
Jinja's autoescape escapes it, which MJML copies unchanged into the title,
preview and text blocks. `tests/test_render_fragments.py` checks the equality
against the whole-document compile (0, 1 and many sections, a budget cut,
hostile feed text, weekly editions, both formats).

Markers (`%%TPF_…%%`) cannot come from feed text: `render_view.inert` breaks
every "%%" in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from markupsafe import Markup, escape
from mjml import mjml2html

from digest.digests import Section
from digest.html_budget import budget_size
from digest.render_view import (
    PALETTE,
    PaperView,
    SiteInfo,
    json_escaped,
    paper_view,
    section_view,
    wrap,
)

Render = Callable[[str, str, dict], str]

# Per-digest values of the frame (body.mjml.j2); each becomes a marker in it.
SCALARS = ("subject", "preheader", "edition_label", "count_label", "intro")
# Per-digest values of the text frame (body.txt.j2), besides its sections.
_TEXT_SCALARS = ("edition_label", "count_label", "intro")
_CUT = "<p>%%TPF_CUT%%</p>"
# A slot ends with a newline as a card does, so MJML sees the same whitespace.
_MARK = re.compile(r"(<p>%%TPF_SLOT_\d+%%</p>\n?|%%TPF_[A-Z0-9_]+%%)")
_TEXT_MARK = re.compile(r"(%%TPF_[A-Z0-9_]+%%)")


def _mark(name: str) -> str:
    return f"%%TPF_{name.upper()}%%"


def _slot(index: int) -> str:
    return f"<p>%%TPF_SLOT_{index}%%</p>"


def _text_slot(index: int) -> str:
    return f"%%TPF_TEXT_SLOT_{index}%%"


class Fragments:
    """The fragment caches of one send run (paper data must not change while
    it is in use). `compiles` counts MJML compiles done so far."""

    def __init__(self, site: SiteInfo, render: Render, compile_mjml=mjml2html) -> None:
        self.site, self.render, self.compile_mjml = site, render, compile_mjml
        self.compiles = 0
        self._views: dict[tuple[int, str], tuple[Any, PaperView]] = {}
        self._cards: dict[tuple, tuple[str, str]] = {}  # view -> (card MJML, card HTML)
        self._texts: dict[tuple, str | None] = {}  # view, width of its number -> text card
        self._frames: dict[tuple, tuple[list[str], list[str]]] = {}
        self._frame_sizes: dict[tuple, int] = {}  # by shape: the frame's own parts
        self._card_sizes: dict[tuple, int] = {}
        self._text_frames: dict[tuple, list[str]] = {}  # by (sections, "more" line)
        self._json_cards: dict[tuple, str] = {}  # view -> card HTML, JSON-escaped
        self._json_frames: dict[tuple, list[str]] = {}  # by shape: HTML parts, escaped

    def section_views(self, sections: list[Section]) -> list[dict]:
        """`render_view.section_views`, with each paper's view made once."""
        out, number = [], 0
        for section in sections:
            papers = []
            for entry in section.entries:
                number += 1
                key = (id(entry.paper), entry.reason, number)
                if key not in self._views:
                    # The paper is kept so its id cannot be reused while cached.
                    self._views[key] = (entry.paper, self._numbered(entry, number))
                papers.append(self._views[key][1])
            out.append(section_view(section, papers))
        return out

    def _numbered(self, entry, number: int) -> PaperView:
        """The entry's view at position `number` (views are read, never changed)."""
        key = (id(entry.paper), entry.reason, 0)
        if key not in self._views:
            self._views[key] = (entry.paper, paper_view(entry, self.site))
        return replace(self._views[key][1], number=number)

    def text_card(self, view: PaperView) -> str:
        """The paper's text card at its number. Only the card's first line
        shows the number ("12. Title", wrapped), and wrapping treats every
        digit alike: the card is rendered once per paper and width of number,
        with nines in its place, and the number put over them (a paper sits
        at many positions across a run's digests). A template whose card does
        not start with the number is rendered at each number."""
        number = str(view.number)
        key = (*_view_key(view), len(number))
        if key not in self._texts:
            nines = "9" * len(number)
            card = render_card(self.render, replace(view, number=int(nines)), "text")
            self._texts[key] = card if card.startswith(nines + ". ") else None
        card = self._texts[key]
        if card is None:
            return render_card(self.render, view, "text")
        return number + card[len(number) :]

    def text(self, context: dict) -> str:
        """body.txt.j2 for `context` (as for `html`, with the text cards):
        the text frame of its shape with its values and its cards put in."""
        sections = context["sections"]
        shape = (len(sections), context["more"] is not None)
        if shape not in self._text_frames:
            self._text_frames[shape] = self._text_frame(context)
        values = {_mark(name): context[name] for name in _TEXT_SCALARS}
        # The frame's intro is its marker, which `wrap` leaves as it is.
        values[_mark("intro")] = wrap(context["intro"], indent="")
        for index, section in enumerate(sections):
            values[_mark(f"title_{index}")] = section["title"]
            values[_mark(f"rule_{index}")] = section["rule"]
            values[_text_slot(index)] = "\n".join(context["card"](p) for p in section["papers"])
        if context["more"] is not None:
            values[_mark("more_label")] = context["more"]["label"]
            values[_mark("more_url")] = context["more"]["url"]
        return _join(self._text_frames[shape], values)

    def _text_frame(self, context: dict) -> list[str]:
        """The text frame of `context`'s shape, split at its markers. A
        section's papers are one slot: the template puts a newline before
        each card, the frame's one before the slot."""
        count = len(context["sections"])
        more = context["more"]
        frame_context = {
            **context,
            **{name: _mark(name) for name in _TEXT_SCALARS},
            "sections": [
                {"title": _mark(f"title_{i}"), "rule": _mark(f"rule_{i}"), "papers": [i]}
                for i in range(count)
            ],
            "more": None
            if more is None
            else {"label": _mark("more_label"), "url": _mark("more_url")},
            "card": _text_slot,
        }
        parts = _TEXT_MARK.split(self.render("digest/body.txt.j2", "text", frame_context))
        expected = {_mark(name) for name in _TEXT_SCALARS}
        expected |= {m for i in range(count) for m in (_mark(f"title_{i}"), _mark(f"rule_{i}"))}
        expected |= {_text_slot(i) for i in range(count)}
        if more is not None:
            expected |= {_mark("more_label"), _mark("more_url")}
        if sorted(parts[1::2]) != sorted(expected):
            raise RuntimeError("the text template's frame does not hold each marker once")
        return parts

    def html(self, context: dict, *, json_html: bool = False) -> tuple[str, str, str | None]:
        """(MJML, HTML, with `json_html` the HTML JSON-escaped, else None) of
        body.mjml.j2 for `context` (a digest's context as
        `render.compile_digest` builds it, with `sections` already cut). The
        third is what a JSON string of the HTML holds between its quotes (a
        SendGrid request carries it), joined from the frame's and the cards'
        parts escaped once per run: JSON escapes each character on its own,
        so the escaped parts joined are the escaped whole."""
        shape, (mjml_parts, html_parts), fill, sections = self._prepare(context)
        mjml_fill, html_fill = dict(fill), fill
        json_fill = (
            {marker: json_escaped(value) for marker, value in fill.items()} if json_html else {}
        )
        for index, section in enumerate(sections):
            keys = [_view_key(p) for p in section["papers"]]
            cards = [self._cards[key] for key in keys]
            mjml_fill[_slot(index)] = "".join(m for m, _ in cards)
            html_fill[_slot(index)] = "".join(h for _, h in cards)
            if json_html:
                json_fill[_slot(index)] = "".join(self._json_card(key) for key in keys)
        escaped = _join(self._json_frame(shape), json_fill) if json_html else None
        return _join(mjml_parts, mjml_fill), _join(html_parts, html_fill), escaped

    def _json_card(self, key: tuple) -> str:
        if key not in self._json_cards:
            self._json_cards[key] = json_escaped(self._cards[key][1])
        return self._json_cards[key]

    def _json_frame(self, shape: tuple) -> list[str]:
        """The shape's HTML frame parts JSON-escaped (its markers as they are)."""
        if shape not in self._json_frames:
            parts = self._frames[shape][1].copy()
            parts[0::2] = [json_escaped(part) for part in parts[0::2]]
            self._json_frames[shape] = parts
        return self._json_frames[shape]

    def html_size(self, context: dict) -> int:
        """`html_budget.budget_size` of the HTML `html(context)` makes, from
        the sizes of its parts (kept per card and per frame), without joining
        it: the bytes and personal tokens of a join are those of its parts,
        and no token spans two parts (a token is whole in the frame, and feed
        text cannot spell one: `render_view.inert`)."""
        shape, (_, html_parts), fill, sections = self._prepare(context)
        if shape not in self._frame_sizes:
            self._frame_sizes[shape] = sum(budget_size(part) for part in html_parts[0::2])
        size = self._frame_sizes[shape]
        slots = {_slot(index): section["papers"] for index, section in enumerate(sections)}
        for marker in html_parts[1::2]:
            marker = marker.rstrip("\n")
            if marker in slots:
                size += sum(self._card_size(_view_key(p)) for p in slots[marker])
            else:
                size += budget_size(fill[marker])
        return size

    def _card_size(self, key: tuple) -> int:
        if key not in self._card_sizes:
            self._card_sizes[key] = budget_size(self._cards[key][1])
        return self._card_sizes[key]

    def _prepare(self, context: dict) -> tuple[tuple, tuple[list[str], list[str]], dict, list]:
        """`context`'s shape, that shape's frame (MJML and HTML parts), the
        escaped per-digest values by marker, and the sections; cards compiled."""
        sections = context["sections"]
        self._compile_cards([p for s in sections for p in s["papers"]])
        values = {name: context[name] for name in SCALARS}
        for index, section in enumerate(sections):
            values[f"title_{index}"] = section["title"]
        if context["more"] is not None:
            values["more_label"] = context["more"]["label"]
            values["more_url"] = context["more"]["url"]
        empty = frozenset(name for name, value in values.items() if value == "")
        shape = (len(sections), context["more"] is not None, empty)
        if shape not in self._frames:
            self._frames[shape] = self._frame(context, values, empty)
        fill = {_mark(name): str(escape(value)) for name, value in values.items()}
        return shape, self._frames[shape], fill, sections

    def _frame(self, context: dict, values: dict, empty: frozenset) -> tuple[list, list]:
        """The frame of a shape, compiled, split at its markers."""
        marked = {n: (values[n] if n in empty else Markup(_mark(n))) for n in values}
        sections = [
            {"title": marked[f"title_{i}"], "papers": [i]} for i in range(len(context["sections"]))
        ]
        more = None
        if context["more"] is not None:
            more = {**context["more"], "label": marked["more_label"], "url": marked["more_url"]}
        frame_context = {
            **context,
            **{name: marked[name] for name in SCALARS},
            "sections": sections,
            "more": more,
            "card": lambda index: Markup(_slot(index) + "\n"),
        }
        mjml = self.render("digest/body.mjml.j2", "html", frame_context)
        html = self.compile_mjml(mjml)
        self.compiles += 1
        mjml_parts, html_parts = _MARK.split(mjml), _MARK.split(html)
        # The subject is also copied into an attribute: a marker may repeat.
        if {m.strip() for m in mjml_parts[1::2]} != {m.strip() for m in html_parts[1::2]}:
            raise RuntimeError("MJML dropped or altered a marker of the digest frame")
        return mjml_parts, html_parts

    def _compile_cards(self, views: list[PaperView]) -> None:
        """Compile the cards not compiled yet, all in one MJML document."""
        missing = {}
        for view in views:
            key = _view_key(view)
            if key not in self._cards and key not in missing:
                missing[key] = render_card(self.render, view, "html")
        if not missing:
            return
        body = "".join(_CUT + card for card in missing.values()) + _CUT
        html = self.compile_mjml(
            "<mjml><mj-body><mj-section><mj-column><mj-text>"
            f"{body}</mj-text></mj-column></mj-section></mj-body></mjml>"
        )
        self.compiles += 1
        compiled = html.split(_CUT)[1:-1]
        if len(compiled) != len(missing):
            raise RuntimeError("MJML merged or split paper cards")
        for (key, card), card_html in zip(missing.items(), compiled, strict=True):
            self._cards[key] = (card, card_html)


def render_card(render: Render, view: PaperView, part: str) -> str:
    """One paper's card as its partial template renders it."""
    name = "digest/_paper.mjml.j2" if part == "html" else "digest/_paper.txt.j2"
    return render(name, part, {"paper": view, "palette": PALETTE})


def _view_key(view: PaperView) -> tuple:
    """What the HTML card shows (not the paper's number, which only the text
    card shows)."""
    v = view
    return (v.title, v.url, v.authors, v.reason, v.stats, v.summary, tuple(v.links))


def _join(parts: list[str], values: dict[str, str]) -> str:
    out = parts.copy()
    out[1::2] = [values[marker.rstrip("\n")] for marker in parts[1::2]]
    return "".join(out)
