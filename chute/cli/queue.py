"""``chute queue …``: the ``modal queue`` commands, plus put/get for scripts."""

from __future__ import annotations

import json
import queue as stdlib_queue
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
    display,
    jsonable,
    print_json,
    say_empty,
)
from chute.exception import NotFoundError
from chute.queue import Queue

queue_cli = typer.Typer(
    help="Manage queues: create, list, delete, clear, peek, len, put, get.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Queue name.")]
PartitionOption = Annotated[
    str | None, typer.Option("--partition", "-p", help="Partition key (default partition if omitted).")
]
TOTAL_CAP = 100_000


def _queue(name: str, env: str | None) -> Queue:
    return Queue.from_name(name, environment_name=env)


@queue_cli.command("create")
def create(name: NameArg, env: EnvOption = None) -> None:
    """Create a named queue (succeeds if it already exists)."""
    with cli_errors():
        Queue.objects.create(name, allow_existing=True, environment_name=env)
    console.print(f"Created queue [bold]{name}[/bold].")


@queue_cli.command("list")
def list_(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List named queues, newest first."""
    with cli_errors():
        rows = []
        for q in Queue.objects.list(environment_name=env or ""):
            meta = q.info()
            total = q.len(total=True)
            rows.append(
                {
                    "name": q.name,
                    "id": q.object_id,
                    "created_at": meta.created_at.isoformat(timespec="seconds"),
                    "created_by": meta.created_by,
                    "partitions": len(q.partitions()),
                    "total_size": total,
                }
            )
    if json_:
        print_json(rows)
        return
    if not rows and say_empty("queues", env):
        return
    table = Table("Name", "Created at", "Created by", "Partitions", "Total size")
    for r in rows:
        size = f">{TOTAL_CAP}" if r["total_size"] > TOTAL_CAP else str(r["total_size"])
        table.add_row(r["name"], r["created_at"], r["created_by"] or "", str(r["partitions"]), size)
    console.print(table)


@queue_cli.command("delete")
def delete(
    name: NameArg,
    env: EnvOption = None,
    allow_missing: Annotated[
        bool, typer.Option("--allow-missing", help="Succeed if it does not exist.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Delete a named queue and all its data."""
    confirm(f"Delete queue {name!r} and all its items? This cannot be undone.", yes)
    with cli_errors():
        if allow_missing and not _exists(name, env):
            console.print(f"No queue named [bold]{name}[/bold]: nothing to delete.")
            return
        Queue.objects.delete(name, allow_missing=allow_missing, environment_name=env)
    console.print(f"Deleted queue [bold]{name}[/bold].")


def _exists(name: str, env: str | None) -> bool:
    try:
        _queue(name, env).hydrate()
    except NotFoundError:
        return False
    return True


@queue_cli.command("clear")
def clear(
    name: NameArg,
    partition: PartitionOption = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Clear every partition.")] = False,
    env: EnvOption = None,
    yes: YesOption = False,
) -> None:
    """Remove the items of one partition, or of all partitions with --all."""
    what = "all partitions" if all_ else f"partition {partition!r}" if partition else "the default partition"
    confirm(f"Clear {what} of queue {name!r}?", yes)
    with cli_errors():
        _queue(name, env).clear(partition=partition, all=all_)
    console.print(f"Cleared {what} of queue [bold]{name}[/bold].")


@queue_cli.command("peek")
def peek(
    name: NameArg,
    n: Annotated[int, typer.Argument(min=1, help="How many items to show.")] = 1,
    partition: PartitionOption = None,
    env: EnvOption = None,
    json_: JsonOption = False,
) -> None:
    """Print the next N items without removing them."""
    with cli_errors():
        items: list[Any] = []
        for item in _queue(name, env).iterate(partition=partition):
            items.append(item)
            if len(items) >= n:
                break
    _print_items(items, json_)


@queue_cli.command("len")
def len_(
    name: NameArg,
    partition: PartitionOption = None,
    total: Annotated[bool, typer.Option("--total", "-t", help="Sum over all partitions.")] = False,
    env: EnvOption = None,
    json_: JsonOption = False,
) -> None:
    """Print the number of items in a partition (or in all, with --total)."""
    with cli_errors():
        n = _queue(name, env).len(partition=partition, total=total)
    if json_:
        print_json({"name": name, "partition": partition, "total": total, "len": n})
    else:
        typer.echo(n)


@queue_cli.command("put")
def put(
    name: NameArg,
    values: Annotated[list[str], typer.Argument(help="Values to put (strings unless --parse-json).")],
    partition: PartitionOption = None,
    parse_json: Annotated[bool, typer.Option("--parse-json", "-j", help="Parse each value as JSON.")] = False,
    ttl: Annotated[float, typer.Option("--ttl", help="Partition TTL in seconds.")] = 24 * 3600,
    env: EnvOption = None,
) -> None:
    """Append values to a queue (created if missing), all or nothing."""
    try:
        items = [json.loads(v) for v in values] if parse_json else list(values)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}") from None
    with cli_errors():
        q = Queue.from_name(name, environment_name=env, create_if_missing=True)
        try:
            q.put_many(items, block=False, partition=partition, partition_ttl=ttl)
        except stdlib_queue.Full as exc:
            raise typer.BadParameter(f"queue is full: {exc}") from None
    console.print(f"Put {len(items)} item(s) on queue [bold]{name}[/bold].")


@queue_cli.command("get")
def get(
    name: NameArg,
    n: Annotated[int, typer.Argument(min=1, help="Up to how many items to remove.")] = 1,
    partition: PartitionOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the first item (0 = do not wait).")
    ] = 0.0,
    env: EnvOption = None,
    json_: JsonOption = False,
) -> None:
    """Remove and print up to N items (exit code 1 if the queue stays empty)."""
    with cli_errors():
        q = _queue(name, env)
        try:
            items = q.get_many(n, timeout=timeout, partition=partition)
        except stdlib_queue.Empty:
            items = []
    _print_items(items, json_)
    if not items:
        raise typer.Exit(1)


def _print_items(items: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([jsonable(i) for i in items])
        return
    for item in items:
        console.print(display(item), highlight=False, markup=False)
