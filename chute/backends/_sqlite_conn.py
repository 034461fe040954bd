"""The only SQLite I/O that differs between sync and async: opening transactions and waiting.

``SQLiteConn`` keeps one connection per thread and lets SQLite's busy handler wait for the
write lock. ``AsyncSQLiteConn`` keeps one connection per event loop and runs each short
transaction inline on the loop (tens of microseconds, cheaper than any thread hop), with
busy timeout 0 and ``asyncio.sleep`` backoff, so a locked database never blocks the loop.

Cross-process wake-up: a blocked getter binds a Unix datagram socket (abstract namespace on
Linux, so nothing is left on disk by a killed process), records its address in the
``waiters`` table, and sleeps in ``select``/the event loop on that socket. A writer that
commits on the partition sends one datagram to each recorded address. Idle waiters use no
CPU, and a wake-up costs one ``sendto`` plus a scheduler hop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import select
import socket
import sqlite3
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec, TypeVar

from chute import _platform
from chute.backends import _sqlite_jobs_sql as jobs_sql
from chute.backends import _sqlite_logs_sql as logs_sql
from chute.backends import _sqlite_queue_sql as queue_sql
from chute.backends import _sqlite_sql as sql
from chute.config import Settings
from chute.exception import BackendUnavailableError, InvalidError

P = ParamSpec("P")
T = TypeVar("T")
Body = Callable[Concatenate[sqlite3.Connection, P], T]

# Tables of chute's schema; a non-empty database with none of them belongs to someone else.
_OUR_TABLES = frozenset({"objects", "partitions", "items", "kv", "waiters", "functions", "calls", "workers"})
# Longest sleep between two tries for the write lock (see SQLiteConn).
_MAX_BACKOFF = 0.0002


def connect(settings: Settings, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open (creating if needed) the database with chute's pragmas and schema.

    Raises:
        InvalidError: the file is another application's database (refused untouched).
        BackendUnavailableError: the file or its folder cannot be created or opened.
    """
    path = settings.url.path
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    except OSError as exc:
        raise BackendUnavailableError(
            f"Cannot create the folder of the SQLite database {path}: {exc.strerror or exc}. Point "
            "CHUTE_URL at a file in a folder this user can write (sqlite:///abs/path/chute.db)."
        ) from None
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, and reads autocommit.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    except sqlite3.Error as exc:
        raise BackendUnavailableError(
            f"Cannot open the SQLite database {path}: {exc}. Check that this user can write the file "
            "and its folder."
        ) from exc
    try:
        _open(conn, settings, busy_timeout_ms)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(conn: sqlite3.Connection, settings: Settings, busy_timeout_ms: int) -> None:
    path = settings.url.path
    try:
        # A whole day at most: SQLite takes an int of milliseconds.
        conn.execute(f"PRAGMA busy_timeout = {min(int(settings.timeout * 1000), 86_400_000)}")
        _check_ours(conn, path)
        if conn.execute("PRAGMA user_version").fetchone()[0] < sql.SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            queue_sql.upgrade(conn)  # before SCHEMA, whose items index needs the new column
            for stmt in _statements(sql.SCHEMA + jobs_sql.SCHEMA + logs_sql.SCHEMA):
                conn.execute(stmt)
            jobs_sql.upgrade(conn)
            conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")
            conn.execute("COMMIT")
        conn.execute(f"PRAGMA synchronous = {settings.url.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    except sqlite3.DatabaseError as exc:
        if "file is not a database" in str(exc):
            raise InvalidError(
                f"{path} is not an SQLite database: point CHUTE_URL at a new file (chute creates it) "
                "or at a chute database."
            ) from None
        raise BackendUnavailableError(f"Cannot open the SQLite database {path}: {exc}") from exc


def _statements(script: str) -> list[str]:
    """The statements of ``script`` (not ``executescript``: it would commit the open transaction);
    a trigger's body holds semicolons of its own."""
    stmts, part = [], ""
    for piece in script.split(";"):
        part += piece + ";"
        if sqlite3.complete_statement(part):
            if part.strip(" \n;"):
                stmts.append(part)
            part = ""
    return stmts


def _check_ours(conn: sqlite3.Connection, path: str) -> None:
    """Refuse, before changing anything, a non-empty database that chute did not create."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    if not tables:
        return  # a new (or empty) file: chute creates its schema
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0 or not tables & _OUR_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise InvalidError(
            f"{path} is not a chute database: it already holds other tables ({shown}). chute leaves "
            "it untouched: point CHUTE_URL at a new file (chute creates it), e.g. sqlite:///abs/path/chute.db."
        )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _unavailable(settings: Settings, exc: sqlite3.Error) -> BackendUnavailableError:
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        return BackendUnavailableError(
            f"The SQLite database {settings.url.path} stayed locked for more than {settings.timeout:g} s "
            "(raise CHUTE_TIMEOUT, or shorten long transactions in other processes)."
        )
    return BackendUnavailableError(f"SQLite error on {settings.url.path}: {exc}")


class SQLiteConn:
    """One connection per thread; waits for the write lock with a short sleep-and-retry.

    Not SQLite's busy handler: it sleeps 1, 2, 5, 10… ms between tries, so a writer that loses
    a race for the lock by microseconds waits milliseconds. Here the first retry comes after
    50 µs and the back-off doubles up to 0.2 ms, until ``CHUTE_TIMEOUT``: a queue transaction
    holds the lock for tens of microseconds, and a consumer woken by a put must not sleep
    through several of its producer's next puts (a convoy) before it gets its turn. (With a
    1 ms cap, a write-behind consumer slept through 25 % of a stream, overshooting the
    feeder's batch inserts by up to 0.8 ms each time.)
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.settings, busy_timeout_ms=0)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _begin(self, c: sqlite3.Connection) -> None:
        deadline = 0.0
        delay = 0.00005
        while True:
            try:
                c.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                now = time.monotonic()
                if not _is_busy(exc) or (deadline and now >= deadline):
                    raise _unavailable(self.settings, exc) from exc
                deadline = deadline or now + self.settings.timeout
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    def write(self, body: Body[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        c = self._conn()
        self._begin(c)
        try:
            result = body(c, *args, **kwargs)
            c.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _unavailable(self.settings, exc) from exc
            raise
        return result

    def read(self, body: Body[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        c = self._conn()
        deadline = 0.0
        while True:
            try:
                return body(c, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                # WAL readers are rarely busy (recovery, a truncating checkpoint): retry briefly.
                now = time.monotonic()
                if not _is_busy(exc) or (deadline and now >= deadline):
                    raise _unavailable(self.settings, exc) from exc
                deadline = deadline or now + self.settings.timeout
                time.sleep(0.001)
            except sqlite3.Error as exc:
                raise _unavailable(self.settings, exc) from exc

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


class AsyncSQLiteConn:
    """One connection per event loop; transactions run inline, lock waits yield to the loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._c: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._c is None:
            self._c = connect(self.settings, busy_timeout_ms=0)
        return self._c

    async def write(self, body: Body[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        c = self._conn()
        deadline = time.monotonic() + self.settings.timeout
        delay = 0.00005
        while True:
            try:
                c.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise _unavailable(self.settings, exc) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)
        try:
            result = body(c, *args, **kwargs)
            c.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _unavailable(self.settings, exc) from exc
            raise
        return result

    async def read(self, body: Body[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return body(self._conn(), *args, **kwargs)
        except sqlite3.Error as exc:
            raise _unavailable(self.settings, exc) from exc

    async def aclose(self) -> None:
        if self._c is not None:
            with contextlib.suppress(sqlite3.Error):
                self._c.close()
            self._c = None


# -- cross-process wake-up ---------------------------------------------------------------------

_ABSTRACT = _platform.abstract_sockets()
_sender: tuple[int, socket.socket] | None = None  # (fork generation, socket)
# A wake-up datagram carries the waiter row's id (8 bytes, little-endian), so that a process
# waiting on several rows at once (a worker watching each function's submits) can tell which
# one woke it. An unknown payload means "one of them".
_WID = struct.Struct("<q")


def _new_address() -> tuple[bytes, str | None]:
    token = secrets.token_hex(8)
    if _ABSTRACT:
        return b"\0chute-" + token.encode(), None
    # Short path: sun_path is limited to ~104 bytes on macOS/BSD.
    directory = os.path.join(tempfile.gettempdir(), f"chute-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, token)
    return path.encode(), path


def _bound_socket() -> tuple[socket.socket, bytes, str | None]:
    addr, path = _new_address()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr if path is None else path)
    sock.setblocking(False)
    return sock, addr, path


def notify(waiters: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Send a wake-up datagram to each waiter; return the ``(id, addr)`` of waiters that are gone."""
    global _sender
    if _sender is None or _sender[0] != _platform.forks:
        if _sender is not None:
            _sender[1].detach()  # forked: the parent's socket is the parent's to close
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        _sender = (_platform.forks, sock)
        atexit.register(sock.close)
    sender = _sender[1]
    stale = []
    for wid, addr in waiters:
        try:
            # An abstract address starts with NUL (whatever this process would pick itself).
            sender.sendto(_WID.pack(wid), addr if addr[:1] == b"\0" else addr.decode())
        except BlockingIOError:
            pass  # its buffer is full of wake-ups already: it is awake
        except OSError:
            stale.append((wid, addr))  # ECONNREFUSED / ENOENT: its owner is gone
    return stale


def _close_socket(sock: socket.socket, path: str | None, pid: int) -> None:
    sock.close()
    # A forked child dropping its parent's backend closes its copy of the descriptor only: the
    # socket file is still the parent's.
    if path is not None and pid == os.getpid():
        with contextlib.suppress(OSError):
            os.unlink(path)


class _WaiterBase:
    def __init__(self) -> None:
        self.sock, self.addr, self._path = _bound_socket()
        # Backends keep idle waiters for reuse; one whose backend is dropped without being
        # closed (an event loop's, when the loop goes) still closes its socket.
        self._finalizer = weakref.finalize(self, _close_socket, self.sock, self._path, os.getpid())

    #: The waiter ids the datagrams read by the last ``wait`` named (None: one was not an id).
    woken_by: set[int] | None = None

    def drain(self) -> bool:
        """Read every pending datagram (into ``woken_by``); whether there was one."""
        woken: set[int] | None = set()
        got = False
        with contextlib.suppress(BlockingIOError):
            while data := self.sock.recv(64):
                got = True
                if woken is not None and len(data) == _WID.size:
                    woken.add(_WID.unpack(data)[0])
                else:
                    woken = None
        self.woken_by = woken
        return got

    def close(self) -> None:
        self._finalizer()


class Waiter(_WaiterBase):
    """Blocks the calling thread until a datagram arrives or ``timeout`` passes."""

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        # One that arrived after the timeout counts too: it is read (consumed) here.
        return self.drain() or bool(ready)


class AsyncWaiter(_WaiterBase):
    """Awaits a datagram on the running loop (no thread) or ``timeout``."""

    async def wait(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        fd = self.sock.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await asyncio.wait_for(fut, max(timeout, 0.0))
            woke = True
        except TimeoutError:
            woke = False
        finally:
            loop.remove_reader(fd)
        return self.drain() or woke
