"""Digests assembled from per-run fragments (`digest.render_fragments`) are the
whole-digest compile, byte for byte, in both parts (the HTML from compiled
cards and frames, the text from text cards and text frames): 0, 1 and many
sections, a budget cut, hostile feed text, weekly editions, HTML and
text-only formats."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import date

import pytest
from mjml import mjml2html

from digest import render
from digest.digests import Digest, Entry, Section
from digest.html_budget import budget_size
from digest.render import CompileCache, compile_digest, personalize, shown_papers
from digest.render_fragments import Fragments, render_card
from digest.render_view import paper_view
from tests.test_mjml_valid import mjml  # noqa: F401 - the reference validator fixture
from tests.test_render import HOSTILE, SITE, make_paper, recipient, sample_digest

FIELDS = ("subject", "text", "html", "mjml", "list_id", "paper_keys", "total")


def hostile_digest() -> Digest:
    paper = make_paper(1, title=HOSTILE, authors=[HOSTILE], abstract=HOSTILE, ai_summary=HOSTILE)
    sections = [Section("x", HOSTILE, [Entry(paper, HOSTILE)]), Section("y", "", [Entry(paper)])]
    return Digest("2026-11-22", date(2026, 11, 22), "daily", sections)


def weekly_digest() -> Digest:
    digest = sample_digest(30, per_section=7)
    digest.period, digest.frequency = "2026-W47", "weekly"
    return digest


CASES = {
    "no sections": lambda: sample_digest(0),
    "one section, one paper": lambda: sample_digest(1, per_section=1),
    "many sections": lambda: sample_digest(24, per_section=5),
    "budget cut": lambda: sample_digest(120, per_section=9),
    "hostile": hostile_digest,
    "weekly": weekly_digest,
    "text only": lambda: sample_digest(12, per_section=4, fmt="text"),
}


def fragments() -> Fragments:
    return CompileCache(SITE).fragments


def assert_same(whole, assembled) -> None:
    for name in FIELDS:
        assert getattr(assembled, name) == getattr(whole, name), name


@pytest.mark.parametrize("case", list(CASES))
def test_it_assembles_exactly_the_whole_digest_compile(case):
    digest = CASES[case]()
    whole = compile_digest(digest, SITE)
    assembled = compile_digest(digest, SITE, fragments())
    assert_same(whole, assembled)
    if assembled.html is not None:
        # The HTML is what compiling the assembled MJML gives.
        assert mjml2html(assembled.mjml) == assembled.html
        # Its JSON escape, joined from parts escaped once, is the whole's.
        assert assembled.template.html_json == json.dumps(assembled.html)[1:-1]
    message = personalize(assembled, recipient())
    assert "%%TPF_" not in message.text + (message.html or "")


def test_it_cuts_to_the_budget_like_the_whole_compile(monkeypatch):
    digest = sample_digest(40, per_section=10)
    full = compile_digest(digest, SITE)
    for budget in (budget_size(full.html) - 1, 30_000, 1):
        monkeypatch.setattr(render, "HTML_BUDGET", budget)
        whole = compile_digest(digest, SITE)
        assembled = compile_digest(digest, SITE, fragments())
        assert_same(whole, assembled)
        assert whole.omitted > 0 and "more paper" in assembled.html


@pytest.mark.parametrize("case", list(CASES))
def test_the_claim_knows_what_the_email_will_show_without_assembling_it(case, monkeypatch):
    digest = CASES[case]()
    budgets = [render.HTML_BUDGET]
    full = compile_digest(digest, SITE)
    if full.html is not None:
        budgets += [budget_size(full.html) - 1, budget_size(full.html) // 2, 1]
    for budget in budgets:
        monkeypatch.setattr(render, "HTML_BUDGET", budget)
        whole = compile_digest(digest, SITE)
        assert shown_papers(digest, SITE, fragments()) == whole.paper_keys
        cache = CompileCache(SITE)
        assert cache.shown(digest) == whole.paper_keys
        if digest.paper_count:  # (an empty one is the "nothing new" note)
            assert_same(whole, cache.get(digest))  # compiled with what `shown` found


def test_the_html_size_from_parts_is_the_budget_size_of_the_assembled_html():
    shared = fragments()
    for case in ("one section, one paper", "many sections", "budget cut", "hostile", "weekly"):
        digest = CASES[case]()
        context, total, subject = render._contexts(digest, SITE, shared)
        for shown in {0, 1, total // 2, total}:
            html_context = {**context("html", shown), **subject}
            assembled = shared.html(html_context)[1]
            assert shared.html_size(html_context) == budget_size(assembled), (case, shown)


def test_it_compiles_each_card_and_frame_once_per_run():
    shared = fragments()
    first = compile_digest(sample_digest(20, per_section=5), SITE, shared)
    assert first.mjml_compiles == 2  # the frame of its shape and one batch of cards
    # Another digest: the same papers in another order and fewer of them, same shape.
    other = sample_digest(20, per_section=5)
    for section in other.sections:
        section.entries = section.entries[::-1][:4]
    again = compile_digest(other, SITE, shared)
    assert again.mjml_compiles == 0
    assert_same(compile_digest(other, SITE), again)


def test_one_runs_frames_serve_every_digest_of_their_shape():
    # A run assembles digests of every kind with one cache of frames: a frame
    # made for one digest must hold nothing of that digest's own (a daily and
    # a weekly edition of the same shape, titles of other lengths, a cut).
    shared = fragments()
    digests = [CASES[case]() for case in CASES]
    daily, weekly = sample_digest(30, per_section=7), weekly_digest()
    for section in daily.sections:
        section.title = section.title * 3  # a longer underline in the text part
    for digest in [*digests, daily, weekly, *[CASES[case]() for case in CASES]]:
        assert_same(compile_digest(digest, SITE), compile_digest(digest, SITE, shared))


def test_it_keeps_a_run_cache_apart_from_changed_papers():
    shared = fragments()
    digest = sample_digest(3, per_section=3)
    compile_digest(digest, SITE, shared)
    changed = sample_digest(3, per_section=3)  # new Paper objects, another title
    changed.sections[0].entries[0].paper.title = "A different title"
    assert "A different title" in compile_digest(changed, SITE, shared).html


def test_it_passes_the_reference_validator(mjml, tmp_path):  # noqa: F811
    paths = []
    for case in ("many sections", "budget cut", "hostile"):
        assembled = compile_digest(CASES[case](), SITE, fragments())
        path = tmp_path / f"{case.replace(' ', '-')}.mjml"
        path.write_text(assembled.mjml, encoding="utf-8")
        paths.append(str(path))
    result = subprocess.run([mjml, "--validate", *paths], capture_output=True, text=True)
    report = result.stdout + result.stderr
    assert result.returncode == 0 and "Line " not in report, report


def test_a_claims_record_is_made_once_per_digest_object_and_keys_name_compiles():
    cache = CompileCache(SITE)
    digest = sample_digest(6, per_section=3)
    made = []

    def build(d, shown):
        made.append(shown)
        return ("record", len(shown))

    assert cache.record(digest, build) == cache.record(digest, build) == ("record", 6)
    assert len(made) == 1 and cache.shown(digest) == made[0]
    # One compile, one key, shared by every message of the digest; another
    # compile of equal content is another key (keys never outlive a process's run).
    first = cache.get(digest)
    assert cache.get(digest).template.key == first.template.key
    again = compile_digest(digest, SITE, cache.fragments)
    assert again.text == first.text and again.template.key != first.template.key


def test_a_text_card_is_the_card_rendered_at_its_number_whatever_number_came_first():
    # Rendered once per width of number with nines in its place, then numbered.
    shared = fragments()
    paper = make_paper(1, title="A title long enough to wrap onto a second line " * 2)
    view = paper_view(Entry(paper, "matched: vision"), SITE)
    for number in (9, 7, 10, 99, 23, 100, 1):
        numbered = replace(view, number=number)
        assert shared.text_card(numbered) == render_card(render._render, numbered, "text")
