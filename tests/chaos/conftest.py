"""Fixtures of the chaos suite: the ``tally`` every scenario fills in, and its summary."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

import pytest

from chute import _client
from tests.chaos._tally import RESULTS, Tally, record


@pytest.fixture(autouse=True)
def _close_new_clients() -> Iterator[None]:
    """Close the process-wide clients a test opened (some tests point CHUTE_URL at servers of
    their own), even when the test failed before closing them itself."""
    before = set(_client._clients)
    yield
    for key in set(_client._clients) - before:
        _client._clients.pop(key).close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"chaos_rep_{rep.when}", rep)


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """A Tally named after the test (the test may rename it); recorded at teardown."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    backend = str(params.get("backend_url", "-"))
    t = Tally(scenario=request.node.originalname.removeprefix("test_"), backend=backend)
    start = time.monotonic()
    yield t
    t.seconds = time.monotonic() - start
    rep = getattr(request.node, "chaos_rep_call", None)
    t.outcome = "passed" if rep is not None and rep.passed else "FAILED"
    record(t)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("chaos tally (also in test-artifacts/chaos-tally.txt)")
    for t in RESULTS:
        terminalreporter.write_line(t.line())
