"""``chute call logs ID [--follow]``: what a call printed, per attempt."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from chute._client import Client
from chute._sync import inspection
from chute.call import FunctionCall
from chute.cli._common import cli_errors, err_console

FOLLOW_EVERY = 0.5


def register(call_cli: typer.Typer) -> None:
    call_cli.command("logs")(call_logs)


def call_logs(
    call_id: Annotated[str, typer.Argument(help="Function call id (fc-…).")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output until the call ends.")
    ] = False,
) -> None:
    """Print what the call wrote to stdout and stderr, per attempt (the last 64 KiB of each:
    CHUTE_CALL_LOG_BYTES), kept as long as its result."""
    with cli_errors():
        call = FunctionCall.from_id(call_id)
        client = Client.from_env()
        shown: dict[int, int] = {}  # attempt -> bytes printed
        while True:
            done = call.info().state.terminal  # read before the logs: nothing is missed
            _print_new(inspection.call_logs(client, call_id), shown)
            if not follow or done:
                break
            time.sleep(FOLLOW_EVERY)
    if not shown:
        err_console.print(f"{call_id} printed nothing (or its output expired with its result).")


def _print_new(logs: list[tuple[int, bytes]], shown: dict[int, int]) -> None:
    several = len(logs) > 1 or any(a > 1 for a, _ in logs)
    for attempt, data in logs:
        start = shown.get(attempt)
        if start is None:
            if several:
                err_console.print(f"[dim]── attempt {attempt} ──[/dim]")
            start = 0
        # The log keeps only its last bytes: if it moved past what we printed, print what is there.
        new = data[start:] if start <= len(data) else data
        if new:
            sys.stdout.buffer.write(new)
            sys.stdout.flush()
        shown[attempt] = len(data)
