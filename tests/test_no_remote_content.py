"""Opening a digest loads nothing from anywhere (no web fonts, no remote
images, no stylesheets): links are fine, anything fetched on open is not. The
MJML behind the HTML still passes the reference `mjml` validator."""

from __future__ import annotations

import re
import subprocess

from tests.cli_helpers import run_digest
from tests.test_cli_send import prepare
from tests.test_demo import demo_dir, messages  # noqa: F401 - the fixture is used below
from tests.test_mjml_valid import mjml  # noqa: F401 - the fixture is used below

LOADS_ON_OPEN = [
    re.compile(r"<link\b", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"\bbackground\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"fonts\.googleapis|Roboto", re.I),
]


def html_parts(folder):
    return [
        m.get_body(("html",)).get_content()
        for m in messages(folder)
        if m.get_content_type() == "multipart/alternative"
    ]


def test_the_demo_digests_load_nothing_when_opened(demo_dir):  # noqa: F811
    parts = html_parts(demo_dir)
    assert len(parts) == 4
    for html in parts:
        assert "https://arxiv.org/abs/" in html  # links stay: they load only when clicked
        for pattern in LOADS_ON_OPEN:
            assert not pattern.search(html), pattern.pattern


def test_the_previewed_mjml_still_validates(database_url, tmp_path, mjml):  # noqa: F811
    env = prepare(database_url, tmp_path, subscribers=("ada@example.org",))
    result = run_digest(["preview", "--email", "ada@example.org", "--format", "mjml"], env)
    assert result.exit_code == 0, result.stderr
    assert "mj-font" not in result.stdout and "Roboto" not in result.stdout
    path = tmp_path / "ada.mjml"
    path.write_text(result.stdout, encoding="utf-8")
    check = subprocess.run(
        [mjml, "--validate", str(path)], capture_output=True, text=True, timeout=60
    )
    report = check.stdout + check.stderr
    assert check.returncode == 0 and "Line " not in report, report
