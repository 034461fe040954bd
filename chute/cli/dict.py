"""``chute dict …``: the ``modal dict`` commands, plus put for scripts."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from chute.cli._common import (
    EnvOption,
    JsonOption,
    YesOption,
    cli_errors,
    confirm,
    console,
    jsonable,
    print_json,
    say_empty,
)
from chute.dict import Dict
from chute.exception import NotFoundError

dict_cli = typer.Typer(
    help="Manage dicts: create, list, delete, clear, get, put, items.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Dict name.")]
KeyArg = Annotated[str, typer.Argument(help="Key (always taken as a str).")]
MAX_SHOWN = 80


def _dict(name: str, env: str | None) -> Dict:
    return Dict.from_name(name, environment_name=env)


def _display(value: Any, use_repr: bool) -> str:
    text = repr(value) if use_repr else str(value)
    return text[:MAX_SHOWN] + "..." if len(text) > MAX_SHOWN else text


@dict_cli.command("create")
def create(name: NameArg, env: EnvOption = None) -> None:
    """Create a named dict (succeeds if it already exists)."""
    with cli_errors():
        Dict.objects.create(name, allow_existing=True, environment_name=env)
    console.print(f"Created dict [bold]{name}[/bold].")


@dict_cli.command("list")
def list_(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List named dicts, newest first."""
    with cli_errors():
        rows = []
        for d in Dict.objects.list(environment_name=env or ""):
            meta = d.info()
            rows.append(
                {
                    "name": d.name,
                    "id": d.object_id,
                    "created_at": meta.created_at.isoformat(timespec="seconds"),
                    "created_by": meta.created_by,
                }
            )
    if json_:
        print_json(rows)
        return
    if not rows and say_empty("dicts", env):
        return
    table = Table("Name", "Created at", "Created by")
    for r in rows:
        table.add_row(r["name"], r["created_at"], r["created_by"] or "")
    console.print(table)


@dict_cli.command("delete")
def delete(
    name: NameArg,
    env: EnvOption = None,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Succeed if it does not exist.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Delete a named dict and all its entries."""
    confirm(f"Delete dict {name!r} and all its entries? This cannot be undone.", yes)
    with cli_errors():
        if allow_missing and not _exists(name, env):
            console.print(f"No dict named [bold]{name}[/bold]: nothing to delete.")
            return
        Dict.objects.delete(name, allow_missing=allow_missing, environment_name=env)
    console.print(f"Deleted dict [bold]{name}[/bold].")


def _exists(name: str, env: str | None) -> bool:
    try:
        _dict(name, env).hydrate()
    except NotFoundError:
        return False
    return True


@dict_cli.command("clear")
def clear(name: NameArg, env: EnvOption = None, yes: YesOption = False) -> None:
    """Remove every entry of a dict (the dict survives)."""
    confirm(f"Clear every entry of dict {name!r}? This cannot be undone.", yes)
    with cli_errors():
        _dict(name, env).clear()
    console.print(f"Cleared dict [bold]{name}[/bold].")


@dict_cli.command("get")
def get(name: NameArg, key: KeyArg, env: EnvOption = None, json_: JsonOption = False) -> None:
    """Print the value stored under KEY (None if the key is absent)."""
    with cli_errors():
        value = _dict(name, env).get(key)
    if json_:
        print_json(jsonable(value))
    else:
        console.print(str(value), highlight=False, markup=False)


@dict_cli.command("put")
def put(
    name: NameArg,
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="Value (a str unless --parse-json).")],
    parse_json: Annotated[bool, typer.Option("--parse-json", "-j", help="Parse the value as JSON.")] = False,
    skip_if_exists: Annotated[
        bool, typer.Option("--skip-if-exists", help="Do not overwrite an existing key (exit code 1).")
    ] = False,
    env: EnvOption = None,
) -> None:
    """Store VALUE under KEY (the dict is created if missing)."""
    try:
        parsed: Any = json.loads(value) if parse_json else value
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}") from None
    with cli_errors():
        d = Dict.from_name(name, environment_name=env, create_if_missing=True)
        written = d.put(key, parsed, skip_if_exists=skip_if_exists)
    if not written:
        console.print(f"Key {key!r} already exists in dict [bold]{name}[/bold]; not overwritten.")
        raise typer.Exit(1)
    console.print(f"Put key {key!r} in dict [bold]{name}[/bold].", highlight=False)


@dict_cli.command("items")
def items(
    name: NameArg,
    n: Annotated[int, typer.Argument(min=1, help="Show at most N entries.")] = 20,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show every entry (may be slow).")] = False,
    use_repr: Annotated[bool, typer.Option("--repr", "-r", help="Show keys and values with repr().")] = False,
    env: EnvOption = None,
    json_: JsonOption = False,
) -> None:
    """Print the entries of a dict (in no particular order), N at most unless --all."""
    rows: list[tuple[Any, Any]] = []
    more = False
    with cli_errors():
        for pair in _dict(name, env).items():
            if not all_ and len(rows) >= n:
                more = True
                break
            rows.append(pair)
    if json_:
        print_json([{"key": jsonable(k), "value": jsonable(v)} for k, v in rows])
        return
    table = Table("Key", "Value")
    for k, v in rows:
        table.add_row(_display(k, use_repr), _display(v, use_repr))
    if more:
        table.add_row("...", "...")
    console.print(table)
