"""The CLI's help and version: every command's --help is plain (no `<bool>`/`{name}` noise),
`chute --version` prints the version, and commands whose extra is missing say which one."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import typer.core
import typer.main
from typer.testing import CliRunner

import chute
from chute.cli import app

# What Typer 0.27+ prints: types in angle brackets and required arguments in braces.
NOISE = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z]+ range)>|\{[a-z_]+\}")


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            paths += command_paths(sub, (*path, name))
    return paths


ALL_COMMANDS = command_paths(typer.main.get_command(app))


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p in ALL_COMMANDS}
    assert {"", "serve", "worker", "queue put", "dict get", "call get"} <= names


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "chute")
def test_help_has_no_type_noise(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert not NOISE.search(result.output), result.output
    short = CliRunner().invoke(app, [*path, "-h"], env={"COLUMNS": "100"})
    assert short.output == result.output


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(app, [flag])
        assert result.exit_code == 0
        assert result.output == f"chute {chute.__version__}\n"
    module = subprocess.run(
        [sys.executable, "-m", "chute", "--version"], capture_output=True, text=True, timeout=60
    )
    assert module.stdout == f"chute {chute.__version__}\n"


@pytest.mark.parametrize(
    ("command", "blocked", "extra"),
    [("serve", "fastapi", "server"), ("serve", "uvicorn", "server"), ("modal-server", "grpclib", "modal")],
)
def test_a_missing_extra_is_named(command: str, blocked: str, extra: str) -> None:
    """As in an install without the extra: the module cannot be imported."""
    code = f"import sys; sys.modules[{blocked!r}] = None; from chute.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"needs the '{extra}' extra" in result.stderr
    assert f"pip install 'chute[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr
