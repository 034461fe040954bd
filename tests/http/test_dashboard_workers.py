"""The dashboard's workers view and chart axes in headless Chromium: a live worker's host, pid,
executors, the call it runs (id, function, attempt, running for) and its memory; charts that
say which time they cover. Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import os
import re
import socket

from playwright.sync_api import expect

import chute
from tests._workers import wait_until
from tests.http.conftest import LiveServer, Workers, fast_config
from tests.http.test_dashboard_browser import ARTIFACTS, Tab, browser, tab  # noqa: F401 - fixtures


def test_workers_view_shows_current_calls_and_memory(
    tab: Tab,  # noqa: F811 - the fixture imported above
    chute_env: str,
    workers: Workers,
    deployed: None,
) -> None:
    from tests.http import http_app

    proc = workers.start()
    slow = http_app.nap.spawn(50)
    running = chute.CallState.RUNNING
    wait_until(lambda: slow.info().state is running, 60, "the call running on the worker")
    page = tab.page
    with LiveServer(fast_config(history_seconds=600)) as server:
        page.goto(server.url + "/")
        expect(page.locator("body[data-loaded='1']")).to_have_count(1)
        row = page.locator("#workers tbody tr[data-worker]")
        expect(row).to_have_count(1, timeout=30_000)
        expect(row.locator("td.host")).to_have_text(socket.gethostname())
        expect(row.locator("td.pid")).to_have_text(str(proc.pid))
        # The call it runs, with its function, attempt and how long it has run (auto-refresh).
        held = row.locator(f"li[data-worker-call='{slow.object_id}']")
        expect(held).to_contain_text("http-test.nap", timeout=30_000)
        expect(held).to_contain_text("attempt 1")
        expect(held).to_contain_text(re.compile(r"running for [\d.]+ (s|min)"))
        expect(row.locator("td.executors")).to_have_text(re.compile(r"^1 / \d+$"))
        # Supervisor plus executor: tens of MiB at least.
        expect(row.locator("td.memory")).to_have_text(re.compile(r"^\d+ MiB$"))
        mib = int((row.locator("td.memory").text_content() or "0").split()[0])
        assert 20 <= mib < 4096, mib
        # Charts name the window they cover and label their time axes.
        expect(page.locator("#depth-span")).to_have_text("(last 10 min, sampled every 0.2 s)")
        expect(page.locator("#throughput-span")).to_contain_text("last 10 min, finished calls per 5 s")
        for chart in ("#depth-chart", "#throughput-chart"):
            expect(page.locator(f"{chart} text.tick-label")).to_have_count(5)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-workers.png"), full_page=True)
        # Once the call ends (cancelled here), the worker shows it idle.
        slow.cancel()
        expect(row.locator("td.calls")).to_have_text("idle", timeout=30_000)
    assert chute.FunctionCall.from_id(slow.object_id).info().state is chute.CallState.CANCELLED
    assert os.path.getsize(ARTIFACTS / "dashboard-workers.png") > 10_000
    assert tab.errors == [], tab.errors
