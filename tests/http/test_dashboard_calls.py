"""The dashboard's calls in headless Chromium: filters, search, paging, a call's detail (its
arguments summary, output, a traceback that starts at the user's code), cancel with a token,
and an 800 px layout. Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chute.http import load_tokens
from tests.http.conftest import LiveServer, Workers, fast_config
from tests.http.test_dashboard_browser import ARTIFACTS, Tab, browser, tab  # noqa: F401 - fixtures


def test_calls_filters_search_detail_cancel_at_800px(
    tab: Tab,  # noqa: F811 - the fixture imported above
    chute_env: str,
    workers: Workers,
    deployed: None,
) -> None:
    from tests.http import http_app

    workers.start()
    ok = http_app.add.spawn(1, 2)
    failed = http_app.boom.spawn("dashboard")
    assert ok.get(timeout=60) == 3
    with pytest.raises(ValueError):
        failed.get(timeout=60)
    slow = http_app.nap.spawn(120)

    page = tab.page
    page.set_viewport_size({"width": 800, "height": 1000})
    config = fast_config(tokens=load_tokens(["dev-token"]))
    with LiveServer(config) as server:
        page.goto(server.url + "/#token=dev-token")
        expect(page.locator("body[data-loaded='1']")).to_have_count(1)
        rows = page.locator("#calls tbody tr[data-call]")
        assert tab.errors == [], tab.errors
        expect(rows).to_have_count(3)

        page.select_option("#calls-state", "failed")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-call", failed.object_id)
        rows.first.locator("td").first.click()
        detail = page.locator("#call-detail")
        expect(detail.locator("pre.logs")).to_have_text("about to fail: dashboard\n")
        # The arguments summary stored at submit (never the unpickled arguments).
        arguments = detail.locator("table.kv tr", has=page.locator("th", has_text="arguments"))
        expect(arguments.locator("td")).to_have_text("boom('dashboard')")
        tb = detail.locator("pre.traceback").text_content() or ""
        assert "http_app.py" in tb.splitlines()[1] and "chute/worker" not in tb, tb
        page.screenshot(path=str(_artifact("dashboard-call-detail-800.png")), full_page=True)

        page.select_option("#calls-state", "")
        page.select_option("#calls-fn", label="http-test.add")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-call", ok.object_id)
        page.select_option("#calls-fn", "")

        page.fill("#calls-id", slow.object_id)
        page.click("#calls-search button")
        expect(rows).to_have_count(1)
        # The listing before the search had one row too (the add filter's): wait for the found one.
        expect(rows.first).to_have_attribute("data-call", slow.object_id)
        rows.first.locator("td").first.click()
        expect(detail.locator("h3 code")).to_have_text(slow.object_id)
        expect(arguments.locator("td")).to_have_text("nap(120)")
        page.click("#call-cancel")
        expect(detail.locator("table.kv")).to_contain_text("cancelled", timeout=30_000)
        # Nothing wider than the window at 800 px: tables scroll inside their cards.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, width
        page.screenshot(path=str(_artifact("dashboard-800.png")), full_page=True)
    assert tab.errors == [], tab.errors


def _artifact(name: str) -> object:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
