"""A function whose executor tells its supervisor late that it wrote a result itself
(test_jobs_engine: the supervisor's lease renewals meet a call that ended unannounced).

The executor writes a lone call's result itself (chute/worker/_recorder.py), then reports it;
here the report waits ``LATE_REPORT_S`` seconds, and the ids it wrote go to ``LATE_REPORT_LOG``.
``where`` runs in a serial executor, ``where_aio`` in a loop server.
"""

from __future__ import annotations

import asyncio
import os
import time

import chute
from chute.worker import _recorder

app = chute.App("test-late-report")

_finish = _recorder.Recorder.finish


def _late(self: _recorder.Recorder, call_id: str, attempt: int, outcome: bytes) -> bool:
    written = _finish(self, call_id, attempt, outcome)
    if written and "LATE_REPORT_LOG" in os.environ:
        with open(os.environ["LATE_REPORT_LOG"], "a") as f:
            f.write(call_id + "\n")
    time.sleep(float(os.environ.get("LATE_REPORT_S", "0")))
    return written


_finish_aio = _recorder.Recorder.finish_aio


async def _late_aio(self: _recorder.Recorder, call_id: str, attempt: int, outcome: bytes) -> bool:
    written = await _finish_aio(self, call_id, attempt, outcome)
    if written and "LATE_REPORT_LOG" in os.environ:
        with open(os.environ["LATE_REPORT_LOG"], "a") as f:
            f.write(call_id + "\n")
    await asyncio.sleep(float(os.environ.get("LATE_REPORT_S", "0")))
    return written


_recorder.Recorder.finish = _late  # type: ignore[method-assign]
_recorder.Recorder.finish_aio = _late_aio  # type: ignore[method-assign]


@app.function(max_containers=1, retries=0)
def where(x: int) -> tuple[int, int]:
    return x, os.getpid()


@app.function(max_containers=1, retries=0)
async def where_aio(x: int) -> tuple[int, int]:
    return x, os.getpid()
