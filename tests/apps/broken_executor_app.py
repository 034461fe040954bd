"""An app whose module imports in the supervisor but fails in every executor process (a library
present on the machine that runs ``chute worker`` but not importable where calls run)."""

from __future__ import annotations

import chute

app = chute.App("test-broken-executor")


@app.function()
def never_runs() -> int:
    return 1


if not chute.is_local():  # an executor: where calls run
    raise ImportError("libexample.so is missing on this machine")
