"""Scenario 15: one hypothesis state machine drives a model, SQLite and Redis in lockstep.

Every rule runs the same Queue/Dict operation on both backends and on a plain-Python model
and requires the three outcomes (return value, or queue.Full / queue.Empty / KeyError) to be
equal. Limits are tiny (6 items per partition, 3 live partitions) so that refusals happen.

Partition expiry runs on real time (Redis TTLs come from the server's clock, which a test
cannot move): ``put_short`` uses a 0.15 s ``partition_ttl``. The model knows the window in
which each short partition expires on both backends, and before every step waits until no
partition is within ``GUARD`` of that window, so each observation has one right answer. A
step that took so long that it overlapped a window anyway is not compared, and the queue is
reset to empty on both backends and in the model (counted as a resync).
"""

from __future__ import annotations

import queue as stdlib_queue
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import chute
from chute._client import Client
from chute.config import Limits, Settings
from tests.chaos._tally import Tally

MAX_ITEMS, MAX_PARTS = 6, 3
SHORT_TTL = 0.15
GUARD = 0.05  # no step starts within this much of an expiry window...
AFTER = 0.02  # ...or until this long after it (clock differences, rounding to ms)
LONG_TTL = 3600.0

PARTITIONS = st.sampled_from([None, "a", "b", "ü"])
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=6), st.none(), st.binary(max_size=6))
KEYS = st.one_of(
    st.sampled_from(["a", "b", "c", "ü"]), st.integers(-2, 2), st.tuples(st.just("t"), st.integers(0, 1))
)
OUTCOME_EXC = (stdlib_queue.Full, stdlib_queue.Empty, KeyError)


@dataclass
class Part:
    items: deque[Any] = field(default_factory=deque)
    window: tuple[float, float] | None = None  # monotonic [earliest, latest] expiry; None = long TTL


def _mk(key: Any) -> tuple[type, Any]:
    return (type(key), key)


class Both:
    """The handles of one example on both backends, created and deleted with it."""

    clients: dict[str, Client] = {}

    def __init__(self) -> None:
        self.ctx = {
            b: (chute.Queue.ephemeral(c), chute.Dict.ephemeral(client=c)) for b, c in self.clients.items()
        }
        self.q = {b: qc.__enter__() for b, (qc, _) in self.ctx.items()}
        self.d = {b: dc.__enter__() for b, (_, dc) in self.ctx.items()}

    def close(self) -> None:
        for qc, dc in self.ctx.values():
            qc.__exit__(None, None, None)
            dc.__exit__(None, None, None)


def outcome(f: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", f())
    except OUTCOME_EXC as exc:
        return ("raises", type(exc).__name__)


class QueueDictFuzz(RuleBasedStateMachine):
    # Counters over the whole run, for the tally.
    examples = steps = resyncs = expiries = refusals = 0
    divergences: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        self.both = Both()
        self.parts: dict[str | None, Part] = {}
        self.dict: dict[tuple[type, Any], Any] = {}
        self._start = 0.0

    def teardown(self) -> None:
        self.both.close()

    # -- lockstep ----------------------------------------------------------------------------

    def _settle(self) -> None:
        """Wait until no short partition is near its expiry; expire those past it in the model."""
        while True:
            now = time.monotonic()
            busy = [
                p.window
                for p in self.parts.values()
                if p.window and p.window[0] - GUARD <= now <= p.window[1] + AFTER
            ]
            if not busy:
                break
            time.sleep(max(w[1] for w in busy) + AFTER - now + 0.001)
        now = time.monotonic()
        for key in [k for k, p in self.parts.items() if p.window and now > p.window[1] + AFTER]:
            del self.parts[key]
            type(self).expiries += 1
        self._start = now
        type(self).steps += 1

    def _ran_into_expiry(self) -> bool:
        """Whether the step just run overlapped an expiry window after all (a very slow step)."""
        now = time.monotonic()
        return any(p.window and now >= p.window[0] for p in self.parts.values())

    def _resync(self) -> None:
        """After an ambiguous queue step: empty the queue on both backends and in the model.

        Deterministic whatever happened, so hypothesis sees the same rules drawn on replay
        (``assume`` on a timing condition would make the run flaky for it)."""
        type(self).resyncs += 1
        for q in self.both.q.values():
            q.clear(all=True)
        self.parts.clear()

    def _run(
        self, what: str, op: Callable[[Any, Any], Any], expected: tuple[str, Any], timed: bool = True
    ) -> bool:
        """Run ``op`` on both backends and compare with the model. False (nothing compared, queue
        state reset) when a queue step ran into an expiry window: its outcome is ambiguous."""
        got = [outcome(lambda b=b: op(self.both.q[b], self.both.d[b])) for b in self.both.clients]
        if timed and self._ran_into_expiry():
            self._resync()
            return False
        if not got[0] == got[1] == expected:
            msg = f"{what}: model {expected!r}, sqlite {got[0]!r}, redis {got[1]!r}"
            type(self).divergences.append(msg)
            raise AssertionError(msg)
        return True

    # -- queue -------------------------------------------------------------------------------

    def _live(self) -> int:
        return len(self.parts)

    def _put(self, p: str | None, vs: list[Any], ttl: float, many: bool) -> None:
        self._settle()
        part = self.parts.get(p)
        if part is None:
            fits = len(vs) <= MAX_ITEMS and self._live() < MAX_PARTS
        else:
            fits = len(part.items) + len(vs) <= MAX_ITEMS
        if not vs:
            expected: tuple[str, Any] = ("ok", None)
        else:
            expected = ("ok", None) if fits else ("raises", "Full")
            type(self).refusals += not fits
        t0 = time.monotonic()
        if many:
            ok = self._run(
                f"put_many({vs!r}, {p!r}, ttl={ttl})",
                lambda q, d: q.put_many(vs, block=False, partition=p, partition_ttl=ttl),
                expected,
            )
        else:
            ok = self._run(
                f"put({vs[0]!r}, {p!r}, ttl={ttl})",
                lambda q, d: q.put(vs[0], block=False, partition=p, partition_ttl=ttl),
                expected,
            )
        t1 = time.monotonic()
        if ok and vs and fits:
            part = self.parts.setdefault(p, Part())
            part.items.extend(vs)
            part.window = None if ttl == LONG_TTL else (t0 + ttl, t1 + ttl)

    @rule(v=VALUES, p=PARTITIONS)
    def put(self, v: Any, p: str | None) -> None:
        self._put(p, [v], LONG_TTL, many=False)

    @rule(vs=st.lists(VALUES, max_size=4), p=PARTITIONS)
    def put_many(self, vs: list[Any], p: str | None) -> None:
        self._put(p, vs, LONG_TTL, many=True)

    @rule(vs=st.lists(VALUES, min_size=1, max_size=3), p=PARTITIONS)
    def put_short(self, vs: list[Any], p: str | None) -> None:
        self._put(p, vs, SHORT_TTL, many=len(vs) > 1)

    @rule(p=PARTITIONS)
    def get(self, p: str | None) -> None:
        self._settle()
        part = self.parts.get(p)
        expected = ("ok", part.items[0] if part and part.items else None)
        ok = self._run(f"get({p!r})", lambda q, d: q.get(block=False, partition=p), expected)
        if ok and part and part.items:
            part.items.popleft()

    @rule(p=PARTITIONS)
    def get_blocking(self, p: str | None) -> None:
        self._settle()
        part = self.parts.get(p)
        expected = ("ok", part.items[0]) if part and part.items else ("raises", "Empty")
        ok = self._run(f"get(timeout=0.01, {p!r})", lambda q, d: q.get(timeout=0.01, partition=p), expected)
        if ok and part and part.items:
            part.items.popleft()

    @rule(n=st.integers(1, 8), p=PARTITIONS, block=st.booleans())
    def get_many(self, n: int, p: str | None, block: bool) -> None:
        self._settle()
        part = self.parts.get(p)
        items = list(part.items)[:n] if part else []
        if block:
            expected: tuple[str, Any] = ("ok", items) if items else ("raises", "Empty")
            op = lambda q, d: q.get_many(n, timeout=0.01, partition=p)  # noqa: E731
        else:
            expected = ("ok", items)
            op = lambda q, d: q.get_many(n, block=False, partition=p)  # noqa: E731
        if self._run(f"get_many({n}, {p!r}, block={block})", op, expected):
            for _ in items:
                assert part is not None
                part.items.popleft()

    @rule(p=PARTITIONS)
    def len_(self, p: str | None) -> None:
        self._settle()
        part = self.parts.get(p)
        self._run(f"len({p!r})", lambda q, d: q.len(partition=p), ("ok", len(part.items) if part else 0))

    @rule()
    def len_total(self) -> None:
        self._settle()
        total = sum(len(p.items) for p in self.parts.values())
        self._run("len(total=True)", lambda q, d: q.len(total=True), ("ok", total))

    @rule(p=PARTITIONS)
    def iterate(self, p: str | None) -> None:
        self._settle()
        part = self.parts.get(p)
        self._run(
            f"iterate({p!r})",
            lambda q, d: list(q.iterate(partition=p)),
            ("ok", list(part.items) if part else []),
        )

    @rule()
    def partitions(self) -> None:
        self._settle()
        expected = sorted(((k or "", len(p.items)) for k, p in self.parts.items()))
        self._run(
            "partitions()", lambda q, d: sorted((k or "", n) for k, n, _ in q.partitions()), ("ok", expected)
        )

    @rule(p=PARTITIONS)
    def clear(self, p: str | None) -> None:
        self._settle()
        self._run(f"clear({p!r})", lambda q, d: q.clear(partition=p), ("ok", None))
        self.parts.pop(p, None)

    @rule()
    def clear_all(self) -> None:
        self._settle()
        self._run("clear(all=True)", lambda q, d: q.clear(all=True), ("ok", None))
        self.parts.clear()

    @rule()
    def wait_for_expiry(self) -> None:
        """Let every short partition expire (the only rule that sleeps on purpose; no precondition:
        whether a partition is still live depends on time, and hypothesis must replay draws)."""
        latest = max((p.window[1] for p in self.parts.values() if p.window), default=0.0)
        time.sleep(max(0.0, latest + AFTER - time.monotonic() + 0.001))
        self._settle()

    # -- dict --------------------------------------------------------------------------------

    @rule(k=KEYS, v=VALUES, skip=st.booleans())
    def d_put(self, k: Any, v: Any, skip: bool) -> None:
        self._settle()
        stored = not (skip and _mk(k) in self.dict)
        self._run(
            f"dict put({k!r}, {v!r}, skip_if_exists={skip})",
            lambda q, d: d.put(k, v, skip_if_exists=skip),
            ("ok", stored),
            timed=False,
        )
        if stored:
            self.dict[_mk(k)] = v

    @rule(k=KEYS)
    def d_get(self, k: Any) -> None:
        self._settle()
        expected = ("ok", self.dict.get(_mk(k), "<missing>"))
        self._run(f"dict get({k!r})", lambda q, d: d.get(k, "<missing>"), expected, timed=False)

    @rule(k=KEYS)
    def d_getitem(self, k: Any) -> None:
        self._settle()
        expected = ("ok", self.dict[_mk(k)]) if _mk(k) in self.dict else ("raises", "KeyError")
        self._run(f"dict [{k!r}]", lambda q, d: d[k], expected, timed=False)

    @rule(k=KEYS)
    def d_pop(self, k: Any) -> None:
        self._settle()
        expected = ("ok", self.dict[_mk(k)]) if _mk(k) in self.dict else ("raises", "KeyError")
        self._run(f"dict pop({k!r})", lambda q, d: d.pop(k), expected, timed=False)
        self.dict.pop(_mk(k), None)

    @rule(kv=st.dictionaries(KEYS, VALUES, max_size=4))
    def d_update(self, kv: dict[Any, Any]) -> None:
        self._settle()
        self._run(f"dict update({kv!r})", lambda q, d: d.update(kv), ("ok", None), timed=False)
        self.dict.update({_mk(k): v for k, v in kv.items()})

    @rule(k=KEYS)
    def d_contains(self, k: Any) -> None:
        self._settle()
        self._run(
            f"dict contains({k!r})", lambda q, d: d.contains(k), ("ok", _mk(k) in self.dict), timed=False
        )

    @rule()
    def d_clear(self) -> None:
        self._settle()
        self._run("dict clear()", lambda q, d: d.clear(), ("ok", None), timed=False)
        self.dict.clear()

    @invariant()
    def d_len_and_items(self) -> None:
        self._settle()
        expected = sorted(((repr(k[1]), repr(v)) for k, v in self.dict.items()))
        self._run("dict len()", lambda q, d: d.len(), ("ok", len(self.dict)), timed=False)
        items = lambda q, d: sorted((repr(k), repr(v)) for k, v in d.items())  # noqa: E731
        self._run("dict items()", items, ("ok", expected), timed=False)


@pytest.fixture
def fuzz_clients(redis_srv: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Client]]:
    limits = Limits(max_partition_items=MAX_ITEMS, max_partitions=MAX_PARTS)
    urls = {
        "sqlite": f"sqlite://{tmp_path_factory.mktemp('fuzz')}/chute.db",
        "redis": f"{redis_srv.url}?prefix=fuzz{uuid.uuid4().hex[:8]}:",
    }
    clients = {b: Client(Settings.from_env(url=u, limits=limits)) for b, u in urls.items()}
    yield clients
    for c in clients.values():
        c.close()


@pytest.mark.timeout(400)
def test_model_fuzz_sqlite_redis(fuzz_clients: dict[str, Client], tally: Tally) -> None:
    """>= 200 examples x 50 steps of Queue and Dict operations: model, SQLite and Redis agree."""
    tally.scenario, tally.backend = "15 model fuzz (model=sqlite=redis)", "both"
    Both.clients = fuzz_clients
    fuzz = QueueDictFuzz
    fuzz.examples = fuzz.steps = fuzz.resyncs = fuzz.expiries = fuzz.refusals = 0
    QueueDictFuzz.divergences = []
    try:
        run_state_machine_as_test(
            QueueDictFuzz,
            settings=settings(max_examples=200, stateful_step_count=50, deadline=None, database=None),
        )
    finally:
        tally.acked = tally.received = fuzz.steps
        tally.unexpected = len(fuzz.divergences)
        tally.extra.update(
            examples=fuzz.examples,
            steps=fuzz.steps,
            expiries=fuzz.expiries,
            refusals=fuzz.refusals,
            resyncs=fuzz.resyncs,
        )
        if fuzz.divergences:
            tally.extra["first_divergence"] = repr(fuzz.divergences[0])
