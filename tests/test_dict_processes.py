"""Dict across real, separately started processes, on every backend."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time

import pytest

import chute

N_PROCS = 8
ROUNDS = 5

RACER = """
import os, sys, chute
d = chute.Dict.from_name("race", create_if_missing=True)
d.len()  # connect and hydrate before the start signal
print("ready", flush=True)
for line in sys.stdin:
    key = line.strip()
    if not key:
        break
    won = d.put(key, os.getpid(), skip_if_exists=True)
    print(f"{key} {int(won)}", flush=True)
"""


def start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_put_skip_if_exists_has_exactly_one_winner(chute_env: str) -> None:
    chute.Dict.objects.create("race")
    procs = [start(RACER) for _ in range(N_PROCS)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
    for r in range(ROUNDS):
        key = f"round-{r}"
        for p in procs:  # released together: every racer holds a connection and waits on stdin
            assert p.stdin is not None
            p.stdin.write(key + "\n")
            p.stdin.flush()
        results = []
        for p in procs:
            assert p.stdout is not None
            got_key, won = p.stdout.readline().split()
            assert got_key == key
            results.append((p.pid, won == "1"))
        winners = [pid for pid, won in results if won]
        assert len(winners) == 1, results
        assert chute.Dict.from_name("race")[key] == winners[0]
    for p in procs:
        _, err = p.communicate("\n", timeout=60)
        assert p.returncode == 0, err


# The seed-002 crawler's pattern: workers check a kill switch in a Dict before each unit of work.
WORKER = """
import sys, time, chute
d = chute.Dict.from_id(sys.argv[1])
q = chute.Queue.from_id(sys.argv[2])
n = 0
while True:
    if "stop" in d:
        print("stopped", n, flush=True)
        break
    q.put(n)
    n += 1
    time.sleep(0.005)
"""


def test_kill_switch_stops_a_separately_started_worker(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d, chute.Queue.ephemeral() as q:
        worker = start(WORKER, d.object_id, q.object_id)
        deadline = time.monotonic() + 60
        while q.len() < 10:  # the worker is up and working
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "worker never made progress"
            time.sleep(0.05)
        d["stop"] = True
        out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        word, n = out.split()
        assert word == "stopped" and int(n) >= 10
        assert q.len() == int(n)  # nothing was done after the switch was seen
        assert q.get_many(int(n)) == list(range(int(n)))


def _child(d: chute.Dict, results: chute.Queue) -> None:
    results.put(("seen", d["from-parent"]))
    d[("from-child", os.getpid())] = "hello"
    assert d.put("once", os.getpid(), skip_if_exists=True)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ephemeral_dict_passed_to_multiprocessing(chute_env: str, method: str) -> None:
    ctx = mp.get_context(method)
    with chute.Dict.ephemeral() as d, chute.Queue.ephemeral() as results:
        d["from-parent"] = [1, 2, 3]
        child = ctx.Process(target=_child, args=(d, results))  # type: ignore[attr-defined]
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert results.get(timeout=5) == ("seen", [1, 2, 3])
        assert d[("from-child", child.pid)] == "hello"
        assert d["once"] == child.pid
        assert not d.put("once", os.getpid(), skip_if_exists=True)
