"""Key layout of the Redis/Valkey backend, and decoders of its scripts' replies (pure: no I/O).

The scripts themselves are files in ``chute/backends/lua/``, loaded by ``_redis_scripts``.

Key layout (``P`` is the key prefix, ``chute:`` by default)::

    P{registry}:names               HASH  "<kind>\\0<env>\\0<name>" -> object id
    P{registry}:obj:<id>            HASH  info (JSON), ct (created_at, "sec.usec" from TIME),
                                          nf (its field in names), lk (its by-list key)
    P{registry}:by:<kind>:<env>     ZSET  id -> created_at, named non-ephemeral objects only
    P{registry}:ephemeral           ZSET  id -> heartbeat deadline (ms)
    P{<id>}:m                       STRING  marker: the object exists (value = kind)
    P{<id>}:seq                     STRING  INCR counter of queue items, never reset
    P{<id>}:parts                   ZSET  partition key -> expiry (ms)
    P{<id>}:p:<partition>           LIST  8-byte big-endian seq + item, oldest first
    P{<id>}:kv                      HASH  dict key -> value
    P{<id>}:kz                      ZSET  dict keys, score 0, for ordered (BYLEX) scans

Jobs (function calls) live in one hash slot per function, so the functions of a Redis Cluster
spread over its masters. A function's slot is named by its *tag* (``_call_tags.function_tag``:
4 alphanumerics derived from env, app and function); ``T`` is ``P{jobs:<tag>}:``, ``F`` is
``T f:<env>:<app>:<function>:`` (names cannot contain ``:``). Functions whose tags collide
share the ``T`` keys (seq, expiring, tomb, orphans), never their ``F`` keys. Job times are
whole microseconds of server ``TIME``::

    T seq                           STRING  INCR counter: creation order of the slot's calls
    T call:<id>                     HASH  the call: env app fn st att fail lost ct sa fa ea w err
                                          res pl pr (priority) pg (progress JSON) as (the
                                          arguments summary, "" if none), plus ttl
                                          (result TTL), seq, fk (F), ik (its idempotency key
                                          or ""), lc (its locator or ""), ck (its concurrency
                                          key or "")
    T done:<id>                     LIST  one token, pushed when the call turns terminal
    T idem:<env>:<app>:<fn>:<key>   STRING  call id; expires with the call's result
    T expiring                      ZSET  "<id>\\0<env>\\0<app>\\0<fn>" -> expires_at
    T tomb                          ZSET  same members -> expires_at + CALL_TOMBSTONE
    T orphans                       LIST  locators (names of keys in other slots) of swept
                                          records, deleted by collect_garbage
    T loc:<id>                      STRING  the tag of the slot that holds call <id>, for ids
                                          whose own tag (``home_tag``) is this one but whose
                                          function's is not (ids not made by chute)
    F pending                       ZSET  call id -> seq - priority * 2**40: claimable now
                                          (calls without a concurrency key), best first
    F delayed                       ZSET  call id -> end of its delay or retry backoff (claim
                                          moves the due ones to F pending or F kq:<key>)
    F kq:<key>                      ZSET  like F pending, the calls of one concurrency key
    F keys                          ZSET  concurrency key -> turn it was last served (round-robin)
    F keyed                         SET   pending calls in some F kq:<key> (for counts)
    F krun                          HASH  concurrency key -> its running calls
    F turn                          STRING  counter of the round-robin
    F starts                        ZSET  "<id>:<attempt>" -> start, the rate-limit window
    F sched                         HASH  schedule: sig next paused last lastcall (us)
    F running                       ZSET  call id -> lease deadline
    F all                           ZSET  call id -> seq, for job_list
    F succeeded|failed|cancelled    ZSET  call id -> expires_at, for job_stats
    F wake                          LIST  tokens for job_wait_for_work (BLPOP), kept short

What spans functions lives in one small slot, ``J`` = ``P{jobs}:``, touched by deploys, worker
beats, listings and once per function and process by a submit (never per call)::

    J fns:<env>                     HASH  "<app>\\0<function>" -> "<deployed_at> <spec JSON>"
    J fcalls:<env>                  HASH  "<app>\\0<function>" -> tag, every function with calls
                                          (job_list merges their F all indexes)
    J tags                          HASH  tag -> "1", every tag in use (collect_garbage sweeps
                                          each slot)
    J workers:<env>                 ZSET  worker id -> deadline of its last beat
    J winfo:<env>                   HASH  worker id -> info (JSON)
    J poke:<env>:<worker>           LIST  a token ends the worker's blocking waits
                                          (standalone servers only; expires in a minute)

A call is found by its id: chute's ids carry their function's tag (``fc-<tag>…``), so
``T call:<id>`` is read at once. An id made elsewhere is stored in its function's slot with a
locator in the slot of its own tag; the backend reads the call there first and follows the
locator when the call is not there.

A terminal call's record and done list expire natively (PEXPIREAT) at expires_at +
``CALL_TOMBSTONE``; ``expiring`` and ``tomb`` let ``collect_garbage`` (and, a few entries at a
time, every submit) drop expired results early and clean the index entries of gone records.

Everything about one object shares the hash tag ``{<id>}``, the registry shares
``{registry}``, each function's calls ``{jobs:<tag>}`` and the cross-function job indexes
``{jobs}``, so under Redis Cluster every script runs on exactly one slot. Scripts get every
key they can be told in KEYS. Keys whose names they only learn while running (the lists of a
queue's partitions, the records of ids read from an index, the keys of the function a call
belongs to) are built on a prefix that is passed in KEYS too (``part_prefix``, ``obj_prefix``,
``jobs_prefix``: Redis and the cluster client check that it is in the script's slot, and it
ends after the hash tag), or are key names stored by the script that declared them (``fk``,
``lk``, ``ik`` fields). ``tests/test_lua_scripts.py`` enforces this.

Times come from ``TIME`` inside the scripts, never from a client, so clients with skewed
clocks agree on TTLs and heartbeats. Scripts signal a missing object with an error reply
containing ``NOT_FOUND_TOKEN``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chute.backends._call_tags import function_tag
from chute.backends.types import CallRecord, CallState, Kind, ObjectInfo

NOT_FOUND_TOKEN = "CHUTE_NOTFOUND"
SEQ_BYTES = 8
REGISTRY_TAG = "{registry}"
JOBS_TAG = "{jobs}"


@dataclass(frozen=True)
class ObjectKeys:
    """The keys of one object, all in the slot of ``{<id>}``."""

    base: bytes

    @property
    def marker(self) -> bytes:
        return self.base + b"m"

    @property
    def seq(self) -> bytes:
        return self.base + b"seq"

    @property
    def parts(self) -> bytes:
        return self.base + b"parts"

    @property
    def part_prefix(self) -> bytes:
        return self.base + b"p:"

    def part(self, part: bytes) -> bytes:
        return self.part_prefix + part

    @property
    def kv(self) -> bytes:
        return self.base + b"kv"

    @property
    def kz(self) -> bytes:
        return self.base + b"kz"


@dataclass(frozen=True)
class RegistryKeys:
    """The registry's keys, all in the slot of ``{registry}``."""

    base: bytes

    @property
    def names(self) -> bytes:
        return self.base + b"names"

    @property
    def ephemeral(self) -> bytes:
        return self.base + b"ephemeral"

    @property
    def obj_prefix(self) -> bytes:
        return self.base + b"obj:"

    def obj(self, object_id: str) -> bytes:
        return self.obj_prefix + object_id.encode()

    def by(self, kind: str, env: str) -> bytes:
        return self.base + f"by:{kind}:{env}".encode()


@dataclass(frozen=True)
class JobKeys:
    """The job keys that span functions, all in the slot of ``{jobs}``."""

    base: bytes
    prefix: str

    @property
    def tags(self) -> bytes:
        return self.base + b"tags"

    def fns(self, env: str) -> bytes:
        return self.base + f"fns:{env}".encode()

    def fcalls(self, env: str) -> bytes:
        return self.base + f"fcalls:{env}".encode()

    def workers(self, env: str) -> bytes:
        return self.base + f"workers:{env}".encode()

    def winfo(self, env: str) -> bytes:
        return self.base + f"winfo:{env}".encode()

    def poke(self, env: str, worker: str) -> bytes:
        """LIST a worker's blocking waits also watch: a token ends them (``job_end_waits``)."""
        return self.base + f"poke:{env}:{worker}".encode()

    def shard(self, tag: str) -> ShardKeys:
        """The keys of the slot named by ``tag``."""
        return ShardKeys(f"{self.prefix}{{jobs:{tag}}}:".encode())

    def of_function(self, env: str, app: str, function: str) -> ShardKeys:
        return self.shard(function_tag(env, app, function))


@dataclass(frozen=True)
class ShardKeys:
    """The keys of the calls of the functions with one tag, all in the slot of ``{jobs:<tag>}``."""

    base: bytes

    @property
    def jobs_prefix(self) -> bytes:
        """The prefix of every key of the slot (``T``), for scripts that build the names of keys
        they only learn while running (a call id read from an index)."""
        return self.base

    @property
    def seq(self) -> bytes:
        return self.base + b"seq"

    @property
    def expiring(self) -> bytes:
        return self.base + b"expiring"

    @property
    def tomb(self) -> bytes:
        return self.base + b"tomb"

    @property
    def orphans(self) -> bytes:
        return self.base + b"orphans"

    def call(self, call_id: str) -> bytes:
        return self.base + f"call:{call_id}".encode()

    def done(self, call_id: str) -> bytes:
        return self.base + f"done:{call_id}".encode()

    def logs(self, call_id: str) -> bytes:
        return self.base + f"logs:{call_id}".encode()

    def loc(self, call_id: str) -> bytes:
        return self.base + f"loc:{call_id}".encode()

    def idem(self, env: str, app: str, function: str, key: str) -> bytes:
        return self.base + f"idem:{env}:{app}:{function}:{key}".encode()

    def fn(self, env: str, app: str, function: str) -> bytes:
        """The prefix of one function's keys (``F``; must match ``lua/includes/fbase.lua``)."""
        return self.base + f"f:{env}:{app}:{function}:".encode()

    def fn_prefix(self, env: str, app: str, function: str) -> bytes:
        """``fn`` passed as a prefix: for a script that names keys it learns while running
        (job_claim's per-concurrency-key sets, ``F kq:<key>``)."""
        return self.fn(env, app, function)


def object_keys(prefix: str, object_id: str) -> ObjectKeys:
    return ObjectKeys(f"{prefix}{{{object_id}}}:".encode())


def registry_keys(prefix: str) -> RegistryKeys:
    return RegistryKeys(f"{prefix}{REGISTRY_TAG}:".encode())


def job_keys(prefix: str) -> JobKeys:
    return JobKeys(f"{prefix}{JOBS_TAG}:".encode(), prefix)


def name_field(kind: str, env: str, name: str) -> bytes:
    # NUL cannot occur in a valid name or env, so fields of different (kind, env, name) differ.
    return f"{kind}\0{env}\0{name}".encode()


def split_seq(item: bytes) -> tuple[int, bytes]:
    return int.from_bytes(item[:SEQ_BYTES], "big"), item[SEQ_BYTES:]


# -- decoders of script replies -------------------------------------------------------------


def decode_info(object_id: bytes | str, info: bytes | str, created_at: bytes | str | None) -> ObjectInfo:
    """An ObjectInfo from an object's id and its hash's ``info`` and ``ct`` fields."""
    d = json.loads(info)
    return ObjectInfo(
        id=object_id.decode() if isinstance(object_id, bytes) else object_id,
        kind=Kind(d["kind"]),
        env=d["env"],
        name=d["name"],
        created_at=float(created_at or 0),
        created_by=d["created_by"],
        ephemeral=d["ephemeral"],
        max_items=d["max_items"],
    )


def _str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


def _time(raw: bytes | None) -> float | None:
    return None if raw is None else int(raw) / 1e6


def decode_call(v: Sequence[Any]) -> CallRecord:
    """A CallRecord from a script's ``{id, env, app, fn, st, att, fail, lost, ct, sa, fa, ea, w,
    err, res, pl, pr, pg, as}`` (``view`` in ``lua/includes/view.lua``)."""
    return CallRecord(
        id=v[0].decode(),
        env=v[1].decode(),
        app=v[2].decode(),
        function=v[3].decode(),
        state=CallState(v[4].decode()),
        attempts=int(v[5]),
        failures=int(v[6]),
        lost=int(v[7]),
        created_at=int(v[8]) / 1e6,
        started_at=_time(v[9]),
        finished_at=_time(v[10]),
        expires_at=_time(v[11]),
        worker=_str(v[12]),
        error=_str(v[13]),
        result=v[14],
        payload=v[15],
        priority=int(v[16] or 0),
        progress=_str(v[17]),
        args_summary=_str(v[18]) or None,  # "": submitted without one; missing: by older code
    )


# Longest single blocking command; longer waits loop. The blocking pool's socket timeout is
# this plus at most 1 s, so a stalled or dead server is noticed within about a second of a
# blocking call's own timeout (a paused server must not stretch get(timeout=1) to minutes).
BLOCK_CHUNK = 1.0


def ms(seconds: float) -> int:
    """Whole milliseconds, at least one."""
    return max(1, math.ceil(seconds * 1000))


def us(seconds: float) -> int:
    """Whole microseconds (the unit of every time the Lua scripts take), at least zero."""
    return max(0, math.ceil(seconds * 1_000_000))


def chunk(remaining: float) -> float:
    """One blocking command's timeout: at most ``BLOCK_CHUNK``, in whole milliseconds, at
    least one (the server rounds a blocking timeout down, and 0 would block forever)."""
    return max(math.ceil(min(remaining, BLOCK_CHUNK) * 1000), 1) / 1000
