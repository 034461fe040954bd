# Auto-generated from chute/backends/_async/sqlite.py by scripts/unasync.py: DO NOT EDIT.
"""Embedded backend: one SQLite file (WAL) shared by every process of the machine.

Durability: each operation is one transaction. With the default ``synchronous=NORMAL`` an
acknowledged write survives a crash or ``kill -9`` of any process; a power loss may drop the
last few transactions. ``sqlite:///path.db?synchronous=full`` fsyncs every commit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from chute import _validate
from chute.backends import _sqlite_jobs_batch as jobs_batch
from chute.backends import _sqlite_jobs_control as jobs_control
from chute.backends import _sqlite_jobs_sql as jobs_sql
from chute.backends import _sqlite_logs_sql as logs_sql
from chute.backends import _sqlite_queue_front as queue_front
from chute.backends import _sqlite_queue_sql as queue_sql
from chute.backends import _sqlite_sql as sql
from chute.backends._sync.base import Backend
from chute.backends._batch import Batcher
from chute.backends._sqlite_conn import SQLiteConn, Waiter, notify
from chute.backends.types import (
    CallRecord,
    CallState,
    ClaimRequest,
    CompleteRequest,
    FunctionRecord,
    FunctionStats,
    Kind,
    LogChunk,
    ObjectInfo,
    PartitionInfo,
    PutStatus,
    ScheduleRecord,
    SubmitRequest,
)
from chute.config import Settings
from chute.exception import NotFoundError

# A waiter re-checks the partition at least this often even without a wake-up datagram:
# a safety net for a writer killed between its commit and its sendto.
_RECHECK = 1.0
# Wake-up sockets kept bound between blocking calls (one per concurrently blocked call).
_IDLE_WAITERS = 8


class SQLiteBackend(Backend):
    """Queues, dicts and the object registry in one SQLite database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn = SQLiteConn(settings)
        # Concurrent puts of this process's threads (sync) or this loop's tasks share a commit.
        self._puts: Batcher[queue_sql.PutRequest, PutStatus] = Batcher(self._put_group, cancel_safe=True)
        self._idle_waiters: list[Waiter] = []
        # job_wait_for_work's registrations, kept between calls (see there).
        # job_wait_for_work: per watched set of functions, its socket and {waiter row id: function}.
        self._work_waiters: dict[tuple[str, ...], tuple[Waiter, dict[int, str]]] = {}

    def _wake(self, waiters: sql.Waiters) -> None:
        stale = notify(waiters)
        if stale:
            self._conn.write(sql.remove_stale_waiters, stale)

    # -- objects ---------------------------------------------------------------------------

    def create_object(
        self,
        kind: Kind,
        env: str,
        name: str | None,
        *,
        object_id: str,
        ephemeral_ttl: float | None = None,
        max_items: int | None = None,
        created_by: str | None = None,
    ) -> tuple[ObjectInfo, bool]:
        now = time.time()
        info = ObjectInfo(
            id=object_id,
            kind=kind,
            env=env,
            name=name,
            created_at=now,
            created_by=created_by,
            ephemeral=ephemeral_ttl is not None,
            max_items=max_items,
        )
        expires_at = None if ephemeral_ttl is None else now + ephemeral_ttl
        return self._conn.write(sql.create_object, info, expires_at)

    def lookup_object(self, kind: Kind, env: str, name: str) -> ObjectInfo | None:
        return self._conn.read(sql.lookup_object, kind, env, name)

    def get_object(self, object_id: str) -> ObjectInfo | None:
        return self._conn.read(sql.get_object, object_id)

    def list_objects(
        self, kind: Kind, env: str, *, limit: int | None = None, created_before: float | None = None
    ) -> list[ObjectInfo]:
        return self._conn.read(sql.list_objects, kind, env, limit, created_before)

    def delete_object(self, object_id: str) -> bool:
        deleted, waiters = self._conn.write(sql.delete_object, object_id)
        self._wake(waiters)  # blocked getters notice the deletion at once
        return deleted

    def heartbeat(self, object_id: str, ttl: float) -> bool:
        return self._conn.write(sql.heartbeat, object_id, time.time() + ttl)

    def collect_garbage(self) -> int:
        n = self._conn.write(sql.collect_garbage, time.time())
        self._conn.write(jobs_sql.collect_garbage, time.time())
        self._conn.write(logs_sql.collect_garbage, time.time())
        return n

    # -- queues ----------------------------------------------------------------------------

    def queue_put(
        self,
        object_id: str,
        part: bytes,
        items: Sequence[bytes],
        *,
        ttl: float,
        max_items: int,
        max_partitions: int,
    ) -> PutStatus:
        _validate.check_ttl(ttl)
        return self._puts.submit(queue_sql.PutRequest(object_id, part, items, ttl, max_items, max_partitions))

    def _put_group(self, reqs: Sequence[queue_sql.PutRequest]) -> list[PutStatus | NotFoundError]:
        now = time.time()
        if len(reqs) == 1:  # alone: the common case, kept short
            r = reqs[0]
            status, waiters = self._conn.write(queue_sql.queue_put, r, now, queue_sql.expiry(now, r.ttl))
            if waiters:
                self._wake(waiters)
            return [status]
        plans = [(r, queue_sql.expiry(now, r.ttl)) for r in reqs]
        results, waiters = self._conn.write(queue_sql.queue_put_group, plans, now)
        if waiters:
            self._wake(waiters)
        return results

    def _take_waiter(self) -> Waiter:
        try:
            return self._idle_waiters.pop()
        except IndexError:
            return Waiter()

    def _give_back(self, waiter: Waiter) -> None:
        # A wake-up socket is kept for the next blocking call (binding one per call costs more
        # than the wait it serves). Not drained here: a datagram left over from its last wait
        # only makes a later wait re-check once.
        if len(self._idle_waiters) < _IDLE_WAITERS:
            self._idle_waiters.append(waiter)
        else:
            waiter.close()

    def queue_get(self, object_id: str, part: bytes, n: int, *, wait: float) -> list[bytes]:
        # First a plain try, even for a blocking get: when there is an item (the common case)
        # no wake-up socket is taken or given back. An empty partition costs one more
        # transaction below, which registers the waiter; that get blocks anyway.
        items, waiters, _ = self._conn.write(queue_sql.queue_get, object_id, part, n, time.time())
        if waiters:
            self._wake(waiters)
        if items or wait <= 0:
            return items
        deadline = time.monotonic() + wait
        waiter = self._take_waiter()
        wid: int | None = None
        try:
            while True:
                # An empty partition registers us in the same transaction that found it empty:
                # a put that commits after it sees our row and wakes us. No lost wake-ups.
                items, waiters, wid = self._conn.write(
                    queue_sql.queue_get, object_id, part, n, time.time(), waiter.addr, wid
                )
                if waiters:
                    self._wake(waiters)
                remaining = deadline - time.monotonic()
                if items or remaining <= 0:
                    return items
                waiter.wait(min(remaining, _RECHECK))
        finally:
            if wid is not None:
                self._conn.write(sql.remove_waiters, [wid])
            self._give_back(waiter)

    def queue_wait(self, object_id: str, part: bytes, *, wait: float, for_space: bool) -> None:
        if wait <= 0:
            return
        waiter = self._take_waiter()
        try:
            wid = self._conn.write(sql.add_waiter, object_id, part, for_space, waiter.addr)
            try:
                waiter.wait(min(wait, _RECHECK))
            finally:
                self._conn.write(sql.remove_waiters, [wid])
        finally:
            self._give_back(waiter)

    def queue_give_back(self, object_id: str, part: bytes, items: Sequence[bytes], *, ttl: float) -> None:
        _validate.check_ttl(ttl)
        waiters = self._conn.write(queue_front.queue_give_back, object_id, part, items, ttl, time.time())
        if waiters:
            self._wake(waiters)

    def queue_len(self, object_id: str, part: bytes | None) -> int:
        return self._conn.read(queue_sql.queue_len, object_id, part, time.time())

    def queue_clear(self, object_id: str, part: bytes | None) -> None:
        waiters = self._conn.write(queue_sql.queue_clear, object_id, part)
        if waiters:
            self._wake(waiters)

    def queue_scan(self, object_id: str, part: bytes, after: int, limit: int) -> list[tuple[int, bytes]]:
        return self._conn.read(queue_sql.queue_scan, object_id, part, after, limit, time.time())

    def queue_partitions(self, object_id: str) -> list[PartitionInfo]:
        return self._conn.read(queue_sql.queue_partitions, object_id, time.time())

    # -- key/value -------------------------------------------------------------------------

    def kv_get(self, object_id: str, key: bytes) -> bytes | None:
        return self._conn.read(sql.kv_get, object_id, key)

    def kv_contains(self, object_id: str, key: bytes) -> bool:
        return self._conn.read(sql.kv_contains, object_id, key)

    def kv_put(self, object_id: str, items: Sequence[tuple[bytes, bytes]], *, only_new: bool) -> bool:
        return self._conn.write(sql.kv_put, object_id, items, only_new)

    def kv_pop(self, object_id: str, key: bytes) -> bytes | None:
        return self._conn.write(sql.kv_pop, object_id, key)

    def kv_len(self, object_id: str) -> int:
        return self._conn.read(sql.kv_len, object_id)

    def kv_scan(self, object_id: str, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        return self._conn.read(sql.kv_scan, object_id, after, limit)

    def kv_clear(self, object_id: str) -> None:
        self._conn.write(sql.kv_clear, object_id)

    # -- jobs --------------------------------------------------------------------------------

    def job_deploy(self, env: str, app: str, functions: Sequence[tuple[str, bytes]]) -> None:
        self._conn.write(jobs_sql.deploy, env, app, functions, time.time())

    def job_functions(self, env: str, app: str | None = None) -> list[FunctionRecord]:
        return self._conn.read(jobs_sql.functions, env, app)

    def job_stats(self, env: str, app: str, function: str) -> FunctionStats:
        return self._conn.read(jobs_sql.stats, env, app, function, time.time())

    def job_submit(self, req: SubmitRequest) -> str:
        call_id, waiters = self._conn.write(jobs_sql.submit, req, time.time())
        if waiters:
            self._wake(waiters)
        return call_id

    def job_claim(self, req: ClaimRequest) -> list[CallRecord]:
        calls, waiters = self._conn.write(jobs_sql.claim, req, time.time())
        if waiters:
            self._wake(waiters)
        return calls

    def job_submit_many(self, reqs: Sequence[SubmitRequest]) -> list[str]:
        if not reqs:
            return []
        ids, waiters = self._conn.write(jobs_batch.submit_many, reqs, time.time())
        if waiters:
            self._wake(waiters)
        return ids

    def job_complete(
        self, items: Sequence[CompleteRequest], claim: ClaimRequest | None = None
    ) -> tuple[list[bool], list[CallRecord]]:
        written, calls, waiters = self._conn.write(jobs_batch.complete, items, claim, time.time())
        if waiters:
            self._wake(waiters)
        return written, calls

    def job_heartbeat_many(self, attempts: Sequence[tuple[str, int]], lease: float) -> list[bool]:
        if not attempts:
            return []
        return self._conn.write(jobs_batch.heartbeat_many, attempts, lease, time.time())

    def job_get_many(self, call_ids: Sequence[str]) -> list[CallRecord | None]:
        if not call_ids:
            return []
        return self._conn.read(jobs_batch.get_many, call_ids, time.time())

    def job_wait_for_work(
        self, env: str, app: str, functions: Sequence[str], *, wait: float
    ) -> list[str] | None:
        if wait <= 0:
            return None
        channels = tuple(jobs_sql.work_channel(env, app, f) for f in functions)
        entry = self._work_waiters.get(channels)
        if entry is None:
            # Registered once and kept until close: a submit that lands between two calls finds
            # the registration and its datagram waits in the socket, so no wake-up is lost.
            waiter = Waiter()
            ids = [self._conn.write(sql.add_waiter, ch, b"", False, waiter.addr) for ch in channels]
            entry = self._work_waiters[channels] = (waiter, dict(zip(ids, functions, strict=True)))
        waiter, names = entry
        if not waiter.wait(min(wait, _RECHECK)):
            return []
        # Each datagram names the waiter row (the function) whose submit sent it: the worker
        # claims for those alone (claiming for all six functions of an app cost a lone call
        # five extra transactions before its result was read).
        woken = waiter.woken_by
        if not woken or not woken <= names.keys():
            return None
        return sorted({names[i] for i in woken})

    def _wait_on(self, channels: Sequence[str], wait: float, call_id: str | None) -> None:
        if wait <= 0:
            return
        waiter = Waiter()
        try:
            ids = [self._conn.write(sql.add_waiter, ch, b"", False, waiter.addr) for ch in channels]
            try:
                # Registered first, then checked: a finish committed in between is seen here.
                if call_id is None or not self._conn.read(jobs_sql.is_terminal, call_id):
                    waiter.wait(min(wait, _RECHECK))
            finally:
                self._conn.write(sql.remove_waiters, ids)
        finally:
            waiter.close()

    def job_heartbeat(self, call_id: str, attempt: int, lease: float) -> bool:
        return self._conn.write(jobs_sql.heartbeat, call_id, attempt, lease, time.time())

    def job_finish(
        self, call_id: str, attempt: int, state: CallState, result: bytes, *, error: str | None = None
    ) -> bool:
        if state not in (CallState.SUCCEEDED, CallState.FAILED):
            raise ValueError(f"job_finish ends a call with SUCCEEDED or FAILED, not {state}")
        ok, waiters = self._conn.write(jobs_sql.finish, call_id, attempt, state, result, error, time.time())
        if waiters:
            self._wake(waiters)
        return ok

    def job_retry(self, call_id: str, attempt: int, *, delay: float, error: str) -> bool:
        ok, waiters = self._conn.write(jobs_sql.retry, call_id, attempt, delay, error, time.time())
        if waiters:
            self._wake(waiters)
        return ok

    def job_release(self, call_id: str, attempt: int) -> bool:
        ok, waiters = self._conn.write(jobs_sql.release, call_id, attempt, time.time())
        if waiters:
            self._wake(waiters)
        return ok

    def job_cancel(self, call_id: str, *, result: bytes) -> bool:
        ok, waiters = self._conn.write(jobs_sql.cancel, call_id, result, time.time())
        if waiters:
            self._wake(waiters)
        return ok

    def job_get(self, call_id: str) -> CallRecord | None:
        return self._conn.read(jobs_sql.get, call_id, time.time())

    def job_wait(self, call_id: str, *, wait: float, unfinished: bool = False) -> None:
        # The state is read anyway: after the waiter is registered, so no finish is missed.
        self._wait_on([call_id], wait, call_id)

    def job_list(
        self,
        env: str,
        *,
        app: str | None = None,
        function: str | None = None,
        state: CallState | None = None,
        limit: int = 100,
    ) -> list[CallRecord]:
        return self._conn.read(jobs_sql.list_calls, env, app, function, state, limit, time.time())

    def job_requeue(self, call_id: str) -> bool:
        ok, waiters = self._conn.write(jobs_control.requeue, call_id, time.time())
        self._wake(waiters)
        return ok

    def job_set_progress(self, call_id: str, progress: str) -> bool:
        return self._conn.write(jobs_control.set_progress, call_id, progress)

    def job_schedules(self, env: str, app: str | None = None) -> list[ScheduleRecord]:
        return self._conn.read(jobs_control.schedules, env, app)

    def job_schedule_init(
        self, env: str, app: str, function: str, sig: str, next_at: float
    ) -> ScheduleRecord:
        return self._conn.write(jobs_control.schedule_init, env, app, function, sig, next_at)

    def job_schedule_update(
        self, env: str, app: str, function: str, *, paused: bool | None = None, next_at: float | None = None
    ) -> bool:
        return self._conn.write(jobs_control.schedule_update, env, app, function, paused, next_at)

    def job_schedule_tick(self, req: SubmitRequest, due: float, following: float) -> bool:
        ok, waiters = self._conn.write(jobs_control.schedule_tick, req, due, following, time.time())
        self._wake(waiters)
        return ok

    def worker_beat(self, env: str, worker_id: str, info: bytes, *, ttl: float) -> None:
        self._conn.write(jobs_sql.worker_beat, env, worker_id, info, time.time() + ttl)

    def worker_gone(self, env: str, worker_id: str) -> None:
        self._conn.write(jobs_sql.worker_gone, env, worker_id)

    def worker_list(self, env: str) -> list[tuple[str, bytes]]:
        return self._conn.read(jobs_sql.worker_list, env, time.time())

    # -- call logs -------------------------------------------------------------------------

    def call_logs_append(self, chunks: Sequence[LogChunk], *, max_bytes: int) -> None:
        now = time.time()
        rows = [(c.call_id, c.attempt, c.data, now + c.ttl) for c in chunks if c.data]
        if rows:
            self._conn.write(logs_sql.append, rows, max_bytes)

    def call_logs(self, call_id: str) -> list[tuple[int, bytes]]:
        return self._conn.read(logs_sql.read, call_id, time.time())

    # -- lifecycle -------------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def ping(self) -> None:
        self._conn.read(lambda c: c.execute("SELECT 1").fetchone())

    def close(self) -> None:
        waiters, self._work_waiters = self._work_waiters, {}
        for waiter, names in waiters.values():
            with contextlib.suppress(Exception):
                self._conn.write(sql.remove_waiters, list(names))
            waiter.close()
        idle, self._idle_waiters = self._idle_waiters, []
        for waiter in idle:
            waiter.close()
        self._conn.close()
