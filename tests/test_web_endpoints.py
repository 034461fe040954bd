"""Web endpoints: decorators, stable URLs, and real ``chute serve`` processes answering real HTTP.

Every test that serves runs ``chute serve`` as a subprocess on the test's backend (SQLite
and Redis) with ``CHUTE_WEB_PORT`` set to a free range, and talks to it with httpx.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import chute
from chute.exception import InvalidError
from chute.web import ports
from tests._servers import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
APPS = ROOT / "tests" / "apps"


def _free_range(n: int) -> int:
    """A base port with ``n`` free ports from it, below the ephemeral range (32768+)."""
    for _ in range(200):
        base = random.randrange(20000, 32000)
        try:
            for port in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


@pytest.fixture
def web_env(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """The test's backend, with endpoint ports allocated from a free range; returns its base."""
    base = _free_range(8)
    monkeypatch.setenv("CHUTE_WEB_PORT", str(base))
    for var in ("CHUTE_WEB_HOST", "CHUTE_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return base


def chute_cli(*args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "chute", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def serving(*args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``chute serve ARGS`` as a subprocess; stopped with SIGTERM at the end (must exit 0)."""
    port = free_port()
    argv = [sys.executable, "-m", "chute", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen([*argv, "--log-level", "warning"], cwd=ROOT, env={**os.environ, **env})
    try:
        # Up (and the APP_FILEs deployed) once the API answers.
        eventually(
            lambda: proc.poll() is None and httpx.get(f"http://127.0.0.1:{port}/healthz"), what="serve"
        )
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


@contextlib.contextmanager
def worker(app_file: Path) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-m", "chute", "worker", str(app_file)], cwd=ROOT)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value (transport errors count as not yet)."""
    deadline = time.monotonic() + timeout
    value = None
    while True:
        try:
            value = check()
            if value:
                return value
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value!r}"
        time.sleep(0.1)


def url_of(app: str, function: str) -> str:
    url = chute.Function.from_name(app, function).get_web_url()
    assert url is not None
    return url


# -- seed 004 ----------------------------------------------------------------------------------


def test_seed_004_fastapi_example(web_env: int) -> None:
    """Seed 004's second example as written (modal -> chute), against the deployed process_job."""
    chute_cli("deploy", str(EXAMPLES / "my_job_queue.py"))
    with serving(str(EXAMPLES / "my_job_queue_endpoint.py")), httpx.Client(timeout=30) as http:
        url = url_of("fastapi-modal", "fastapi_app")
        assert url == f"http://127.0.0.1:{web_env}"  # the first endpoint gets the base port
        submit = eventually(lambda: http.post(f"{url}/submit", params={"data": "my-data"}), what="endpoint")
        call_id = submit.json()["call_id"]
        assert call_id.startswith("fc-")
        pending = http.get(f"{url}/result/{call_id}")
        assert pending.status_code == 202  # no worker runs process_job yet

        with worker(EXAMPLES / "my_job_queue.py"):
            done = eventually(lambda: (r := http.get(f"{url}/result/{call_id}")).status_code == 200 and r)
            assert done.json() == {"result": "my-data"}

            # The same function with a 1 s result TTL: its result expires, and the endpoint says 404.
            chute_cli("deploy", str(APPS / "web_short_ttl.py"))
            call_id = http.post(f"{url}/submit", params={"data": "short"}).json()["call_id"]
            done = eventually(lambda: (r := http.get(f"{url}/result/{call_id}")).status_code == 200 and r)
            assert done.json() == {"result": "short"}
            expired = eventually(lambda: (r := http.get(f"{url}/result/{call_id}")).status_code == 404 and r)
            assert expired.json() == ""


# -- every kind, and the token rules -----------------------------------------------------------


def test_every_kind_of_endpoint(web_env: int, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello from web_server")
    server_port = free_port()
    env = {"WEB_TEST_SERVER_PORT": str(server_port), "WEB_TEST_SERVED_DIR": str(tmp_path)}
    with serving(str(APPS / "web_kinds.py"), "--token", "s3cret", **env), httpx.Client(timeout=30) as http:
        urls = {
            name: url_of("web-kinds", name) for name in ("square", "echo", "plain_wsgi", "private", "files")
        }
        assert len(set(urls.values())) == 5
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values())

        # fastapi_endpoint: one route at /, query parameters, docs, CORS for every origin.
        r = eventually(lambda: http.get(urls["square"], params={"x": 7}), what="square")
        assert r.json() == {"square": 49}
        assert http.get(f"{urls['square']}/docs").status_code == 200
        cors = http.get(urls["square"], params={"x": 1}, headers={"Origin": "https://elsewhere.example"})
        assert cors.headers["access-control-allow-origin"] == "*"
        assert http.get(f"{urls['square']}/other").status_code == 404
        r = eventually(lambda: http.post(urls["echo"], json={"a": [1, 2]}), what="echo")
        assert r.json() == {"got": {"a": [1, 2]}, "env": "main"}
        assert http.get(urls["echo"]).status_code == 405  # declared method="POST"
        assert f"{urls['echo']}" == f"http://127.0.0.1:{ports.assigned_port('main/echo-body')}"

        # wsgi_app: a plain WSGI callable.
        r = eventually(lambda: http.get(f"{urls['plain_wsgi']}/some/path", params={"q": "1"}), what="wsgi")
        assert r.text == "wsgi GET /some/path q=1"

        # web_server: proxied to the server the function started.
        r = eventually(lambda: http.get(f"{urls['files']}/hello.txt"), what="web_server")
        assert (r.status_code, r.text) == (200, "hello from web_server")

        # Public endpoints need no token; requires_proxy_auth=True applies chute serve's tokens.
        private = f"{urls['private']}/whoami"
        denied = eventually(lambda: http.get(private), what="private")
        assert denied.status_code == 401
        assert http.get(private, headers={"Authorization": "Bearer nope"}).status_code == 401
        r = http.get(private, headers={"Authorization": "Bearer s3cret"})
        assert r.json() == {"private": True, "saw_modal_secret": False}
        r = http.get(private, headers={"Modal-Key": "wk-any", "Modal-Secret": "s3cret"})
        assert r.json() == {"private": True, "saw_modal_secret": False}  # stripped before the app


def test_endpoints_run_with_their_settings(web_env: int, tmp_path: Path) -> None:
    """An endpoint's executor has its function's environment (stored and dict secrets, env=,
    the image's .env(), from the import of the file on); a class endpoint runs its enter hook
    once per executor, before the first request, and its exit hook when the executor stops."""
    chute.Secret.objects.create("web-stored-secret", {"STORED_TOKEN": "stored-value"})
    events = tmp_path / "events"
    with (
        serving(str(APPS / "web_settings.py"), WEB_TEST_EVENTS=str(events)),
        httpx.Client(timeout=30) as http,
    ):
        r = eventually(lambda: http.get(url_of("web-settings", "settings")), what="settings")
        assert r.json() == {
            "STORED_TOKEN": "stored-value",
            "DICT_TOKEN": "dict-value",
            "MODE": "prod",
            "FROM_IMAGE": "image-value",
            "MODAL_IS_REMOTE": "1",
            "at_import": "stored-value",
        }

        greeter = chute.Cls.from_name("web-settings", "Greeter")()
        greet, app_url = greeter.greet.get_web_url(), greeter.web.get_web_url()
        assert app_url == f"http://127.0.0.1:{ports.assigned_port('main/greeter-app')}"
        assert eventually(lambda: http.get(f"{app_url}/hi"), what="class asgi_app").json() == {
            "greeting": "hello",
            "entered": 1,
        }
        eventually(lambda: http.get(greet, params={"name": "x"}), what="class endpoint")
        # Both executors of each endpoint (min_containers=2) ready: 4 enter hooks, 4 processes.
        enters = eventually(lambda: _events(events, "enter") if len(_events(events, "enter")) == 4 else None)
        assert len(set(enters)) == 4
        pids = set()
        for i in range(40):  # a new connection each time: the kernel spreads them
            body = httpx.get(greet, params={"name": str(i)}, timeout=30).json()
            assert body["text"] == f"hello {i}" and body["entered"] == 1 and body["mode"] == "cls"
            pids.add(body["pid"])
        assert pids <= set(enters)
    assert sorted(_events(events, "exit")) == sorted(enters)  # chute serve stopped them gracefully


def _events(path: Path, kind: str) -> list[int]:
    if not path.exists():
        return []
    return [
        int(pid) for pid, what in (line.split() for line in path.read_text().splitlines()) if what == kind
    ]


def test_scoped_tokens_and_private_mode(web_env: int) -> None:
    """--web-private puts every endpoint behind the tokens; a token scoped elsewhere gets 403."""
    with (
        serving(str(APPS / "web_versioned.py"), "--token", "a:main", "--token", "b:other", "--web-private"),
        httpx.Client(timeout=30) as http,
    ):
        url = url_of("web-versioned", "versioned")
        assert eventually(lambda: http.get(url), what="endpoint").status_code == 401
        assert http.get(url, headers={"Authorization": "Bearer b"}).status_code == 403
        assert http.get(url, headers={"Authorization": "Bearer a"}).text == "v1"


def test_open_server_answers_loopback_hosts_only(web_env: int) -> None:
    with serving(str(APPS / "web_versioned.py")), httpx.Client(timeout=30) as http:
        url = url_of("web-versioned", "versioned")
        assert eventually(lambda: http.get(url), what="endpoint").text == "v1"
        assert http.get(url, headers={"Host": "evil.example"}).status_code == 403  # DNS rebinding
        # A public endpoint leaves cross-origin requests to the app.
        assert http.get(url, headers={"Origin": "http://elsewhere.example"}).text == "v1"


# -- deploy while serving, reload, undeploy ----------------------------------------------------


def test_deploy_and_edit_while_serving(web_env: int, tmp_path: Path) -> None:
    """A running ``chute serve`` picks up a later ``chute deploy``, then restarts the endpoint
    when its file changes (the port never stops answering), and stops it once undeployed."""
    app_file = tmp_path / "web_versioned.py"
    shutil.copy(APPS / "web_versioned.py", app_file)
    with serving(), httpx.Client(timeout=30) as http:
        time.sleep(0.5)
        chute_cli("deploy", str(app_file))
        url = url_of("web-versioned", "versioned")
        # Picked up by the next poll (1 s), then one executor start: seconds, with a margin
        # for a loaded machine.
        deployed = time.monotonic()
        assert eventually(lambda: http.get(url), timeout=20, what="late deploy").text == "v1"
        print(f"late deploy served after {time.monotonic() - deployed:.1f} s")

        app_file.write_text(app_file.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
        seen = set()
        deadline = time.monotonic() + 60
        while "v2" not in seen:
            seen.add(httpx.get(url, timeout=30).text)  # a new connection each time: never refused
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)

        # Redeploying the app without the endpoint stops it; its port stays reserved for it.
        app_file.write_text("import chute\napp = chute.App('web-versioned')\n")
        chute_cli("deploy", str(app_file))
        eventually(lambda: _refused(url), what="endpoint to stop")
        assert ports.assigned_port("main/web-versioned-versioned") == int(url.rsplit(":", 1)[1])


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    return False


def test_failing_endpoint_is_retried_and_others_keep_serving(web_env: int, tmp_path: Path) -> None:
    broken = tmp_path / "broken_web.py"
    broken.write_text(
        "import chute\napp = chute.App('broken-web')\n\n"
        "@app.function()\n@chute.asgi_app()\ndef boom():\n    raise RuntimeError('factory failed')\n"
    )
    with serving(str(broken), str(APPS / "web_versioned.py")), httpx.Client(timeout=30) as http:
        url = url_of("web-versioned", "versioned")
        assert eventually(lambda: http.get(url), what="healthy endpoint").text == "v1"
        assert _refused(url_of("broken-web", "boom"))  # never ready: its port refuses connections


# -- decorators and URLs (no server) ---------------------------------------------------------------


def test_decorator_errors() -> None:
    app = chute.App("web-errors")
    with pytest.raises(InvalidError, match="swap the order"):

        @chute.asgi_app()
        @app.function(serialized=True)  # defined inside a test: not importable by name
        def wrong_order() -> None: ...

    with pytest.raises(InvalidError, match="sync"):

        @app.function(serialized=True)  # defined inside a test: not importable by name
        @chute.asgi_app()
        async def async_factory() -> None: ...

    with pytest.raises(InvalidError, match="no parameters"):

        @app.function(serialized=True)  # defined inside a test: not importable by name
        @chute.wsgi_app()
        def with_params(x: int) -> None: ...

    with pytest.raises(InvalidError, match="cannot have retries"):

        @app.function(retries=2, serialized=True)
        @chute.fastapi_endpoint()
        def retried() -> None: ...

    with pytest.raises(InvalidError, match="generator"):

        @app.function(serialized=True)  # defined inside a test: not importable by name
        @chute.fastapi_endpoint()
        def gen() -> Iterator[int]:
            yield 1

    for bad in (
        lambda: chute.web_server(0),
        lambda: chute.web_server(70000),
        lambda: chute.web_server(8000, startup_timeout=0),
        lambda: chute.fastapi_endpoint(method="FETCH"),
        lambda: chute.asgi_app(label="Not_A_Label"),
        lambda: chute.asgi_app(custom_domains="example.com"),
    ):
        with pytest.raises(InvalidError):
            bad()
    with pytest.warns(DeprecationWarning, match="fastapi_endpoint"):
        decorate = chute.web_endpoint(method="POST")

    @app.function(serialized=True)  # defined inside a test: not importable by name
    @decorate
    def old_style() -> None: ...

    assert old_style.spec.web is not None and old_style.spec.web["method"] == "POST"


def test_class_endpoints_are_functions_of_the_class() -> None:
    """Web decorators on methods of an @app.cls class: one function "<Class>.<method>" each."""
    app = chute.App("web-class")

    @app.cls(serialized=True)  # defined inside a test: not importable by name
    class Model:
        size: int = chute.parameter(default=2)

        @chute.asgi_app()
        def web(self) -> None: ...

        @chute.fastapi_endpoint(method="POST", label="model-predict")
        def predict(self, x: int) -> int:
            return x * self.size

        @chute.method()
        def plain(self) -> None: ...

    assert app.functions["Model.web"].spec.web is not None
    assert app.functions["Model.web"].spec.web["kind"] == "asgi"
    assert app.functions["Model.predict"].spec.web is not None
    assert app.functions["Model.predict"].spec.web["label"] == "model-predict"
    assert app.functions["Model.plain"].spec.web is None
    assert Model().predict.local(3) == 6  # type: ignore[attr-defined]

    with pytest.raises(InvalidError, match=r"give \['size'\] a default"):

        @app.cls(serialized=True)
        class NoDefault:
            size: int = chute.parameter()

            @chute.fastapi_endpoint()
            def f(self) -> None: ...

    with pytest.raises(InvalidError, match="no parameters"):

        class Factory:
            @chute.asgi_app()
            def web(self, x: int) -> None: ...


def test_urls_are_stable_and_web_functions_cannot_be_spawned(
    web_env: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = chute.App("web-urls")

    @app.function(serialized=True)  # defined inside a test: not importable by name
    @chute.asgi_app(label="first")
    def one() -> None: ...

    @app.function(serialized=True)  # defined inside a test: not importable by name
    @chute.wsgi_app(custom_domains=["example.com"])
    def two() -> None: ...

    @app.function(serialized=True)  # defined inside a test: not importable by name
    def plain() -> None: ...

    app.deploy()
    first, second = one.get_web_url(), two.get_web_url()
    assert first == f"http://127.0.0.1:{web_env}" and second == f"http://127.0.0.1:{web_env + 1}"
    assert chute.Function.from_name("web-urls", "one").get_web_url() == first  # same URL from anywhere
    assert plain.get_web_url() is None
    app.deploy()
    assert one.get_web_url() == first and two.get_web_url() == second  # kept across deploys
    for call in (lambda: one.spawn(), lambda: one.remote(), lambda: list(one.map([1]))):
        with pytest.raises(InvalidError, match="web endpoint"):
            call()
    monkeypatch.setenv("CHUTE_WEB_HOST", "web.internal")
    assert one.get_web_url() == f"http://web.internal:{web_env}"


def test_port_allocation_skips_taken_ports(web_env: int) -> None:
    taken = {ports.port_for(f"main/e{i}") for i in range(5)}
    assert taken == set(range(web_env, web_env + 5))
    assert ports.port_for("main/e3") == web_env + 3
    assert ports.port_for("other-env/e3") == web_env + 5  # environments share the machine's ports
