"""Every command's help, and the README's example commands on the demo database.

The command tree is walked, so a new command is covered without touching this
file."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer

import digest
from digest.cli import app
from tests.cli_helpers import run_digest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# What typer prints for a parameter without a metavar: a Python type.
PYTHON_TYPES = re.compile(r"<(str|int|float|bool|path|list\[[^>]*\]|[a-z_]+ \| None)>")


def command_paths(command, path: tuple[str, ...] = ()):
    """Every command and group below `command` (typer's click), as argument lists."""
    yield path
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from command_paths(sub, (*path, name))


ALL = list(command_paths(typer.main.get_command(app)))


@pytest.mark.parametrize("path", ALL, ids=[" ".join(("digest", *p)) for p in ALL])
def test_every_command_has_readable_help(path):
    result = run_digest([*path, "--help"], {})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith("Usage: digest")
    assert not PYTHON_TYPES.search(result.stdout), PYTHON_TYPES.search(result.stdout)[0]


def test_help_names_formats_and_defaults():
    add = " ".join(run_digest(["subscribers", "add", "--help"], {}).stdout.split())
    for shown in ("SLUG[:MAX[:MIN_UPVOTES]]", "[default: 7]", "[default: UTC]", "[default: 20]"):
        assert shown in add, shown
    for command in (["send"], ["fetch"], ["preview"]):
        assert "--date YYYY-MM-DD" in run_digest([*command, "--help"], {}).stdout
    assert "[default: html]" in " ".join(run_digest(["preview", "--help"], {}).stdout.split())


def test_it_prints_its_version():
    result = run_digest(["--version"], {})
    assert result.exit_code == 0 and result.stdout.strip() == f"digest {digest.__version__}"


def readme_commands() -> list[list[str]]:
    """The `digest` command lines of the README's shell blocks (continuations
    joined), without the `.venv/bin/` prefix and trailing comments."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0].endswith("bin/digest"):
                found.append(words[1:])
    return found


def command_of(args: list[str]) -> str:
    """The command word, after global options such as `--config FILE`."""
    words = iter(args)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme-demo")
    result = run_digest(["demo"], {}, cwd=folder)
    assert result.exit_code == 0, result.stderr
    return folder


def test_the_readme_examples_run_on_the_demo_database(demo_folder, tmp_path):
    commands = readme_commands()
    assert ["status"] in commands and ["init"] in commands
    shutil.copy(demo_folder / "digest-demo.db", tmp_path / "digest-demo.db")
    env = {
        "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest-demo.db'}",
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    ran = 0
    for args in commands:
        if command_of(args) in ("demo", "fetch", "run", "serve", "worker"):
            # demo: tested on its own; fetch: needs the network; run, serve and
            # worker run until stopped (tests/test_run_process.py, test_web_*).
            continue
        args = [a for a in args if a != "--open"]  # no browser in tests
        result = run_digest(args, env, cwd=tmp_path)
        assert result.exit_code == 0, (args, result.stderr)
        assert (result.stdout + result.stderr).strip(), args
        assert "Traceback" not in result.stderr
        ran += 1
    assert ran >= 8
