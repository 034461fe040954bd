"""The real ``modal`` client against ``chute modal-server``, on every backend.

Each test starts the server in a subprocess (``--port 0``) on the test's backend and runs
unmodified ``import modal`` programs in subprocesses pointed at it with MODAL_SERVER_URL and
a token. The programs print ``ok`` at the end; anything else fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chute
from chute._ref import new_object_id
from chute.backends.types import Kind
from chute.cli import app

TOKEN_ID = "ak-chute-test"
TOKEN_SECRET = "as-chute-test-secret"


@dataclass
class ModalServer:
    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, code: str, timeout: float = 60, **extra_env: str) -> str:
        """Run ``code`` as a Python program using the modal client; return its stdout."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
        return result.stdout

    def run_all(self, *codes: str, timeout: float = 60) -> None:
        """Run independent programs concurrently; each must succeed."""
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for code in codes
        ]
        failures = []
        with contextlib.ExitStack() as stack:
            for proc in procs:
                stack.enter_context(proc)  # closes its pipes and reaps it
            try:
                for proc in procs:
                    out, err = proc.communicate(timeout=timeout)
                    if proc.returncode != 0 or not out.strip().endswith("ok"):
                        failures.append(f"exit {proc.returncode}\n{out}\n{err}")
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
        assert not failures, "\n---\n".join(failures)


def _read_url(proc: subprocess.Popen[str], log: Path) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            match = re.search(r" at (https?://\S+) ", line)
            if match:
                return match.group(1)
            if not line:
                break
        if proc.poll() is not None:
            break
    raise AssertionError(f"chute modal-server did not start:\n{log.read_text()}")


@pytest.fixture
def modal_server(chute_env: str, tmp_path: Path) -> Iterator[Callable[..., ModalServer]]:
    """Starts ``chute modal-server`` on the test's backend (with the environment as it is then)."""
    started: list[tuple[subprocess.Popen[str], Path]] = []

    def start(*args: str) -> ModalServer:
        log = tmp_path / f"modal-server-{len(started)}.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "chute", "modal-server", "--port", "0", *args],
                env={
                    **os.environ,
                    "CHUTE_MODAL_TOKEN_ID": TOKEN_ID,
                    "CHUTE_MODAL_TOKEN_SECRET": TOKEN_SECRET,
                },
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        started.append((proc, log))
        url = _read_url(proc, log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        env.update(
            MODAL_SERVER_URL=url,
            MODAL_TOKEN_ID=TOKEN_ID,
            MODAL_TOKEN_SECRET=TOKEN_SECRET,
            MODAL_CONFIG_PATH=str(tmp_path / "no-modal.toml"),
        )
        return ModalServer(url, log, env)

    yield start
    for proc, log in started:
        with proc:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        text = log.read_text()
        assert proc.returncode == 0, f"modal-server exited {proc.returncode}:\n{text}"
        assert "Traceback" not in text, text


# -- the seeds' programs, verbatim ----------------------------------------------------------------

# Seed 000: the Queue reference's usage example (2-space indentation, as in the seed).
SEED_000_QUEUE = """\
from modal import Queue
# Create an ephemeral queue which is anonymous and garbage collected
with Queue.ephemeral() as my_queue:
  # Putting values
  my_queue.put("some value")
  my_queue.put(123)
  # Getting values
  assert my_queue.get() == "some value"
  assert my_queue.get() == 123
  # Using partitions
  my_queue.put(0)
  my_queue.put(1, partition="foo")
  my_queue.put(2, partition="bar")
  # Default and "foo" partition are ignored by the get operation.
  assert my_queue.get(partition="bar") == 2
  # Set custom 10s expiration time on "foo" partition.
  my_queue.put(3, partition="foo", partition_ttl=10)
  # (beta feature) Iterate through items in place (read immutably)
  my_queue.put(1)
  assert [v for v in my_queue.iterate()] == [0, 1]
# You can also create persistent queues that can be used across apps
queue = Queue.from_name("my-persisted-queue", create_if_missing=True)
queue.put(42)
assert queue.get() == 42
"""

# Seed 001: the same example from the newer reference (its text lost the indentation; this is
# the SDK docstring it was rendered from).
SEED_001_QUEUE = """\
from modal import Queue

# Create an ephemeral queue which is anonymous and garbage collected
with Queue.ephemeral() as my_queue:
    # Putting values
    my_queue.put("some value")
    my_queue.put(123)

    # Getting values
    assert my_queue.get() == "some value"
    assert my_queue.get() == 123

    # Using partitions
    my_queue.put(0)
    my_queue.put(1, partition="foo")
    my_queue.put(2, partition="bar")

    # Default and "foo" partition are ignored by the get operation.
    assert my_queue.get(partition="bar") == 2

    # Set custom 10s expiration time on "foo" partition.
    my_queue.put(3, partition="foo", partition_ttl=10)

    # Iterate through items in place (read immutably)
    my_queue.put(1)
    assert [v for v in my_queue.iterate()] == [0, 1]

# You can also create persistent queues that can be used across apps
queue = Queue.from_name("my-persisted-queue", create_if_missing=True)
queue.put(42)
assert queue.get() == 42
"""

# Seed 002 (the Dicts and Queues guide): its Dict, Queue, partitions and async programs. Each
# defines a `@app.local_entrypoint()` main, which `modal run` would call: the harness calls it.
SEED_002_DICT = """\
import modal

app = modal.App()

# Create a persisted dict - the data gets retained between app runs
my_dict = modal.Dict.from_name("my-persisted-dict", create_if_missing=True)


@app.local_entrypoint()
def main():
    my_dict["key"] = "value"  # setting a value
    value = my_dict["key"]    # getting a value
"""

SEED_002_QUEUE = """\
import modal

app = modal.App()
my_queue = modal.Queue.from_name("my-persisted-queue", create_if_missing=True)


@app.local_entrypoint()
def main():
    my_queue.put("some object")  # adding a value
    value = my_queue.get()  # retrieving a value
"""

SEED_002_PARTITIONS = """\
import modal

app = modal.App()
my_queue = modal.Queue.from_name("my-persisted-queue", create_if_missing=True)


@app.local_entrypoint()
def main():
    my_queue.put("some value")
    my_queue.put(123)

    assert my_queue.get() == "some value"
    assert my_queue.get() == 123

    my_queue.put(0)
    my_queue.put(1, partition="foo")
    my_queue.put(2, partition="bar")

    # Default and "foo" partition are ignored by the get operation.
    assert my_queue.get(partition="bar") == 2

    # Set custom 10s expiration time on "foo" partition.
    my_queue.put(3, partition="foo", partition_ttl=10)

    # (beta feature) Iterate through items in place (read immutably)
    my_queue.put(1)
    assert [v for v in my_queue.iterate()] == [0, 1]
"""

SEED_002_ASYNC = """\
@app.local_entrypoint()
async def main():
    await my_queue.put.aio(100)
    assert await my_queue.get.aio() == 100

    await my_dict.put.aio("hello", 400)
    assert await my_dict.get.aio("hello") == 400
"""


def test_seed_queue_examples(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    server.run_all(SEED_000_QUEUE + 'print("ok")\n', SEED_001_QUEUE + 'print("ok")\n')
    assert chute.Queue.from_name("my-persisted-queue").len(total=True) == 0


def test_seed_guide_examples(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    program = "\n".join(
        [
            SEED_002_DICT,
            "main()",
            SEED_002_QUEUE,
            "main()",
            # The async snippet is a fragment: it uses the guide's app, my_queue and my_dict. It
            # runs before the partitions program, which leaves items in the default partition.
            "app = modal.App()",
            SEED_002_ASYNC,
            "main()",  # a local entrypoint runs its coroutine to completion when called
            SEED_002_PARTITIONS,
            "main()",
            'print("ok")',
        ]
    )
    server.run(program)
    # chute sees what the modal programs left behind.
    d = chute.Dict.from_name("my-persisted-dict")
    assert d["key"] == "value" and d["hello"] == 400
    q = chute.Queue.from_name("my-persisted-queue")
    assert q.get_many(10, block=False) == [0, 1]
    assert q.get_many(10, block=False, partition="foo") == [1, 3]


# -- more of the Queue and Dict API ----------------------------------------------------------------


QUEUE_PROGRAM = """\
import asyncio, queue, time
import modal
from modal.exception import AlreadyExistsError, InvalidError, NotFoundError, RequestSizeError

q = modal.Queue.from_name("jobs", create_if_missing=True)
q.put_many([1, 2, 3, 4])
q.put("p", partition="p1")
assert q.len() == 4 and q.len(partition="p1") == 1 and q.len(total=True) == 5
assert q.get_many(3) == [1, 2, 3]
assert q.get_many(10, block=False) == [4]
assert q.get(block=False) is None and q.get_many(5, block=False) == []
t0 = time.monotonic()
try:
    q.get(timeout=0.5)
    raise AssertionError("expected queue.Empty")
except queue.Empty:
    assert 0.4 < time.monotonic() - t0 < 5
q.put_many(["a", "b"], partition="p2")
q.clear(partition="p1")
assert q.len(partition="p1") == 0 and q.len(total=True) == 2
q.clear(all=True)
assert q.len(total=True) == 0

# iterate: non-destructive; with item_poll_timeout it waits that long after the last item.
q.put_many([10, 20, 30])
assert list(q.iterate()) == [10, 20, 30]
t0 = time.monotonic()
assert list(q.iterate(item_poll_timeout=1.0)) == [10, 20, 30]
assert 0.9 < time.monotonic() - t0 < 3
assert q.len() == 3

# Names, ids, info, objects.*
assert q.info().name == "jobs" and q.object_id.startswith("qu-")
assert modal.Queue.from_id(q.object_id).len() == 3
modal.Queue.objects.create("made", environment_name="dev")
try:
    modal.Queue.objects.create("made", environment_name="dev")
    raise AssertionError("expected AlreadyExistsError")
except AlreadyExistsError:
    pass
modal.Queue.objects.create("made", allow_existing=True, environment_name="dev")
assert [x.name for x in modal.Queue.objects.list(environment_name="dev")] == ["made"]
assert "jobs" in [x.name for x in modal.Queue.objects.list()]
modal.Queue.from_name("made", environment_name="dev").put("in dev")
assert modal.Queue.from_name("made", environment_name="dev").get() == "in dev"
modal.Queue.objects.delete("made", environment_name="dev")
modal.Queue.objects.delete("made", environment_name="dev", allow_missing=True)
try:
    modal.Queue.from_name("made", environment_name="dev").len()
    raise AssertionError("expected NotFoundError")
except NotFoundError:
    pass
try:
    q.put(b"x" * (1024 * 1024 + 1))
    raise AssertionError("expected RequestSizeError")
except RequestSizeError:
    pass

# .aio, ephemeral queues, a blocked get woken by another client's put.
async def main():
    async with modal.Queue.ephemeral() as eq:
        assert eq.object_id.startswith("qu-") and (await eq.info.aio()).name is None
        await eq.put_many.aio([1, 2], partition="x")
        assert [v async for v in eq.iterate.aio(partition="x")] == [1, 2]
        assert await eq.len.aio(partition="x") == 2
        assert await eq.get_many.aio(5, partition="x") == [1, 2]
        waiter = asyncio.ensure_future(eq.get.aio(timeout=20))
        await asyncio.sleep(0.5)
        await modal.Queue.from_id(eq.object_id).put.aio("wake")
        assert await waiter == "wake"
        await eq.clear.aio(all=True)

asyncio.run(main())
print("ok")
"""


def test_queue_api(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    server.run(QUEUE_PROGRAM)
    assert chute.Queue.from_name("jobs").get_many(10, block=False) == [10, 20, 30]


def test_queue_full(modal_server: Callable[[], ModalServer]) -> None:
    """A queue's own partition cap (a multiprocessing-style ``maxsize``) holds for modal's puts."""
    server = modal_server()
    backend = chute.Client.from_env().sync_backend()
    info, _ = backend.create_object(
        Kind.QUEUE, "main", "capped", object_id=new_object_id(Kind.QUEUE), max_items=2
    )
    server.run(
        textwrap.dedent(
            """\
            import queue
            import modal
            from modal.exception import InvalidError
            q = modal.Queue.from_name("capped")
            q.put_many([1, 2])
            for put in (lambda: q.put(3, block=False), lambda: q.put(3, timeout=0.5)):
                try:
                    put()
                    raise AssertionError("expected queue.Full")
                except queue.Full:
                    pass
            try:
                q.put_many([1, 2, 3], block=False)
                raise AssertionError("expected InvalidError")
            except InvalidError:
                pass
            assert q.get() == 1
            q.put(3, block=False)
            print("ok")
            """
        )
    )
    assert chute.Queue.from_id(info.id).get_many(5, block=False) == [2, 3]


DICT_PROGRAM = """\
import asyncio
import modal
from modal.exception import AlreadyExistsError, NotFoundError

d = modal.Dict.from_name("conf", create_if_missing=True)
d["a"] = 1
d.put("b", None)
d[("t", 1)] = {"nested": [1, 2]}
d[frozenset({"x", "y"})] = "fs"
d.update({"c": 3, 4: "four"}, e=5)
assert d["a"] == 1 and d["b"] is None and d.get("missing", "dflt") == "dflt"
assert d[("t", 1)] == {"nested": [1, 2]} and d[frozenset({"y", "x"})] == "fs" and d[4] == "four"
assert "a" in d and d.contains("e") and not d.contains("zz")
assert d.put("lock", "me", skip_if_exists=True) is True
assert d.put("lock", "you", skip_if_exists=True) is False and d["lock"] == "me"
assert d.len() == 8
assert sorted(map(repr, d.keys())) == sorted(
    map(repr, ["a", "b", ("t", 1), frozenset({"x", "y"}), "c", 4, "e", "lock"])
)
values = [1, None, {"nested": [1, 2]}, "fs", 3, "four", 5, "me"]
assert sorted(map(repr, d.values())) == sorted(map(repr, values))
assert dict(d.items())["c"] == 3
assert d.pop("c") == 3 and d.pop("c", "gone") == "gone"
try:
    d.pop("c")
    raise AssertionError("expected KeyError")
except KeyError:
    pass
del d["e"]
try:
    d["e"]
    raise AssertionError("expected KeyError")
except KeyError:
    pass
assert d.info().name == "conf" and d.object_id.startswith("di-")
assert modal.Dict.from_id(d.object_id)["a"] == 1

modal.Dict.objects.create("made")
try:
    modal.Dict.objects.create("made")
    raise AssertionError("expected AlreadyExistsError")
except AlreadyExistsError:
    pass
assert sorted(x.name for x in modal.Dict.objects.list()) == ["conf", "made"]
modal.Dict.objects.delete("made")
try:
    modal.Dict.from_name("made").len()
    raise AssertionError("expected NotFoundError")
except NotFoundError:
    pass

async def main():
    async with modal.Dict.ephemeral() as ed:
        await ed.put.aio("k", "v")
        await ed.update.aio(x=1, y=2)
        assert await ed.get.aio("k") == "v" and await ed.len.aio() == 3
        assert sorted([k async for k in ed.keys.aio()]) == ["k", "x", "y"]
        assert await ed.pop.aio("x") == 1 and await ed.contains.aio("y")
        await ed.clear.aio()
        assert await ed.len.aio() == 0 and (await ed.info.aio()).name is None

asyncio.run(main())
d.clear()
assert d.len() == 0
d["kept"] = "for chute"
print("ok")
"""


def test_dict_api(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    server.run(DICT_PROGRAM)
    assert dict(chute.Dict.from_name("conf").items()) == {"kept": "for chute"}


# -- both clients on the same objects ----------------------------------------------------------------


MODAL_WRITES = """\
import dataclasses
import modal

@dataclasses.dataclass
class Point:
    x: int
    y: int

q = modal.Queue.from_name("shared-q", create_if_missing=True)
q.put_many(["first", Point(1, 2), {"k": (1, 2)}])
q.put("in-part", partition="part")
d = modal.Dict.from_name("shared-d", create_if_missing=True)
d.update({"s": 1, 7: "seven", ("t", 2): "tuple", frozenset({1, 2}): "fs", b"raw": 3.5})
print(q.object_id, d.object_id)
print("ok")
"""

MODAL_READS = """\
import asyncio, os, time
import modal
q = modal.Queue.from_name("shared-q").hydrate()
d = modal.Dict.from_name("shared-d").hydrate()
assert q.object_id == os.environ["QUEUE_ID"] and d.object_id == os.environ["DICT_ID"]
assert list(q.iterate()) == ["from chute", [1, 2]]
assert q.get() == "from chute" and q.get_many(5) == [[1, 2]]
assert q.get(partition="p") == {"n": 1}
assert d["chute-key"] == {"v": 1} and d[("c", 3)] == "tuple from chute" and d[9] == 9.5
assert "s" not in d and d.len() == 7
# Gets blocked in the server (concurrently: its waits never block its event loop) are woken by
# puts from chute, in another process.
async def wait_all():
    return await asyncio.gather(*(q.get.aio(timeout=30, partition="fan") for _ in range(10)))

t0 = time.monotonic()
print("waiting", flush=True)
assert sorted(asyncio.run(wait_all())) == list(range(10))
assert q.get(timeout=30) == "late"
assert time.monotonic() - t0 < 20
print("ok")
"""


def test_cross_client(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    # modal writes, chute reads.
    out = server.run(MODAL_WRITES)
    queue_id, dict_id = out.split()[:2]
    q = chute.Queue.from_name("shared-q")
    d = chute.Dict.from_name("shared-d")
    assert q.object_id == queue_id and d.object_id == dict_id
    items = list(q.iterate())
    assert items[0] == "first" and (items[1].x, items[1].y) == (1, 2) and items[2] == {"k": (1, 2)}
    assert q.get_many(5) == items and q.get(partition="part") == "in-part"
    assert d["s"] == 1 and d[7] == "seven" and d[("t", 2)] == "tuple" and d[frozenset({2, 1})] == "fs"
    assert d[b"raw"] == 3.5 and d.len() == 5
    assert "s" in d and d.pop("s") == 1
    # chute writes, modal reads.
    q.put_many(["from chute", [1, 2]])
    q.put({"n": 1}, partition="p")
    d.update({"chute-key": {"v": 1}, ("c", 3): "tuple from chute", 9: 9.5})
    env = {**server.env, "QUEUE_ID": queue_id, "DICT_ID": dict_id}
    with subprocess.Popen(
        [sys.executable, "-c", MODAL_READS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "waiting", line + proc.communicate(timeout=30)[1]
        time.sleep(1.0)
        q.put_many(list(range(10)), partition="fan")
        time.sleep(0.5)
        q.put("late")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip().endswith("ok"), out + err


def test_cross_client_signed(
    modal_server: Callable[[], ModalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CHUTE_SECRET, the server signs what modal writes, and checks what it sends back."""
    monkeypatch.setenv("CHUTE_SECRET", "s3cret")
    server = modal_server()
    q = chute.Queue.from_name("signed", create_if_missing=True)
    d = chute.Dict.from_name("signed", create_if_missing=True)
    q.put("from chute")
    d["k"] = "from chute"
    server.run(
        textwrap.dedent(
            """\
            import modal
            q = modal.Queue.from_name("signed")
            d = modal.Dict.from_name("signed")
            assert q.get() == "from chute" and d["k"] == "from chute"
            q.put("from modal")
            d["m"] = "from modal"
            print("ok")
            """
        )
    )
    assert q.get() == "from modal" and d["m"] == "from modal"  # chute verified the signatures
    # An item signed with another secret is refused (DataLossError), never unpickled.
    wrong = chute.Client(chute.config.Settings.from_env(secret=b"other"))
    chute.Queue._new(wrong, object_id=q.object_id).put("forged")
    wrong.close()
    server.run(
        textwrap.dedent(
            """\
            import modal
            from modal.exception import DataLossError
            try:
                modal.Queue.from_name("signed").get()
                raise AssertionError("expected DataLossError")
            except DataLossError as exc:
                assert "signature" in str(exc)
            print("ok")
            """
        )
    )


def test_wrong_token_and_unimplemented(modal_server: Callable[[], ModalServer]) -> None:
    server = modal_server()
    server.run(
        textwrap.dedent(
            """\
            import modal
            from modal.exception import AuthError, UnimplementedError
            modal.Client.from_env().hello()  # the handshake, with the right token
            bad = modal.Client.from_credentials("ak-chute-test", "wrong-secret")
            bad_queue = modal.Queue.from_name("q", create_if_missing=True, client=bad)
            for call in (bad.hello, bad_queue.len):
                try:
                    call()
                    raise AssertionError("expected AuthError")
                except AuthError as exc:
                    assert "Invalid token" in str(exc)
            try:
                modal.Secret.from_name("s").hydrate()
                raise AssertionError("expected UnimplementedError")
            except UnimplementedError as exc:
                assert "SecretGetOrCreate is not implemented" in str(exc)
            env = modal.Environment.from_name("dev")
            env.hydrate()
            assert env.object_id.startswith("en-") and env.name == "dev"
            print("ok")
            """
        )
    )
    assert chute.Queue.objects.list() == []  # the rejected client created nothing


def test_cli_refuses_public_host_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CHUTE_MODAL_TOKEN_ID", "CHUTE_MODAL_TOKEN_SECRET", "CHUTE_SECRET"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, ["modal-server", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "without a token" in result.output
    result = CliRunner().invoke(app, ["modal-server", "--token-id", "only-the-id"])
    assert result.exit_code == 2 and "both" in result.output
    monkeypatch.setenv("CHUTE_SECRET", "s")
    result = CliRunner().invoke(app, ["modal-server"])
    assert result.exit_code == 2 and "CHUTE_SECRET" in result.output


async def test_every_other_rpc_is_unimplemented() -> None:
    """Each RPC of Modal's API is either served or answers UNIMPLEMENTED naming itself."""
    from grpclib import GRPCError, Status
    from modal_proto.api_grpc import ModalClientBase

    from chute.config import Settings, parse_url
    from chute.modal_server import ChuteModalServicer, create_servicer

    servicer = create_servicer(chute.Client(Settings(url=parse_url("sqlite:///nonexistent/never-opened.db"))))
    rpcs = sorted(ModalClientBase.__abstractmethods__)
    ours = [k for k in ChuteModalServicer.__mro__ if k.__module__.startswith("chute.modal_server.")]
    served = sorted(name for name in rpcs if any(name in vars(k) for k in ours))
    assert served == sorted(
        ["ClientHello", "WorkspaceNameLookup", "EnvironmentGetOrCreate", "EnvironmentList"]
        + [f"Queue{op}" for op in ("GetOrCreate", "GetById", "Heartbeat", "Put", "Get", "Len")]
        + [f"Queue{op}" for op in ("NextItems", "Clear", "Delete", "List")]
        + [f"Dict{op}" for op in ("GetOrCreate", "GetById", "Heartbeat", "Update", "Get", "Contains")]
        + [f"Dict{op}" for op in ("Len", "Pop", "Contents", "Clear", "Delete", "List")]
        + [f"Function{op}" for op in ("Get", "GetById", "BindParams", "GetCurrentStats", "Map")]
        + [f"Function{op}" for op in ("PutInputs", "FinishInputs", "GetOutputs", "CallFromId", "CallCancel")]
        + ["ClassGet", "BlobCreate"]
    )
    assert set(servicer.__mapping__()) == {f"/modal.client.ModalClient/{name}" for name in rpcs}
    for name in set(rpcs) - set(served):
        with pytest.raises(GRPCError) as info:
            await getattr(servicer, name)(None)
        assert info.value.status is Status.UNIMPLEMENTED and info.value.message
        assert info.value.message.startswith(f"{name} is not implemented by chute's modal-server")
