"""Bad input always gets a clear chute error (issue 10, part B, and part A.7's settings table).

Each test names the defect it covers (B1 … B9). Storage behaviour runs on every backend
(``chute_env``); URL, SQLite-file and Redis-server cases are backend-specific.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import chute
from chute import _outcome, _settings_table, _validate
from chute._client import Client
from chute.backends.types import Kind
from chute.cli import app as cli_app
from chute.config import Limits, Settings, parse_url
from chute.exception import BackendUnavailableError, InvalidError, RemoteError, SerializationError
from tests._servers import RedisServer, start_redis
from tests._workers import start_worker, stop
from tests.conftest import CLEARED_VARS, close_clients, new_store_url

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli_app, list(args))
    return result.exit_code, result.output


def chute_cmd(
    *args: str, cwd: Path | None = None, timeout: float = 90, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m chute ARGS`` in a real process (with ``env`` added to this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "chute", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def strict_json(text: str) -> Any:
    """Parse like a strict JSON parser (jq, browsers): NaN and Infinity are errors."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"invalid JSON constant {constant} in output")

    return json.loads(text, parse_constant=refuse)


# -- A.7: one table owns the configuration ---------------------------------------------------------


def test_only_the_settings_table_reads_the_environment() -> None:
    reads = re.compile(r"os\.environ\.get|os\.getenv|os\.environ\[|environ\.get\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "chute").rglob("*.py")
        if path.name != "_settings_table.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if reads.search(line)
    ]
    assert offenders == []


def test_every_chute_variable_in_the_code_is_in_the_table() -> None:
    not_variables = {"CHUTE_OPTIONS", "CHUTE_NOTFOUND"}  # a Python constant, a Lua error token
    names = {
        name
        for path in (ROOT / "chute").rglob("*.py")
        for name in re.findall(r"\bCHUTE_[A-Z_]+[A-Z]\b", path.read_text())
    }
    assert names - not_variables - set(_settings_table.BY_NAME) == set()


def test_readme_configuration_table_is_generated_from_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert _settings_table.markdown() in readme, "paste `python -m chute._settings_table` into README.md"


def test_client_cache_key_covers_every_settings_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_URL", "sqlite:///tmp/never-opened/chute.db")
    monkeypatch.setenv("CHUTE_LEASE", "3")
    first = Client.from_env()
    monkeypatch.setenv("CHUTE_LEASE", "4")
    second = Client.from_env()
    assert (first.settings.lease, second.settings.lease) == (3.0, 4.0)
    keyed = [v.name for v in _settings_table.VARS if v.settings]
    assert {"CHUTE_URL", "CHUTE_LEASE", "CHUTE_MAX_VALUE_BYTES"} <= set(keyed)


BAD_SETTINGS = [
    ("CHUTE_URL", "sqlite:///tmp/x.db?synchronus=full", "synchronous"),  # B7 misspelt option
    ("CHUTE_URL", "sqlite:///tmp/x.db ", "whitespace"),  # B7 trailing space
    ("CHUTE_URL", "redis://127.0.0.1/abc", "database number"),  # B7
    ("CHUTE_URL", "redis://127.0.0.1/0?socket_timeout=abc", "CHUTE_TIMEOUT"),  # B6
    ("CHUTE_URL", "redis://127.0.0.1/0?ssl_cert_reqs=none", "rediss://"),  # B6
    ("CHUTE_URL", "redis://127.0.0.1/0?ssl_cert_reqs=", "rediss://"),  # B6
    ("CHUTE_URL", "rediss://127.0.0.1/0?ssl_cert_reqs=maybe", "none|optional|required"),
    ("CHUTE_URL", "redis://127.0.0.1/0?prefix=a{b}", "prefix"),
    ("CHUTE_URL", "redis+cluster://127.0.0.1/3", "database 0"),
    ("CHUTE_ENV", "bad name", "environment"),  # B7
    ("CHUTE_ENV", "main\n", "environment"),  # B7
    ("CHUTE_SECRET", "", "empty"),  # B7
    ("CHUTE_TIMEOUT", "nan", "CHUTE_TIMEOUT"),  # B6
    ("CHUTE_TIMEOUT", "inf", "CHUTE_TIMEOUT"),  # B6
    ("CHUTE_LEASE", "-1", "CHUTE_LEASE"),  # B4
    ("CHUTE_LEASE", "nan", "CHUTE_LEASE"),  # B4
    ("CHUTE_EPHEMERAL_TTL", "1e300", "CHUTE_EPHEMERAL_TTL"),
    ("CHUTE_MAX_PARTITION_ITEMS", "1e20", "CHUTE_MAX_PARTITION_ITEMS"),  # B6
    ("CHUTE_MAX_PARTITION_ITEMS", str(10**20), "CHUTE_MAX_PARTITION_ITEMS"),  # B6
    ("CHUTE_MAX_VALUE_BYTES", "0", "CHUTE_MAX_VALUE_BYTES"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD_SETTINGS)
def test_bad_settings_fail_when_settings_are_built(
    name: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUTE_URL", "sqlite:///tmp/never-opened/chute.db")
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidError, match=re.escape(says)):
        Settings.from_env()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///tmp/x.db?synchronous=FULL",
        "redis://u:pw@h:1/2?prefix=p:&socket_keepalive=true&max_connections=8",
        "valkey://h",
        "rediss://h:1/0?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem&ssl_check_hostname=false",
        "unix:///tmp/v.sock?db=1&prefix=x:",
        "redis+cluster://h:1/0?prefix=c:",
    ],
)
def test_good_urls_still_parse(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.raw == url and "prefix" not in parsed.client_url


def test_url_errors_never_echo_a_password() -> None:
    with pytest.raises(InvalidError) as info:
        parse_url("redis://u:hunter2@h:1/0?password=hunter3&bogus=1")
    assert "hunter" not in str(info.value)


def test_one_ttl_cap_everywhere() -> None:
    from chute.http.api_queues import PartitionTTL

    http_cap = next(m.le for m in PartitionTTL.__metadata__[0].metadata if hasattr(m, "le"))
    assert http_cap == _validate.MAX_TTL == 10 * 365 * 24 * 3600
    assert _validate.check_ttl(_validate.MAX_TTL) == _validate.MAX_TTL
    with pytest.raises(InvalidError, match="10 years"):
        _validate.check_ttl(_validate.MAX_TTL + 1)
    with pytest.raises(InvalidError, match="result_ttl"):
        chute.App("ttl-cap").function(result_ttl=1e12)


# -- B1: errors and tracebacks are bounded by CHUTE_MAX_VALUE_BYTES ------------------------------


def test_pack_error_is_bounded_and_keeps_the_exception_type() -> None:
    settings = Settings(
        url=parse_url("sqlite:///tmp/never-opened/chute.db"), limits=Limits(max_value_bytes=1_000_000)
    )
    exc = ValueError("e" * 5_000_000)
    traceback_text = f"Traceback (most recent call last):\n  ...\nValueError: {exc}\n"
    data = _outcome.pack_error(exc, traceback_text, settings)
    assert len(data) <= 1_000_000
    with pytest.raises(ValueError, match="truncated") as info:
        _outcome.unpack(data, settings, "fc-test")
    assert len(str(info.value)) < 1_000_000
    tb = _outcome.traceback_of(data, settings)
    assert tb is not None and "truncated" in tb and tb.rstrip().endswith("e")
    tiny = Settings(url=settings.url, limits=Limits(max_value_bytes=1000))
    assert len(_outcome.pack_error(exc, traceback_text, tiny)) <= 1000


# -- jobs run by a real worker (B1, B9) -----------------------------------------------------------


WORKER_MAX_VALUE_BYTES = "1000000"


@pytest.fixture(scope="module")
def module_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """The store of a backend kind that one ``chute worker`` on bad_input_app.py and
    broken_executor_app.py serves, with a 1 MB value limit: started on first use and shared by
    the module's tests (each spawns its own calls), as a worker's start-up is most of such a
    test's time."""
    started: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}

    def store_url(kind: str) -> str:
        if kind not in started:
            url = new_store_url(kind, request, tmp_path_factory)
            apps = [str(APPS / "bad_input_app.py"), str(APPS / "broken_executor_app.py")]
            started[kind] = (
                url,
                start_worker(url, *apps, timeout=30, CHUTE_MAX_VALUE_BYTES=WORKER_MAX_VALUE_BYTES),
            )
        url, proc = started[kind]
        assert proc.poll() is None, "the worker exited"
        return url

    try:
        yield store_url
    finally:
        stop([proc for _, proc in started.values()], 30)


@pytest.fixture
def bad_worker(
    backend_url: str,
    request: pytest.FixtureRequest,
    module_workers: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """The module's worker for this test's backend, and this process pointed at its store (as
    ``chute_env`` does for a fresh store)."""
    url = module_workers(request.node.callspec.params["backend_url"])
    for var in CLEARED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CHUTE_URL", url)
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", WORKER_MAX_VALUE_BYTES)
    yield
    close_clients(url)


def test_huge_exception_is_stored_bounded(bad_worker: None) -> None:
    """B1: ``raise ValueError("e" * 5_000_000)`` under a 1 MB limit."""
    call = chute.Function.from_name("test-bad-input", "huge_error").spawn(5_000_000)
    with pytest.raises(ValueError, match="truncated") as info:
        call.get(timeout=60)
    assert len(str(info.value)) < 1_000_000
    record = Client.from_env().sync_backend().job_get(call.object_id)
    assert record is not None and record.result is not None and len(record.result) <= 1_000_000
    details = call.info()
    assert details.traceback is not None and "truncated" in details.traceback
    assert len(details.traceback) < 1_000_000


def test_unpicklable_result_names_its_type(bad_worker: None) -> None:
    """B9: an unpicklable return value was reported as "Cannot serialize a tuple"."""
    call = chute.Function.from_name("test-bad-input", "unpicklable_result").spawn()
    with pytest.raises(SerializationError) as info:
        call.get(timeout=60)
    assert "lock" in str(info.value) and "a tuple" not in str(info.value)


def test_remote_exception_that_unpickles_to_a_non_exception(bad_worker: None) -> None:
    """B9: the client crashed calling ``add_note`` on a str."""
    call = chute.Function.from_name("test-bad-input", "weird_error").spawn()
    with pytest.raises(RemoteError, match="Weird"):
        call.get(timeout=60)


def test_executor_import_failure_reaches_the_caller(bad_worker: None) -> None:
    """B9: the caller saw only "exited with code 1"."""
    call = chute.Function.from_name("test-broken-executor", "never_runs").spawn()
    with pytest.raises(RemoteError, match=r"libexample\.so is missing"):
        call.get(timeout=60)


def test_cli_cancel_of_a_finished_call_says_so(bad_worker: None) -> None:
    """B9: ``chute call cancel`` printed "Cancelled" for a call that had finished."""
    done = chute.Function.from_name("test-bad-input", "ok").spawn()
    assert done.get(timeout=60) == 1
    code, out = cli("call", "cancel", done.object_id)
    assert code == 0 and "already finished" in out and "Cancelled" not in out
    assert done.get(timeout=0) == 1


def test_unpicklable_arguments_name_their_type(chute_env: str) -> None:
    """B9: spawn(lock) said "Cannot serialize a tuple"."""
    import threading

    settings = Client.from_env().settings
    with pytest.raises(SerializationError) as info:
        _outcome.dump_args((1, threading.Lock()), {}, settings)
    assert "argument 1" in str(info.value) and "lock" in str(info.value)


# -- B2, B3: partition TTLs are capped before anything is written --------------------------------


@pytest.mark.parametrize("ttl", [1e12, 1e16, math.inf, math.nan, True, _validate.MAX_TTL + 1])
def test_partition_ttl_out_of_range_writes_nothing(chute_env: str, ttl: float) -> None:
    q = chute.Queue.from_name("ttl", create_if_missing=True)
    with pytest.raises(InvalidError, match="partition_ttl"):
        q.put("x", partition_ttl=ttl)
    with pytest.raises(InvalidError, match="partition_ttl"):
        q.put_many(["x", "y"], partition="p", partition_ttl=ttl)
    assert q.len(total=True) == 0
    assert q.partitions() == []
    q.put("kept", partition_ttl=_validate.MAX_TTL)  # the cap itself is fine, and lists cleanly
    [(key, n, expires)] = q.partitions()
    assert (key, n) == (None, 1) and expires.year >= time.gmtime().tm_year + 9
    code, out = cli("queue", "list", "--json")
    assert code == 0 and strict_json(out)[0]["total_size"] == 1


def test_backend_refuses_a_bad_ttl_before_its_script(chute_env: str) -> None:
    """B3: on Redis the failing script used to store the item anyway (without expiry)."""
    q = chute.Queue.from_name("ttl-backend", create_if_missing=True)
    q.hydrate()
    backend = Client.from_env().sync_backend()
    with pytest.raises(InvalidError):
        backend.queue_put(q.object_id, b"", [b"\x00x"], ttl=1e16, max_items=10, max_partitions=10)
    assert q.len(total=True) == 0 and q.partitions() == []


# -- B4: CHUTE_LEASE ------------------------------------------------------------------------------


@pytest.mark.parametrize("lease", ["-1", "nan"])
def test_chute_run_with_bad_lease_exits_with_the_error(chute_env: str, lease: str, tmp_path: Path) -> None:
    app_file = tmp_path / "lease_app.py"
    app_file.write_text(
        "import chute\napp = chute.App('lease-app')\n\n@app.function()\ndef f():\n    return 1\n\n"
        "@app.local_entrypoint()\ndef main():\n    print(f.remote())\n"
    )
    result = chute_cmd("run", str(app_file), timeout=60, CHUTE_LEASE=lease)
    assert result.returncode == 1 and "CHUTE_LEASE" in result.stderr


# -- B5: another application's SQLite file ----------------------------------------------------------


def test_foreign_sqlite_database_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "other-app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users(name) VALUES ('ada')")
    conn.close()
    before = path.read_bytes()
    monkeypatch.setenv("CHUTE_URL", f"sqlite://{path}")
    client = Client(Settings.from_env())
    try:
        with pytest.raises(InvalidError, match="not a chute database"):
            client.sync_backend().lookup_object(Kind.QUEUE, "main", "q")
    finally:
        client.close()
    with pytest.raises(InvalidError, match="not a chute database"):
        asyncio.run(_async_lookup(client))
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        assert tables == ["users"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert not (tmp_path / "other-app.db-wal").exists()


async def _async_lookup(client: Client) -> None:
    try:
        await client.async_backend().lookup_object(Kind.QUEUE, "main", "q")
    finally:
        await client.aclose()


def test_empty_file_and_chute_database_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    for _ in range(2):  # new, then reopened
        client = Client(Settings(url=parse_url(f"sqlite://{path}")))
        try:
            assert client.sync_backend().lookup_object(Kind.QUEUE, "main", "q") is None
        finally:
            client.close()


# -- B6: raw exceptions ---------------------------------------------------------------------------


def test_huge_numbers_and_bad_text_are_invalid(chute_env: str) -> None:
    q = chute.Queue.from_name("raw", create_if_missing=True)
    q.put_many([1, 2, 3])
    with pytest.raises(InvalidError, match="n_values"):
        q.get_many(2**63)
    assert q.get_many(_validate.MAX_COUNT, block=False) == [1, 2, 3]
    with pytest.raises(InvalidError, match="timeout"):
        q.get(timeout=10**400)
    with pytest.raises(InvalidError, match="timeout"):
        q.get(timeout=math.nan)
    with pytest.raises(InvalidError, match="maxsize"):
        chute.Queue(maxsize=10**20)
    for op in (
        lambda: q.put(1, partition="\ud800"),
        lambda: q.get(partition="\ud800"),
        lambda: q.len(partition="\ud800"),
    ):
        with pytest.raises(InvalidError, match="surrogate"):
            op()
    call = chute.FunctionCall.from_id("fc-" + "a" * 22)
    for timeout in (math.nan, True, -1, math.inf, 10**400):
        with pytest.raises(InvalidError, match="timeout"):
            call.get(timeout=timeout)


async def test_function_call_get_aio_validates_timeout(chute_env: str) -> None:
    call = chute.FunctionCall.from_id("fc-" + "b" * 22)
    with pytest.raises(InvalidError, match="timeout"):
        await call.get.aio(timeout=math.nan)


def test_cli_get_with_a_huge_count_is_an_error_not_a_traceback(chute_env: str) -> None:
    chute.Queue.objects.create("q")
    result = runner.invoke(cli_app, ["queue", "get", "q", "9223372036854775808"])
    assert result.exit_code == 1 and "n_values" in result.output
    assert isinstance(result.exception, SystemExit)


def _unwritable_folder(tmp_path: Path) -> list[Path]:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folders = [blocker / "sub"]  # a path through a regular file
    if os.geteuid() == 0 and Path("/sys").is_dir():
        folders.append(Path(f"/sys/chute-test-{uuid.uuid4().hex[:8]}"))  # EPERM even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        folders.append(locked / "sub")
    return folders


def test_unwritable_database_folder_is_a_chute_error(tmp_path: Path) -> None:
    for folder in _unwritable_folder(tmp_path):
        client = Client(Settings(url=parse_url(f"sqlite://{folder}/chute.db")))
        try:
            with pytest.raises(BackendUnavailableError, match="CHUTE_URL"):
                client.sync_backend().lookup_object(Kind.QUEUE, "main", "q")
        finally:
            client.close()


def _cluster_client(redis_srv: RedisServer) -> Client:
    return Client(Settings(url=parse_url(f"redis+cluster://127.0.0.1:{redis_srv.port}/0?prefix=c:")))


def test_cluster_url_against_a_standalone_server(redis_srv: RedisServer) -> None:
    client = _cluster_client(redis_srv)
    try:
        with pytest.raises(InvalidError, match="not a Redis Cluster"):
            client.sync_backend().lookup_object(Kind.QUEUE, "main", "q")
    finally:
        client.close()

    async def main() -> None:
        aclient = _cluster_client(redis_srv)
        try:
            with pytest.raises(InvalidError, match="not a Redis Cluster"):
                await aclient.async_backend().lookup_object(Kind.QUEUE, "main", "q")
        finally:
            await aclient.aclose()

    asyncio.run(main())


def test_redis_database_out_of_range(redis_srv: RedisServer) -> None:
    """B9: ``redis://…/99`` suggested upgrading Redis."""
    client = Client(Settings(url=parse_url(f"redis://127.0.0.1:{redis_srv.port}/99")))
    try:
        with pytest.raises(InvalidError) as info:
            client.sync_backend().lookup_object(Kind.QUEUE, "main", "q")
    finally:
        client.close()
    assert "databases" in str(info.value) and "Redis >=" not in str(info.value)


BROKEN_FILES = {
    "syntax": ("x = 1\n\ndef broken(:\n    pass\n", ":3", "SyntaxError"),
    "raises": ("import chute\n\napp = chute.App('broken')\nundefined_name + 1\n", ":4", "NameError"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
@pytest.mark.parametrize("command", ["run", "deploy", "worker", "serve"])
def test_broken_app_file_gives_a_short_error(chute_env: str, tmp_path: Path, command: str, kind: str) -> None:
    source, line, error = BROKEN_FILES[kind]
    app_file = tmp_path / "broken_app.py"
    app_file.write_text(source)
    args = (
        ["serve", "--workers", "--port", "0", str(app_file)]
        if command == "serve"
        else [command, str(app_file)]
    )
    result = chute_cmd(*args, timeout=60)
    assert result.returncode != 0
    assert (
        f"broken_app.py{line}" in result.stderr.replace("\n", "")
        or f'broken_app.py", line {line[1:]}' in result.stderr
    )
    assert error in result.stderr
    assert (
        "Traceback" not in result.stderr and "importlib" not in result.stderr and "typer" not in result.stderr
    )
    assert len(result.stderr.splitlines()) <= 8, result.stderr


# -- B7: names, environments and ids ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["q\n", "q\r", " q", "q ", "é"])
def test_names_with_trailing_newlines_are_invalid(bad: str) -> None:
    with pytest.raises(InvalidError):
        chute.Queue.from_name(bad)
    with pytest.raises(InvalidError):
        chute.Dict.from_name("d", environment_name=bad)
    with pytest.raises(InvalidError):
        chute.Function.from_name("app", bad)
    with pytest.raises(InvalidError):
        chute.FunctionCall.from_id("fc-" + "a" * 22 + bad)
    with pytest.raises(InvalidError):
        chute.Queue.from_id("qu-" + "a" * 22 + bad)


# -- B8: a stalled Redis server -------------------------------------------------------------------


def test_fresh_client_on_a_stalled_redis_fails_within_timeout_plus_one_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_redis()
    timeout = 2.0
    monkeypatch.setenv("CHUTE_URL", f"{server.url}?prefix=stall:")
    monkeypatch.setenv("CHUTE_TIMEOUT", str(timeout))
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(BackendUnavailableError):
            chute.Queue.from_name("q", create_if_missing=True).len()
        sync_elapsed = time.monotonic() - start

        async def first_call() -> float:
            start = time.monotonic()
            try:
                with pytest.raises(BackendUnavailableError):
                    await chute.Queue.from_name("q2", create_if_missing=True).len.aio()
                return time.monotonic() - start
            finally:
                await Client.from_env().aclose()

        async_elapsed = asyncio.run(first_call())
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        Client.from_env().close()
        server.stop()
    assert sync_elapsed < timeout + 1.0 and async_elapsed < timeout + 1.0, (sync_elapsed, async_elapsed)


# -- B9: smaller defects ----------------------------------------------------------------------------


def test_cli_json_output_is_strict_json(chute_env: str) -> None:
    chute.Queue.from_name("nums", create_if_missing=True).put_many(
        [math.nan, math.inf, {"x": -math.inf}, [1.5, math.nan]]
    )
    code, out = cli("queue", "peek", "nums", "4", "--json")
    assert code == 0 and strict_json(out) == ["nan", "inf", {"x": "-inf"}, [1.5, "nan"]]
    code, out = cli("queue", "get", "nums", "4", "--json")
    assert code == 0 and len(strict_json(out)) == 4
    d = chute.Dict.from_name("nums", create_if_missing=True)
    d["a"] = math.nan
    code, out = cli("dict", "items", "nums", "--json")
    assert code == 0 and strict_json(out) == [{"key": "a", "value": "nan"}]
    code, out = cli("dict", "get", "nums", "a", "--json")
    assert code == 0 and strict_json(out) == "nan"


@pytest.mark.parametrize("kind", ["queue", "dict"])
def test_cli_delete_allow_missing_says_nothing_existed(chute_env: str, kind: str) -> None:
    code, out = cli(kind, "delete", "never-there", "--allow-missing", "-y")
    assert code == 0 and "Deleted" not in out and "nothing to delete" in out
    cli(kind, "create", "there")
    code, out = cli(kind, "delete", "there", "--allow-missing", "-y")
    assert code == 0 and "Deleted" in out


@pytest.mark.parametrize("stem", ["queue", "select"])
def test_app_file_named_like_a_stdlib_module(chute_env: str, tmp_path: Path, stem: str) -> None:
    app_file = tmp_path / f"{stem}.py"
    app_file.write_text(
        f"import chute\napp = chute.App('stdlib-named-{stem}')\n\n"
        "@app.function()\ndef double(x):\n    return 2 * x\n\n"
        "@app.local_entrypoint()\ndef main():\n    print('result', double.remote(21))\n"
    )
    result = chute_cmd("deploy", str(app_file))
    assert result.returncode == 0 and f"stdlib-named-{stem}" in result.stdout, result.stderr
    if stem == "queue":  # end to end: the executors import the file by path too
        result = chute_cmd("run", str(app_file))
        assert result.returncode == 0 and "result 42" in result.stdout, result.stderr
