"""``chute worker --all``: serve every app deployed with its code, on any machine.

A small parent process watches each environment's code store (``chute._deploy``) every
``poll`` seconds (1 by default), and at once when a pool asks (SIGUSR1, see ``_routes``). For
every app with a live version it runs one child ``chute worker`` pool (the ordinary ``Pool``
with ``deploy=False``, routing calls by version) in the version's unpacked bundle
(``_code.materialize``) with the Python of its image (``_deps``), so it imports the deployed
code and the image's packages, never local files.

- **New deploy:** a pool for the new version starts, then the old one is sent SIGTERM: it
  claims nothing more and its running calls finish on the old code (within ``grace``).
- **Each call on its version:** a call records the live version at submit; a pool that claims
  a call of another version gives it back and asks for that version's pool, which the parent
  starts while the version is still recorded (``_routes``).
- **Stopped app** (``chute app stop``): its pools are sent SIGTERM the same way.
- **Not served** (refused code, an image this worker may not or cannot build): the reason is
  printed once and announced in the worker registry (``unserved``), where ``chute function
  list``, the dashboard and a waiting caller's warning read it.
- A pool that dies is started again after ``RESTART_DELAY``; a failed build is tried again
  after ``RETRY_BUILD``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from chute import _deploy
from chute._client import Client
from chute._jobs import FunctionSpec
from chute._resources import worker_capacity
from chute.exception import InvalidError
from chute.worker import _deps, _routes
from chute.worker._code import default_cache_dir, materialize
from chute.worker._supervisor import DEFAULT_GRACE

POLL = 1.0
RESTART_DELAY = 5.0
RETRY_BUILD = 30.0


@dataclass
class _Child:
    env: str
    app: str
    number: int
    hash: str
    proc: subprocess.Popen[bytes]
    started: float


def _plan(version: _deploy.Version) -> dict[str, Any] | None:
    if version.image is not None or not version.packages:
        return version.image
    # A version deployed before image plans: its pip_install packages only.
    step = {"kind": "pip", "method": "pip_install", "args": version.packages}
    return {"python": None, "steps": [step], "env": {}, "workdir": None, "needs": [],
            "key": hashlib.sha256(json.dumps(version.packages).encode()).hexdigest()}  # fmt: skip


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
        only: Sequence[str] | None = None,
        tags: Sequence[str] = (),
        allow_commands: bool = False,
        poll: float = POLL,
    ) -> None:
        self._client = Client.from_env()
        self.envs = list(envs) or [self._client.settings.env]
        self.grace = grace
        self.max_executors = max_executors
        self.cache = cache_dir or default_cache_dir()
        self.resources = resources  # --gpus, --cpu, --memory: given to each app's pool
        self.only = None if only is None else list(only)
        self.tags = list(tags)
        self.allow_commands = allow_commands
        self.poll = poll
        self.children: dict[tuple[str, str], _Child] = {}
        self.extras: dict[tuple[str, str, str], _Child] = {}  # older versions' calls (_routes)
        self.retiring: list[_Child] = []
        self.unserved: dict[str, dict[str, str]] = {}  # env -> {app.function: why}
        self._failed: dict[tuple[str, str, str], float] = {}
        self._said: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:all"
        self._capacity = worker_capacity(*resources).to_json()
        self._next_beat = 0.0
        self._announced: set[str] = set()
        self._nudgeable = False

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            self._wake.set()  # a pool claimed a call of a version it does not run: look now
        else:
            self.stop()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGUSR1, self._on_signal)
            self._nudgeable = True
        try:
            while not self._stop.is_set():
                self._wake.clear()
                for env in self.envs:
                    self._sync_env(env)
                self._reap()
                self._announce()
                self._wake.wait(self.poll)
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
                record = _deploy.read_app(d, name)
                version = record.live()
                if version is None:
                    self._stopped(env, name)
                    continue
                self._serve(d, env, version)
                self._route(d, env, name, record)
            except Exception as exc:
                self._say(key, f"not serving {name} ({env}): {exc}")

    def _stopped(self, env: str, name: str) -> None:
        child = self.children.pop((env, name), None)
        for xkey in [k for k in self.extras if k[:2] == (env, name)]:
            self._retire(self.extras.pop(xkey))
        self._set_unserved(env, name, None, None)
        if child is not None:
            self._retire(child)
            self._say((env, name), f"{name} ({env}) was stopped: no longer served")

    def _serve(self, d: Any, env: str, version: _deploy.Version) -> None:
        name = version.app
        key = (env, name)
        child = self.children.get(key)
        if child is not None and child.hash == version.hash and child.proc.poll() is None:
            return
        if child is not None and child.proc.poll() is not None:
            if time.monotonic() - child.started < RESTART_DELAY:
                return
        try:
            new = self._launch(d, env, version)
        except Exception as exc:
            self._set_unserved(env, name, self._served(version), str(exc))
            raise
        if new is None:
            return
        self._set_unserved(env, name, None, None)
        if child is not None:
            self._retire(child)
        self.children[key] = new
        self._say(key, f"serving {name} version {version.number} ({version.hash[:12]}) in {env!r}")

    def _served(self, version: _deploy.Version) -> list[str]:
        """The functions of ``version`` this worker serves under ``--only`` and ``--tag``."""
        out = []
        for fn, spec in version.specs:
            if self.only is not None and fn not in self.only and f"{version.app}.{fn}" not in self.only:
                continue
            if set(FunctionSpec.from_json(spec.encode()).worker_tags) <= set(self.tags):
                out.append(fn)
        return out

    def _launch(self, d: Any, env: str, version: _deploy.Version) -> _Child | None:
        """Start a pool for ``version`` (None: it serves nothing here, or its build failed lately).

        Raises:
            InvalidError: the code is refused or the image cannot be built (the reason is
                also announced for its functions).
        """
        served = self._served(version)
        if not served:
            self._say(
                (env, version.app), f"not serving {version.app} ({env}): no function matches --only/--tag"
            )
            return None
        fkey = (env, version.app, version.hash)
        if time.monotonic() - self._failed.get(fkey, -RETRY_BUILD) < RETRY_BUILD:
            return None
        plan = _plan(version)
        try:
            _deps.check(plan, self.allow_commands)  # before fetching: nothing to fetch for it
            folder = materialize(d, version, self.cache, self._client.settings.secret)
            python = _deps.ensure(plan, folder, self.cache / "venvs", self.allow_commands)
        except Exception:
            self._failed[fkey] = time.monotonic()
            raise
        workdir = folder
        if plan is not None and plan.get("workdir"):
            workdir = folder / _deploy._remote(str(plan["workdir"]))
            workdir.mkdir(parents=True, exist_ok=True)
        options = {
            "env": env,
            "entry": str(folder / version.entry),
            "grace": self.grace,
            "max_executors": self.max_executors,
            "resources": list(self.resources),
            "only": None if self.only is None else served,
            "tags": self.tags,
            "code": version.hash,
            "routes": str(_routes.routes_dir(self.cache / "routes", env, version.app)),
            "nudge": self._nudgeable,  # SIGUSR1 reaches a handler here (else it would kill us)
        }
        argv = [python, "-m", "chute.worker._generic", json.dumps(options)]
        proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL)
        return _Child(env, version.app, version.number, version.hash, proc, time.monotonic())

    def _set_unserved(self, env: str, app: str, functions: list[str] | None, why: str | None) -> None:
        reasons = self.unserved.setdefault(env, {})
        for key in [k for k in reasons if k.split(".", 1)[0] == app]:
            del reasons[key]
        for fn in functions or []:
            reasons[f"{app}.{fn}"] = f"{why} (worker {self.worker_id})"
        self._next_beat = 0.0  # announce the change now

    def _route(self, d: Any, env: str, name: str, record: _deploy.AppRecord) -> None:
        """Start pools for older versions that calls were submitted under (see ``_routes``)."""
        folder = _routes.routes_dir(self.cache / "routes", env, name)
        live = record.live()
        wanted: set[str] = set()
        for want in folder.glob("*.want") if folder.is_dir() else []:
            code = want.stem
            with contextlib.suppress(OSError):
                if (
                    live is None
                    or code == live.hash
                    or time.time() - want.stat().st_mtime > _routes.WANT_FRESH
                ):
                    want.unlink()
                    continue
            wanted.add(code)
            xkey = (env, name, code)
            extra = self.extras.get(xkey)
            if extra is not None and extra.proc.poll() is None:
                continue
            versions = [v for v in _deploy.read_app(d, name).versions if v.hash == code]  # read again
            try:
                child = self._launch(d, env, versions[-1]) if versions else None
            except Exception as exc:
                child = None
                self._say((env, name), f"cannot serve {name} {code[:12]} for its calls: {exc}")
            if child is None and (not versions or xkey in self._failed_keys()):
                (folder / f"{code}.gone").touch()  # the live pool runs such calls itself
            if child is not None:
                self.extras[xkey] = child
                self._say((env, name), f"serving {name} version {versions[-1].number} ({code[:12]}) "
                          "for the calls submitted under it")  # fmt: skip
        for xkey in [k for k in self.extras if k[:2] == (env, name) and k[2] not in wanted]:
            self._retire(self.extras.pop(xkey))

    def _failed_keys(self) -> set[tuple[str, str, str]]:
        now = time.monotonic()
        return {k for k, t in self._failed.items() if now - t < RETRY_BUILD}

    def _announce(self) -> None:
        """Announce why functions are not served (the registry's ``unserved``), where callers look."""
        now = time.monotonic()
        if now < self._next_beat:
            return
        lease = self._client.settings.lease
        self._next_beat = now + lease / 4
        backend = self._client.sync_backend()
        for env in self.envs:
            reasons = self.unserved.get(env)
            try:
                if reasons:
                    info = {
                        "id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                        "functions": [], "executors": 0, "max_executors": 0, "running": [],
                        "capacity": self._capacity, "unserved": reasons,
                    }  # fmt: skip
                    backend.worker_beat(env, self.worker_id, json.dumps(info).encode(), ttl=lease * 3)
                    self._announced.add(env)
                elif env in self._announced:
                    backend.worker_gone(env, self.worker_id)
                    self._announced.discard(env)
            except Exception as exc:
                self._say((env, ""), f"cannot announce to environment {env!r}: {exc}")

    def _retire(self, child: _Child) -> None:
        """SIGTERM: the pool stops claiming and lets its running calls finish."""
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGTERM)
        self.retiring.append(child)

    def _reap(self) -> None:
        self.retiring = [c for c in self.retiring if c.proc.poll() is None]
        for xkey in [k for k, c in self.extras.items() if c.proc.poll() is not None]:
            del self.extras[xkey]

    def _shutdown(self) -> None:
        every = list(self.children.values()) + list(self.extras.values()) + self.retiring
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
        with contextlib.suppress(Exception):
            for env in self._announced:
                self._client.sync_backend().worker_gone(env, self.worker_id)


def _child_main(argv: Sequence[str]) -> None:
    """One version's pool: ``python -m chute.worker._generic OPTIONS`` (the JSON ``_launch`` makes;
    the working directory is the image's workdir in the bundle)."""
    from chute.worker._routes import VersionPool

    (raw,) = argv
    o = json.loads(raw)
    pool = VersionPool(
        [o["entry"]],
        environment_name=o["env"],
        grace=float(o["grace"]),
        deploy=False,
        max_executors=o["max_executors"],
        capacity=worker_capacity(*o["resources"]),
        only=o["only"],
        tags=o["tags"],
        code=o["code"],
        routes=Path(o["routes"]),
        nudge=o["nudge"],
    )
    pool.run()


if __name__ == "__main__":
    _child_main(sys.argv[1:])
