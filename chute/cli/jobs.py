"""``chute run|deploy|worker`` and ``chute call|app|function …``: running and inspecting jobs."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from rich.text import Text

import chute
from chute import _validate
from chute import worker as worker_mod
from chute._client import Client
from chute._resources import Need, pending_reason, worker_capacity
from chute._sync import inspection
from chute.app import App, FunctionSpec
from chute.call import FunctionCall
from chute.cli import control
from chute.cli import deploy as deploy_cli
from chute.cli._common import (
    EnvOption,
    JsonOption,
    cli_errors,
    console,
    err_console,
    jsonable,
    print_json,
    say_empty,
    user_traceback,
)
from chute.exception import Error, InvalidError

AppFileArg = Annotated[str, typer.Argument(help="Python file (or module) defining a chute.App.")]
CallIdArg = Annotated[str, typer.Argument(help="Function call id (fc-…).")]

call_cli = typer.Typer(help="Inspect function calls: get, status, cancel, list, retry.", no_args_is_help=True)
app_cli = typer.Typer(help="Deployed apps.", no_args_is_help=True)
function_cli = typer.Typer(help="Deployed functions.", no_args_is_help=True)


# Everything after FILE belongs to the entrypoint (`chute run app.py --n 3`), as with `modal run`.
_RUN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "allow_interspersed_args": False}


def register(root: typer.Typer) -> None:
    root.command("run", context_settings=_RUN_CONTEXT)(run)
    root.command("deploy")(deploy)
    root.command("worker")(worker)
    root.add_typer(call_cli, name="call")
    root.add_typer(app_cli, name="app")
    root.add_typer(function_cli, name="function")
    deploy_cli.register(app_cli)
    control.register(root, call_cli)


def _env(env: str | None) -> str:
    return env or Client.from_env().settings.env


def _apps(target: str) -> list[App]:
    return worker_mod.apps_in(worker_mod.load_target(target))


def run(
    ctx: typer.Context,
    app_ref: Annotated[
        str, typer.Argument(help="FILE.py or FILE.py::NAME (an entrypoint, function or Class.method).")
    ],
    entrypoint: Annotated[
        str | None, typer.Option("--entrypoint", help="Which local_entrypoint to run (same as FILE::NAME).")
    ] = None,
    env: EnvOption = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Accepted for Modal compatibility.")] = False,
    write_result: Annotated[
        str | None, typer.Option("--write-result", "-w", help="Write the return value (str or bytes) here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Accepted for Modal compatibility.")] = False,
) -> None:
    """Run an app's local entrypoint (or a function), with workers for the app running meanwhile.

    Options after FILE belong to the entrypoint: `chute run app.py --n 3` (as `modal run`).
    """
    from chute.cli import run as run_mod

    if entrypoint is not None and "::" not in app_ref:
        app_ref = f"{app_ref}::{entrypoint}"
    with cli_errors():
        try:
            code = run_mod.run_ref(app_ref, ctx.args, env=env, detach=detach, write=write_result)
        except (Error, click.exceptions.ClickException, click.exceptions.Exit, typer.Exit):
            raise
        except Exception as exc:  # the user's code failed: show its traceback, not typer's and ours
            err_console.print(user_traceback(exc), highlight=False, markup=False, end="")
            raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


def deploy(app_file: AppFileArg, env: EnvOption = None) -> None:
    """Register the app's functions and upload its code (a new version): `chute worker --all` runs it."""
    from chute import _deploy_ops

    with cli_errors():
        for app, version in _deploy_ops.deploy_file(app_file, env):
            code = (
                "registered only: code travels from files"
                if version is None
                else f"version {version.number}, code {version.hash[:12]}, {version.files} files"
            )
            console.print(
                f"Deployed app [bold]{app.name}[/bold] ({code}): "
                f"{', '.join(sorted(app.functions)) or 'no functions'}."
            )


def worker(
    app_files: Annotated[
        list[str] | None, typer.Argument(help="Python files (or modules) defining chute Apps.")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env", "-e", help="Environment (repeatable with --all); default $CHUTE_ENV or 'main'."
        ),
    ] = None,
    all_apps: Annotated[
        bool,
        typer.Option("--all", help="Serve every app deployed with `chute deploy`, from the backend's code."),
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Where --all keeps fetched code (~/.cache/chute/code).")
    ] = None,
    grace: Annotated[float, typer.Option(help="Seconds running calls get to finish on SIGTERM.")] = (
        worker_mod.DEFAULT_GRACE
    ),
    max_executors: Annotated[
        int | None,
        typer.Option(
            "--max-executors",
            help="Executor processes this worker runs at most, shared fairly between its functions "
            "(default: one per CPU, at least 4).",
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            "--gpus",
            help="GPU ids this worker gives to functions with gpu= (e.g. 0,1; 'none': no GPUs). "
            "Default: those nvidia-smi lists.",
        ),
    ] = None,
    cpu: Annotated[
        float | None,
        typer.Option("--cpu", help="CPU cores the executors' cpu= requests may add up to (default: all)."),
    ] = None,
    memory: Annotated[
        int | None,
        typer.Option(
            "--memory", help="MiB the executors' memory= requests may add up to (default: the machine's)."
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Serve only these functions (comma-separated NAME or APP.NAME)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="A tag of this worker (repeatable): functions with worker_tags need all theirs."
        ),
    ] = None,
    allow_image_commands: Annotated[
        bool,
        typer.Option(
            "--allow-image-commands",
            help="With --all: run the image steps that change this machine (run_commands, "
            "apt_install, dockerfile_commands) and vouch for registry base images.",
        ),
    ] = False,
    deploy_poll: Annotated[
        float, typer.Option("--deploy-poll", help="With --all: seconds between looks for new deploys.")
    ] = 1.0,
) -> None:
    """Run an autoscaled pool of worker processes for the apps (deploys them too), or with --all for
    every deployed app.

    Ctrl-C (or SIGTERM) stops gracefully: running calls get --grace seconds, the rest are given
    back; a second Ctrl-C stops at once."""
    with cli_errors():
        _validate.check_seconds(grace, "--grace")
        if all_apps:
            if app_files:
                raise InvalidError("chute worker --all serves deployed code: give no app files.")
            from chute.worker._generic import AllApps

            worker_capacity(gpus, cpu, memory)  # a bad value fails here, not in every app's pool
            generic = AllApps(
                env or [],
                grace=grace,
                max_executors=max_executors,
                cache_dir=cache_dir,
                resources=(gpus, cpu, memory),
                only=_only(only),
                tags=tag or (),
                allow_commands=allow_image_commands,
                poll=_validate.check_seconds(deploy_poll, "--deploy-poll", exclusive_min=True),
            )
            err_console.print(f"chute worker --all: environments {', '.join(generic.envs)}", highlight=False)
            generic.run()
            return
        if not app_files:
            raise InvalidError("chute worker needs app files, or --all to serve every deployed app.")
        if env is not None and len(env) > 1:
            raise InvalidError("Several --env are for --all; an app file's pool serves one environment.")
        capacity = worker_capacity(gpus, cpu, memory)
        pool = worker_mod.Pool(
            app_files,
            environment_name=env[0] if env else None,
            grace=grace,
            max_executors=max_executors,
            capacity=capacity,
            only=_only(only),
            tags=tag or (),
        )
        names = ", ".join(pool.served) or "nothing (no function matches --only/--tag)"
        err_console.print(f"chute worker {pool.worker_id}: serving {names}", highlight=False)
        pool.run()


def _only(only: str | None) -> list[str] | None:
    return [n.strip() for n in only.split(",") if n.strip()] if only is not None else None


# -- chute call ----------------------------------------------------------------------------------


def _call(call_id: str) -> FunctionCall:
    return FunctionCall.from_id(call_id)


@call_cli.command("get")
def call_get(
    call_id: CallIdArg,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait (default: forever).")] = None,
    json_: JsonOption = False,
) -> None:
    """Wait for the call's result and print it. Exit 1 if it failed, 2 if still pending."""
    with cli_errors():
        try:
            value = _call(call_id).get(timeout=timeout)
        except TimeoutError as exc:  # the builtin: still pending (chute's errors are not builtins)
            err_console.print(f"Pending: {exc}")
            raise typer.Exit(2) from None
        except Error:
            raise
        except Exception as exc:
            err_console.print(f"[red]Failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
            raise typer.Exit(1) from None
    if json_:
        print_json(jsonable(value))
    else:
        typer.echo(value if isinstance(value, str) else repr(value))


@call_cli.command("status")
def call_status(call_id: CallIdArg, json_: JsonOption = False) -> None:
    """Show the call's state, attempts, timings, error and arguments summary."""
    with cli_errors():
        info = _call(call_id).info()
    data = info.as_dict()
    if json_:
        print_json(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        if key != "traceback" and value is not None:
            table.add_row(key, Text(str(value)))  # Text: "[...]" in a value is not markup
    console.print(table)
    if info.traceback:
        console.print(info.traceback, highlight=False)


@call_cli.command("cancel")
def call_cancel(call_id: CallIdArg) -> None:
    """Cancel the call: pending calls never run, running ones are killed."""
    with cli_errors():
        call = _call(call_id)
        before = call.info().state
        if before.terminal:
            console.print(f"{call_id} had already finished ({before.value}): nothing to cancel.")
            return
        call.cancel()
        after = call.info().state
    if after is not chute.CallState.CANCELLED:
        console.print(f"{call_id} finished ({after.value}) before it could be cancelled.")
        return
    console.print(f"Cancelled {call_id}.")


# -- chute app / function ----------------------------------------------------------------------------


def _live_workers(env: str) -> list[dict[str, Any]]:
    out = []
    for _, raw in inspection.workers(Client.from_env(), env):
        with contextlib.suppress(ValueError):
            info = json.loads(raw)
            if isinstance(info, dict):
                out.append(info)
    return out


def _function_rows(env: str) -> list[dict[str, Any]]:
    rows = []
    workers = _live_workers(env)
    for view in inspection.functions(Client.from_env(), env):
        record, stats = view.record, view.stats
        spec = FunctionSpec.from_json(record.spec)
        need = Need.of(spec.gpu, spec.cpu, spec.memory)
        rows.append(
            {
                "app": record.app,
                "function": record.name,
                "deployed_at": datetime.fromtimestamp(record.deployed_at)
                .astimezone()
                .isoformat(timespec="seconds"),
                "backlog": stats.pending,
                "running": stats.running,
                "succeeded": stats.succeeded,
                "failed": stats.failed,
                "cancelled": stats.cancelled,
                "retries": spec.retries.max_retries,
                "timeout": spec.timeout,
                "max_containers": spec.max_containers,
                "gpu": spec.gpu,
                "cpu": spec.cpu,
                "memory": spec.memory,
                # Why its calls wait (None when a live worker can run them).
                "pending_reason": pending_reason(f"{record.app}.{record.name}", need, workers, stats.pending),
            }
        )
    return rows


@app_cli.command("list")
def app_list(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List deployed apps with their functions and call counts."""
    with cli_errors():
        rows = _function_rows(_env(env))
    apps: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = apps.setdefault(row["app"], {"app": row["app"], "functions": [], "backlog": 0, "running": 0})
        entry["functions"].append(row["function"])
        entry["backlog"] += row["backlog"]
        entry["running"] += row["running"]
    if json_:
        print_json(list(apps.values()))
        return
    if not apps and say_empty("deployed apps", env):
        return
    table = Table("App", "Functions", "Backlog", "Running")
    for entry in apps.values():
        table.add_row(
            entry["app"], ", ".join(entry["functions"]), str(entry["backlog"]), str(entry["running"])
        )
    console.print(table)


@function_cli.command("list")
def function_list(env: EnvOption = None, json_: JsonOption = False) -> None:
    """List deployed functions with backlog, running, succeeded and failed counts."""
    with cli_errors():
        rows = _function_rows(_env(env))
    if json_:
        print_json(rows)
        return
    if not rows and say_empty("deployed functions", env):
        return
    table = Table(
        "App", "Function", "Backlog", "Running", "Succeeded", "Failed", "Retries", "Timeout", "Max containers"
    )
    for r in rows:
        table.add_row(
            r["app"],
            r["function"],
            *(str(r[k]) for k in ("backlog", "running", "succeeded", "failed", "retries")),
            f"{r['timeout']:g} s",
            str(r["max_containers"]),
        )
    console.print(table)
    for r in rows:
        if r["pending_reason"]:  # None when a live worker can run its calls
            console.print(f"{r['app']}.{r['function']} waits: {r['pending_reason']}", highlight=False)
