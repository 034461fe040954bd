"""The deployment files the docs ship (docs/deploy/) say only what chute accepts: every chute
command line parses, the ACL grants exactly the commands the ACL chaos scenario verified, the
environment file sets only variables chute reads, and the files they name exist."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chute.cli import app
from tests.chaos.test_redis_tls_acl import CHUTE_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
KNOWN_VARS = set(re.findall(r"`(CHUTE_[A-Z_]+)`", (ROOT / "docs/reference/configuration.md").read_text()))
KNOWN_VARS |= set(re.findall(r"`(CHUTE_[A-Z_]+)`", (ROOT / "README.md").read_text()))


def assert_parses(argv: list[str]) -> None:
    """``chute ARGV`` is a valid command line: its options exist and take the values given."""
    assert argv[0].endswith("chute"), argv
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"{shlex.join(argv)}:\n{result.output}"
    for name in argv[1:]:
        if name.endswith(".py"):
            assert (ROOT / "examples" / name).is_file(), f"{name} is not in examples/"


@pytest.mark.parametrize("unit", ["chute-worker.service", "chute-serve.service"])
def test_systemd_units(unit: str) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / unit)
    service = parser["Service"]
    assert service["EnvironmentFile"] == "/etc/chute/chute.env"
    assert_parses(shlex.split(service["ExecStart"]))
    grace = re.search(r"--grace (\d+)", service["ExecStart"])
    if grace:  # systemd must not SIGKILL the pool before its grace period is over
        assert int(service["TimeoutStopSec"]) > int(grace[1])
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"valkey", "worker", "serve"}
    assert "noeviction" in services["valkey"]["command"] and "always" in services["valkey"]["command"]
    for name in ("worker", "serve"):
        service = services[name]
        assert service["environment"]["CHUTE_URL"] == "redis://valkey:6379/0"
        assert set(service["environment"]) <= KNOWN_VARS
        assert_parses(service["command"])
    build = services["worker"]["build"]
    dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == DEPLOY / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_environment_file_sets_only_known_variables() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "chute.env").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names and set(names) <= KNOWN_VARS, set(names) - KNOWN_VARS


def test_acl_grants_exactly_what_the_chaos_scenario_verified() -> None:
    rule = (DEPLOY / "users.acl").read_text().strip()
    assert "\n" not in rule, "an ACL file takes one line per user"
    words = rule.split()
    assert words[:3] == ["user", "chute", "on"]
    assert "~chute:*" in words and "-@all" in words and "resetkeys" in words
    granted = sorted(w[1:] for w in words if w.startswith("+"))
    assert granted == CHUTE_COMMANDS
