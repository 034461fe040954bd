"""Maps in chunks (``chute._chunk``): many inputs per stored call, each with its own outcome.

On every backend, with a real ``chute worker`` of tests/apps/chunk_app.py (``max_containers=1``:
a map of n inputs goes in chunks of ceil(n / 8), at most 64).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

import chute
from chute._chunk import CHUNK_MAX, chunk_size
from chute._jobs import CallControl, FunctionRef, FunctionSpec, Retries
from chute.exception import FunctionTimeoutError, RequestSizeError, SerializationError
from tests._workers import LEASE, ROOT, start_worker, stop
from tests.apps import chunk_app as ca
from tests.conftest import BACKENDS, new_store_url

APP_FILE = str(ROOT / "tests" / "apps" / "chunk_app.py")


def start_chunk_worker(url: str) -> subprocess.Popen[bytes]:
    return start_worker(url, APP_FILE, CHUTE_LEASE=str(LEASE))


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Overrides conftest's: one store per backend for the module, which ``module_worker`` serves."""
    return new_store_url(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module")
def module_worker(backend_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_chunk_worker(backend_url)
    yield proc
    stop([proc], 60)


def test_map_runs_in_chunks_in_order(worker: subprocess.Popen[bytes]) -> None:
    """200 inputs over one executor: 8 calls of 25 inputs, every value in input order; the
    async form and starmap with kwargs give the same."""
    out = list(ca.where.map(range(200)))
    assert [x for x, _, _ in out] == list(range(200))
    calls = [call for _, call, _ in out]
    assert len(set(calls)) == 8
    assert all(calls[i] == calls[i // 25 * 25] for i in range(200))  # consecutive inputs share one
    assert len({input_id for _, _, input_id in out}) == 200  # each input has its own id

    async def collect() -> list[int]:
        try:
            pairs = [(2 * i,) for i in range(100)]
            return [x async for x in ca.fail_odd.starmap.aio(pairs, kwargs={"factor": 3})]
        finally:
            await chute.Client.from_env().aclose()  # its connections belong to this loop

    assert asyncio.run(collect()) == [6 * i for i in range(100)]


def test_each_input_keeps_its_exception(worker: subprocess.Popen[bytes]) -> None:
    """An input's exception is its own: the others' values arrive; the first failure in input
    order raises; return_exceptions yields it in place; for_each raises it unless told not to."""
    out = list(ca.fail_odd.map(range(100), return_exceptions=True))
    assert [v for v in out[::2]] == list(range(0, 100, 2))
    errors = out[1::2]
    assert all(isinstance(e, ValueError) for e in errors)
    assert [str(e) for e in errors] == [f"odd input {x}" for x in range(1, 100, 2)]
    assert "Remote traceback" in "\n".join(getattr(errors[0], "__notes__", []))
    with pytest.raises(ValueError, match=r"odd input 1$"):
        list(ca.fail_odd.map(range(100)))
    with pytest.raises(ValueError, match="odd input"):
        ca.fail_odd.for_each(range(100))
    ca.fail_odd.for_each(range(100), ignore_exceptions=True)
    unordered = list(ca.fail_odd.map(range(100), order_outputs=False, return_exceptions=True))
    assert sorted(v for v in unordered if isinstance(v, int)) == list(range(0, 100, 2))


@pytest.mark.parametrize("fn", [ca.sleepy, ca.sleepy_aio, ca.stubborn], ids=["sync", "async", "swallows"])
def test_an_input_times_out_alone(worker: subprocess.Popen[bytes], fn: chute.Function) -> None:
    """``timeout=1``: the input that sleeps 3 s fails with FunctionTimeoutError after ~1 s (not
    3 s), inside its chunk; the inputs before and after it in that chunk succeed."""
    assert fn.remote(0, 0.0) == 0  # its executor is up: the map's time is the inputs'
    inputs = [(i, 3.0 if i == 5 else 0.0) for i in range(24)]  # 8 chunks of 3
    start = time.monotonic()
    out = list(fn.starmap(inputs, return_exceptions=True))
    took = time.monotonic() - start
    assert isinstance(out[5], FunctionTimeoutError), out[5]
    assert "timeout of 1 s" in str(out[5])
    assert out[:5] + out[6:] == [i for i in range(24) if i != 5]
    assert took < 2.9, f"the map took {took:.2f} s: the input ran past its 1 s timeout"


def test_a_chunk_whose_executor_dies_runs_input_by_input(worker: subprocess.Popen[bytes]) -> None:
    """An input that kills its executor fails the chunk as a whole: its inputs run again one
    call each, so the others get their values and only that input fails."""
    out = list(ca.crash_on.map(range(40), kwargs={"bad": 7}, return_exceptions=True))
    assert out[:7] + out[8:] == [x for x in range(40) if x != 7]
    assert isinstance(out[7], Exception) and not isinstance(out[7], int)


def test_an_unpicklable_result_fails_only_its_input(worker: subprocess.Popen[bytes]) -> None:
    out = list(ca.unpicklable_on.map(range(24), kwargs={"bad": 3}, return_exceptions=True))
    assert isinstance(out[3], SerializationError), out[3]
    assert out[:3] + out[4:] == [x for x in range(24) if x != 3]


def test_chunks_split_to_fit_the_size_limit(
    worker: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 inputs of 20 kB under a 100 kB limit: chunks of 25 (500 kB) go in smaller pieces;
    an input over the limit alone is refused with RequestSizeError."""
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", "100000")
    assert list(ca.size_of.map(["x" * (20_000 + i) for i in range(200)])) == [20_000 + i for i in range(200)]
    with pytest.raises(RequestSizeError, match="CHUTE_MAX_VALUE_BYTES"):
        list(ca.size_of.map(["x" * 10] * 100 + ["x" * 150_000]))


def test_a_class_method_maps_in_chunks(worker: subprocess.Popen[bytes]) -> None:
    out = list(ca.Scaler(factor=3).scale.map(range(64)))
    assert [v for v, _ in out] == [3 * x for x in range(64)]


def test_a_worker_killed_mid_map_loses_no_input(own_store: str) -> None:
    """kill -9 of the worker while a map's chunks run: a new worker re-runs the chunks it held
    (lease 1 s), and the map still yields exactly one value per input, in order."""
    first = start_chunk_worker(own_store)
    try:
        it = ca.slow_square.map(range(400))  # 8 chunks of 50 inputs of 10 ms
        values = [next(it)]  # a chunk has finished: the worker is mid-map
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_chunk_worker(own_store)
        try:
            values += list(it)
        finally:
            stop([second], 60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert values == [x * x for x in range(400)]


def _ref(**spec: object) -> FunctionRef:
    return FunctionRef("app", "f", FunctionSpec(**spec))  # type: ignore[arg-type]


def test_chunk_size_rule() -> None:
    """Chunks per executor (8 each, at most CHUNK_MAX inputs); one call per input for
    functions whose inputs need their own call."""
    assert chunk_size(_ref(max_containers=8), 100) == 2
    assert chunk_size(_ref(max_containers=8), 64) == 1
    assert chunk_size(_ref(max_containers=2), 10_000) == CHUNK_MAX
    assert chunk_size(_ref(max_containers=1), 200) == 25
    assert chunk_size(_ref(max_containers=1, retries=Retries(1)), 10_000) == 1
    assert chunk_size(_ref(max_containers=1, max_inputs=4), 10_000) == 1
    assert chunk_size(_ref(max_containers=1, batch_max_size=8), 10_000) == 1
    assert chunk_size(_ref(max_containers=1, rate_limit={"calls": 5, "per_seconds": 1}), 10_000) == 1
    with_retries = FunctionRef(
        "app", "f", FunctionSpec(max_containers=1), call_options={"retries": {"max_retries": 2}}
    )
    assert chunk_size(with_retries, 10_000) == 1
    keyed = FunctionRef("app", "f", FunctionSpec(max_containers=1), control=CallControl(concurrency_key="k"))
    assert chunk_size(keyed, 10_000) == 1
    assert (
        chunk_size(FunctionRef("app", "f", FunctionSpec(max_containers=1), idempotency_key="i"), 10_000) == 1
    )
