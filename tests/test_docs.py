"""Every command has help with an example and is documented in the README."""

from pathlib import Path

import pytest
import typer

from digest.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group, prefix: str = "digest"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from commands(command, path)
        else:
            yield path, command


ALL = list(commands(typer.main.get_command(app)))


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_it_documents_every_command(path, command):
    assert command.help and "Example: digest" in command.help, path
    assert f"`{path}" in README, f"{path} is missing from the README"


def test_it_starts_the_readme_with_the_two_commands():
    blocks = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    commands_only = [line for line in blocks if line and not line.startswith("#")]
    assert commands_only[0].endswith("digest demo")
    assert commands_only[1].endswith("pytest -n auto")
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert commands_only[1] in ci
