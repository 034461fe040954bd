"""Helpers shared by CLI commands: environment option, errors, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from chute.exception import Error

console = Console()
err_console = Console(stderr=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment (namespace); default $CHUTE_ENV or 'main'.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn chute errors into a one-line message and exit code 1 (no traceback)."""
    try:
        yield
    except Error as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def jsonable(value: Any) -> Any:
    """The value if JSON can encode it, else its repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def confirm(prompt: str, yes: bool) -> None:
    if not yes and not typer.confirm(prompt):
        raise typer.Abort()


def display(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
