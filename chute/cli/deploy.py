"""``chute app history|rollback|stop``: versions of an app deployed with its code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from chute import _deploy_ops
from chute.cli._common import EnvOption, JsonOption, cli_errors, console, print_json

AppNameArg = Annotated[str, typer.Argument(help="The app's name.")]


def register(app_cli: typer.Typer) -> None:
    app_cli.command("history")(history)
    app_cli.command("rollback")(rollback)
    app_cli.command("stop")(stop)


def history(name: AppNameArg, env: EnvOption = None, json_: JsonOption = False) -> None:
    """List the app's deployed versions (the live one marked)."""
    with cli_errors():
        record = _deploy_ops.history(name, env)
    rows = [
        {
            "version": v.number,
            "live": v.number == record.current,
            "deployed_at": datetime.fromtimestamp(v.deployed_at).astimezone().isoformat(timespec="seconds"),
            "hash": v.hash,
            "files": v.files,
            "bytes": v.size,
            "signed": v.signature is not None,
            "rollback_of": v.rollback_of,
        }
        for v in record.versions
    ]
    if json_:
        print_json(rows)
        return
    table = Table("Version", "Live", "Deployed at", "Code", "Files", "Signed", "Note")
    for r in rows:
        note = f"rollback to v{r['rollback_of']}" if r["rollback_of"] else ""
        live = "●" if r["live"] else ""
        table.add_row(
            str(r["version"]), live, str(r["deployed_at"]), str(r["hash"])[:12], str(r["files"]),
            "yes" if r["signed"] else "no", note,
        )  # fmt: skip
    console.print(table)
    if record.current is None:
        console.print(f"App {name} is stopped.")


def rollback(
    name: AppNameArg,
    version: Annotated[int, typer.Argument(help="The version to run again (see `chute app history`).")],
    env: EnvOption = None,
) -> None:
    """Deploy an earlier version's code and functions again, as a new version."""
    with cli_errors():
        new = _deploy_ops.rollback(name, version, env)
    console.print(f"App {name}: version {new.number} runs the code of version {version} ({new.hash[:12]}).")


def stop(name: AppNameArg, env: EnvOption = None) -> None:
    """Stop the app: its functions go away, running calls finish, pending calls are cancelled."""
    with cli_errors():
        cancelled = _deploy_ops.stop(name, env)
    console.print(f"Stopped app {name} ({cancelled} pending calls cancelled).")
