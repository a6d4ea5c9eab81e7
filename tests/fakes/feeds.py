"""The hand-written feed fixtures under tests/fixtures/feeds."""

from pathlib import Path

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"


def feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes()
