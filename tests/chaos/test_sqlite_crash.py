"""Scenario 4 (embedded SQLite only): writers killed with -9 mid-transaction, over and over.

After every kill the database is opened afresh (as a restarted program would) and must pass
``PRAGMA integrity_check``; at the end every acknowledged queue put, dict put and spawn must
be there.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import chute
from chute._outcome import load_args
from chute.config import Settings
from tests.chaos import chaos_app
from tests.chaos._tally import Tally
from tests.chaos._util import AckLog, check_item, drain, fork, kill9, make_item, quiesce

ROUNDS = 60  # x 2 concurrent writers = 120 kills, each followed by an integrity_check
QNAME = DNAME = "chaos-durable"
PARTS: list[str | None] = [None, "d"]


def _writer(log_path: Path, child: int, seed: int) -> None:
    rng = random.Random(seed)
    q = chute.Queue.from_name(QNAME)
    d = chute.Dict.from_name(DNAME)
    log = AckLog(log_path)
    k = 0
    while True:
        op = rng.random()
        if op < 0.3:
            q.put(make_item(child, k), partition=PARTS[k % 2])
            log.write("Q", k, 1)
        elif op < 0.4:
            q.put_many([make_item(child, k, i, 5) for i in range(5)], partition=PARTS[k % 2])
            log.write("Q", k, 5)
        elif op < 0.7:
            d[f"{child}:{k}"] = make_item(child, k)
            log.write("D", k, 1)
        elif op < 0.8:
            d.update({f"{child}:{k}:{i}": make_item(child, k, i, 3) for i in range(3)})
            log.write("D", k, 3)
        else:
            call = chaos_app.echo.spawn(make_item(child, k))
            log.write("S", k, call.object_id)
        k += 1


def _integrity_check(path: str) -> tuple[list[tuple[str]], float]:
    """``PRAGMA integrity_check`` on a fresh connection, as a restarted program opens."""
    start = time.monotonic()
    with sqlite3.connect(path) as db:
        result = db.execute("PRAGMA integrity_check").fetchall()
    db.close()
    return result, time.monotonic() - start


def _dict_value(key: str) -> bytes:
    """What a writer stored under ``key``: ``c:k`` (one put) or ``c:k:i`` (an update of 3)."""
    c, k, *i = (int(x) for x in key.split(":"))
    return make_item(c, k, i[0], 3) if i else make_item(c, k)


@dataclass
class Acks:
    """What the killed writers acknowledged, as ids: ("Q", c, k, i, n), ("D", key), ("S", call id)."""

    ids: set[tuple[object, ...]] = field(default_factory=set)
    inflight: dict[int, int] = field(default_factory=dict)  # child -> the op it was killed in
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, logs: list[Path]) -> Acks:
        acks = cls()
        for c, log in enumerate(logs):
            records = AckLog(log).records()
            acks.inflight[c] = int(records[-1][1]) + 1 if records else 0
            for kind, k, extra in records:
                acks.counts[kind] += 1
                if kind == "Q":
                    acks.ids |= {("Q", c, int(k), i, int(extra)) for i in range(int(extra))}
                elif kind == "D":
                    keys = [f"{c}:{k}"] if extra == "1" else [f"{c}:{k}:{i}" for i in range(int(extra))]
                    acks.ids |= {("D", key) for key in keys}
                else:
                    acks.ids.add(("S", extra))
        return acks


def _stored(path: str, acks: Acks) -> tuple[list[tuple[object, ...]], set[tuple[object, ...]], int]:
    """Everything in the database: (ids found intact, ids from the op a child was killed in,
    corrupted entries)."""
    received: list[tuple[object, ...]] = []
    maybe: set[tuple[object, ...]] = set()
    corrupt = 0

    def found(id_: tuple[object, ...], child: int, k: int) -> None:
        received.append(id_)
        if k == acks.inflight[child]:
            maybe.add(id_)

    for item in (i for batch in drain(chute.Queue.from_name(QNAME), PARTS).values() for i in batch):
        ident = check_item(item)
        if ident is None:
            corrupt += 1
        else:
            found(("Q", *ident), ident[0], ident[1])
    for key, value in chute.Dict.from_name(DNAME).items():
        if value != _dict_value(key):
            corrupt += 1
        else:
            found(("D", key), *(int(x) for x in key.split(":")[:2]))
    settings = chute.Client.from_env().settings
    with sqlite3.connect(path) as db:
        payloads = db.execute("SELECT id, payload FROM calls WHERE state = 'pending'").fetchall()
    db.close()
    for call_id, payload in payloads:
        args, _ = load_args(payload, settings, call_id)
        ident = check_item(args[0]) if len(args) == 1 else None
        if ident is None:
            corrupt += 1
        else:
            found(("S", call_id), ident[0], ident[1])
    return received, maybe, corrupt


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_sqlite_writers_kill9(chute_env: str, tmp_path: Path, tally: Tally) -> None:
    """>= 100 kills of writers doing queue puts, dict puts and spawns: the file stays intact
    after every kill, and 100% of the acknowledged operations are present."""
    tally.scenario = "4 sqlite crash durability"
    path = Settings.from_env().url.path
    chute.Queue.objects.create(QNAME)
    chute.Dict.objects.create(DNAME)
    rng = random.Random(4)
    logs: list[Path] = []
    checks = []
    for _ in range(ROUNDS):
        quiesce()
        procs = []
        for _ in range(2):
            logs.append(tmp_path / f"{len(logs)}.log")
            procs.append(fork(_writer, logs[-1], len(logs) - 1, len(logs) - 1))
        for proc in procs:
            time.sleep(rng.uniform(0.005, 0.05))
            kill9(proc)
            tally.kills += 1
            result, seconds = _integrity_check(path)  # the other writer may still be running
            checks.append(seconds)
            assert result == [("ok",)], f"integrity_check after kill {tally.kills}: {result}"
    acks = Acks.read(logs)
    received, maybe, corrupt = _stored(path, acks)
    tally.account(acks.ids, received, unexpected=corrupt, may_be_present=maybe)
    tally.extra.update(
        queue_puts=acks.counts["Q"],
        dict_puts=acks.counts["D"],
        spawns=acks.counts["S"],
        integrity_checks=len(checks),
        max_check_s=max(checks),
    )
    assert tally.kills >= 100
    assert (tally.lost, tally.duplicated, tally.unexpected) == (0, 0, 0), tally.line()
