"""``chute serve``: refusal to expose an open server, option checks, and a real end-to-end run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chute.cli import app
from chute.http import is_loopback
from tests._servers import free_port
from tests.http.conftest import APP_FILE, ROOT

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the uvicorn run with a recorder: option checks run, nothing binds a port."""
    calls: list[dict[str, Any]] = []

    def fake_run(
        app: Any, host: str, port: int, log_level: str, web_host: Any = None, servers: Any = None
    ) -> None:
        calls.append({"config": app.state.config, "host": host, "port": port, "web_host": web_host})

    # By module object: the package attribute chute.cli.serve is the command function.
    monkeypatch.setattr(sys.modules["chute.cli.serve"], "_run", fake_run)
    monkeypatch.delenv("CHUTE_TOKEN", raising=False)
    return calls


def test_loopback_addresses() -> None:
    for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "LOCALHOST"]:
        assert is_loopback(host), host
    for host in ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "localhost.example.com", ""]:
        assert not is_loopback(host), host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "my-host.example.com"])
def test_refuses_a_non_loopback_address_without_a_token(host: str, no_serving: list[dict[str, Any]]) -> None:
    code, out = cli("serve", "--host", host)
    assert code == 2
    assert f"Refusing to serve on {host} without a token" in out and "--token" in out
    assert no_serving == []


def test_a_token_allows_other_addresses(
    no_serving: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = cli("serve", "--host", "0.0.0.0", "--port", "9999", "--token", "s3cret:dev,prod")
    assert code == 0
    (call,) = no_serving
    assert (call["host"], call["port"]) == ("0.0.0.0", 9999)
    (token,) = call["config"].tokens.tokens
    assert token.secret == "s3cret" and token.envs == frozenset({"dev", "prod"})

    monkeypatch.setenv("CHUTE_TOKEN", "from-env")
    code, _ = cli("serve", "--host", "0.0.0.0", "--allow-pickle", "--env", "dev", "--env", "prod")
    assert code == 0
    config = no_serving[-1]["config"]
    assert [t.secret for t in config.tokens.tokens] == ["from-env"]
    assert config.allow_pickle and config.default_env == "dev" and config.envs == ("dev", "prod")


def test_option_errors(no_serving: list[dict[str, Any]]) -> None:
    for args, message in [
        (["--allow-pickle"], "--allow-pickle needs a token"),
        (["--token", "abc:"], "Invalid token spec"),
        (["--env", "bad env"], "Invalid environment name"),
        (["--workers"], "--workers needs at least one APP_FILE"),
    ]:
        code, out = cli("serve", *args)
        assert code == 2 and message in out, (args, out)
    assert no_serving == []
    assert cli("serve")[0] == 0 and no_serving[0]["host"] == "127.0.0.1" and no_serving[0]["port"] == 8000
    web_host = no_serving[0]["web_host"]
    assert web_host is not None and web_host.envs == ("main",) and not web_host.private
    assert cli("serve", "--no-web")[0] == 0 and no_serving[1]["web_host"] is None


def test_serve_with_workers_end_to_end(chute_env: str) -> None:
    """A real ``chute serve APP --workers`` process: API, dashboard, jobs, graceful stop."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "chute",
        "serve",
        APP_FILE,
        "--workers",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "CHUTE_LEASE": "1.0"})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
            assert "chute dashboard" in http.get("/").text
            call_id = http.post("/functions/http-test/add/spawn", json={"args": [20, 22]}).json()["call_id"]
            r = http.get(f"/calls/{call_id}/result", params={"timeout": 30})
            assert (r.status_code, r.json()) == (200, {"result": 42})
            workers = http.get("/dashboard/summary").json()["workers"]
            assert [w["alive"] for w in workers] == [True] and workers[0]["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_uvicorn_takes_over_exits(sig: signal.Signals) -> None:
    """A signal that arrives while the server starts (before uvicorn handles signals) ends
    ``chute serve`` at once: it was once swallowed, and the server then ran on regardless."""
    graceful = sys.modules["chute.cli.serve"]._graceful_signals
    with pytest.raises(SystemExit) as exc, graceful(lambda: False):
        signal.raise_signal(sig)
    assert exc.value.code == 128 + sig


def test_the_signal_uvicorn_re_raises_is_taken_once() -> None:
    """uvicorn re-raises the signal it shut down on: that one is a no-op (the workers still
    have to stop); a second signal exits at once."""
    graceful = sys.modules["chute.cli.serve"]._graceful_signals
    with pytest.raises(SystemExit) as exc, graceful(lambda: True):
        signal.raise_signal(signal.SIGTERM)  # uvicorn's re-raise: swallowed
        signal.raise_signal(signal.SIGINT)  # the impatient second one
    assert exc.value.code == 128 + signal.SIGINT
