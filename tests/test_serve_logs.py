"""The real `digest serve` process logs JSON: with DIGEST_LOG_FORMAT=json every
line on stderr, uvicorn's own included, is a JSON object with one run id."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_it_answers(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "digest serve exited early"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"digest serve did not answer at {url}")


def test_every_line_of_digest_serve_is_json_with_one_run_id(database_url, engine, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_SECRET_KEY": "test-secret-key",
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_LOG_FORMAT": "json",
        "DIGEST_LOG_LEVEL": "INFO",
    }
    stderr_path = tmp_path / "serve.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until_it_answers(f"http://127.0.0.1:{port}/healthz", proc)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
                assert page.status == 200
            proc.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    raw = stderr_path.read_text(encoding="utf-8").splitlines()
    lines = [json.loads(line) for line in raw]  # every line parses
    assert {line["run_id"] for line in lines} == {lines[0]["run_id"]}
    uvicorn = [line for line in lines if line["logger"].startswith("uvicorn")]
    messages = " ".join(line["message"] for line in uvicorn)
    assert "Uvicorn running on" in messages and "Shutting down" in messages
