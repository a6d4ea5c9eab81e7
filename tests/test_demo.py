"""README command (1): `digest demo` on a clean folder, offline."""

import email
import os
import re
import subprocess
from email import policy

import pytest

from tests.cli_helpers import run_digest
from tests.test_mjml_valid import mjml_cli

REQUIRED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
)  # fmt: skip
ABS_LINK = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{5})")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    result = run_digest(["demo"], {"DIGEST_BASE_URL": "https://papers.example.org"}, cwd=folder)
    assert result.exit_code == 0, result.stderr
    assert "outbox" in result.stdout and "index.html" in result.stdout
    # The loaded papers are printed.
    assert "2611.14009" in result.stdout and "Day 2: 2026-11-20" in result.stdout
    return folder


def messages(folder):
    found = []
    for path in sorted((folder / "outbox").glob("*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(), policy=policy.default))
    return found


def test_it_writes_digests_that_parse_and_carry_every_required_part(demo_dir):
    found = messages(demo_dir)
    assert len(found) == 6  # three subscribers, two days
    for message in found:
        for header in REQUIRED_HEADERS:
            assert message[header], header
        assert message["List-Unsubscribe"].startswith("<https://papers.example.org/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",)).get_content()
        parts = [text]
        if message.get_content_type() == "multipart/alternative":
            kinds = [p.get_content_type() for p in message.iter_parts()]
            assert kinds == ["text/plain", "text/html"]
            parts.append(message.get_body(("html",)).get_content())
        else:
            assert message.get_content_type() == "text/plain"  # the text-format subscriber
        keys = set(ABS_LINK.findall(text))
        assert keys, "a digest without papers"
        for part in parts:
            assert "https://papers.example.org/unsubscribe/" in part
            assert "https://papers.example.org/preferences/" in part
            assert set(ABS_LINK.findall(part)) == keys
    assert sum(m.get_content_type() == "multipart/alternative" for m in found) == 4


def test_it_never_repeats_a_paper_on_day_two(demo_dir):
    by_person: dict[str, list[set[str]]] = {}
    for message in messages(demo_dir):
        keys = set(ABS_LINK.findall(message.get_body(("plain",)).get_content()))
        by_person.setdefault(str(message["To"]), []).append(keys)
    assert len(by_person) == 3
    for days in by_person.values():
        assert len(days) == 2 and days[1] and not days[0] & days[1]


def test_it_writes_an_index_of_every_digest(demo_dir):
    index = (demo_dir / "outbox" / "index.html").read_text(encoding="utf-8")
    for path in (demo_dir / "outbox").glob("*.eml"):
        assert path.name in index
    assert (demo_dir / "digest-demo.db").exists()


def test_the_reference_mjml_tool_accepts_the_demo_digests(demo_dir):
    cli = mjml_cli()
    if cli is None:
        if os.environ.get("CI"):
            pytest.fail("mjml CLI missing under CI")
        pytest.skip("mjml CLI not installed (npm install --no-save mjml@4)")
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{demo_dir / 'digest-demo.db'}"}
    files = []
    for address in ("ada@example.org", "kenji@example.org"):
        for day in ("2026-11-19", "2026-11-20"):
            out = demo_dir / f"{address}-{day}.mjml"
            args = [
                "preview",
                "--email",
                address,
                "--date",
                day,
                "--format",
                "mjml",
                "-o",
                str(out),
            ]
            result = run_digest(args, env, cwd=demo_dir)
            assert result.exit_code == 0, result.stderr
            assert "<mjml" in out.read_text(encoding="utf-8")
            files.append(str(out))
    check = subprocess.run([cli, "--validate", *files], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
