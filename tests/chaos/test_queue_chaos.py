"""Scenarios 1-3 (2b-2d: write-behind): queue conservation under concurrency, and producers/consumers
killed with -9.

Children are forked from the test process (milliseconds per start). Each child appends to an
``AckLog`` only after a chute call returned, so the parent knows exactly which operations were
acknowledged when the child was killed.
"""

from __future__ import annotations

import pickle
import queue as stdlib_queue
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

import chute
from chute._readahead import READ_AHEAD_MAX
from tests.chaos._tally import Tally
from tests.chaos._util import AckLog, check_item, drain, fork, kill9, make_item, quiesce

PARTS8: list[str | None] = [f"p{i}" for i in range(8)]


@pytest.fixture
def big_partitions(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """No partition cap in the way of the accounting (children inherit the environment)."""
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "10000000")
    return chute_env


# -- 1. conservation -------------------------------------------------------------------------

N_PRODUCERS, N_ITEMS, N_CONSUMERS = 4, 5000, 4


def _produce(qname: str, log_path: Path, producer: int, seed: int) -> None:
    rng = random.Random(seed)
    q = chute.Queue.from_name(qname)
    log = AckLog(log_path)
    seq = 0
    while seq < N_ITEMS:
        n = min(rng.choice([1, 1, 3, 10, 50]), N_ITEMS - seq)
        part = rng.randrange(len(PARTS8))
        # index = partition number, so a consumer can tell where an item was put.
        items = [make_item(producer, seq + i, part) for i in range(n)]
        if n == 1:
            q.put(items[0], partition=PARTS8[part])
        else:
            q.put_many(items, partition=PARTS8[part])
        log.write("A", seq, n, part)
        seq += n


def _consume(qname: str, log_path: Path, done_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    q = chute.Queue.from_name(qname)
    log = AckLog(log_path)
    while True:
        done = done_path.exists()  # read before the pass: a pass after it that finds nothing ends
        got_any = False
        for p in rng.sample(PARTS8, len(PARTS8)):
            batch = q.get_many(rng.choice([1, 7, 50]), block=False, partition=p)
            if batch:
                got_any = True
                log.write("G", PARTS8.index(p), *[b.hex() for b in batch])
        if got_any:
            continue
        if done:
            return
        p = rng.choice(PARTS8)
        try:  # the blocking path too (BLMPOP / waiter sockets)
            batch = q.get_many(10, timeout=0.05, partition=p)
        except stdlib_queue.Empty:
            continue
        log.write("G", PARTS8.index(p), *[b.hex() for b in batch])


def test_queue_conservation(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """4 producers x 5,000 checksummed items over 8 partitions, 4 consumers, then a drain:
    nothing lost, duplicated or corrupted, and each producer's order kept in every partition."""
    tally.scenario = "1 queue conservation"
    qname = "chaos-conservation"
    chute.Queue.objects.create(qname)
    quiesce()
    done = tmp_path / "producers-done"
    consumers = [fork(_consume, qname, tmp_path / f"c{i}.log", done, 100 + i) for i in range(N_CONSUMERS)]
    producers = [fork(_produce, qname, tmp_path / f"p{i}.log", i, i) for i in range(N_PRODUCERS)]
    for p in producers:
        p.join(240)
        assert p.exitcode == 0, f"producer exited with {p.exitcode}"
    done.touch()
    for c in consumers:
        c.join(240)
        assert c.exitcode == 0, f"consumer exited with {c.exitcode}"

    acked = set()
    for i in range(N_PRODUCERS):
        for _, seq, n, part in AckLog(tmp_path / f"p{i}.log").records():
            acked |= {(i, int(seq) + k, int(part), 1) for k in range(int(n))}
    streams: list[list[tuple[int, bytes]]] = []  # per reader: (partition, item) in read order
    for i in range(N_CONSUMERS):
        stream = []
        for rec in AckLog(tmp_path / f"c{i}.log").records():
            stream += [(int(rec[1]), bytes.fromhex(h)) for h in rec[2:]]
        streams.append(stream)
    q = chute.Queue.from_name(qname)
    left = drain(q, PARTS8)
    streams.append([(PARTS8.index(p), item) for p, items in left.items() for item in items])

    received, corrupt, misplaced, order_violations = [], 0, 0, 0
    for stream in streams:
        last: dict[tuple[int, int], int] = {}
        for part, item in stream:
            ident = check_item(item)
            if ident is None:
                corrupt += 1
                continue
            producer, seq, put_part, _ = ident
            received.append(ident)
            misplaced += put_part != part
            if last.get((producer, part), -1) >= seq:
                order_violations += 1
            last[(producer, part)] = seq
    tally.account(acked, received, unexpected=corrupt)
    tally.extra.update(
        order_violations=order_violations,
        misplaced=misplaced,
        left_for_drain=sum(len(v) for v in left.values()),
    )
    assert tally.acked == N_PRODUCERS * N_ITEMS
    assert (tally.lost, tally.duplicated, tally.unexpected) == (0, 0, 0), tally.line()
    assert order_violations == 0 and misplaced == 0, tally.line()


# -- 2. producers killed mid put / put_many ------------------------------------------------------

KILL_ROUNDS = 100  # x 2 concurrent children = 200 kills
PARTS4: list[str | None] = [None, "a", "b", "c"]


def _kill_rounds(
    tally: Tally,
    rounds: int,
    seed: int,
    max_pause: float,
    start: Callable[[int], BaseProcess],
    before_round: Callable[[], None] = lambda: None,
    min_pause: float = 0.005,
) -> int:
    """``rounds`` rounds of two forked children (``start(child number)``), each killed with -9
    after a random pause of ``min_pause``..``max_pause`` s; the number of children started.
    ``before_round`` runs first in each round, then this process's connections are closed (no
    child inherits one)."""
    rng = random.Random(seed)
    child = 0
    for _ in range(rounds):
        before_round()
        quiesce()
        procs = [start(child), start(child + 1)]
        child += 2
        for proc in procs:
            time.sleep(rng.uniform(min_pause, max_pause))
            kill9(proc)
            tally.kills += 1
    return child


def _produce_until_killed(qname: str, log_path: Path, child: int, seed: int) -> None:
    rng = random.Random(seed)
    q = chute.Queue.from_name(qname)
    log = AckLog(log_path)
    batch = 0
    while True:
        n = rng.choice([1, 1, 2, 5, 17, 40])
        part = PARTS4[rng.randrange(4)]
        items = [make_item(child, batch, i, n) for i in range(n)]
        log.write("B", batch, n)
        if n == 1 and rng.random() < 0.5:
            q.put(items[0], partition=part)
        else:
            q.put_many(items, partition=part)
        log.write("A", batch, n)
        batch += 1


def _account_batches(
    tally: Tally, logs: dict[int, Path], left: dict[str | None, list[Any]]
) -> tuple[int, int, int, int]:
    """Account the drained items ``left`` against the producers' logs (one per source: ``B``
    batch n begun, ``A`` batch n acknowledged): acknowledged batches must be there, whole, once;
    a batch in flight at the kill may be there, whole. Returns the batches acknowledged, the
    batches in flight, those of them stored, and the batches stored in part."""
    acked_batches: dict[tuple[int, int], int] = {}
    inflight: dict[tuple[int, int], int] = {}
    for src, path in logs.items():
        begun = {}
        for kind, batch, n in AckLog(path).records():
            if kind == "B":
                begun[(src, int(batch))] = int(n)
            else:
                acked_batches[(src, int(batch))] = int(n)
        inflight |= {k: n for k, n in begun.items() if k not in acked_batches}
    idents = [check_item(i) for batch in left.values() for i in batch]
    corrupt = sum(1 for i in idents if i is None)
    valid = [i for i in idents if i is not None]
    per_batch: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
    for src, batch, index, _ in valid:
        per_batch[(src, batch)][index] += 1
    partial = [k for k, n in inflight.items() if per_batch.get(k) and sorted(per_batch[k]) != list(range(n))]
    partial += [k for k, n in acked_batches.items() if sorted(per_batch.get(k, {})) != list(range(n))]
    acked_ids = {(s, b, i, n) for (s, b), n in acked_batches.items() for i in range(n)}
    maybe = {(s, b, i, n) for (s, b), n in inflight.items() for i in range(n)}
    tally.account(acked_ids, valid, unexpected=corrupt, may_be_present=maybe)
    committed_unacked = sum(1 for k in inflight if per_batch.get(k))
    return len(acked_batches), len(inflight), committed_unacked, len(partial)


def test_producer_kill9(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """Producers killed with -9 at random points (>= 200 kills): every acknowledged item is
    present exactly once, and every batch is all or nothing."""
    tally.scenario = "2 producer kill -9"
    qname = "chaos-producers"
    chute.Queue.objects.create(qname)
    child = _kill_rounds(
        tally, KILL_ROUNDS, 2, 0.04, lambda c: fork(_produce_until_killed, qname, tmp_path / f"{c}.log", c, c)
    )

    logs = {c: tmp_path / f"{c}.log" for c in range(child)}
    batches_acked, inflight, committed_unacked, partial = _account_batches(
        tally, logs, drain(chute.Queue.from_name(qname), PARTS4)
    )
    tally.extra.update(
        batches_acked=batches_acked,
        kills_mid_put=inflight,
        mid_put_committed=committed_unacked,
        mid_put_absent=inflight - committed_unacked,
        partial_batches=partial,
    )
    assert tally.kills >= 200
    assert (tally.lost, tally.duplicated, tally.unexpected, partial) == (0, 0, 0, 0), tally.line()
    assert inflight >= 20, f"too few kills landed mid-put to mean anything: {tally.line()}"


# -- 3. consumers killed mid get_many ------------------------------------------------------------

GET_BATCH = 20
PARTS2: list[str | None] = [None, "x"]


def _consume_until_killed(qname: str, log_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    q = chute.Queue.from_name(qname)
    log = AckLog(log_path)
    while True:
        n = rng.randint(1, GET_BATCH)
        p = PARTS2[rng.randrange(2)]
        log.write("B", n)
        got = q.get_many(n, block=False, partition=p)
        idents = [check_item(i) for i in got]
        log.write("G", sum(1 for i in idents if i is None), *[i[1] for i in idents if i is not None])


class _Supply:
    """Items ``make_item(0, seq)`` put into ``q``'s PARTS2 partitions (put_many batches of 1,000);
    ``seqs``: the seqs of every item put (all acknowledged)."""

    def __init__(self, q: chute.Queue) -> None:
        self.q = q
        self.seqs: list[int] = []

    def put(self, n: int) -> None:
        """``n`` more items into each partition."""
        start = len(self.seqs)
        for p, part in enumerate(PARTS2):
            seqs = list(range(start + p * n, start + (p + 1) * n))
            for k in range(0, n, 1000):
                self.q.put_many([make_item(0, s) for s in seqs[k : k + 1000]], partition=part)
            self.seqs.extend(seqs)

    def top_up(self, below: int, n: int) -> None:
        """``put(n)`` if the queue holds fewer than ``below`` items."""
        if self.q.len(total=True) < below:
            self.put(n)


def _account_consumed(tally: Tally, supply: _Supply, logs: list[Path]) -> tuple[int, int, int, int]:
    """Account the consumers' ``G`` records (how many items were corrupt, then the seqs of the
    intact ones) and a drain of what is left against everything ``supply`` put. Returns the
    distinct items consumers received, the items left, the items lost and the consumers killed
    mid-get (a ``B`` record last)."""
    received: list[tuple[int, int, int, int]] = []
    corrupt = mid_get = 0
    for path in logs:
        records = AckLog(path).records()
        for rec in records:
            if rec[0] == "G":
                corrupt += int(rec[1])
                received += [(0, int(s), 0, 1) for s in rec[2:]]
        mid_get += bool(records) and records[-1][0] == "B"
    left = [check_item(i) for items in drain(supply.q, PARTS2).values() for i in items]
    corrupt += sum(1 for i in left if i is None)
    everything = received + [i for i in left if i is not None]
    lost, _ = tally.account({(0, s, 0, 1) for s in supply.seqs}, everything, unexpected=corrupt)
    return len(set(received)), len(left), len(lost), mid_get


def test_consumer_kill9(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """Consumers killed with -9 in get_many (>= 200 kills): no item delivered twice, and every
    missing item is explained by a get_many in flight in a killed consumer (at most kills x
    batch size; the count is reported)."""
    tally.scenario = "3 consumer kill -9"
    qname = "chaos-consumers"
    supply = _Supply(chute.Queue.from_name(qname, create_if_missing=True))
    supply.put(20_000)
    child = _kill_rounds(
        tally,
        KILL_ROUNDS,
        3,
        0.04,
        lambda c: fork(_consume_until_killed, qname, tmp_path / f"{c}.log", c),
        before_round=lambda: supply.top_up(10_000, 10_000),
    )

    logs = [tmp_path / f"{c}.log" for c in range(child)]
    consumed, left, lost, inflight = _account_consumed(tally, supply, logs)
    tally.received = consumed  # consumed and acknowledged by a consumer
    tally.extra.update(
        put=len(supply.seqs),
        left_in_queue=left,
        kills_mid_get=inflight,
        missing_in_flight=lost,
        bound=inflight * GET_BATCH,
    )
    assert tally.kills >= 200
    assert (tally.duplicated, tally.unexpected) == (0, 0), tally.line()
    assert lost <= inflight * GET_BATCH, tally.line()


# -- 2b. write-behind producers killed mid stream ------------------------------------------------

WB_ROUNDS = 40  # x 2 concurrent children = 80 kills


def _write_behind_until_killed(q: chute.Queue, log_path: Path, child: int, seed: int) -> None:
    rng = random.Random(seed)
    log = AckLog(log_path)
    seq = 0
    while True:
        # A fresh write-behind handle per round (what a child process unpickles); the round is
        # acknowledged once close() + join_thread() returned: everything it buffered is stored.
        h = pickle.loads(pickle.dumps(q))
        n = rng.choice([1, 5, 20, 100])
        for i in range(n):
            h.put(make_item(child, seq + i))
        h.close()
        h.join_thread()
        log.write("A", seq, n)
        seq += n


def test_write_behind_producer_kill9(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """Write-behind producers killed with -9 (>= 80 kills): every item of a flushed round is
    stored exactly once; of the round in flight, what reached the queue is a prefix of what was
    put (a crash loses the buffered tail, never an item in the middle)."""
    tally.scenario = "2b write-behind kill -9"
    q = chute.Queue(write_behind=True)
    child = _kill_rounds(
        tally, WB_ROUNDS, 21, 0.08, lambda c: fork(_write_behind_until_killed, q, tmp_path / f"{c}.log", c, c)
    )

    acked: set[tuple[int, int, int, int]] = set()
    for c in range(child):
        for _, seq, n in AckLog(tmp_path / f"{c}.log").records():
            acked |= {(c, int(seq) + k, 0, 1) for k in range(int(n))}
    items = [i for batch in drain(q, [None]).values() for i in batch]
    idents = [check_item(i) for i in items]
    corrupt = sum(1 for i in idents if i is None)
    valid = [i for i in idents if i is not None]
    per_child: dict[int, list[int]] = defaultdict(list)
    for c, seq, _, _ in valid:
        per_child[c].append(seq)
    gaps = sum(1 for seqs in per_child.values() if sorted(seqs) != list(range(len(seqs))))
    reordered = sum(1 for seqs in per_child.values() if seqs != sorted(seqs))
    maybe = {(c, s, 0, 1) for c, seqs in per_child.items() for s in seqs}
    tally.account(acked, valid, unexpected=corrupt, may_be_present=maybe)
    tally.extra.update(
        stored=len(valid),
        stored_of_unflushed_rounds=len(set(valid) - acked),
        gaps=gaps,
        reordered=reordered,
    )
    assert tally.kills >= 80
    assert (tally.lost, tally.duplicated, tally.unexpected, gaps, reordered) == (0, 0, 0, 0, 0), tally.line()


# -- 2d. write-behind consumers (read-ahead) killed mid stream ----------------------------------


def _read_ahead_until_killed(q: chute.Queue, log_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = AckLog(log_path)
    while True:
        # A fresh write-behind handle per round, closed at its end: close() gives back what
        # it read ahead, so only the round in flight at the kill can lose items.
        h = pickle.loads(pickle.dumps(q))
        for _ in range(rng.choice([1, 5, 20, 100])):
            try:
                got = h.get(block=False, partition=PARTS2[rng.randrange(2)])
            except stdlib_queue.Empty:
                continue
            ident = check_item(got)
            log.write("G", 1 if ident is None else 0, *([] if ident is None else [ident[1]]))
        h.close()


def test_write_behind_consumer_kill9(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """Write-behind consumers, whose gets read ahead, killed with -9 (>= 80 kills): no item
    delivered twice; a killed consumer loses at most what it had read ahead and not returned
    (READ_AHEAD_MAX per partition, the count is reported); closed handles gave theirs back."""
    tally.scenario = "2d write-behind consumer kill -9"
    q = chute.Queue(write_behind=True)
    supply = _Supply(chute.Queue.from_id(q.object_id))  # acknowledged puts
    supply.put(5_000)
    child = _kill_rounds(
        tally,
        WB_ROUNDS,
        24,
        0.08,
        lambda c: fork(_read_ahead_until_killed, q, tmp_path / f"{c}.log", c),
        before_round=lambda: supply.top_up(3_000, 3_000),
    )

    _, left, lost, _ = _account_consumed(tally, supply, [tmp_path / f"{c}.log" for c in range(child)])
    bound = tally.kills * READ_AHEAD_MAX * len(PARTS2)
    tally.extra.update(put=len(supply.seqs), left_in_queue=left, missing_read_ahead=lost, bound=bound)
    assert tally.kills >= 80
    assert (tally.duplicated, tally.unexpected) == (0, 0), tally.line()
    assert lost <= bound, tally.line()


# -- 2c. group commit: threads of one producer killed mid put --------------------------------------

GC_ROUNDS = 40  # x 2 concurrent children (4 threads each) = 80 kills
GC_THREADS = 4


def _threads_until_killed(qname: str, log_dir: Path, child: int, seed: int) -> None:
    q = chute.Queue.from_name(qname)

    def produce(t: int) -> None:
        rng = random.Random(seed * 100 + t)
        log = AckLog(log_dir / f"{child}-{t}.log")
        batch = 0
        while True:
            n = rng.choice([1, 1, 1, 3, 17])
            items = [make_item(child * GC_THREADS + t, batch, i, n) for i in range(n)]
            log.write("B", batch, n)
            if n == 1:
                q.put(items[0], partition=PARTS4[t])
            else:
                q.put_many(items, partition=PARTS4[t])
            log.write("A", batch, n)
            batch += 1

    threads = [threading.Thread(target=produce, args=(t,), daemon=True) for t in range(GC_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def test_group_commit_producer_kill9(big_partitions: str, tmp_path: Path, tally: Tally) -> None:
    """Producers whose 4 threads put at once (so their puts share commits / pipelines), killed
    with -9 (>= 80 kills): every acknowledged put is stored exactly once, every batch is all or
    nothing, each thread's order is kept."""
    tally.scenario = "2c group commit kill -9"
    qname = "chaos-group-commit"
    chute.Queue.objects.create(qname)
    child = _kill_rounds(
        tally,
        GC_ROUNDS,
        22,
        0.06,
        lambda c: fork(_threads_until_killed, qname, tmp_path, c, c),
        min_pause=0.01,
    )

    logs = {c * GC_THREADS + t: tmp_path / f"{c}-{t}.log" for c in range(child) for t in range(GC_THREADS)}
    left = drain(chute.Queue.from_name(qname), PARTS4)
    batches_acked, inflight, _, partial = _account_batches(tally, logs, left)
    reordered = 0
    for items in left.values():
        last: dict[int, int] = {}
        for ident in filter(None, (check_item(i) for i in items)):
            src, batch = ident[0], ident[1]
            reordered += last.get(src, -1) > batch
            last[src] = batch
    tally.extra.update(batches_acked=batches_acked, kills_mid_put=inflight, partial_batches=partial)
    tally.extra["reordered"] = reordered
    assert tally.kills >= 80
    assert (tally.lost, tally.duplicated, tally.unexpected, partial, reordered) == (0, 0, 0, 0, 0), (
        tally.line()
    )
