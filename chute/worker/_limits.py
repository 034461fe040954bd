"""Memory limits: an executor whose processes use more than its function's ``memory=`` limit
is killed, and the calls inside fail with ``ResourceExhaustedError`` naming the limit
(retried under the function's ``retries``, as any failed attempt).

The resident memory of the executor's whole process group (what its calls forked included)
is sampled every ``CHECK_EVERY`` s (``_platform.group_rss``). A call that allocates faster than
that can overshoot for up to one interval before it is stopped; the operating system's own
OOM killer still applies beyond that.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from chute._platform import group_rss, pool_rss
from chute.exception import ResourceExhaustedError
from chute.worker._scaling import INF, Executor

CHECK_EVERY = 0.5
POOL_EVERY = 5.0  # the pool's total for the dashboard: a scan of every process, so not at each beat
MIB = 1 << 20


class MemoryWatch:
    def __init__(self) -> None:
        self._next = 0.0
        self._warned = False
        self._pool: tuple[float, int | None] = (-POOL_EVERY, None)

    def pool(self, executor_pids: Sequence[int]) -> int | None:
        """Resident memory (bytes) of this process and its executors' process groups, sampled at
        most every ``POOL_EVERY`` s; None when the platform cannot tell."""
        now = time.monotonic()
        if now - self._pool[0] >= POOL_EVERY:
            self._pool = (now, pool_rss(os.getpid(), executor_pids))
        return self._pool[1]

    def next_check(self, limited: bool) -> float:
        return self._next if limited else INF

    def over_limit(
        self, executors: list[Executor], now: float
    ) -> list[tuple[Executor, ResourceExhaustedError]]:
        """The executors above their limit now (checked at most every ``CHECK_EVERY`` s)."""
        if now < self._next:
            return []
        self._next = now + CHECK_EVERY
        out = []
        for e in executors:
            limit = e.fn.need.memory_limit
            if limit is None or e.proc.poll() is not None:
                continue
            rss = group_rss(e.proc.pid)
            if rss is None:
                self._warn()
                return []
            if rss > limit * MIB:
                out.append(
                    (
                        e,
                        ResourceExhaustedError(
                            f"{e.fn.key} ran out of memory: its executor used {rss / MIB:.0f} MiB, over "
                            f"its memory limit of {limit} MiB (memory=). Raise the limit or use less memory."
                        ),
                    )
                )
        return out

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            print(
                "chute worker: memory limits are not enforced here (install psutil to enforce them).",
                file=sys.stderr,
                flush=True,
            )
