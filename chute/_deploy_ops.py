"""``chute deploy``, ``chute app history|rollback|stop``: versions of an app's code (see ``_deploy``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from chute import _deploy, _validate
from chute._app_file import apps_in, load_target
from chute._client import Client
from chute.app import App
from chute.backends.types import CallState
from chute.call import FunctionCall
from chute.exception import NotFoundError


def _env(env: str | None) -> str:
    return _validate.check_env(env or Client.from_env().settings.env)


def deploy_file(app_file: str, env: str | None = None) -> list[tuple[App, _deploy.Version | None]]:
    """Register the apps of ``app_file`` and upload their code as a new version of each.

    A module name (``pkg.app``) is registered without its code (None for its version):
    ``chute worker pkg.app`` serves it where the module is installed.

    Raises:
        InvalidError: the file cannot be imported or defines no app.
    """
    path = Path(app_file)
    env = _env(env)
    module = load_target(app_file)
    apps = apps_in(module)
    if not path.is_file():  # a module name: registered, but code travels from files only
        for app in apps:
            app.deploy(environment_name=env)
        return [(app, None) for app in apps]
    data, digest, files = _deploy.bundle(path, module, apps)
    d = _deploy.store(env)
    _deploy.put_blob(d, data, digest)
    out: list[tuple[App, _deploy.Version | None]] = []
    backend = Client.from_env().sync_backend()
    for app in apps:
        # Each spec names the bundle: a call records the live one at submit (``call_ops``).
        specs = sorted(
            (name, dataclasses.replace(fn.spec, code=digest).to_json().decode())
            for name, fn in app.functions.items()
        )
        base = _deploy.Version(0, app.name, digest, path.name, specs, 0.0, len(data), files)
        base.image = _deploy.image_plan([app])[0]
        # The version is recorded before the functions name it, so a worker that reads a
        # call's version always finds it in the app's record.
        version = _deploy.add_version(d, app.name, base)
        backend.job_deploy(env, app.name, [(n, s.encode()) for n, s in specs])
        out.append((app, version))
    return out


def history(name: str, env: str | None = None) -> _deploy.AppRecord:
    """The app's versions, oldest first.

    Raises:
        NotFoundError: the app was never deployed with its code.
    """
    record = _deploy.read_app(_deploy.store(_env(env)), name)
    if not record.versions:
        raise NotFoundError(f"App {name!r} has no deployed versions: deploy it with `chute deploy FILE`.")
    return record


def rollback(name: str, number: int, env: str | None = None) -> _deploy.Version:
    """Make a new version that runs the code and specs of version ``number`` (as Modal's rollback).

    Raises:
        NotFoundError: no such app or version.
    """
    env = _env(env)
    d = _deploy.store(env)
    old = history(name, env).version(number)
    version = _deploy.add_version(d, name, old, rollback_of=number)
    Client.from_env().sync_backend().job_deploy(env, name, [(n, s.encode()) for n, s in version.specs])
    return version


def stop(name: str, env: str | None = None, *, settle: float = 0.0) -> int:
    """Stop the app: its functions are unregistered (schedules and endpoints go with them),
    workers stop serving it (running calls finish), pending calls are cancelled.

    Returns the number of calls cancelled.

    Raises:
        NotFoundError: the app is not deployed.
    """
    env = _env(env)
    backend = Client.from_env().sync_backend()
    d = _deploy.store(env)
    record = _deploy.read_app(d, name)
    if not record.versions and not backend.job_functions(env, name):
        raise NotFoundError(f"App {name!r} is not deployed in environment {env!r}.")
    if record.versions:
        record.current = None
        _deploy.write_app(d, record)
    backend.job_deploy(env, name, [])
    if settle:
        time.sleep(settle)
    cancelled = 0
    while True:
        pending = backend.job_list(env, app=name, state=CallState.PENDING, limit=1000)
        if not pending:
            return cancelled
        for call in pending:
            FunctionCall.from_id(call.id).cancel()
            cancelled += 1
