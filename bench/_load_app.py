"""The job function ``bench/load.py`` runs on its ``chute worker`` processes."""

from __future__ import annotations

import chute

app = chute.App("bench-load")


@app.function(max_containers=4)
def square(i: int) -> int:
    return i * i
