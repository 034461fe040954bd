"""chute, for the same submitter as its peers: ``chute worker bench/_jobs_app.py`` runs the
jobs (``noop``: 2 executors; ``async_sleep``: ``@chute.concurrent(max_inputs=100)`` on one)."""

from __future__ import annotations

import os
from typing import Any

from bench.peers import _submit


class Driver(_submit.Driver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        os.environ["CHUTE_URL"] = url  # the submitter's own environment, as a separate program's
        from bench import _jobs_app

        self.app = _jobs_app

    def one(self, x: int) -> Any:
        return self.app.noop.spawn(x).get(timeout=self.timeout)

    def submit(self, xs: list[int]) -> Any:
        # What noop.map / noop.spawn_map do: submit in batches (one round trip per 1,000).
        # The internal form, because the public ones (as Modal's) return no handles apart.
        from chute._sync import call_ops

        return call_ops.spawn_many(self.app.noop._ref, [((x,), {}) for x in xs])

    def collect(self, handles: Any) -> list[Any]:
        from chute._sync import call_ops

        return call_ops.gather_refs(handles)  # what FunctionCall.gather does: batched reads

    def map(self, xs: list[int]) -> list[Any]:
        return list(self.app.noop.map(xs))

    def sleeps(self, xs: list[int]) -> list[Any]:
        return list(self.app.async_sleep.map(xs))
