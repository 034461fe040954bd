"""Client: settings plus the backends of this process.

The sync backend is shared by all threads of the process. redis.asyncio pools and our async
SQLite connection are bound to one event loop, so there is one async backend per running
loop. Both are re-opened after ``fork`` (a pid check, like redis-py's ``_checkpid``): a
connection inherited from the parent must never be used by the child.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import getpass
import os
import socket
import threading
import weakref

from chute import _platform
from chute._settings_table import settings_key
from chute.backends import open_async_backend, open_backend
from chute.backends._async.base import AsyncBackend
from chute.backends._sync.base import Backend
from chute.config import Settings


class Client:
    """Connection to one backend. Usually obtained with ``Client.from_env()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._forks = _platform.forks
        self._backend: Backend | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncBackend] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> Client:
        """The process-wide client for the current ``CHUTE_*`` environment."""
        key = settings_key()
        client = _clients.get(key)
        if client is None:
            with _clients_lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = cls(Settings.from_env())
        return client

    def _check_fork(self) -> None:
        if self._forks != _platform.forks:
            # Drop (do not close) inherited connections: closing would touch the parent's sockets.
            self._forks = _platform.forks
            self._backend = None
            self._async = weakref.WeakKeyDictionary()
            self._lock = threading.Lock()

    def sync_backend(self) -> Backend:
        """The backend used by blocking calls on any thread of this process."""
        backend = self._backend
        if backend is None or self._forks != _platform.forks:
            self._check_fork()
            with self._lock:
                if self._backend is None:
                    self._backend = open_backend(self.settings)
                backend = self._backend
        return backend

    def async_backend(self) -> AsyncBackend:
        """The backend used by ``.aio`` calls on the running event loop."""
        loop = asyncio.get_running_loop()
        if self._forks != _platform.forks:
            self._check_fork()
        backend = self._async.get(loop)
        if backend is None:
            backend = self._async[loop] = open_async_backend(self.settings)
        return backend

    async def aclose(self) -> None:
        """Close the backend of the running event loop."""
        backend = self._async.pop(asyncio.get_running_loop(), None)
        if backend is not None:
            await backend.aclose()

    def close(self) -> None:
        """Close the sync backend (``aclose`` closes the running loop's async backend)."""
        backend, self._backend = self._backend, None
        if backend is not None and self._forks == _platform.forks:
            backend.close()


_clients: dict[tuple[str | bytes | None, ...], Client] = {}
_clients_lock = threading.Lock()


def created_by() -> str:
    """``user@host``, recorded on every object (Modal's ``created_by``)."""
    global _created_by
    if _created_by is None:
        try:
            user = getpass.getuser()
        except Exception:
            user = str(os.getuid())
        _created_by = f"{user}@{socket.gethostname()}"
    return _created_by


_created_by: str | None = None


class Heartbeats:
    """Keeps this process's ephemeral objects alive, and deletes them when the process exits.

    One daemon thread per process heartbeats every registered object (and runs garbage
    collection, so objects of crashed processes disappear). A process killed with ``kill -9``
    stops heartbeating; its objects are collected once ``CHUTE_EPHEMERAL_TTL`` passes. The
    thread uses backends of its own, so closing a ``Client`` never leaves it without one (nor
    makes it re-open the client's).
    """

    def __init__(self) -> None:
        self._objects: dict[str, Client] = {}
        self._backends: dict[str, Backend] = {}  # backend URL -> this thread's backend for it
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._forks = _platform.forks

    def add(self, object_id: str, client: Client) -> None:
        with self._lock:
            if self._forks != _platform.forks:  # forked: the parent's objects and connections are not ours
                self._objects, self._backends, self._thread, self._forks = {}, {}, None, _platform.forks
            self._objects[object_id] = client
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="chute-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, object_id: str) -> None:
        with self._lock:
            self._objects.pop(object_id, None)

    def _backend(self, client: Client) -> Backend:
        key = client.settings.url.raw
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = open_backend(client.settings)
        return backend

    def _run(self) -> None:
        while True:
            with self._lock:
                objects = list(self._objects.items())
            interval = min((c.settings.ephemeral_ttl for _, c in objects), default=60.0) / 3
            self._wake.wait(interval)
            with self._lock:
                objects = list(self._objects.items())
                live = {c.settings.url.raw for _, c in objects}
                idle = [self._backends.pop(k) for k in list(self._backends) if k not in live]
            for backend in idle:
                with contextlib.suppress(Exception):
                    backend.close()
            for object_id, client in objects:
                with contextlib.suppress(Exception):  # a blip must not kill the heartbeat thread
                    backend = self._backend(client)
                    backend.heartbeat(object_id, client.settings.ephemeral_ttl)
                    backend.collect_garbage()

    def delete_all(self) -> None:
        """atexit: delete the ephemeral objects this process still owns."""
        if self._forks != _platform.forks:
            return
        with self._lock:
            objects, self._objects = list(self._objects.items()), {}
            backends, self._backends = list(self._backends.values()), {}
        for object_id, client in objects:
            with contextlib.suppress(Exception):
                client.sync_backend().delete_object(object_id)
        for backend in backends:
            with contextlib.suppress(Exception):
                backend.close()


heartbeats = Heartbeats()
atexit.register(heartbeats.delete_all)
