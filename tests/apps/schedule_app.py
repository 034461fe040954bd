"""Scheduled functions of the schedule tests (tests/test_job_control.py), run by real workers."""

from __future__ import annotations

import time

import chute

app = chute.App("test-schedule")


@app.function(schedule=chute.Period(seconds=1))
def every_second() -> float:
    return time.time()


@app.function(schedule=chute.Cron("* * * * *"))
def every_minute() -> float:
    return time.time()
