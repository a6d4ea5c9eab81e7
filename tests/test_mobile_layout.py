"""Digests fit a phone screen: measured in a real browser (Debian's chromium,
headless), never wider than a 360 px viewport, long unbreakable words included.

The email is framed at phone width (headless windows cannot be narrower than
500 px) and a probe reports the frame's scroll width; the test asserts on that,
as DESIGN.md asks (`scrollWidth <= innerWidth`)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

import pytest

from digest.digests import Recipient
from digest.render import render_digest
from tests.test_render import SITE, make_paper, sample_digest

WIDTH = 360
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=800,900",
    "--virtual-time-budget=5000",
    "--dump-dom",
]


@pytest.fixture(scope="module")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing under CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def measure(chromium: str, email_html: str, tmp_path) -> tuple[int, int]:
    page = f"""<!doctype html><html><body style="margin:0">
<iframe id="f" style="width:{WIDTH}px;height:900px;border:0" srcdoc="{html.escape(email_html)}"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {{
  var probe = document.createElement("div");
  probe.id = "probe";
  probe.textContent = this.contentDocument.documentElement.scrollWidth + " " + this.contentWindow.innerWidth;
  document.body.appendChild(probe);
}});
</script></body></html>"""
    path = tmp_path / "frame.html"
    path.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    out = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    match = re.search(r'id="probe">(\d+) (\d+)<', out)
    assert match, f"the probe did not report (chromium output: {out[-500:]!r})"
    return int(match[1]), int(match[2])


def recipient() -> Recipient:
    return Recipient(
        1, "ada@example.org", "https://x.example/unsubscribe/t", "https://x.example/preferences/t"
    )


def test_a_digest_fits_a_phone(chromium, tmp_path):
    message = render_digest(sample_digest(12), SITE, recipient())
    scroll, inner = measure(chromium, message.html, tmp_path)
    assert scroll <= inner <= WIDTH


def test_long_unbreakable_feed_text_still_fits(chromium, tmp_path):
    digest = sample_digest(3)
    long_word = "Hyper" + "parameter" * 30
    digest.sections[0].entries[0].paper = make_paper(
        1,
        title=f"{long_word} Optimisation",
        authors=["Wolfeschlegelsteinhausenbergerdorff" * 3],
        abstract=f"We study {long_word} at https://example.org/{'a' * 200} scale.",
    )
    message = render_digest(digest, SITE, recipient())
    scroll, inner = measure(chromium, message.html, tmp_path)
    assert scroll <= inner <= WIDTH
