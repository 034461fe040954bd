"""The ``chute`` command line (``python -m chute`` works too)."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from chute._version import __version__
from chute.cli import call_logs, jobs
from chute.cli._common import err_console
from chute.cli.dict import dict_cli
from chute.cli.modal_server import modal_server
from chute.cli.queue import queue_cli
from chute.cli.secret import secret_cli
from chute.cli.serve import serve

app = typer.Typer(
    name="chute",
    help="Self-hosted, Modal-compatible queues, dicts and jobs. "
    "Backend: $CHUTE_URL (default: embedded SQLite).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Inherited by every subcommand's context, so `chute queue put -h` works too.
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(queue_cli, name="queue")
app.add_typer(dict_cli, name="dict")
app.add_typer(secret_cli, name="secret")
call_logs.register(jobs.call_cli)


def _needs_extra(
    command: Callable[..., None], name: str, extra: str, modules: list[str]
) -> Callable[..., None]:
    """``command``, refusing to start (exit 2) with the pip line to run when its extra is missing."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> None:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            err_console.print(
                f"[red]Error:[/red] chute {name} needs the {extra!r} extra (missing: {', '.join(missing)}). "
                + escape(
                    f"Install it: pip install 'chute[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
                ),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        command(*args, **kwargs)

    return checked


app.command("serve")(
    _needs_extra(serve, "serve", "server", ["fastapi", "fastapi_offline", "uvicorn", "httpx", "a2wsgi"])
)
app.command("modal-server")(_needs_extra(modal_server, "modal-server", "modal", ["modal", "grpclib"]))
jobs.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"chute {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print chute's version and exit.",
        ),
    ] = False,
) -> None:
    """Self-hosted, Modal-compatible queues, dicts and jobs."""


def main() -> None:
    app()
