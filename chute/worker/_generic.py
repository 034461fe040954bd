"""``chute worker --all``: serve every app deployed with its code, on any machine.

A small parent process watches each environment's code store (``chute._deploy``) about once a
second. For every app with a live version it runs one child ``chute worker`` pool (the
ordinary ``Pool``, with ``deploy=False``) whose working directory is the version's unpacked
bundle (``_code.materialize``), so it imports the deployed code, never local files.

- **New deploy:** a pool for the new version starts, then the old one is sent SIGTERM: it
  claims nothing more and its running calls finish on the old code (within ``grace``); calls
  claimed from then on run the new version.
- **Stopped app** (``chute app stop``): its pool is sent SIGTERM the same way.
- **Refused code** (signature, missing bundle): not served; the reason is printed once.
- **Packages** an image ``pip_install``s are installed once per machine (``_deps``) and put
  first on the pool's ``PYTHONPATH``.
- A pool that dies is started again at the next look.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chute import _deploy, _settings_table
from chute._client import Client
from chute._resources import worker_capacity
from chute.exception import InvalidError
from chute.worker import _deps
from chute.worker._code import default_cache_dir, materialize
from chute.worker._supervisor import DEFAULT_GRACE, Pool

POLL = 1.0
RESTART_DELAY = 5.0


@dataclass
class _Child:
    env: str
    app: str
    number: int
    hash: str
    proc: subprocess.Popen[bytes]
    started: float


class AllApps:
    """The parent of ``chute worker --all``: one child pool per (environment, app, version)."""

    def __init__(
        self,
        envs: Sequence[str],
        *,
        grace: float = DEFAULT_GRACE,
        max_executors: int | None = None,
        cache_dir: Path | None = None,
        resources: tuple[str | None, float | None, int | None] = (None, None, None),
    ) -> None:
        self._client = Client.from_env()
        self.envs = list(envs) or [self._client.settings.env]
        self.grace = grace
        self.max_executors = max_executors
        self.cache = cache_dir or default_cache_dir()
        self.resources = resources  # --gpus, --cpu, --memory: given to each app's pool
        self.children: dict[tuple[str, str], _Child] = {}
        self.retiring: list[_Child] = []
        self._said: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        try:
            while not self._stop.is_set():
                for env in self.envs:
                    self._sync_env(env)
                self._reap()
                self._stop.wait(POLL)
        finally:
            self._shutdown()

    def _say(self, key: tuple[str, str], text: str) -> None:
        if self._said.get(key) != text:
            self._said[key] = text
            print(f"chute worker: {text}", file=sys.stderr, flush=True)

    def _sync_env(self, env: str) -> None:
        d = _deploy.store(env)
        try:
            names = _deploy.app_names(d)
            if not names and d.len():
                # Keys are sealed with CHUTE_SECRET too: under another secret they do not match.
                raise InvalidError(
                    "its code store holds entries whose signature does not match this worker's "
                    "CHUTE_SECRET (deployed with another secret, or without one): start the worker "
                    "with the deployer's CHUTE_SECRET"
                )
        except Exception as exc:
            self._say((env, ""), f"cannot read the deployed apps of environment {env!r}: {exc}")
            return
        for name in set(names) | {a for e, a in self.children if e == env}:
            key = (env, name)
            try:
                version = _deploy.read_app(d, name).live()
                child = self.children.get(key)
                if version is None:
                    if child is not None:
                        self._retire(self.children.pop(key))
                        self._say(key, f"{name} ({env}) was stopped: no longer served")
                    continue
                if child is not None and child.hash == version.hash and child.proc.poll() is None:
                    continue
                if child is not None and child.proc.poll() is not None:
                    if time.monotonic() - child.started < RESTART_DELAY:
                        continue
                folder = materialize(d, version, self.cache, self._client.settings.secret)
                deps = _deps.ensure(version.packages, self.cache / "deps")
            except Exception as exc:
                self._say(key, f"not serving {name} ({env}): {exc}")
                continue
            new = self._start(env, version, folder, deps)
            if child is not None:
                self._retire(child)
            self.children[key] = new
            self._say(key, f"serving {name} version {version.number} ({version.hash[:12]}) in {env!r}")

    def _start(self, env: str, version: _deploy.Version, folder: Path, deps: Path | None) -> _Child:
        argv = [sys.executable, "-m", "chute.worker._generic", env, version.entry, repr(self.grace)]
        argv += [str(self.max_executors or 0), json.dumps(self.resources)]
        environ = dict(os.environ)
        if deps is not None:  # the image's packages first: the pool and its executors import them
            environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(deps), _settings_table.raw("PYTHONPATH")])
            )
        proc = subprocess.Popen(argv, cwd=folder, stdin=subprocess.DEVNULL, env=environ)
        return _Child(env, version.app, version.number, version.hash, proc, time.monotonic())

    def _retire(self, child: _Child) -> None:
        """SIGTERM: the pool stops claiming and lets its running calls finish."""
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGTERM)
        self.retiring.append(child)

    def _reap(self) -> None:
        self.retiring = [c for c in self.retiring if c.proc.poll() is None]

    def _shutdown(self) -> None:
        every = list(self.children.values()) + self.retiring
        for c in every:
            with contextlib.suppress(ProcessLookupError):
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 10.0
        for c in every:
            try:
                c.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()


def _child_main(argv: Sequence[str]) -> None:
    """One version's pool (``python -m chute.worker._generic ENV ENTRY GRACE MAX RESOURCES``, cwd =
    the bundle; RESOURCES is the JSON of ``--gpus``, ``--cpu``, ``--memory``)."""
    env, entry, grace, max_executors, resources = argv
    pool = Pool(
        [entry],
        environment_name=env,
        grace=float(grace),
        deploy=False,
        max_executors=int(max_executors) or None,
        capacity=worker_capacity(*json.loads(resources)),
    )
    pool.run()


if __name__ == "__main__":
    _child_main(sys.argv[1:])
