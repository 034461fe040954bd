"""The dashboard in a real headless Chromium (Playwright) against a live server.

Uses Debian's /usr/bin/chromium (scripts/test installs it); Playwright downloads nothing. A
browser that cannot start fails these tests: they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

import chute
from chute.http import load_tokens
from tests._workers import wait_until
from tests.http.conftest import ROOT, LiveServer, Workers, fast_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """A browser page, and the script errors and console errors it logged."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        # Script errors and CSP violations land here (CSP reports are console errors).
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    t = Tab(browser)
    yield t
    t.context.close()


def test_dashboard_shows_queues_dicts_calls_and_charts(
    tab: Tab, chute_env: str, workers: Workers, deployed: None
) -> None:
    from tests.http import http_app

    page = tab.page
    q = chute.Queue.from_name("orders", create_if_missing=True)
    q.put_many([{"id": 1}, {"id": 2}, {"id": 3}])
    q.put_many(["eu-1", "eu-2"], partition="eu")
    d = chute.Dict.from_name("settings", create_if_missing=True)
    d.update({"retries": 3, "mode": "fast"})
    workers.start()
    ok = http_app.add.spawn(1, 2)
    failed = http_app.boom.spawn("dashboard")
    assert ok.get(timeout=60) == 3
    with pytest.raises(ValueError):
        failed.get(timeout=60)

    with LiveServer(fast_config()) as server:
        page.goto(server.url + "/")
        expect(page.locator("body[data-loaded='1']")).to_have_count(1)
        # Queue with its total length; partitions, expiry and peek on click.
        expect(page.locator("tr[data-queue='orders'] td.len")).to_have_text("5")
        page.locator("tr[data-queue='orders']").click()
        expect(page.locator("#queue-detail tr[data-partition='eu'] td.num")).to_have_text("2")
        expect(page.locator("#queue-detail tr[data-partition='eu']")).to_contain_text("in 24 h")
        page.locator("#queue-detail tr[data-partition='eu'] button").click()
        expect(page.locator("#queue-detail .peek pre")).to_have_text('"eu-1"\n"eu-2"')
        # Dict size and browsing.
        expect(page.locator("tr[data-dict='settings'] td.len")).to_have_text("2")
        page.locator("tr[data-dict='settings']").click()
        expect(page.locator("#dict-detail")).to_contain_text("mode")
        expect(page.locator("#dict-detail")).to_contain_text('"fast"')
        # Functions with their counts; the failed call with its traceback.
        expect(page.locator("tr[data-function='http-test.boom'] td").nth(5)).to_have_text("1")
        row = page.locator(f"tr[data-call='{failed.object_id}']")
        expect(row.locator(".state")).to_have_text("failed")
        row.locator("summary").click()
        traceback = row.locator("pre.traceback")
        expect(traceback).to_be_visible()
        expect(traceback).to_contain_text("raise ValueError")
        expect(traceback).to_contain_text("ValueError: boom: dashboard")
        expect(page.locator(f"tr[data-call='{ok.object_id}'] .state")).to_have_text("succeeded")
        # The worker pool registered itself.
        expect(page.locator("#workers tbody tr")).to_have_count(1)
        expect(page.locator("#workers tbody tr")).to_contain_text("alive")
        # Charts: sampled queue depth lines and a throughput bar per finished call.
        expect(page.locator("#depth-chart polyline[data-series='orders']")).to_have_count(1)
        expect(page.locator("#throughput-legend")).to_contain_text("succeeded 1")
        expect(page.locator("#throughput-legend")).to_contain_text("failed 1")
        # Auto-refresh picks up changes without a reload; the open traceback stays open.
        q.put("one more")
        expect(page.locator("tr[data-queue='orders'] td.len")).to_have_text("6")
        expect(traceback).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        # Retry button: the failed call runs again under its id (and fails again: boom).
        row.locator("button.retry").click()
        wait_until(lambda: failed.info().attempts >= 2, 60, "the retried call ran")
    assert Path(ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert tab.errors == []


def test_dashboard_asks_for_a_token(tab: Tab, chute_env: str) -> None:
    chute.Queue.objects.create("private", environment_name="dev")
    config = fast_config(tokens=load_tokens(["dev-token:dev"]))
    page = tab.page
    with LiveServer(config) as server:
        page.goto(server.url + "/")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#token", "wrong")
        page.click("#login button")
        expect(page.locator("#login-error")).to_have_text("That token was refused.")
        page.fill("#token", "dev-token")
        page.click("#login button")
        expect(page.locator("tr[data-queue='private']")).to_have_count(1)
        expect(page.locator("#env")).to_have_value("dev")
    # Only the expected refusals: the first load and the wrong token.
    assert tab.errors and all("401" in e for e in tab.errors), tab.errors
