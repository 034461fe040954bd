"""Cross-process behaviour with real, separately started processes, on every backend."""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import chute
from chute.exception import NotFoundError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_py(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_separately_started_programs_share_a_queue(chute_env: str) -> None:
    consumer = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "separate_consumer.py")], stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.3)  # the consumer is (most likely) already blocked in get()
    producer = subprocess.run(
        [sys.executable, str(EXAMPLES / "separate_producer.py"), "40"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert producer.returncode == 0, producer.stderr
    out, _ = consumer.communicate(timeout=60)
    assert consumer.returncode == 0
    got = [float(line.removeprefix(">got ")) for line in out.splitlines() if line.startswith(">got")]
    assert len(got) == 40 and all(0 <= v < 1 for v in got)
    assert out.splitlines()[-1] == "Consumer: Done"


WAITER = """
import queue, sys, time, chute
q = chute.Queue.from_name("wake", create_if_missing=True)
try:  # opens the blocking connection now, not inside the first timed wait (as the parent's len())
    q.get(timeout=0.05)
except queue.Empty:
    pass
for _ in range(int(sys.argv[1])):
    print("waiting", flush=True)
    sent_ns = q.get(timeout=30)
    print(time.monotonic_ns() - sent_ns, flush=True)
"""


def test_blocked_get_is_woken_by_another_process(chute_env: str) -> None:
    q = chute.Queue.from_name("wake", create_if_missing=True)
    q.len()  # opens the backend (imports it, connects) now, not inside the first timed put
    rounds = 5
    child = run_py(WAITER, str(rounds))
    assert child.stdout is not None
    latencies = []
    for _ in range(rounds):
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # let it block
        q.put(time.monotonic_ns())
        latencies.append(int(child.stdout.readline()) / 1e9)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    # Woken by the put itself, not by a periodic re-check (those run once a second).
    assert max(latencies) < 0.25, latencies


OWNER = """
import sys, time, chute
with chute.Queue.ephemeral() as q:
    q.put("held")
    print(q.object_id, flush=True)
    time.sleep(600)
"""


def test_ephemeral_collected_after_owner_is_killed(chute_env: str) -> None:
    child = run_py(OWNER, env={"CHUTE_EPHEMERAL_TTL": "1"})
    assert child.stdout is not None
    object_id = child.stdout.readline().strip()
    orphan = chute.Queue.from_id(object_id)
    assert orphan.len() == 1
    time.sleep(1.5)  # heartbeats keep it alive past its TTL while the owner lives
    assert chute.Queue.from_id(object_id).len() == 1
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    deadline = time.monotonic() + 15
    while True:
        with chute.Queue.ephemeral():  # creating an ephemeral object runs garbage collection
            pass
        try:
            chute.Queue.from_id(object_id).len()
        except NotFoundError:
            break
        assert time.monotonic() < deadline, "ephemeral queue of a killed process was never collected"
        time.sleep(0.3)


MP_OWNER = """
import chute
q = chute.Queue()
q.put(1)
print(q.object_id, flush=True)
"""


def test_mp_style_queue_deleted_when_owner_exits(chute_env: str) -> None:
    child = run_py(MP_OWNER)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    with pytest.raises(NotFoundError):
        chute.Queue.from_id(out.strip()).len()


def _square_into(q: chute.Queue, results: chute.Queue) -> None:
    while (n := q.get(timeout=30)) is not None:
        results.put(n * n)


def _square(args: tuple[chute.Queue, int]) -> int:
    results, n = args
    results.put(n * n)
    return n


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_queue_passed_to_multiprocessing(chute_env: str, method: str) -> None:
    ctx = mp.get_context(method)
    q, results = chute.Queue(), chute.Queue()
    procs = [ctx.Process(target=_square_into, args=(q, results)) for _ in range(2)]
    for p in procs:
        p.start()
    q.put_many([*range(20), None, None])
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(results.get_many(100, timeout=5)) == [n * n for n in range(20)]
    assert q.empty() and results.qsize() == 0


def test_queue_passed_to_process_pool(chute_env: str) -> None:
    results = chute.Queue()
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        assert sorted(pool.map(_square, [(results, n) for n in range(10)])) == list(range(10))
    assert sorted(results.get_many(20, timeout=5)) == [n * n for n in range(10)]


CONCURRENT_PRODUCER = """
import sys, chute
q = chute.Queue.from_name("many", create_if_missing=True)
pid = int(sys.argv[1])
for start in range(0, 1000, 50):
    q.put_many([(pid, i) for i in range(start, start + 50)], timeout=60)
"""
CONCURRENT_CONSUMER = """
import queue, chute
q = chute.Queue.from_name("many", create_if_missing=True)
got = []
while True:
    try:
        got += q.get_many(37, timeout=3)
    except queue.Empty:
        break
print(repr(got))
"""


def test_concurrent_producers_and_consumers_lose_nothing(chute_env: str) -> None:
    chute.Queue.objects.create("many")
    consumers = [run_py(CONCURRENT_CONSUMER) for _ in range(3)]
    producers = [run_py(CONCURRENT_PRODUCER, str(p)) for p in range(3)]
    for p in producers:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    per_consumer = []
    for c in consumers:
        out, err = c.communicate(timeout=120)
        assert c.returncode == 0, err
        per_consumer.append(eval(out))
    everything = [item for got in per_consumer for item in got]
    assert len(everything) == 3000 and set(everything) == {(p, i) for p in range(3) for i in range(1000)}
    for got in per_consumer:  # each consumer sees each producer's items in order
        for p in range(3):
            mine = [i for (pp, i) in got if pp == p]
            assert mine == sorted(mine)
