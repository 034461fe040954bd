"""The job function the ``jobs`` benchmark's chute workers run (``chute worker bench/_jobs_app.py``).

Kept apart from ``bench/jobs.py`` so that chute's executors import nothing but chute: the
other systems' task definitions (and their libraries) live in ``bench/jobs.py``.
"""

from __future__ import annotations

import chute

# Jobs running at once, for every system in the comparison (the machine has 2 cores).
CONCURRENCY = 2

app = chute.App("bench-jobs")


@app.function(max_containers=CONCURRENCY)
def noop(x: int) -> int:
    return x
