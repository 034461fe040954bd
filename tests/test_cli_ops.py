"""The CLI for operators: `chute run` shows the user's traceback (not typer's, click's or
chute's frames), empty listings name the backend and environment they read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests._workers import ROOT


def chute_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chute", *args], capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_run_prints_the_traceback_from_the_users_code(chute_env: str) -> None:
    out = chute_cli("run", str(ROOT / "tests" / "apps" / "failing_entry.py"))
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    start = lines.index("Traceback (most recent call last):")
    assert "failing_entry.py" in lines[start + 1] and "in main" in lines[start + 1], out.stderr
    assert lines[-1] == "RuntimeError: entry failed"
    assert "typer" not in out.stderr and "click" not in out.stderr and "chute/cli" not in out.stderr


@pytest.mark.parametrize(
    ("command", "what"),
    [
        ("queue", "queues"),
        ("dict", "dicts"),
        ("secret", "secrets"),
        ("app", "deployed apps"),
        ("function", "deployed functions"),
    ],
)
def test_empty_listings_name_the_backend_and_environment(chute_env: str, command: str, what: str) -> None:
    out = chute_cli(command, "list", "--env", "nothing-here")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert text.startswith(f"No {what} in environment 'nothing-here' of "), out.stdout
    assert ("sqlite://" in text) or ("redis" in text), out.stdout
