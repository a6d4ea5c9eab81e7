"""Parsing what people type on the command line and in CSV files."""

from __future__ import annotations

import io

import pytest

from digest.arxiv_categories import all_categories
from digest.preferences import Preferences, TopicChoice
from digest.subscriber_csv import ImportRow, read_csv, write_csv
from digest.subscriber_input import (
    CSV_COLUMNS,
    InputError,
    apply_options,
    check_has_interests,
    normalize_email,
    parse_bool,
    parse_categories,
    parse_format,
    parse_frequency,
    parse_hour,
    parse_max_papers,
    parse_min_upvotes,
    parse_timezone,
    parse_topic_spec,
    parse_topics,
    parse_weekday,
    split_list,
)

SLUGS = frozenset(
    {"computer-vision", "nlp", "large-language-models", "robotics", "theory", "multimodal"}
)


def read(text: str) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    return read_csv(io.StringIO(text, newline=""), SLUGS)


# --- email -------------------------------------------------------------------------


def test_it_normalizes_email_addresses():
    assert normalize_email("Ada.Lovelace@EXAMPLE.org") == "ada.lovelace@example.org"
    assert normalize_email("  ada@example.org\n") == "ada@example.org"
    assert normalize_email("jose@Bücher.DE") == "jose@bücher.de"
    with pytest.raises(InputError, match="before the @"):
        normalize_email("josé@example.org")  # would need SMTPUTF8


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "@-sign"),
        ("ada.example.org", "@-sign"),
        ("ada@example", "period"),
        ("ada@@example.org", "invalid characters"),
        ("ada lovelace@example.org", "invalid characters"),
        ("ada@localhost", "period"),
    ],
)
def test_it_rejects_bad_addresses_with_a_reason(text, reason):
    with pytest.raises(InputError) as caught:
        normalize_email(text)
    message = str(caught.value)
    assert message.startswith("invalid email address: ")
    assert reason in message
    assert "\n" not in message
    if text.strip():
        assert text.strip() not in message  # addresses stay out of messages (and logs)


# --- topics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,choice",
    [
        ("nlp", TopicChoice("nlp")),
        ("nlp:5", TopicChoice("nlp", 5)),
        ("nlp:5:10", TopicChoice("nlp", 5, 10)),
        ("nlp::10", TopicChoice("nlp", None, 10)),
        ("nlp:", TopicChoice("nlp")),
        (" NLP : 5 ", TopicChoice("nlp", 5)),
        ("robotics:100:0", TopicChoice("robotics", 100, 0)),
    ],
)
def test_it_parses_topic_specs(spec, choice):
    assert parse_topic_spec(spec, SLUGS) == choice


def test_it_round_trips_topic_specs():
    for choice in [TopicChoice("nlp"), TopicChoice("nlp", 5), TopicChoice("nlp", None, 3)]:
        assert parse_topic_spec(choice.spec(), SLUGS) == choice


def test_it_suggests_close_slugs_for_an_unknown_topic():
    with pytest.raises(InputError) as caught:
        parse_topic_spec("computer-visoin", SLUGS)
    message = str(caught.value)
    assert message.startswith("unknown topic 'computer-visoin'; try computer-vision, ")
    assert "digest topics list" in message


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nlp:0", "topic 'nlp:0': MAX must be a whole number from 1 to 100, not 0"),
        ("nlp:101", "MAX must be a whole number from 1 to 100, not 101"),
        ("nlp:five", "MAX must be a whole number from 1 to 100, not 'five'"),
        ("nlp:5:-1", "MIN_UPVOTES must be a whole number from 0 to 1000000, not '-1'"),
        ("nlp:5:1:2", "use SLUG[:MAX[:MIN_UPVOTES]]"),
        ("", "unknown topic ''"),
    ],
)
def test_it_explains_bad_topic_specs(spec, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_topic_spec(spec, SLUGS)


def test_it_parses_topic_lists_and_refuses_a_topic_twice():
    assert parse_topics("nlp:5:10; computer-vision", SLUGS) == [
        TopicChoice("nlp", 5, 10),
        TopicChoice("computer-vision"),
    ]
    assert parse_topics(["nlp", "theory::2"], SLUGS) == [
        TopicChoice("nlp"),
        TopicChoice("theory", None, 2),
    ]
    assert parse_topics(" ; ", SLUGS) == []
    with pytest.raises(InputError, match="topic given more than once: nlp"):
        parse_topics("nlp; NLP:3", SLUGS)


# --- lists -------------------------------------------------------------------------


def test_it_splits_semicolon_lists():
    assert split_list("a; b;c") == ["a", "b", "c"]
    assert split_list(" ; diffusion ;; ") == ["diffusion"]
    assert split_list("GAN; gan; Gan; vae") == ["GAN", "vae"]
    assert split_list(None) == []
    assert split_list("") == []
    assert split_list(["graph neural nets", "  GNN  ", "gnn"]) == ["graph neural nets", "GNN"]


def test_it_keeps_list_items_to_one_bounded_line():
    assert split_list("line\nbreak; tab\there") == ["line break", "tab here"]
    assert split_list(["a;b"]) == ["a", "b"]  # no item can hold the separator
    long_item = "word " * 40
    (capped,) = split_list(long_item)
    assert len(capped) <= 100 and capped.endswith("…")


def test_it_refuses_more_than_fifty_items():
    assert len(split_list("; ".join(f"k{i}" for i in range(50)))) == 50
    with pytest.raises(InputError, match=r"too many items \(51\); at most 50"):
        split_list("; ".join(f"k{i}" for i in range(51)))


def test_it_checks_arxiv_categories():
    assert parse_categories("cs.CV; stat.ML; astro-ph.GA; cond-mat.mes-hall; hep-th") == [
        "cs.CV",
        "stat.ML",
        "astro-ph.GA",
        "cond-mat.mes-hall",
        "hep-th",
    ]
    with pytest.raises(InputError, match="not an arXiv category: 'cs CV', 'cs.CV!'"):
        parse_categories("cs CV; cs.CV!; cs.RO")


def test_categories_must_exist_in_the_arxiv_taxonomy_and_take_its_spelling():
    assert parse_categories("cs.cv; STAT.ml; Cond-Mat.Mes-Hall; HEP-TH; q-bio.nc") == [
        "cs.CV",
        "stat.ML",
        "cond-mat.mes-hall",
        "hep-th",
        "q-bio.NC",
    ]
    assert parse_categories("cs.CV; cs.cv") == ["cs.CV"]
    with pytest.raises(InputError, match=r"not an arXiv category: 'cs\.XX', 'banana'"):
        parse_categories("cs.XX; banana; cs.RO")


def test_the_bundled_taxonomy_holds_every_archive():
    ids = all_categories()
    assert len(ids) == len(set(ids)) > 150
    archives = {i.split(".")[0] for i in ids}
    assert archives >= {
        "cs", "math", "stat", "physics", "q-bio", "q-fin", "econ", "eess", "astro-ph",
        "cond-mat", "hep-th", "hep-ph", "hep-ex", "hep-lat", "gr-qc", "quant-ph", "nlin",
        "nucl-th", "nucl-ex", "math-ph",
    }  # fmt: skip
    assert {"cs.LG", "cs.CL", "stat.ML", "eess.AS", "physics.optics"} <= set(ids)


def test_a_subscriber_needs_something_to_match():
    with pytest.raises(InputError, match="nothing to match"):
        check_has_interests(Preferences())
    for prefs in (
        Preferences(topics=[TopicChoice("nlp")]),
        Preferences(keywords=["diffusion"]),
        Preferences(categories=["cs.CV"]),
        Preferences(authors=["A. Turing"]),
    ):
        check_has_interests(prefs)


# --- single values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,number",
    [("mon", 0), ("Monday", 0), ("MON", 0), ("tues", 1), ("wed", 2), ("thu", 3), ("sun", 6)],
)
def test_it_parses_weekdays(text, number):
    assert parse_weekday(text) == number


@pytest.mark.parametrize("text", ["mo", "mondays", "", "funday", 7, True])
def test_it_rejects_unknown_weekdays(text):
    with pytest.raises(InputError, match="use mon, tue, wed, thu, fri, sat, sun"):
        parse_weekday(text)


def test_it_parses_timezones():
    assert parse_timezone("Europe/Berlin") == "Europe/Berlin"
    assert parse_timezone(" america/new_york ") == "America/New_York"
    assert parse_timezone("UTC") == "UTC"
    for bad in ["", "Europe", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "localtime"]:
        with pytest.raises(InputError, match="unknown timezone .* like Europe/Berlin"):
            parse_timezone(bad)


def test_it_bounds_numbers():
    assert parse_hour("0") == 0
    assert parse_hour(" 23 ") == 23
    assert parse_hour(7) == 7
    assert parse_max_papers("100") == 100
    assert parse_min_upvotes("0") == 0
    for parse, bad in [
        (parse_hour, "24"),
        (parse_hour, "-1"),
        (parse_hour, "7.5"),
        (parse_hour, "1_0"),
        (parse_hour, True),
        (parse_max_papers, "0"),
        (parse_max_papers, 101),
        (parse_min_upvotes, "-3"),
        (parse_min_upvotes, "9" * 5000),
    ]:
        with pytest.raises(InputError, match="must be a whole number from"):
            parse(bad)


def test_it_parses_choices():
    assert parse_frequency(" Weekly") == "weekly"
    assert parse_format("TEXT") == "text"
    with pytest.raises(InputError, match="must be daily or weekly, not 'monthly'"):
        parse_frequency("monthly")
    with pytest.raises(InputError, match="must be html or text, not 'pdf'"):
        parse_format("pdf")


def test_it_parses_booleans():
    for word in ["true", "TRUE", "yes", "1", "y", "on"]:
        assert parse_bool(word) is True
    for word in ["false", "No", "0", "n", "off"]:
        assert parse_bool(word) is False
    assert parse_bool("") is None
    assert parse_bool(None) is None
    assert parse_bool(False) is False
    with pytest.raises(InputError, match="not a yes/no value: 'maybe'"):
        parse_bool("maybe")


# --- apply_options -----------------------------------------------------------------


def test_it_applies_every_option_to_a_new_preferences():
    before = Preferences()
    after = apply_options(
        before,
        {
            "topics": ["nlp:5:10", "computer-vision"],
            "keywords": "diffusion; LoRA",
            "categories": ["cs.CV", "cs.RO"],
            "authors": "A. Name; B. Name",
            "mute": "survey",
            "frequency": "weekly",
            "weekday": "fri",
            "timezone": "asia/tokyo",
            "hour": "6",
            "max_papers": 12,
            "format": "text",
            "cross_lists": False,
            "min_upvotes": "3",
        },
        SLUGS,
    )
    assert before == Preferences()
    assert after == Preferences(
        topics=[TopicChoice("nlp", 5, 10), TopicChoice("computer-vision")],
        keywords=["diffusion", "LoRA"],
        categories=["cs.CV", "cs.RO"],
        authors=["A. Name", "B. Name"],
        mute=["survey"],
        frequency="weekly",
        weekday=4,
        timezone="Asia/Tokyo",
        hour=6,
        max_papers=12,
        format="text",
        cross_lists=False,
        min_upvotes=3,
    )


def test_it_leaves_unset_options_alone_and_empties_lists_on_request():
    prefs = Preferences(keywords=["gan"], authors=["A. Name"], hour=9, cross_lists=False)
    after = apply_options(
        prefs,
        {"keywords": "", "authors": None, "hour": "", "cross_lists": " ", "timezone": None},
        SLUGS,
    )
    assert after == Preferences(keywords=[], authors=["A. Name"], hour=9, cross_lists=False)


def test_it_names_the_option_in_errors():
    with pytest.raises(InputError, match=r"^hour: must be a whole number from 0 to 23, not 25$"):
        apply_options(Preferences(), {"hour": "25"}, SLUGS)
    with pytest.raises(InputError, match=r"^topics: unknown topic 'vision'"):
        apply_options(Preferences(), {"topics": "vision"}, SLUGS)
    with pytest.raises(InputError, match=r"^keywords: too many items"):
        apply_options(Preferences(), {"keywords": [f"k{i}" for i in range(60)]}, SLUGS)
    with pytest.raises(InputError, match=r"^unknown option: colour, confirmed$"):
        apply_options(Preferences(), {"confirmed": True, "colour": "red"}, SLUGS)


# --- CSV ---------------------------------------------------------------------------


def test_it_imports_a_file_with_only_emails():
    rows, errors = read("email\nada@example.org\r\nBob@Example.ORG\n")
    assert errors == []
    assert rows == [
        ImportRow(2, "ada@example.org", Preferences(), None),
        ImportRow(3, "bob@example.org", Preferences(), None),
    ]


def test_it_imports_columns_in_any_order_and_spelling():
    text = (
        "\ufeffTopics,Max-Papers,EMAIL,confirmed,hour,weekday,frequency\n"
        '"nlp:5:10; theory",30,ada@example.org,yes,6,sun,weekly\n'
        "robotics,,bob@example.org,,,,\n"
    )
    rows, errors = read(text)
    assert errors == []
    ada, bob = rows
    assert ada.prefs == Preferences(
        topics=[TopicChoice("nlp", 5, 10), TopicChoice("theory")],
        max_papers=30,
        hour=6,
        weekday=6,
        frequency="weekly",
    )
    assert ada.confirmed is True
    assert bob.prefs == Preferences(topics=[TopicChoice("robotics")])
    assert bob.confirmed is None


def test_it_reports_bad_rows_by_line_and_keeps_the_others():
    text = (
        "email,hour,keywords\n"
        "ada@example.org,7,gan\n"
        "not-an-address,7,\n"
        "\n"
        'carol@example.org,7,"multi\nline"\n'
        "dave@example.org,25,\n"
        "erin@example.org,8,x,extra\n"
        "ADA@example.org,9,\n"
        "frank@example.org\n"
    )
    rows, errors = read(text)
    assert [(row.line, row.email) for row in rows] == [
        (2, "ada@example.org"),
        (5, "carol@example.org"),
        (10, "frank@example.org"),
    ]
    assert rows[1].prefs.keywords == ["multi line"]
    assert errors == [
        (3, "invalid email address: An email address must have an @-sign."),
        (7, "hour: must be a whole number from 0 to 23, not 25"),
        (8, "4 fields but the header names 3"),
        (9, "duplicate email address (first on line 2)"),
    ]


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty file: a header row with an `email` column is required"),
        ("address,hour\nada@example.org,7\n", "the header row needs an `email` column"),
        ("email,keyword,colour\n", "unknown column: keyword, colour; known: email, topics"),
        ("email,hour,Hour\n", "column given more than once: hour"),
    ],
)
def test_it_rejects_a_bad_header(text, message):
    rows, errors = read(text)
    assert rows == []
    assert len(errors) == 1
    line, reason = errors[0]
    assert line == 1
    assert reason.startswith(message)


def test_it_stops_at_unreadable_csv_but_keeps_what_came_before():
    rows, errors = read("email,keywords\nada@example.org,x\nbob@example.org," + "y" * 200_000)
    assert [row.email for row in rows] == ["ada@example.org"]
    assert errors == [
        (3, "unreadable CSV, import stops here: field larger than field limit (131072)")
    ]


def subscribers() -> list[tuple[str, Preferences, bool | None]]:
    return [
        (
            "jose@bücher.de",
            Preferences(
                topics=[TopicChoice("nlp", 5, 10), TopicChoice("computer-vision", None, 3)],
                keywords=[
                    'say "hello", world',
                    "naïve Bayes",
                    "日本語",
                    "=HYPERLINK(1)",
                    "'quoted",
                ],
                categories=["cs.CV", "cond-mat.mes-hall"],
                authors=["O'Brien, Ann", "Zoë Ünal"],
                mute=["-survey", "@handle"],
                frequency="weekly",
                weekday=6,
                timezone="America/New_York",
                hour=0,
                max_papers=100,
                format="text",
                cross_lists=False,
                min_upvotes=7,
            ),
            True,
        ),
        ("=1+1@example.org", Preferences(), False),
        ("plain@example.org", Preferences(topics=[TopicChoice("theory", 2)]), None),
    ]


def test_it_round_trips_export_then_import():
    out = io.StringIO(newline="")
    write_csv(out, subscribers())
    rows, errors = read(out.getvalue())
    assert errors == []
    assert [(row.email, row.prefs, row.confirmed) for row in rows] == subscribers()
    again = io.StringIO(newline="")
    write_csv(again, [(row.email, row.prefs, row.confirmed) for row in rows])
    assert again.getvalue() == out.getvalue()


def test_it_exports_readable_cells_that_spreadsheets_do_not_run():
    out = io.StringIO(newline="")
    write_csv(out, subscribers())
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[2] == ("'=1+1@example.org,,,,,,daily,mon,UTC,7,20,html,true,0,false")
    assert lines[1].startswith("jose@bücher.de,nlp:5:10; computer-vision::3,")
    assert '"say ""hello"", world; naïve Bayes; 日本語; =HYPERLINK(1); \'quoted"' in lines[1]
    assert "'-survey; @handle" in lines[1]
    assert lines[3].endswith(",theory:2,,,,,daily,mon,UTC,7,20,html,true,0,")
