"""``chute call list|retry`` and ``chute schedule list|pause|resume|trigger``: job control."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from chute._client import Client
from chute._jobs import CallInfo
from chute._sync import control_ops, inspection
from chute.backends.types import CallState
from chute.cli._common import EnvOption, JsonOption, cli_errors, console, err_console, print_json, say_empty
from chute.exception import InvalidError

schedule_cli = typer.Typer(help="Scheduled functions: list, pause, resume, trigger.", no_args_is_help=True)

FunctionOption = Annotated[
    str | None, typer.Option("--function", "-f", help="Only calls of this function (NAME or APP.NAME).")
]
StateOption = Annotated[str | None, typer.Option("--state", "-s", help="Only calls in this state.")]
FunctionArg = Annotated[str, typer.Argument(help="The scheduled function, as APP.NAME.")]


def register(root: typer.Typer, call_cli: typer.Typer) -> None:
    call_cli.command("list")(call_list)
    call_cli.command("retry")(call_retry)
    root.add_typer(schedule_cli, name="schedule")


def _env(env: str | None) -> str:
    return env or Client.from_env().settings.env


def _split(function: str | None) -> tuple[str | None, str | None]:
    if function is None:
        return None, None
    app, _, name = function.rpartition(".")
    return app or None, name


def _state(state: str | None) -> CallState | None:
    if state is None:
        return None
    try:
        return CallState(state.lower())
    except ValueError:
        raise InvalidError(
            f"Unknown state {state!r}: use one of {', '.join(s.value for s in CallState)}."
        ) from None


def _when(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def call_list(
    function: FunctionOption = None,
    state: StateOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most calls to show.")] = 50,
    env: EnvOption = None,
    json_: JsonOption = False,
) -> None:
    """List calls, newest first (optionally of one function and in one state)."""
    with cli_errors():
        app, name = _split(function)
        records = inspection.calls(
            Client.from_env(), _env(env), app=app, function=name, state=_state(state), limit=limit
        )
    infos = [CallInfo.from_record(r) for r in records]
    if json_:
        print_json([i.as_dict() for i in infos])
        return
    if not infos and say_empty("calls" if state is None else f"{state} calls", env):
        return
    table = Table("Call", "Function", "State", "Attempts", "Progress", "Created", "Error")
    for i in infos:
        progress = "" if i.progress is None else f"{i.progress:.0%}"
        table.add_row(
            i.id,
            f"{i.app}.{i.function}",
            i.state.value,
            str(i.attempts),
            progress,
            _when(i.created_at),
            i.error or "",
        )
    console.print(table)


def call_retry(
    call_ids: Annotated[list[str] | None, typer.Argument(help="Calls to run again (fc-…).")] = None,
    function: FunctionOption = None,
    state: StateOption = "failed",
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most calls to retry with --function.")] = 1000,
    env: EnvOption = None,
) -> None:
    """Run failed or cancelled calls again under the same ids: given by id, or all those of a
    function in a state (``--function F --state failed``)."""
    with cli_errors():
        if not call_ids and function is None:
            raise InvalidError("Name the calls to retry (chute call retry fc-…) or a --function.")
        app, name = _split(function)
        done, skipped = control_ops.retry_many(
            Client.from_env(),
            _env(env),
            call_ids=call_ids or None,
            app=app,
            function=name,
            state=_state(state) or CallState.FAILED,
            limit=limit,
        )
    for call_id in done:
        console.print(f"Retrying {call_id}.", highlight=False)
    for call_id in skipped:
        err_console.print(f"Skipped {call_id}: not failed or cancelled (or unknown).", highlight=False)
    if not done and not skipped:
        console.print("No calls to retry.")
    if skipped:
        raise typer.Exit(1)


@schedule_cli.command("list")
def schedule_list(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List scheduled functions: their next run, whether paused, and their last run."""
    with cli_errors():
        records = control_ops.schedules(Client.from_env(), _env(env))
    rows: list[dict[str, Any]] = [
        {
            "function": f"{r.app}.{r.function}",
            "schedule": r.sig,
            "next_run": _when(r.next_at),
            "paused": r.paused,
            "last_run": _when(r.last_at) or None,
            "last_call": r.last_call,
        }
        for r in records
    ]
    if json_:
        print_json(rows)
        return
    if not rows and say_empty("scheduled functions (a worker starts their schedules)", env):
        return
    table = Table("Function", "Schedule", "Next run", "Paused", "Last run", "Last call")
    for row in rows:
        table.add_row(
            row["function"],
            row["schedule"],
            "paused" if row["paused"] else row["next_run"],
            "yes" if row["paused"] else "no",
            row["last_run"] or "",
            row["last_call"] or "",
        )
    console.print(table)


def _target(function: str) -> tuple[str, str]:
    app, name = _split(function)
    if app is None or name is None:
        raise InvalidError(f"Name the function as APP.NAME, e.g. myapp.report (got {function!r}).")
    return app, name


@schedule_cli.command("pause")
def schedule_pause(function: FunctionArg, env: EnvOption = None) -> None:
    """Pause a schedule: no more ticks until it is resumed."""
    with cli_errors():
        control_ops.pause(Client.from_env(), _env(env), *_target(function), True)
    console.print(f"Paused {function}.", highlight=False)


@schedule_cli.command("resume")
def schedule_resume(function: FunctionArg, env: EnvOption = None) -> None:
    """Resume a paused schedule (a tick missed meanwhile runs once)."""
    with cli_errors():
        control_ops.pause(Client.from_env(), _env(env), *_target(function), False)
    console.print(f"Resumed {function}.", highlight=False)


@schedule_cli.command("trigger")
def schedule_trigger(function: FunctionArg, env: EnvOption = None) -> None:
    """Run a scheduled function now: its next tick becomes due (a worker serving it runs it)."""
    with cli_errors():
        control_ops.trigger(Client.from_env(), _env(env), *_target(function))
    console.print(f"Triggered {function}: a worker serving it runs it now.", highlight=False)
