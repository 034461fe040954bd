"""The ``chute`` command line (``python -m chute`` works too)."""

from __future__ import annotations

import typer

from chute.cli.queue import queue_cli

app = typer.Typer(
    name="chute",
    help="Self-hosted, Modal-compatible queues, dicts and jobs. "
    "Backend: $CHUTE_URL (default: embedded SQLite).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(queue_cli, name="queue")


def main() -> None:
    app()
