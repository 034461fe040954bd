"""``chute secret create|list|delete``: named secrets stored in the backend.

Values are never printed: ``list`` shows names and key names only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from chute import secret as secret_mod
from chute.cli._common import (
    EnvOption,
    JsonOption,
    YesOption,
    cli_errors,
    confirm,
    console,
    print_json,
    say_empty,
)
from chute.exception import InvalidError

secret_cli = typer.Typer(help="Named secrets (environment variables for functions).", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="Secret name.")]


def _pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidError(f"Expected KEY=VALUE, got {pair.split('=')[0]!r} without '='.")
        out[key] = value
    return out


@secret_cli.command("create")
def create(
    name: NameArg,
    pairs: Annotated[
        list[str], typer.Argument(help="KEY=VALUE pairs (use - as VALUE to read it from stdin).")
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing secret.")] = False,
    env: EnvOption = None,
) -> None:
    """Store a secret (encrypted at rest when CHUTE_SECRET is set)."""
    with cli_errors():
        values = _pairs(pairs)
        for key, value in values.items():
            if value == "-":
                values[key] = typer.get_text_stream("stdin").readline().rstrip("\n")
        secret_mod.Secret.objects.create(name, values, allow_existing=force, environment_name=env)  # type: ignore[attr-defined]
    console.print(f"Created secret {name!r} with keys {', '.join(sorted(values))}.", highlight=False)


@secret_cli.command("list")
def list_(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List secrets: names and key names (never values)."""
    with cli_errors():
        infos = secret_mod.list_stored(env)
    rows: list[dict[str, Any]] = [
        {
            "name": i.name,
            "keys": list(i.keys),
            "created_at": datetime.fromtimestamp(i.created_at).astimezone().isoformat(timespec="seconds"),
            "created_by": i.created_by,
            "encrypted": i.encrypted,
        }
        for i in infos
    ]
    if json_:
        print_json(rows)
        return
    if not rows and say_empty("secrets", env):
        return
    table = Table("Name", "Keys", "Created at", "Created by", "Encrypted")
    for r in rows:
        table.add_row(
            r["name"], ", ".join(r["keys"]), r["created_at"], r["created_by"] or "", str(r["encrypted"])
        )
    console.print(table)


@secret_cli.command("delete")
def delete(
    name: NameArg,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="No error if it does not exist.")
    ] = False,
    yes: YesOption = False,
    env: EnvOption = None,
) -> None:
    """Delete a secret."""
    confirm(f"Delete secret {name!r}?", yes)
    with cli_errors():
        secret_mod.Secret.objects.delete(name, allow_missing=allow_missing, environment_name=env)  # type: ignore[attr-defined]
    console.print(f"Deleted secret {name!r}.", highlight=False)
