"""``WebHost``: the part of ``chute serve`` that serves the deployed web endpoints.

A thread polls the backend's function registry (every ``poll_interval`` seconds) for the
web functions of the served environments. For each endpoint it binds the endpoint's port
(``chute.web.ports``), then runs executor processes (``chute.web.executor``) that share the
bound socket and serve requests directly: no proxy hop in ``chute serve``.

- **Versions.** An endpoint's version is its ``deployed_at`` (and, with ``reload``, its
  file's modification time). When it changes, a new set of executors starts next to the
  old one; once all are ready the old ones get SIGTERM (they finish the requests in
  flight): a redeploy or an edit never drops the port.
- **Failures.** An executor that fails to start (import error, factory exception, lifespan
  startup failure, a ``web_server`` that never accepts) is retried with exponential backoff
  (1 s .. 30 s); the previous version, if any, keeps serving. One that dies while serving is
  replaced the same way.
- **Processes.** ``max(1, min_containers)`` executors per endpoint, at most
  ``max_containers``; the kernel spreads connections between them. ``web_server``
  endpoints get one (their server owns a fixed port).
- **Undeployed** endpoints stop and their port is released.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chute._client import Client
from chute._jobs import FunctionSpec
from chute.backends.types import FunctionRecord
from chute.http.auth import TokenSet
from chute.web import ports
from chute.web.spec import WebSpec, label_of

DEFAULT_GRACE = 30.0
MAX_BACKOFF = 30.0


@dataclass
class _Proc:
    popen: subprocess.Popen[bytes]
    status: int  # read end of the status pipe (non-blocking)
    version: tuple[float, float]
    ready: bool = False
    buffer: bytes = b""
    error: str | None = None


@dataclass
class _Endpoint:
    key: str
    env: str
    app: str
    name: str
    web: WebSpec
    spec: FunctionSpec
    version: tuple[float, float]
    port: int | None = None
    sock: socket.socket | None = None
    procs: list[_Proc] = field(default_factory=list)
    serving: tuple[float, float] | None = None
    failures: int = 0
    next_try: float = 0.0
    warned: str | None = None  # last bind problem reported (reported once)

    @property
    def wanted(self) -> int:
        if self.web.kind == "web_server":
            return 1
        return max(1, min(self.spec.min_containers, self.spec.max_containers))

    @property
    def title(self) -> str:
        return f"{self.app}.{self.name}"


class WebHost:
    """Serve every deployed web endpoint of ``envs``; ``start()`` then ``stop()``.

    Args:
        envs: environments whose endpoints are served.
        bind_host: address the endpoints' ports are bound on (``chute serve --host``).
        tokens: ``chute serve``'s tokens (the guard of private endpoints).
        private: apply the token rules to every endpoint, public ones too.
        reload: restart an endpoint's executors when its source file changes.
        log: where to print URLs and errors.
    """

    def __init__(
        self,
        envs: tuple[str, ...],
        *,
        bind_host: str = "127.0.0.1",
        tokens: TokenSet | None = None,
        private: bool = False,
        reload: bool = True,
        log_level: str = "info",
        poll_interval: float = 1.0,
        grace: float = DEFAULT_GRACE,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.envs = envs
        self.bind_host = bind_host
        self.tokens = tokens or TokenSet()
        self.private = private
        self.reload = reload
        self.log_level = log_level
        self.poll_interval = poll_interval
        self.grace = grace
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.endpoints: dict[str, _Endpoint] = {}
        self._retiring: list[tuple[_Proc, float]] = []
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._url_host = ports.advertised(bind_host)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Advertise this server's address and start the polling thread."""
        with contextlib.suppress(Exception):  # the backend may be down: URLs then say 127.0.0.1
            ports.advertise_host(self._url_host)
        self._thread = threading.Thread(target=self._run, name="chute-web-host", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every executor gracefully (``grace`` seconds, then SIGKILL) and release the ports."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.grace + 15)

    def _run(self) -> None:
        next_poll = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.poll_interval
                    try:
                        self._sync(self._records(Client.from_env().sync_backend()))
                    except Exception as exc:  # backend down: keep serving what runs
                        self.log(f"chute web: cannot read the function registry: {exc} (retrying)")
                for ep in list(self.endpoints.values()):
                    self._tend(ep, now)
                self._reap_retiring(now)
                self._stop.wait(0.05)
        finally:
            self._shutdown()

    # -- registry ------------------------------------------------------------------------------

    def _records(self, backend: Any) -> list[tuple[str, FunctionRecord, FunctionSpec, WebSpec]]:
        found = []
        for env in self.envs:
            record: FunctionRecord
            for record in backend.job_functions(env):
                spec = FunctionSpec.from_json(record.spec)
                web = getattr(spec, "web", None)
                if web:
                    found.append((env, record, spec, WebSpec.from_dict(web)))
        return found

    def _sync(self, records: list[tuple[str, FunctionRecord, FunctionSpec, WebSpec]]) -> None:
        seen: set[str] = set()
        for env, record, spec, web in records:
            key = f"{env}/{label_of(record.app, record.name, web)}"
            if key in seen:
                message = f"two endpoints are labelled {key}: serving one, give the other a label="
                if message not in self._warned:
                    self._warned.add(message)
                    self.log(f"chute web: {message}")
                continue
            seen.add(key)
            version = (record.deployed_at, self._mtime(web))
            ep = self.endpoints.get(key)
            if ep is None or (ep.app, ep.name) != (record.app, record.name):
                if ep is not None:
                    self._remove(ep)
                ep = _Endpoint(key, env, record.app, record.name, web, spec, version)
                self.endpoints[key] = ep
            elif version != ep.version:
                ep.web, ep.spec, ep.version = web, spec, version
                ep.failures, ep.next_try = 0, 0.0
        for key in set(self.endpoints) - seen:
            ep = self.endpoints.pop(key)
            self.log(f"chute web: {ep.title} is no longer deployed: stopped {self.url(ep)}")
            self._remove(ep)

    def _mtime(self, web: WebSpec) -> float:
        if not self.reload or not web.file:
            return 0.0
        try:
            return os.stat(web.file).st_mtime
        except OSError:
            return 0.0

    def url(self, ep: _Endpoint) -> str:
        return ports.format_url(self._url_host, ep.port) if ep.port else "(no port yet)"

    def _warn_once(self, ep: _Endpoint, message: str) -> None:
        if ep.warned != message:
            self.log(f"chute web: {message}")
        ep.warned = message

    # -- one endpoint ------------------------------------------------------------------------

    def _bind(self, ep: _Endpoint) -> bool:
        if ep.sock is not None:
            return True
        try:
            if ep.port is None:
                ep.port = ports.port_for(ep.key)
            family, kind, proto, _, address = socket.getaddrinfo(
                self.bind_host.strip("[]"), ep.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            self._warn_once(
                ep, f"{ep.title}: cannot bind {self.bind_host}:{ep.port} ({exc.strerror}); retrying"
            )
            ep.next_try = time.monotonic() + 5.0
            return False
        # Not listening yet: connections are refused until the first executor is ready
        # (it calls listen() when its uvicorn starts serving).
        ep.sock = sock
        ep.warned = None
        return True

    def _tend(self, ep: _Endpoint, now: float) -> None:
        for p in list(ep.procs):
            self._read_status(p)
            code = p.popen.poll()
            if code is None:
                continue
            ep.procs.remove(p)
            self._kill_group(p, signal.SIGKILL)
            os.close(p.status)
            if not self._stop.is_set():
                why = p.error or f"exit code {code}"
                what = "exited" if p.ready else "failed to start"
                ep.failures += 1
                delay = min(MAX_BACKOFF, 2.0 ** (ep.failures - 1))
                ep.next_try = now + delay
                self.log(f"chute web: {ep.title} {what} ({why}); retrying in {delay:g} s")
        current = [p for p in ep.procs if p.version == ep.version]
        if len(current) < ep.wanted and now >= ep.next_try and self._bind(ep):
            for _ in range(ep.wanted - len(current)):
                ep.procs.append(self._spawn(ep))
            current = [p for p in ep.procs if p.version == ep.version]
        if current and len(current) >= ep.wanted and all(p.ready for p in current):
            for p in [p for p in ep.procs if p.version != ep.version]:
                self._retire(ep, p)
            if ep.serving != ep.version:
                access = "token required" if ep.web.requires_proxy_auth or self.private else "public"
                verb = "reloaded" if ep.serving else "serving"
                self.log(f"chute web: {verb} {ep.title} at {self.url(ep)} ({access})")
                ep.serving = ep.version
            ep.failures = 0

    def _read_status(self, p: _Proc) -> None:
        try:
            chunk = os.read(p.status, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        p.buffer += chunk
        *lines, p.buffer = p.buffer.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            if text == "ready":
                p.ready = True
            elif text.startswith("error "):
                p.error = text[6:]

    def _spawn(self, ep: _Endpoint) -> _Proc:
        assert ep.sock is not None and ep.port is not None
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        settings = {
            "file": ep.web.file,
            "app": ep.app,
            "function": ep.name,
            "env": ep.env,
            "web": ep.web.to_dict(),
            "tokens": [
                {"secret": t.secret, "envs": sorted(t.envs) if t.envs is not None else None}
                for t in self.tokens.tokens
            ],
            "private": self.private,
            "log_level": self.log_level,
            "grace": int(self.grace),
            "parent": os.getpid(),
            "socket_fd": ep.sock.fileno(),
            "status_fd": write_end,
        }
        # MODAL_IS_REMOTE as executor_environment sets it: a function without secrets, env= or
        # image then needs no second start with its own environment (chute.web.executor).
        env = {**os.environ, "CHUTE_ENV": ep.env, "MODAL_IS_REMOTE": "1"}
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "chute.web.executor"],
                stdin=subprocess.PIPE,
                pass_fds=(ep.sock.fileno(), write_end),
                env=env,
                start_new_session=True,  # its own process group: a stop takes its children too
            )
        finally:
            os.close(write_end)
        assert popen.stdin is not None
        # Tokens go through a pipe, not argv or the environment (visible in ps / to the app).
        with contextlib.suppress(BrokenPipeError):
            popen.stdin.write(json.dumps(settings).encode())
            popen.stdin.close()
        return _Proc(popen, read_end, ep.version)

    # -- stopping ------------------------------------------------------------------------------

    def _retire(self, ep: _Endpoint, p: _Proc) -> None:
        ep.procs.remove(p)
        with contextlib.suppress(ProcessLookupError):
            p.popen.send_signal(signal.SIGTERM)
        self._retiring.append((p, time.monotonic() + self.grace + 5))

    def _remove(self, ep: _Endpoint) -> None:
        for p in list(ep.procs):
            self._retire(ep, p)
        if ep.sock is not None:
            ep.sock.close()  # the executors' copies keep the port until they exit
            ep.sock = None

    def _reap_retiring(self, now: float) -> None:
        for item in list(self._retiring):
            p, deadline = item
            if p.popen.poll() is None and now < deadline:
                continue
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()
            self._kill_group(p, signal.SIGKILL)
            os.close(p.status)
            self._retiring.remove(item)

    @staticmethod
    def _kill_group(p: _Proc, sig: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(p.popen.pid, sig)

    def _shutdown(self) -> None:
        for ep in list(self.endpoints.values()):
            self._remove(ep)
        self.endpoints.clear()
        deadline = time.monotonic() + self.grace + 5
        while self._retiring and time.monotonic() < deadline:
            self._reap_retiring(time.monotonic())
            time.sleep(0.05)
        self._reap_retiring(float("inf"))
