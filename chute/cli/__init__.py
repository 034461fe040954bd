"""The ``chute`` command line (``python -m chute`` works too)."""

from __future__ import annotations

import typer

from chute.cli import jobs
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
)
app.add_typer(queue_cli, name="queue")
app.add_typer(dict_cli, name="dict")
app.add_typer(secret_cli, name="secret")
app.command("serve")(serve)
app.command("modal-server")(modal_server)
jobs.register(app)


def main() -> None:
    app()
