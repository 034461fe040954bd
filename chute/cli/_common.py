"""Helpers shared by CLI commands: environment option, errors, output."""

from __future__ import annotations

import json
import math
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


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback from the first frame of the user's code: typer's, click's and chute's
    own frames above it left out (``chute run``)."""
    import click

    from chute._traceback import PACKAGE_DIR, format_user_exception, package_dirs

    return format_user_exception(exc, (PACKAGE_DIR, *package_dirs([typer, click])))


def say_empty(what: str, env: str | None) -> bool:
    """For an empty listing: print what was read where (backend and environment), return True."""
    from chute._client import Client

    settings = Client.from_env().settings
    console.print(
        f"No {what} in environment {env or settings.env!r} of {settings.url.redacted}.", highlight=False
    )
    return True


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn chute errors into a one-line message and exit code 1 (no traceback)."""
    try:
        yield
    except Error as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def jsonable(value: Any) -> Any:
    """``value`` made strictly JSON-encodable: containers converted, anything else (including
    NaN and ±Infinity, which strict JSON parsers refuse) as its repr()."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: jsonable(v) for k, v in value.items()}
    return repr(value)


def print_json(data: Any) -> None:
    """Print ``data`` as strict JSON (never NaN/Infinity, which ``jq`` and browsers refuse)."""
    typer.echo(json.dumps(jsonable(_plain(data)), indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def confirm(prompt: str, yes: bool) -> None:
    if not yes and not typer.confirm(prompt):
        raise typer.Abort()


def display(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
