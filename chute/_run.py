"""``app.run()``: register the app and run a worker pool for it in the background.

The pool is a ``chute worker`` process (the same pool ``chute worker`` runs anywhere), started
for the block and stopped after it. ``start_pool`` is the only coupling to the worker: one
command line, so the app layer never imports the worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from chute import _platform, _settings_table
from chute._context import is_local
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.app import App

# Set for the worker of an ``app.run()``: the process that defined the app already warned.
QUIET_ENV = "CHUTE_QUIET_IGNORED_OPTIONS"


def _die_with_parent() -> None:
    _platform.parent_death_signal(signal.SIGTERM)


def start_pool(targets: list[str], environment_name: str | None) -> Callable[[], None]:
    """Start ``chute worker --grace 0 TARGETS`` for the block; returns ``stop``.

    ``stop()`` ends it at once: calls still running are given back (queued again for any
    worker), not failed, as when a ``chute worker`` stops past its grace period. The worker
    gets SIGTERM if this process dies first.
    """
    env = {**os.environ, QUIET_ENV: "1"}
    roots = [r for r in (_package_root(t) for t in targets) if r is not None]
    if roots:  # a package module: the worker imports it by name from the same root
        env["PYTHONPATH"] = os.pathsep.join([*roots, *filter(None, [_settings_table.raw("PYTHONPATH")])])
    if environment_name:
        env["CHUTE_ENV"] = environment_name
    proc = subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", "--grace", "0", *targets],
        env=env,
        preexec_fn=_die_with_parent,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return stop


def _package_root(target: str) -> str | None:
    """The folder holding the top-level package of a dotted module target, else None."""
    module = sys.modules.get(target)
    path = getattr(module, "__file__", None)
    if "." not in target or target.endswith(".py") or not path:
        return None
    return str(Path(path).resolve().parents[target.count(".")])


def module_target(app: App) -> str:
    """What workers import to find the app: its module's name for a module of a package, else
    its file (a script run as ``__main__``, or a file ``chute run`` loaded by its stem).

    Raises:
        InvalidError: the app was defined where no file can be imported (an interactive session).
    """
    module = sys.modules.get(app._module)
    if app._module != "__main__" and "." in app._module:
        return app._module
    path = getattr(module, "__file__", None)
    if not path:
        raise InvalidError(
            f"App {app.name!r} is defined in {app._module!r}, which has no file: workers cannot import "
            "it. Define the app in a .py file."
        )
    return str(path)


class RunContext:
    """What ``app.run()`` returns: ``with``/``async with`` gives the app while its pool runs."""

    def __init__(self, app: App, *, environment_name: str | None, detach: bool) -> None:
        self._app = app
        self._env = environment_name
        self._detach = detach
        self._stop: Callable[[], None] | None = None

    def _start(self) -> None:
        if not is_local():
            raise InvalidError("app.run() cannot be called inside a running function (an executor).")
        if self._app._running:
            raise InvalidError(f"App {self._app.name!r} is already running.")
        target = module_target(self._app)
        self._app.deploy(environment_name=self._env)
        self._stop = start_pool([target], self._env)
        self._app._running = True

    def _end(self) -> None:
        self._app._running = False
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> App:
        self._start()
        return self._app

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._end()

    async def __aenter__(self) -> App:
        self._start()  # a deploy round trip and a process start: brief, and on this thread
        return self._app

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._end)
