"""Map chunks: many inputs of one ``map``/``starmap``/``for_each`` in one stored call.

A call record per input costs every process a few hundred µs of Python (submit, claim,
lease, finish, read back), which caps a map of no-op inputs at ~2,000 inputs/s on two
cores. A map whose inputs can be told apart without their own record (see ``chunk_size``)
stores ``CHUNK_MAX`` of them per call instead: the arguments pickled together, one claim,
one executor run that calls the function once per input, one result holding every input's
own outcome. Per input nothing changes for the caller: its value, or its exception (with
its remote traceback), in input order.

What an input keeps of its own: its exception; its ``timeout`` (the executor enforces it
per input: SIGALRM in a serial executor, ``asyncio.wait_for`` on the loop); its call
context (``current_function_call_id()`` names the chunk's call). What a chunk shares: one
lease (a worker killed with -9 runs the whole chunk again: at-least-once, as for any call),
one attempt. A chunk that fails as a whole (its executor crashed, or an input held the
executor past its timeout in C code) is run again input by input, each as its own call
(``chute._async.map_ops``), so no input is lost and each gets its own outcome.

A function whose inputs need more than that keeps one call per input: retries (an input
retried after a backoff would hold back the rest of its chunk), ``@concurrent`` and
``@batched`` (their executors run inputs side by side already), rate limits, concurrency
keys and idempotency keys (they count or name calls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chute._jobs import FunctionRef

# Inputs per chunk, at most: past ~64 the per-input cost is nearly flat (the caller's CPU per
# no-op input at 16/32/64/128/256 per chunk: 24/20/13/12/11 µs, SQLite, map of 10,000) and a
# larger chunk only delays its first result and coarsens the spread over executors.
CHUNK_MAX = 64
# Chunks per executor the map may use, at least (multiprocessing.Pool.map's chunksize rule,
# doubled): enough that executors finishing early find more to take.
CHUNKS_PER_SLOT = 8
# A chunk's executor reports progress at most this often (at an input's start); the
# supervisor then allows the input its timeout from that report, plus this much.
PROGRESS_EVERY = 0.5
CHUNK_SLACK = 2 * PROGRESS_EVERY


@dataclass(slots=True)
class MapChunk:
    """The arguments of a chunk's inputs, as its call's single argument.

    ``inputs``: ``(args, kwargs)`` per input; ``timeout``: seconds each input may run."""

    inputs: list[tuple[tuple[Any, ...], dict[str, Any]]]
    timeout: float


def chunk_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> MapChunk | None:
    """The chunk a call's arguments carry, or None for an ordinary call."""
    if len(args) == 1 and not kwargs and type(args[0]) is MapChunk:
        return args[0]
    return None


def call_timeout(fn: FunctionRef) -> float:
    """The timeout each call of ``fn`` runs under (a ``with_options`` variant's, or the spec's)."""
    value = (fn.call_options or {}).get("timeout")
    return float(value) if isinstance(value, int | float) else fn.spec.timeout


def _retries(fn: FunctionRef) -> int:
    value = (fn.call_options or {}).get("retries")
    if isinstance(value, dict):
        return int(value.get("max_retries", 0))
    return fn.spec.retries.max_retries


def chunk_size(fn: FunctionRef, n_inputs: int) -> int:
    """Inputs per chunk for a map of ``n_inputs`` inputs of ``fn`` (1: one call per input).

    ``CHUNKS_PER_SLOT`` chunks per executor the function may have (``max_containers``), at
    most ``CHUNK_MAX`` inputs each: a map of 100 inputs over 8 executors keeps one input per
    call, a map of 10,000 over 2 takes 64 per call."""
    spec = fn.spec
    control = fn.control
    if (
        spec.max_inputs != 1
        or spec.batch_max_size is not None
        or spec.rate_limit is not None
        or spec.max_concurrency_per_key is not None
        or spec.is_generator
        or _retries(fn) > 0
        or fn.idempotency_key is not None
        or control.concurrency_key is not None
        or control.debounce
    ):
        return 1
    return max(1, min(CHUNK_MAX, math.ceil(n_inputs / (spec.max_containers * CHUNKS_PER_SLOT))))
