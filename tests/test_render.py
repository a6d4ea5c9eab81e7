"""Rendering digests into emails: structure, headers, links, hostile feed text,
the Gmail size budget, text-only mail, the empty note and compile-once."""

from __future__ import annotations

import email
import re
import time
from datetime import UTC, date, datetime
from email import policy

import pytest

from digest import render
from digest.digests import Digest, Entry, Message, Recipient, Section
from digest.excerpt import excerpt, short_authors
from digest.html_budget import budget_size
from digest.mail.message import build_email, email_bytes
from digest.papers import Paper
from digest.render import (
    HTML_BUDGET,
    CompileCache,
    SiteInfo,
    compile_digest,
    compile_empty,
    mjml_source,
    personalize,
    render_digest,
)
from digest.render_view import PALETTE, edition_labels

SITE = SiteInfo(
    base_url="https://papers.example.org/",
    sender="Trending Papers <digest@example.org>",
    postal_address="Example Lab\n1 Research Way\nCambridge",
)
HOSTILE = (
    "<script>alert(1)</script> {{ 7*7 }} {% raw %} </mj-text> "
    "</mj-column></mj-section> %%DIGEST_UNSUBSCRIBE_URL%% %%DIGEST_EMAIL_HTML%%\r\nBcc: x@evil.test"
)
ABSTRACT = (
    "Large language models reason well on short inputs but degrade on long contexts. "
    "We introduce a retrieval method that composes relevant passages into a compact "
    "working memory, e.g. for multi-hop questions. Experiments on six benchmarks show "
    "consistent gains of 3 to 7 points over strong baselines. We analyse failure modes "
    "such as distractor passages. Code and data are released to support future work."
)


def make_paper(i: int, **fields) -> Paper:
    base = f"2411.{i:05d}"
    values = {
        "key": base,
        "title": f"Compact working memories for retrieval-augmented reasoning ({i})",
        "abstract": ABSTRACT,
        "authors": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Kurt Gödel"],
        "arxiv_id": base,
        "primary_category": "cs.CL",
        "abs_url": f"https://arxiv.org/abs/{base}",
        "hf_url": f"https://huggingface.co/papers/{base}",
        "code_url": "https://github.com/example/memory",
        "upvotes": 40 + i,
        "comments": i % 4,
    }
    values.update(fields)
    return Paper(**values)


def sample_digest(count: int = 12, per_section: int = 6, fmt: str = "html") -> Digest:
    """A realistic daily digest: `count` papers in sections of `per_section`."""
    titles = ["Large Language Models", "Computer Vision", "Robotics", "Speech & Audio"]
    sections = []
    for start in range(0, count, per_section):
        entries = [
            Entry(make_paper(i), "cs.CL · matched: retrieval")
            for i in range(start, min(count, start + per_section))
        ]
        title = titles[(start // per_section) % len(titles)]
        sections.append(Section(f"s{start}", title, entries))
    return Digest("2026-11-22", date(2026, 11, 22), "daily", sections, format=fmt)


def recipient(n: int = 1, name: str = "Ada") -> Recipient:
    return Recipient(
        subscriber_id=n,
        email=f"reader{n}@example.com",
        unsubscribe_url=f"https://papers.example.org/unsubscribe/unsub-token-{n}.Xy_z",
        preferences_url=f"https://papers.example.org/preferences/pref-token-{n}.Ab-c",
        name=name,
    )


def parsed(message: Message) -> email.message.EmailMessage:
    when = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    raw = email_bytes(build_email(message, SITE.sender, date=when))
    return email.message_from_bytes(raw, policy=policy.default)


def abs_links(text: str) -> list[str]:
    return re.findall(r"https://arxiv\.org/abs/[\d.]+", text)


def test_it_builds_multipart_alternative_with_text_first():
    mail = parsed(render_digest(sample_digest(), SITE, recipient()))
    assert mail.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in mail.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_it_sets_every_required_header():
    mail = parsed(render_digest(sample_digest(), SITE, recipient()))
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert mail[name], name
    assert mail["To"] == "reader1@example.com"
    assert mail["Message-ID"].endswith("@example.org>")
    assert mail["List-Id"] == "Trending Papers Digest <digest.papers.example.org>"
    assert mail["List-Unsubscribe"] == (
        "<https://papers.example.org/unsubscribe/unsub-token-1.Xy_z>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == "Trending Papers · 12 new papers · Sun 22 Nov"


def test_it_keeps_long_list_unsubscribe_urls_whole_and_lines_short():
    person = recipient()
    person.unsubscribe_url = "https://papers.example.org/unsubscribe/" + "t" * 300
    raw = email_bytes(build_email(render_digest(sample_digest(), SITE, person), SITE.sender))
    assert f"List-Unsubscribe: <{person.unsubscribe_url}>\r\n".encode() in raw
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) < 998


def test_it_builds_identical_bytes_for_the_same_message():
    message = render_digest(sample_digest(), SITE, recipient())
    when = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    built = [build_email(message, SITE.sender, date=when, message_id="<1@x.test>") for _ in "ab"]
    assert email_bytes(built[0]) == email_bytes(built[1])
    reparsed = email.message_from_bytes(email_bytes(built[0]), policy=policy.default)
    for kind in ("plain", "html"):
        assert built[0].get_body((kind,)).get_content() == reparsed.get_body((kind,)).get_content()


def test_it_shows_unsubscribe_and_preferences_links_in_both_parts():
    person = recipient()
    mail = parsed(render_digest(sample_digest(), SITE, person))
    text, html_part = (p.get_content() for p in mail.iter_parts())
    for url in (person.unsubscribe_url, person.preferences_url):
        assert url in text
        assert f'href="{url}"' in html_part
    assert ">Unsubscribe</a>" in html_part
    assert "Hello Ada," in text and "Hello Ada," in html_part
    assert "reader1@example.com" in text and "1 Research Way" in html_part


def test_it_links_every_paper_abstract_in_both_parts():
    digest = sample_digest(12)
    message = render_digest(digest, SITE, recipient())
    expected = [p.abs_url for p in digest.papers]
    assert abs_links(message.text) == expected
    for url in expected:
        assert f'href="{url}"' in message.html
    # One line of its own in the text part, so every client makes it clickable.
    assert all(f"\n   {url}\n" in message.text for url in expected)


def test_it_shows_what_a_reader_expects():
    digest = sample_digest(2, per_section=1)
    digest.sections[0].entries[0].paper.ai_summary = "A short AI summary."
    html_out = render_digest(digest, SITE, recipient()).html
    text = render_digest(digest, SITE, recipient()).text
    assert '<html lang="en"' in html_out
    assert "<h1" in html_out and "<h2" in html_out and "<h3" in html_out
    assert "Sunday, 22 November 2026 · 2 new papers in your topics" in html_out
    assert "Ada Lovelace, Alan Turing, Grace Hopper et al." in text
    assert "cs.CL · matched: retrieval · ▲ 40 upvotes" in text
    assert "▲ 41 upvotes · 1 comment" in html_out
    assert "A short AI summary." in text and "PDF: https://arxiv.org/pdf/2411.00000" in text
    assert ">Code</a>" in html_out and ">Hugging Face</a>" in html_out
    assert "prefers-color-scheme: dark" in html_out
    assert 'name="color-scheme" content="light dark"' in html_out
    # Hidden preheader with the first titles.
    assert re.search(r'<div style="display:none;[^"]*">Compact working memories', html_out)


def test_it_keeps_hostile_feed_text_inert():
    evil = make_paper(
        1,
        title=HOSTILE,
        abstract=HOSTILE + " " + "lorem ipsum " * 500_000,
        authors=[HOSTILE, "B. Author"],
        code_url="https://evil.test/%%DIGEST_UNSUBSCRIBE_URL%%",
        project_url="javascript:alert(1)",
    )
    digest = Digest(
        "2026-11-22", date(2026, 11, 22), "daily", [Section("x", HOSTILE, [Entry(evil, HOSTILE)])]
    )
    person = recipient()
    started = time.perf_counter()
    mail = parsed(render_digest(digest, SITE, person))
    assert time.perf_counter() - started < 2
    text, html_out = (p.get_content() for p in mail.iter_parts())
    assert "<script" not in html_out and "&lt;script&gt;alert(1)&lt;/script&gt;" in html_out
    assert "{{ 7*7 }}" in html_out and "{% raw %}" in html_out
    assert "49" not in html_out.replace("#49", "")  # no colour uses it either
    assert "&lt;/mj-text&gt;" in html_out
    assert "<script>alert(1)</script> {{ 7*7 }} {% raw %}" in text
    assert 'href="javascript:' not in html_out and 'href="https://evil.test' not in html_out
    assert "\r" not in mail["Subject"] and "\n" not in mail["Subject"]
    assert mail["Bcc"] is None
    # The injected tokens stayed text: the unsubscribe URL shows only where the
    # templates put it (text: footer; HTML: footer link).
    assert text.count(person.unsubscribe_url) == 1
    assert html_out.count(person.unsubscribe_url) == 1
    assert "%%DIGEST_" not in text and "%%DIGEST_" not in html_out


def test_it_cannot_turn_a_title_into_a_token_even_across_values():
    # Halves of a token in adjacent fields (title end, reason start).
    paper = make_paper(1, title="Ends with %%DIGEST_", authors=["UNSUBSCRIBE_URL%%"])
    digest = Digest("p", date(2026, 11, 22), "daily", [Section("x", "X", [Entry(paper, "%%")])])
    compiled = compile_digest(digest, SITE)
    assert compiled.text.count("%%DIGEST_") == 5  # greeting, three links, email
    assert len(render.TOKEN_PATTERN.findall(compiled.html)) == 5


def test_it_does_not_render_templates_when_personalizing(monkeypatch):
    compiled = compile_digest(sample_digest(), SITE)

    def forbidden(*args, **kwargs):
        raise AssertionError("personalize must not render or compile")

    monkeypatch.setattr(render, "_render", forbidden)
    monkeypatch.setattr(render, "mjml2html", forbidden)
    message = personalize(compiled, recipient(name="{{ 7*7 }} %%DIGEST_EMAIL%%"))
    assert "Hello {{ 7*7 }} %%DIGEST_EMAIL%%," in message.text
    assert "Hello {{ 7*7 }} %%DIGEST_EMAIL%%," in message.html


def test_it_compiles_once_and_only_tokens_differ():
    cache = CompileCache(SITE)
    first = cache.get(sample_digest())
    second = cache.get(sample_digest())
    assert first is second and (cache.misses, cache.hits) == (1, 1)
    # From fragments: the frame of its shape and one batch of paper cards.
    assert first.mjml_compiles == 2
    one, two = personalize(first, recipient(1)), personalize(first, recipient(2, name=""))
    assert one.html != two.html and one.headers != two.headers
    undo = [("reader2@", "reader1@"), ("token-2", "token-1"), ("Hello,", "Hello Ada,")]
    for old, new in undo:
        two.html, two.text = two.html.replace(old, new), two.text.replace(old, new)
    assert (two.html, two.text, two.subject) == (one.html, one.text, one.subject)


def test_it_fits_the_gmail_budget_by_showing_fewer_papers():
    digest = sample_digest(100, per_section=10)
    compiled = compile_digest(digest, SITE)
    message = personalize(compiled, recipient())
    shown = len(compiled.paper_keys)
    assert len(message.html.encode()) < HTML_BUDGET
    assert 20 < shown < 100 and compiled.omitted == 100 - shown
    assert compiled.mjml_compiles <= 6
    line = f"and {100 - shown} more papers — see them on the web"
    assert line in message.text and line in message.html
    # The line links to a page listing exactly the papers left out.
    omitted = [p.key for p in digest.papers[shown:]]
    assert (
        f'href="https://papers.example.org/papers?k={omitted[0]}&amp;k={omitted[1]}' in message.html
    )
    expected = [f"https://arxiv.org/abs/{key}" for key in compiled.paper_keys]
    assert abs_links(message.text) == expected
    assert sorted(set(abs_links(message.html))) == sorted(expected)
    # The header still counts every paper of the edition.
    assert "100 new papers" in message.subject


def test_it_shows_the_most_papers_that_fit(monkeypatch):
    digest = sample_digest(40, per_section=10)
    full = compile_digest(digest, SITE)
    monkeypatch.setattr(render, "HTML_BUDGET", budget_size(full.html) - 1)
    cut = compile_digest(digest, SITE)
    assert len(cut.paper_keys) == 39 and cut.omitted == 1


def test_it_sends_text_only_mail_for_text_subscribers():
    compiled = compile_digest(sample_digest(fmt="text"), SITE)
    assert compiled.html is None and compiled.mjml_compiles == 0
    mail = parsed(personalize(compiled, recipient()))
    assert mail.get_content_type() == "text/plain" and not mail.is_multipart()
    assert "https://arxiv.org/abs/2411.00000" in mail.get_content()


def test_it_renders_the_empty_note():
    compiled = compile_empty("2026-11-22", date(2026, 11, 22), "daily", SITE)
    person = recipient()
    mail = parsed(personalize(compiled, person))
    text, html_out = (p.get_content() for p in mail.iter_parts())
    assert mail["Subject"] == "Trending Papers · no new papers · Sun 22 Nov"
    assert "No new papers matched your topics today." in text
    for url in (person.unsubscribe_url, person.preferences_url):
        assert url in text and url in html_out
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    weekly = compile_empty("2026-W47", date(2026, 11, 16), "weekly", SITE, format="text")
    assert weekly.html is None and "Week 47, 2026" in weekly.text


def test_it_gives_the_mjml_source_with_or_without_personal_values():
    source = mjml_source(sample_digest(fmt="text"), SITE)
    assert source.startswith('<mjml lang="en">') and "%%DIGEST_UNSUBSCRIBE_URL_HTML%%" in source
    filled = mjml_source(sample_digest(), SITE, recipient())
    assert "%%DIGEST_" not in filled and "unsub-token-1" in filled


def test_it_refuses_header_injection():
    message = render_digest(sample_digest(), SITE, recipient())
    message.subject = "Hi\r\nBcc: victim@example.com"
    with pytest.raises(ValueError):
        build_email(message, SITE.sender)
    with pytest.raises(ValueError):
        personalize(
            compile_digest(sample_digest(), SITE),
            Recipient(1, "a@example.com", "https://x.test/u\r\nBcc: v@x.test", "https://x.test/p"),
        )


def test_it_labels_editions_in_english():
    assert edition_labels("2026-11-22", date(2026, 11, 22), "daily") == (
        "Sunday, 22 November 2026",
        "Sun 22 Nov",
    )
    assert edition_labels("2026-W47", date(2026, 11, 16), "weekly") == ("Week 47, 2026", "Week 47")


def test_it_cuts_excerpts_at_sentence_ends_and_never_mid_word():
    cut = excerpt(ABSTRACT * 3)
    assert 200 <= len(cut) <= 400 and cut.endswith(".")
    assert not cut.endswith("e.g.")
    words = excerpt("word " * 200)
    assert words.endswith("word…") and len(words) <= 400
    assert excerpt("Short one.") == "Short one."
    assert len(excerpt("x " * 2_500_000)) <= 400


def test_it_shortens_long_author_lists():
    assert short_authors(["A", "B", "C", "D"]) == "A, B, C, D"
    assert short_authors(["A", "B", "C", "D", "E"]) == "A, B, C et al."
    assert short_authors(["A\r\nB", ""]) == "A B"


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_keeps_text_contrast_at_least_4_5(scheme):
    colours = PALETTE[scheme]
    for fg in ("text", "muted", "link"):
        for bg in ("card", "bg"):
            light, dark = sorted((_luminance(colours[fg]), _luminance(colours[bg])), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= 4.5, (scheme, fg, bg)


def test_it_finds_its_templates():
    assert (render.templates_dir() / "digest" / "body.mjml.j2").is_file()


def test_it_names_weekly_editions_by_week():
    digest = sample_digest(3)
    digest.period, digest.frequency, digest.edition_date = "2026-W47", "weekly", date(2026, 11, 16)
    message = render_digest(digest, SITE, recipient())
    assert message.subject == "Trending Papers · 3 new papers · Week 47"
    assert "Week 47, 2026" in message.text and "this week" in message.text


def test_it_links_papers_without_an_arxiv_id():
    doi = make_paper(1, key="doi:10.1000/xyz", arxiv_id=None, abs_url=None, hf_url=None)
    doi.doi = "10.1000/xyz"
    page = make_paper(2, key="url:https://example.net/paper", arxiv_id=None, abs_url=None)
    digest = Digest(
        "p", date(2026, 11, 22), "daily", [Section("x", "X", [Entry(doi), Entry(page)])]
    )
    message = render_digest(digest, SITE, recipient())
    for url in ("https://doi.org/10.1000/xyz", "https://example.net/paper"):
        assert f"\n   {url}\n" in message.text and f'href="{url}"' in message.html
    assert "arxiv.org/pdf" not in message.text


def test_it_writes_an_international_domain_in_its_ascii_form():
    reader = recipient()
    reader.email = "ann@exämple.org"
    raw = email_bytes(build_email(render_digest(sample_digest(2), SITE, reader), SITE.sender))
    assert b"To: ann@xn--exmple-cua.org\r\n" in raw


def test_it_refuses_a_list_unsubscribe_too_long_for_one_line():
    message = render_digest(sample_digest(2), SITE, recipient())
    message.headers["List-Unsubscribe"] = "<https://example.org/u/" + "a" * 1200 + ">"
    with pytest.raises(ValueError, match="one header line"):
        email_bytes(build_email(message, SITE.sender))
