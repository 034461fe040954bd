"""The real ``modal`` client spawns and gets chute functions through ``chute modal-server``.

On every backend: a ``chute worker`` process runs examples/my_job_queue.py (seed 004's app)
and tests/apps/wire_app.py, ``chute modal-server`` runs in another, and unmodified ``import
modal`` programs (which refuse to import chute, like a web backend without it) talk to it.
The programs print ``ok`` at the end; anything else fails the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chute
from chute._validate import OBJECT_ID_RE
from chute.exception import NotFoundError
from tests import test_modal_wire
from tests.test_modal_wire import ModalServer

modal_server = test_modal_wire.modal_server  # the fixture: `chute modal-server` on the test's backend

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
TARGETS = [str(ROOT / "examples" / "my_job_queue.py"), str(APPS / "wire_app.py")]
# Prepended to every modal program: chute is not importable (only tests/apps' wire_errors is).
NO_CHUTE = 'import sys\nsys.modules["chute"] = None\n'


def start_worker() -> subprocess.Popen[bytes]:
    """``chute worker`` on both apps (with the environment as it is now), once they are deployed."""
    env = {**os.environ, "CHUTE_LEASE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "chute", "worker", *TARGETS], env=env)
    backend = chute.Client.from_env().sync_backend()
    deadline = time.monotonic() + 60
    while {f.app for f in backend.job_functions("main")} != {"my-job-queue", "test-wire"}:
        assert proc.poll() is None and time.monotonic() < deadline, "the worker did not deploy its apps"
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def worker(chute_env: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker()
    yield proc
    stop(proc)


def run(server: ModalServer, code: str, timeout: float = 90, prelude: str = "", **env: str) -> str:
    program = NO_CHUTE + prelude + textwrap.dedent(code)
    return server.run(program, timeout=timeout, PYTHONPATH=str(APPS), **env)


# Seed 004's client side, verbatim but for `print` → `return` in main (the job result is checked).
SEED_004_CLIENT = """\
import modal


def submit_job(data):
    # Since the `process_job` function is deployed, need to first look it up
    process_job = modal.Function.from_name("my-job-queue", "process_job")
    call = process_job.spawn(data)
    return call.object_id


def get_job_result(call_id):
    function_call = modal.FunctionCall.from_id(call_id)
    try:
        result = function_call.get(timeout=5)
    except modal.exception.OutputExpiredError:
        result = {"result": "expired"}
    except TimeoutError:
        result = {"result": "pending"}
    return result


def main():
    data = "my-data"

    # Submit the job to Modal
    call_id = submit_job(data)
    return get_job_result(call_id)
"""

# The seed's web endpoint, without FastAPI: 202 while pending, 404 once expired.
SEED_004_ENDPOINT = """\
def get_job_result_endpoint(call_id: str):
    function_call = modal.FunctionCall.from_id(call_id)
    try:
        result = function_call.get(timeout=0)
    except modal.exception.OutputExpiredError:
        return 404
    except TimeoutError:
        return 202

    return result
"""


def test_seed_job_queue(modal_server: Callable[..., ModalServer], worker: subprocess.Popen[bytes]) -> None:
    server = modal_server()
    run(
        server,
        SEED_004_CLIENT
        + SEED_004_ENDPOINT
        + """
import time
assert main() == {"result": "my-data"}
for _ in range(2):  # a result stays available after a get
    assert get_job_result(submit_job("again")) == {"result": "again"}
slow = modal.Function.from_name("test-wire", "sleepy").spawn(60)
assert get_job_result_endpoint(slow.object_id) == 202
t0 = time.monotonic()
assert get_job_result(slow.object_id) == {"result": "pending"}
assert 4.5 < time.monotonic() - t0 < 30
slow.cancel()
gone = modal.Function.from_name("test-wire", "short_lived").spawn("soon gone")
assert gone.get(timeout=60) == "soon gone"
time.sleep(1.5)  # its result_ttl is 1 s
assert get_job_result(gone.object_id) == {"result": "expired"}
assert get_job_result_endpoint(gone.object_id) == 404
print("ok")
""",
    )
    process_job = chute.Function.from_name("my-job-queue", "process_job")
    assert process_job.spawn("from chute").get(timeout=60) == {"result": "from chute"}


MODAL_GETS = """\
import os
import modal
import wire_errors

assert modal.FunctionCall.from_id(os.environ["CALL_ID"]).get(timeout=60) == {"from": "chute"}
try:
    modal.FunctionCall.from_id(os.environ["FAILED_ID"]).get(timeout=60)
    raise AssertionError("expected WireError")
except wire_errors.WireError as exc:
    assert str(exc) == "chute spawned me"
echo = modal.Function.from_name("test-wire", "echo")
print(echo.spawn({"from": "modal"}).object_id)
print(modal.Function.from_name("test-wire", "fails").spawn("modal spawned me").object_id)
print("ok")
"""


def test_cross_client(
    modal_server: Callable[..., ModalServer], chute_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chute spawns and modal gets, modal spawns and chute gets; signed with CHUTE_SECRET."""
    monkeypatch.setenv("CHUTE_SECRET", "wire-secret")
    monkeypatch.syspath_prepend(str(APPS))  # chute's client unpickles wire_errors.WireError too
    from wire_errors import WireError  # type: ignore[import-not-found]

    signed = start_worker()
    try:
        server = modal_server()
        echo = chute.Function.from_name("test-wire", "echo")
        fails = chute.Function.from_name("test-wire", "fails")
        spawned, failed = echo.spawn({"from": "chute"}), fails.spawn("chute spawned me")
        out = run(server, MODAL_GETS, CALL_ID=spawned.object_id, FAILED_ID=failed.object_id)
        echo_id, fails_id = out.split()[:2]
        assert chute.FunctionCall.from_id(echo_id).get(timeout=60) == {"from": "modal"}
        info = chute.FunctionCall.from_id(echo_id).info()
        assert (info.app, info.function, info.state) == ("test-wire", "echo", chute.CallState.SUCCEEDED)
        with pytest.raises(WireError, match="modal spawned me") as err:
            chute.FunctionCall.from_id(fails_id).get(timeout=60)
        assert any(f"Remote traceback of {fails_id}" in note for note in err.value.__notes__)
    finally:
        stop(signed)


@pytest.mark.timeout(240)
def test_remote_exceptions_and_lookups(
    modal_server: Callable[..., ModalServer], worker: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", "200000")  # the server's limit (the worker started)
    server = modal_server()
    run(
        server,
        """\
        import modal
        from modal.exception import FunctionTimeoutError, NotFoundError, RemoteError
        import wire_errors

        def fn(name):
            return modal.Function.from_name("test-wire", name)

        # The function's own exception, same class, with the remote traceback as a note.
        for call in (lambda: fn("fails").remote("boom"), lambda: fn("fails").spawn("boom").get(timeout=60)):
            try:
                call()
                raise AssertionError("expected WireError")
            except wire_errors.WireError as exc:
                assert exc.args == ("boom",)
                (note,) = exc.__notes__
                assert note.startswith("Remote traceback of fc-") and "raise WireError(message)" in note
        try:
            fn("key_error").remote("k")
            raise AssertionError("expected KeyError")
        except KeyError as exc:
            assert exc.args == ("k",) and "key_error" in exc.__notes__[0]
        assert [type(r) for r in fn("fails").map(["a", "b"], return_exceptions=True)] == [
            wire_errors.WireError
        ] * 2
        # chute's own failures, as Modal's exceptions.
        try:
            fn("too_slow").remote(30)
            raise AssertionError("expected FunctionTimeoutError")
        except FunctionTimeoutError as exc:
            assert "exceeded its timeout of 1 s" in str(exc)
        try:
            fn("crash").remote()
            raise AssertionError("expected RemoteError")
        except RemoteError as exc:
            assert "exited with code 3" in str(exc)
        pending = fn("sleepy").spawn(60)
        pending.cancel()
        try:
            pending.get(timeout=30)
            raise AssertionError("expected RemoteError")
        except RemoteError as exc:
            assert "cancelled" in str(exc)
        # Arguments over CHUTE_MAX_VALUE_BYTES (the client would put them in blob storage).
        for size in (199_990, 300_000):
            try:
                fn("echo").spawn(b"x" * size)
                raise AssertionError("expected InvalidError")
            except modal.exception.InvalidError as exc:
                assert "CHUTE_MAX_VALUE_BYTES" in str(exc), exc
        # Lookups.
        for name, text in (("nope", "not found in app 'test-wire'"), ("Model", "Cls.from_name")):
            try:
                fn(name).hydrate()
                raise AssertionError("expected NotFoundError")
            except NotFoundError as exc:
                assert text in str(exc), exc
        echo = fn("echo")
        assert echo.info().timeout == 300 and echo.object_id.startswith("fu-")
        assert modal.Function.from_id(echo.object_id).remote(5) == 5
        stats = echo.get_current_stats()
        assert stats.backlog == 0 and stats.num_running_inputs == 0 and stats.input_headroom == 2
        try:
            modal.FunctionCall.from_id("fc-" + "x" * 22).get(timeout=0)
            raise AssertionError("expected NotFoundError")
        except NotFoundError:
            pass
        # A real @app.cls class (chute.parameter with defaults, an enter hook, @chute.method),
        # run by the chute worker.
        Model = modal.Cls.from_name("test-wire", "Model")
        assert Model().predict.remote(2) == ({"size": 1, "name": "base"}, 12)
        assert Model(size=3).predict.remote(2) == ({"size": 3, "name": "base"}, 16)
        large = Model(size=4, name="large")
        assert large.predict.spawn(1).get(timeout=60) == ({"size": 4, "name": "large"}, 104)
        assert [r[1] for r in Model(size=2).predict.map([1, 2, 3])] == [12, 14, 16]
        try:
            Model().fail.remote("from a method")
            raise AssertionError("expected WireError")
        except wire_errors.WireError as exc:
            assert exc.args == ("from a method",)
        # Parameters are checked on the worker, as chute's own client checks them.
        for params, error in (({"nope": 1}, "has no parameters ['nope']"), ({"size": "x"}, "Expected int")):
            try:
                Model(**params).predict.remote(1)
                raise AssertionError("expected an error")
            except Exception as exc:
                assert error in str(exc), exc
        try:
            Model().nothing.remote(1)
            raise AssertionError("expected an error")
        except Exception as exc:
            assert "nothing" in str(exc), exc
        print("ok")
        """,
    )


@pytest.mark.timeout(300)
def test_map_of_1000_inputs(
    modal_server: Callable[..., ModalServer], worker: subprocess.Popen[bytes]
) -> None:
    server = modal_server()
    out = run(
        server,
        """\
        import modal

        echo = modal.Function.from_name("test-wire", "echo")
        add = modal.Function.from_name("test-wire", "add")
        assert list(echo.map(range(1000))) == list(range(1000))
        assert sorted(echo.map(range(50), order_outputs=False)) == list(range(50))
        assert list(add.starmap([(1, 2), (3, 4)])) == [3, 7]
        assert list(add.map([1, 2], [10, 20])) == [11, 22]
        assert list(add.map([1, 2], kwargs={"b": 10})) == [11, 12]
        add.for_each([1, 2], [3, 4])
        fc = echo.experimental_spawn_map(range(60))
        assert fc.get(index=59, timeout=60) == 59
        assert list(fc.iter()) == list(range(60))
        again = modal.FunctionCall.from_id(fc.object_id)
        assert again.num_inputs() == 60 and again.get(index=7, timeout=0) == 7
        assert echo.spawn_map(range(5)) is None
        print(fc.object_id)
        print("ok")
        """,
        timeout=280,
    )
    map_id = out.split()[0]
    assert map_id.startswith("fc-")
    # spawn_map's five calls run on chute's workers like any other.
    backend = chute.Client.from_env().sync_backend()
    deadline = time.monotonic() + 60
    while backend.job_stats("main", "test-wire", "echo").pending:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_tls(
    modal_server: Callable[..., ModalServer], worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """TLS on the gRPC port: a client trusting the server's CA spawns and gets."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    server = modal_server("--tls-cert", str(cert_file), "--tls-key", str(key_file))
    assert server.url.startswith("https://127.0.0.1:")
    # grpclib verifies servers against certifi's bundle: this client's bundle is the test CA.
    trust = f"import certifi\ncertifi.where = lambda: {str(ca_file)!r}\n"
    run(
        server,
        """\
        import modal

        echo = modal.Function.from_name("test-wire", "echo")
        call = echo.spawn("over tls")
        assert modal.FunctionCall.from_id(call.object_id).get(timeout=60) == "over tls"
        assert list(echo.map(range(20))) == list(range(20))
        q = modal.Queue.from_name("tls-q", create_if_missing=True)
        q.put(1)
        assert q.get() == 1
        print("ok")
        """,
        prelude=trust,
    )
    # Without the CA, a client (grpclib verifies against certifi's bundle) refuses the server.
    import socket
    import ssl

    import certifi

    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        context = ssl.create_default_context(cafile=certifi.where())
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(sock, server_hostname="127.0.0.1")


def test_function_ids_and_map_input_ids() -> None:
    """Function ids carry what names the function; map inputs' ids derive from the map's id."""
    from chute.modal_server._functions import FunctionKey, map_input_id

    key = FunctionKey("main", "app", "Model.*", b"\x80params\0with nul")
    assert FunctionKey.parse(key.id) == key and key.is_class and key.method("predict") == "Model.predict"
    assert FunctionKey.parse(FunctionKey("dev", "a", "f").id) == FunctionKey("dev", "a", "f")
    for bad in ("fu-!!!", "qu-" + "a" * 22, "fu-YQ", FunctionKey("main", "a", "b c").id):
        with pytest.raises(NotFoundError):
            FunctionKey.parse(bad)
    ids = {map_input_id("fc-" + "a" * 22, i) for i in range(1000)}
    assert len(ids) == 1000 and all(OBJECT_ID_RE.match(i) for i in ids)


def test_outcome_parts_are_separable_without_unpickling() -> None:
    """chute's stored outcome: value or exception pickle behind a small header, signed."""
    import pickle
    import threading

    from chute import _outcome, _serialize
    from chute.config import Settings

    signed = Settings.from_env(secret=b"s3cret")
    ok = _outcome.split(_outcome.pack_value({"a": 1}, signed), signed.secret)
    assert ok.ok and pickle.loads(ok.value) == {"a": 1}
    exc = KeyError("k")
    data = _outcome.pack_error(exc, "Traceback …\nKeyError: 'k'\n", signed, "fc-1")
    assert not hasattr(exc, "__notes__")  # the caller's exception is left as it was
    err = _outcome.split(data, signed.secret)
    assert (err.ok, err.summary, err.exc_type) == (False, "KeyError: 'k'", "builtins.KeyError")
    assert err.traceback.startswith("Traceback") and _outcome.traceback_of(data, signed) == err.traceback
    loaded = pickle.loads(err.exception)
    assert type(loaded) is KeyError and loaded.__notes__ == [
        "Remote traceback of fc-1:\nTraceback …\nKeyError: 'k'"
    ]
    with pytest.raises(KeyError) as raised:
        _outcome.unpack(data, signed, "fc-1")
    assert raised.value.__notes__ == loaded.__notes__
    with pytest.raises(chute.exception.IntegrityError):
        _outcome.split(data, b"other")
    # An exception that cannot be pickled comes back as a RemoteError with its summary.
    unpicklable = _outcome.pack_error(ValueError(threading.Lock()), "", signed)
    assert _outcome.split(unpicklable, signed.secret).exception == b""
    with pytest.raises(chute.exception.RemoteError, match="ValueError"):
        _outcome.unpack(unpicklable, signed, "fc-2")
    # Outcomes stored before this format still read.
    legacy = _serialize.dumps(("err", "KeyError: 'k'", "tb text", pickle.dumps(KeyError("k"))), signed.secret)
    assert _outcome.traceback_of(legacy, signed) == "tb text"
    with pytest.raises(KeyError):
        _outcome.unpack(legacy, signed, "fc-3")
    assert _outcome.unpack(_serialize.dumps(("ok", 5), signed.secret), signed, "fc-4") == 5
    # A class method's call made by the modal client: parameters go first, nothing is unpickled.
    bound = _outcome.bind_method_args(pickle.dumps(((), {"size": 3})), pickle.dumps(((2,), {"x": 1})))
    assert pickle.loads(bound) == (({"size": 3}, 2), {"x": 1})
    assert pickle.loads(_outcome.bind_method_args(None, pickle.dumps(((), {})))) == (({},), {})


def test_map_state_sends_a_lost_response_again() -> None:
    from chute.modal_server._functions import MapState

    state = MapState()
    for idx in range(4):
        state.add(idx, f"c{idx}")
    assert [state.deliver(0), state.deliver(1)] == ["c0", "c1"] and state.delivered == 2
    assert state.ack(0) == [(0, "c0"), (1, "c1")]  # the response with both was lost
    assert state.ack(2) == [] and state.unacked == []  # received: forgotten
    state.deliver(3)
    assert state.ack(2) == [(3, "c3")] and state.ack(99) == [] and state.delivered == 3
    assert sorted(state.pending) == [2]
