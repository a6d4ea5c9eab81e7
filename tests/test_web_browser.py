"""End to end in headless Chromium: from the home page's Subscribe button to
unsubscribing, through real emails in the outbox and `digest send --now`;
every page fits 375 px and 1280 px, and axe-core finds no serious or critical
accessibility violation."""

from __future__ import annotations

import dataclasses
import email
import re
import shutil
from datetime import UTC, datetime
from email import policy

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from digest.config import Settings
from digest.demo import DAYS, LOAD_HOUR_UTC, replay_time, sample_bytes
from digest.sources import arxiv_rss, hf_daily
from digest.store.papers import upsert_papers
from digest.store.subscribers import get_subscriber
from digest.wiring import Runtime
from subscribers.app import create_app
from tests.browser_helpers import (
    assert_fits,
    free_socket,
    make_driver,
    serious_violations,
    serving,
)
from tests.cli_helpers import run_digest

pytestmark = pytest.mark.slow
SECRET = "browser-test-secret"
_TIMES = (
    "published_at",
    "updated_at",
    "available_at",
    "trending_at",
    "first_seen_at",
    "trending_seen_at",
    "changed_at",
)


def load_samples_as_today(engine, now: datetime) -> None:
    """The bundled listings of the first sample day, moved to today (the first
    edition takes papers of the last two days)."""
    day = DAYS[0]
    loaded = replay_time(day, LOAD_HOUR_UTC)
    shift = now - loaded
    listings = [
        arxiv_rss.parse(sample_bytes(f"arxiv-{day}.xml"), "arxiv", loaded)[0],
        hf_daily.parse(sample_bytes(f"hf-{day}.json"), "hf", day)[0],
    ]
    for papers in listings:
        moved = [
            dataclasses.replace(
                p, **{f: getattr(p, f) + shift for f in _TIMES if getattr(p, f) is not None}
            )
            for p in papers
        ]
        with engine.begin() as conn:
            upsert_papers(conn, moved, now)


@pytest.fixture
def site(tmp_path, sqlite_template):
    db = tmp_path / "digest.db"
    shutil.copy(sqlite_template, db)
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {
        "DIGEST_DATABASE_URL": f"sqlite:///{db}",
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_BASE_URL": base,
        "DIGEST_SECRET_KEY": SECRET,
        "DIGEST_FROM": "Trending Papers <digest@example.org>",
    }
    settings = Settings(
        database_url=env["DIGEST_DATABASE_URL"],
        outbox_dir=tmp_path / "outbox",
        base_url=base,
        secret_key=SECRET,
        sender=env["DIGEST_FROM"],
    )
    runtime = Runtime(settings)
    load_samples_as_today(runtime.engine, datetime.now(UTC))
    with serving(create_app(runtime), sock):
        yield base, env, runtime
    runtime.engine.dispose()


@pytest.fixture
def browser():
    driver = make_driver()
    yield driver
    driver.quit()


class Outbox:
    def __init__(self, env):
        from pathlib import Path

        self.directory = Path(env["DIGEST_OUTBOX_DIR"])
        self.seen: set = set()

    def new(self) -> list:
        files = sorted(self.directory.glob("*.eml")) if self.directory.exists() else []
        fresh = [f for f in files if f not in self.seen]
        self.seen.update(fresh)
        return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in fresh]


def link(message, base: str, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    match = re.search(re.escape(base + path) + r"\S+", text)
    assert match, f"no {path} link in {message['Subject']!r}"
    return match.group(0)


def wait_for_text(driver, text: str) -> None:
    """After a click that submits a form: wait for the next page (a busy
    machine may still show the old one when the click returns)."""
    WebDriverWait(driver, 30).until(lambda d: text in d.page_source)


def check_page(driver, name: str) -> None:
    assert_fits(driver)
    violations = serious_violations(driver)
    assert violations == [], f"{name}: {violations}"


def test_from_subscribe_to_unsubscribe_in_a_browser(site, browser):
    base, env, runtime = site
    outbox = Outbox(env)
    driver = browser

    # The home page: the day's papers under the banner; press Subscribe.
    driver.get(base + "/")
    assert "Get trending papers in your email inbox!" in driver.page_source
    assert driver.find_elements(By.CSS_SELECTOR, "li.paper")
    check_page(driver, "home")
    driver.find_element(By.ID, "banner-email").send_keys("reader@example.org")
    driver.find_element(By.CSS_SELECTOR, ".banner button[type=submit]").click()

    # The sign-up form, pre-filled (once it has loaded: see wait_for_text): pick
    # topics and submit.
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "email"))
    assert driver.find_element(By.ID, "email").get_attribute("value") == "reader@example.org"
    check_page(driver, "subscribe")
    for slug in ("computer-vision", "large-language-models"):
        driver.find_element(By.ID, f"topic-{slug}").click()
    driver.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for_text(driver, "Check your inbox")

    # The confirmation email; its link shows a Confirm button.
    [confirmation] = outbox.new()
    assert confirmation["To"] == "reader@example.org"
    driver.get(link(confirmation, base, "/confirm/"))
    check_page(driver, "confirm")
    driver.find_element(By.CSS_SELECTOR, "main form button").click()
    wait_for_text(driver, "You are subscribed")
    [welcome] = outbox.new()
    assert (
        "Welcome" in welcome["Subject"]
        and "Computer Vision" in welcome.get_body(("plain",)).get_content()
    )

    # The first digest.
    result = run_digest(["send", "--now"], env)
    assert result.exit_code == 0, result.stderr
    [digest] = outbox.new()
    assert digest["To"] == "reader@example.org" and "List-Unsubscribe" in digest

    # View in browser: the edition as sent.
    driver.get(link(digest, base, "/editions/"))
    first_paper = re.search(
        r"https://arxiv\.org/abs/[\w.]+", digest.get_body(("plain",)).get_content()
    )
    assert first_paper.group(0) in driver.page_source

    # Preferences: change topics.
    driver.get(link(digest, base, "/preferences/"))
    check_page(driver, "preferences")
    driver.find_element(By.ID, "topic-large-language-models").click()  # off
    driver.find_element(By.ID, "topic-robotics").click()  # on
    driver.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for_text(driver, "Your preferences are saved.")
    with runtime.engine.begin() as conn:
        chosen = [t.slug for t in get_subscriber(conn, "reader@example.org").prefs.topics]
    assert chosen == ["computer-vision", "robotics"]

    # Unsubscribe through the page's button.
    driver.get(link(digest, base, "/unsubscribe/"))
    check_page(driver, "unsubscribe")
    driver.find_element(By.CSS_SELECTOR, "main form button").click()
    wait_for_text(driver, "You are unsubscribed")
    check_page(driver, "unsubscribed")

    # The next send sends nothing to that address.
    with runtime.engine.begin() as conn:
        assert get_subscriber(conn, "reader@example.org").status == "unsubscribed"
    result = run_digest(["send", "--now"], env)
    assert result.exit_code == 0, result.stderr
    assert outbox.new() == []


def test_topic_pages_fit_and_are_accessible(site, browser):
    base, _, _ = site
    for path in ("/topics", "/topics/computer-vision"):
        browser.get(base + path)
        assert browser.find_elements(By.TAG_NAME, "h1")
        check_page(browser, path)
