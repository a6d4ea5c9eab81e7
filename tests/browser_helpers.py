"""Headless Chromium (Debian's chromium + chromium-driver) through Selenium,
the web app served by uvicorn on a loopback port, and axe-core checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMEDRIVER = "/usr/bin/chromedriver"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI (.ci/run installs everything)."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (missing under CI)")
    pytest.skip(reason)


def make_driver():
    require(os.path.exists(CHROMEDRIVER), "chromium-driver is not installed")
    require(shutil.which("chromium") is not None, "chromium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def set_width(driver, width: int) -> None:
    """Emulate a viewport `width` CSS pixels wide (a phone at 375)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def fits(driver, width: int) -> tuple[int, int]:
    """(scrollWidth, innerWidth) of the current page at `width` px."""
    set_width(driver, width)
    return driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];"
    )


def assert_fits(driver) -> None:
    for width in (375, 1280):
        scroll, inner = fits(driver, width)
        assert inner == width, f"{driver.current_url}: the viewport is {inner}px, not {width}px"
        assert scroll <= inner, f"{driver.current_url} is {scroll}px wide at {width}px"
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def serious_violations(driver) -> list[dict]:
    """axe-core's serious and critical violations on the current page."""
    require(AXE.exists(), "axe-core is not installed (npm install --no-save axe-core)")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ["violations"]}).then(
          (r) => done(r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
                       .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.map((n) => n.html).slice(0, 3)}))),
          (e) => done([{id: "axe-error", help: String(e)}]));
        """
    )
    return found


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serving(app, sock: socket.socket):
    """Run `app` under uvicorn on `sock` in a thread until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
