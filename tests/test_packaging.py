"""The wheel carries everything `digest` needs outside a source checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_ships_templates_samples_catalog_and_migrations(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.j2")}
    for template in templates:
        assert f"digest/{template}" in names
    for needed in (
        "digest/catalog.toml",
        "digest/samples/arxiv-2026-11-19.xml",
        "digest/samples/hf-2026-11-20.json",
        "digest/db/migrations/env.py",
        "digest/db/migrations/versions/0001_initial_schema.py",
    ):
        assert needed in names
