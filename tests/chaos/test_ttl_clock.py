"""Scenario 10: partitions expire on time, a put refreshes the expiry, and (Redis) a client with a
skewed clock does not change the TTLs the server computes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis

import chute
from chute.backends import _redis_keys as rk
from tests._servers import RedisServer
from tests.chaos._tally import Tally

TTL = 1.0
MARGIN = 0.15  # after the expiry, by when it must be visible


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def test_partition_ttl_and_refresh(chute_env: str, tally: Tally) -> None:
    """partition_ttl=1: alive before 1 s, gone by 1 s + 0.15 (get, len, partitions, iterate);
    a put 0.6 s in pushes the whole partition's expiry to 1 s after that put."""
    tally.scenario = "10a partition TTL + refresh"
    q = chute.Queue.from_name("chaos-ttl", create_if_missing=True)
    q.len()
    t0 = time.monotonic()
    q.put("short", partition="short", partition_ttl=TTL)
    q.put("r1", partition="refresh", partition_ttl=TTL)
    t1 = time.monotonic()
    tally.acked = 3
    _sleep_until(t0 + 0.6)
    r0 = time.monotonic()
    q.put("r2", partition="refresh", partition_ttl=TTL)
    r1 = time.monotonic()
    _sleep_until(t0 + TTL - 0.15)
    alive = (q.len(partition="short"), q.len(partition="refresh"))  # 1 and 2 items
    assert time.monotonic() < t0 + TTL, "too slow to observe the partition before its expiry"
    _sleep_until(t1 + TTL + MARGIN)
    short_after = (
        q.len(partition="short"),
        list(q.iterate(partition="short")),
        q.get(block=False, partition="short"),
    )
    parts_after = sorted(k for k, _, _ in q.partitions())
    refreshed = list(q.iterate(partition="refresh"))  # t0 + 1.15 < r0 + 1
    assert time.monotonic() < r0 + TTL, "too slow to observe the refreshed partition"
    _sleep_until(r1 + TTL + MARGIN)
    refresh_after = (q.len(partition="refresh"), q.len(total=True), q.partitions())
    q.put("again", partition="short", partition_ttl=TTL)  # a revived partition starts empty
    revived = q.get_many(10, block=False, partition="short")
    tally.received = int(alive[0] == 1) + (2 if refreshed == ["r1", "r2"] else 0)
    tally.lost = 3 - tally.received
    tally.unexpected = int(short_after != (0, [], None)) + int(refresh_after[0] != 0)
    assert alive == (1, 2)
    assert short_after == (0, [], None) and parts_after == ["refresh"]
    assert refreshed == ["r1", "r2"]
    assert refresh_after == (0, 0, [])
    assert revived == ["again"]


SKEWED_CLIENT = """
import sys, time
real = time.time
time.time = lambda: real() + float(sys.argv[1])
import chute
q = chute.Queue.from_name("chaos-skew", create_if_missing=True)
q.put("skewed", partition=sys.argv[2], partition_ttl=60)
print(q.object_id, round(time.time() - real()))
"""


@pytest.mark.parametrize("backend_url", ["redis"], indirect=True)
def test_skewed_client_clock_keeps_redis_ttls(chute_env: str, redis_srv: RedisServer, tally: Tally) -> None:
    """Clients whose clocks are 1 h ahead or behind put with partition_ttl=60: the server-side
    TTL is 60 s either way (Redis TIME inside the scripts, never the client's clock)."""
    tally.scenario = "10b skewed client clock"
    ttls = {}
    window = {}  # each put happened between these two (unix time, this process's clock)
    object_id = ""
    for skew in ("3600", "-3600"):
        before = time.time()
        out = subprocess.run(
            [sys.executable, "-c", SKEWED_CLIENT, skew, f"skew{skew}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        object_id = out[0]
        assert out[1] == skew, f"the child's clock is not skewed: {out}"
        tally.acked += 1
        prefix = chute.Client.from_env().settings.url.raw.split("prefix=")[1]
        window[f"skew{skew}"] = (before, time.time())
        with redis.Redis(port=redis_srv.port) as r:
            ttls[skew] = r.pttl(rk.object_keys(prefix, object_id).part(f"skew{skew}".encode())) / 1000
        # At most 60 s, less what passed since the put (a loaded machine starts the child slowly).
        assert 60 - (time.time() - before) - 0.5 < ttls[skew] <= 60, (skew, ttls, window)
    q = chute.Queue.from_id(object_id)
    parts = {k: (n, exp.timestamp()) for k, n, exp in q.partitions()}
    tally.received = sum(1 for k in parts if parts[k][0] == 1)
    tally.lost = tally.acked - tally.received
    tally.extra.update(pttl=ttls, expires_in={k: round(v[1] - time.time(), 1) for k, v in parts.items()})
    assert set(parts) == {"skew3600", "skew-3600"}
    # Expires 60 s after the put by the server's clock, whatever the client's said.
    for key, (n, expires) in parts.items():
        before, after = window[key]
        assert n == 1 and before + 59.5 <= expires <= after + 60.5, (key, expires, window[key])
