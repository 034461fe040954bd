"""Job control end to end, on every backend, with real ``chute worker`` processes: delays,
priorities, replay, progress, listing, routing, rate limits, per-key fairness, debounce and
schedules (tests/apps/control_app.py, tests/apps/schedule_app.py). The storage rules behind
them, one by one: tests/_async/test_backend_contract_job_control.py."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

import chute
from chute._client import Client
from chute._sync import control_ops, inspection
from chute.backends.types import ScheduleRecord
from chute.cli import app as cli_app
from chute.exception import InvalidError
from tests._workers import ROOT, Workers, wait_until
from tests.apps import control_app

CONTROL_APP = str(ROOT / "tests" / "apps" / "control_app.py")
SCHEDULE_APP = str(ROOT / "tests" / "apps" / "schedule_app.py")


@pytest.fixture
def workers(chute_env: str) -> Iterator[Workers]:
    w = Workers()
    yield w
    w.stop_all()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``chute ARGS`` in this process (typer's CliRunner: the same command and output, without a
    ``python -m chute`` start-up each), as a CompletedProcess."""
    result = CliRunner().invoke(cli_app, list(args))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def log() -> chute.Dict:
    return chute.Dict.from_name("test-control-log", create_if_missing=True)


# -- delays, priorities ----------------------------------------------------------------------------


def test_delay_and_at_are_honoured(workers: Workers) -> None:
    workers.start("--only", "stamp", app_file=CONTROL_APP)
    control_app.stamp.spawn("warm").get(timeout=60)  # the executor is up
    delayed = control_app.stamp.with_options(delay=1.5).spawn("delay")
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    timed = control_app.stamp.with_options(at=at).spawn("at")
    for call in (delayed, timed):
        call.get(timeout=30)
        info = call.info()
        assert info.started_at is not None
        waited = info.started_at - info.created_at
        assert 1.4 <= waited <= 1.5 + 1.5, waited  # not before; within the claim loop's second after


def test_higher_priority_runs_first(workers: Workers) -> None:
    control_app.app.deploy()
    order = [("low", -5), ("a", 0), ("urgent", 10), ("b", 0), ("high", 5)]
    calls = [control_app.serial.with_options(priority=p).spawn(tag) for tag, p in order]
    workers.start("--only", "serial", app_file=CONTROL_APP)
    chute.FunctionCall.gather(*calls)
    started = sorted((c.info().started_at or 0.0, c.get()) for c in calls)
    assert [tag for _, tag in started] == ["urgent", "high", "a", "b", "low"]


def test_invalid_call_options() -> None:
    with pytest.raises(InvalidError, match="priority"):
        control_app.stamp.with_options(priority=5000)
    with pytest.raises(InvalidError, match="timezone-aware"):
        control_app.stamp.with_options(at=datetime.now())
    with pytest.raises(InvalidError, match="idempotency_key"):
        control_app.stamp.with_options(debounce=True)
    with pytest.raises(InvalidError, match="delay"):
        control_app.stamp.with_options(delay=-1)
    with pytest.raises(InvalidError, match=r"RateLimit\.calls"):
        chute.RateLimit(calls=0)
    with pytest.raises(InvalidError, match="current_call"):
        chute.current_call()


# -- replay, progress, listing ---------------------------------------------------------------------


def test_replay_a_failed_call_returns_the_new_result_under_the_same_id(workers: Workers) -> None:
    workers.start("--only", "fail_once", app_file=CONTROL_APP)
    call = control_app.fail_once.spawn("replay-1")
    with pytest.raises(ValueError, match="first run fails"):
        call.get(timeout=60)
    call.retry()
    assert call.get(timeout=60) == "second run"
    info = call.info()
    assert (info.id, info.state, info.failures, info.error) == (
        call.object_id,
        chute.CallState.SUCCEEDED,
        0,
        None,
    )
    with pytest.raises(InvalidError, match="succeeded"):
        call.retry()
    # Many at once, by function and state, from the CLI.
    failed = [control_app.fail_once.spawn(f"replay-many-{i}") for i in range(3)]
    for c in failed:
        with pytest.raises(ValueError):
            c.get(timeout=60)
    out = cli("call", "retry", "--function", "test-control.fail_once", "--state", "failed")
    assert out.returncode == 0, out.stderr
    assert all(c.object_id in out.stdout for c in failed)
    assert [c.get(timeout=60) for c in failed] == ["second run"] * 3
    assert cli("call", "retry", call.object_id).returncode == 1  # succeeded: skipped


def test_progress_is_visible_from_another_process(workers: Workers) -> None:
    workers.start("--only", "reports", app_file=CONTROL_APP)
    call = control_app.reports.spawn("progress-1")
    wait_until(lambda: call.info().progress == 0.5, 30, "progress reported")
    assert call.info().progress_meta == {"step": "half"}
    status = json.loads(cli("call", "status", call.object_id, "--json").stdout)
    assert (status["progress"], status["progress_meta"]) == (0.5, {"step": "half"})
    listed = json.loads(cli("call", "list", "--function", "test-control.reports", "--json").stdout)
    assert [(c["id"], c["state"], c["progress"]) for c in listed] == [(call.object_id, "running", 0.5)]
    log()["progress-1"] = "go"
    assert call.get(timeout=30) == "done"


def test_call_list_filters(workers: Workers) -> None:
    workers.start("--only", "stamp", app_file=CONTROL_APP)
    calls = [control_app.stamp.spawn(i) for i in range(4)]
    chute.FunctionCall.gather(*calls)
    out = cli(
        "call", "list", "--function", "test-control.stamp", "--state", "succeeded", "--limit", "3", "--json"
    )
    listed = json.loads(out.stdout)
    assert [c["id"] for c in listed] == [c.object_id for c in reversed(calls)][:3]
    assert json.loads(cli("call", "list", "--state", "failed", "--json").stdout) == []
    assert cli("call", "list", "--state", "nope").returncode == 1


# -- routing -------------------------------------------------------------------------------------


def test_only_and_tags_route_functions_to_workers(workers: Workers) -> None:
    workers.start("--only", "stamp", app_file=CONTROL_APP)
    control_app.stamp.spawn("up").get(timeout=60)
    elsewhere = control_app.serial.spawn("x")
    gpu = control_app.on_gpu.spawn()
    time.sleep(2.0)
    assert (elsewhere.info().state, gpu.info().state) == (chute.CallState.PENDING,) * 2
    workers.start("--only", "serial,on_gpu", app_file=CONTROL_APP)  # no tag: on_gpu stays pending
    assert elsewhere.get(timeout=60) == "x"
    assert gpu.info().state is chute.CallState.PENDING
    workers.start("--tag", "gpu", app_file=CONTROL_APP)
    assert gpu.get(timeout=60) == "gpu"
    bad = subprocess.run(
        [sys.executable, "-m", "chute", "worker", CONTROL_APP, "--only", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "nope" in bad.stderr


# -- rate limits, fairness, debounce ---------------------------------------------------------------


def test_rate_limit_holds_across_two_workers(workers: Workers) -> None:
    for _ in range(2):
        workers.start("--only", "limited", app_file=CONTROL_APP)
    calls = [control_app.limited.spawn(i) for i in range(16)]
    assert chute.FunctionCall.gather(*calls) == list(range(16))
    starts = sorted(c.info().started_at or 0.0 for c in calls)
    worst = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert worst <= 5, starts
    assert starts[-1] - starts[0] >= 2.0  # 16 calls at 5 per second


def test_per_key_cap_holds_while_other_keys_progress(workers: Workers) -> None:
    workers.start("--only", "keyed", app_file=CONTROL_APP)
    big = [control_app.keyed.with_options(concurrency_key="big").spawn("big", i) for i in range(10)]
    small = [control_app.keyed.with_options(concurrency_key="small").spawn("small", i) for i in range(2)]
    spans = [c.get(timeout=120) for c in [*big, *small]]
    big_spans = [(s, e) for k, s, e in spans if k == "big"]
    for _, start, _ in spans:
        running = sum(1 for s, e in big_spans if s <= start < e)
        assert running <= 2
    last_small = max(s for k, s, _ in spans if k == "small")
    last_big = max(s for s, _ in big_spans)
    assert last_small < last_big  # the small key was not starved by the big one's backlog


def test_debounce_runs_once_with_the_latest_arguments(workers: Workers) -> None:
    workers.start("--only", "stamp", app_file=CONTROL_APP)
    control_app.stamp.spawn("warm").get(timeout=60)
    debounced = control_app.stamp.with_options(idempotency_key="doc-1", delay=1.0, debounce=True)
    first = debounced.spawn("v1")
    time.sleep(0.6)
    second = debounced.spawn("v2")
    assert second == first
    tag, _ran_at = first.get(timeout=30)
    assert tag == "v2"
    info = first.info()
    assert info.attempts == 1 and info.started_at is not None
    assert info.started_at - info.created_at >= 1.5  # pushed back by the second spawn


# -- schedules -----------------------------------------------------------------------------------


def _calls(function: str) -> list[chute.CallInfo]:
    client = Client.from_env()
    records = inspection.calls(
        client, client.settings.env, app="test-schedule", function=function, limit=1000
    )
    return sorted((chute.CallInfo.from_record(r) for r in records), key=lambda i: i.created_at)


def _ticks(function: str) -> list[float]:
    return [i.created_at for i in _calls(function)]


def test_schedule_ticks_once_per_period_across_workers_and_survives_a_kill(workers: Workers) -> None:
    first = workers.start(app_file=SCHEDULE_APP)
    workers.start(app_file=SCHEDULE_APP)
    client = Client.from_env()
    wait_until(lambda: len(control_ops.schedules(client, client.settings.env)) == 2, 60, "schedules set up")
    wait_until(lambda: len(_ticks("every_second")) >= 1, 30, "the first tick")
    time.sleep(4.0)
    first.send_signal(signal.SIGKILL)  # its ticks are taken over; none is lost
    first.wait(10)
    time.sleep(4.0)
    ticks = _ticks("every_second")
    window = [t for t in ticks if t <= ticks[0] + 8.0]
    assert 6 <= len(window) <= 9, ticks
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(0.5 <= g <= 1.6 for g in gaps), gaps
    # Every tick's call runs (a call the killed worker held comes back after its lease).
    wait_until(
        lambda: all(i.state is chute.CallState.SUCCEEDED for i in _calls("every_second")[: len(ticks)]),
        30,
        "every tick ran",
    )
    assert {i.args_summary for i in _calls("every_second")} == {"every_second()"}  # a tick has no arguments


def test_cron_schedule_pause_resume_trigger(workers: Workers) -> None:
    workers.start(app_file=SCHEDULE_APP)
    client = Client.from_env()
    env = client.settings.env

    def state(name: str) -> ScheduleRecord:
        return next(s for s in control_ops.schedules(client, env) if s.function == name)

    wait_until(lambda: len(control_ops.schedules(client, env)) == 2, 60, "schedules set up")
    cron = state("every_minute")
    assert cron.next_at % 60 == 0 and 0 < cron.next_at - time.time() <= 60
    assert cron.next_at == chute.Cron("* * * * *").next_after(time.time())
    listing = json.loads(cli("schedule", "list", "--json").stdout)
    assert {r["function"] for r in listing} == {"test-schedule.every_second", "test-schedule.every_minute"}
    # Trigger: the next tick is due now, a worker runs it at once, then the cron goes on.
    assert cli("schedule", "trigger", "test-schedule.every_minute").returncode == 0
    wait_until(lambda: state("every_minute").last_call is not None, 10, "the triggered tick")
    call = chute.FunctionCall.from_id(state("every_minute").last_call or "")
    call.get(timeout=30)
    # Back on the cron's next minute once a worker has taken the triggered tick.
    wait_until(lambda: state("every_minute").next_at % 60 == 0, 30, "the cron's next minute")
    after = state("every_minute").next_at
    assert 0 < after - time.time() <= 60
    # Pause: no more ticks; resume: the missed tick runs once.
    assert cli("schedule", "pause", "test-schedule.every_second").returncode == 0
    time.sleep(1.5)
    paused_at = len(_ticks("every_second"))
    time.sleep(2.5)
    assert len(_ticks("every_second")) == paused_at
    assert cli("schedule", "resume", "test-schedule.every_second").returncode == 0
    wait_until(lambda: len(_ticks("every_second")) == paused_at + 1, 10, "the missed tick")
    time.sleep(0.5)
    assert len(_ticks("every_second")) <= paused_at + 2  # once, not once per missed period
    assert cli("schedule", "pause", "test-schedule.nope").returncode == 1


# -- when schedules tick (pure) ----------------------------------------------------------------------


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("*/5 * * * *", "UTC", _utc(2026, 1, 1, 10, 3, 20), _utc(2026, 1, 1, 10, 5)),
        ("*/5 * * * *", "UTC", _utc(2026, 1, 1, 10, 5), _utc(2026, 1, 1, 10, 10)),  # strictly after
        ("0 6 * * mon-fri", "UTC", _utc(2026, 1, 2, 7), _utc(2026, 1, 5, 6)),  # Friday -> Monday
        ("0 6 * * *", "America/New_York", _utc(2026, 1, 1, 12), _utc(2026, 1, 2, 11)),  # EST
        ("0 6 * * *", "America/New_York", _utc(2026, 7, 1, 12), _utc(2026, 7, 2, 10)),  # EDT
        ("0 0 29 2 *", "UTC", _utc(2026, 3, 1), _utc(2028, 2, 29)),
        ("0 0 1,15 * 1", "UTC", _utc(2026, 1, 2), _utc(2026, 1, 5)),  # day of month OR day of week
        ("@hourly", "UTC", _utc(2026, 1, 1, 10, 30), _utc(2026, 1, 1, 11)),
    ],
)
def test_cron_next_after(cron: str, tz: str, after: float, expected: float) -> None:
    assert chute.Cron(cron, timezone=tz).next_after(after) == expected


def test_period_next_after_stays_on_its_grid_and_skips_missed_ticks() -> None:
    p = chute.Period(seconds=1)
    assert p.next_after(100.0) == 101.0
    assert p.next_after(100.3, last_due=100.0) == 101.0
    assert p.next_after(105.5, last_due=100.0) == 106.0  # ticks missed meanwhile run once
    monthly = chute.Period(months=1)
    assert monthly.next_after(_utc(2026, 1, 31, 12), last_due=_utc(2026, 1, 31)) == _utc(2026, 2, 28)
