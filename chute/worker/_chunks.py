"""Running a map chunk (``chute._chunk``) in an executor: its inputs one after another, each
under its own timeout, each with its own outcome.

The chunk's call succeeds with the list of its inputs' sealed outcomes (``_outcome.pack_value``
or ``pack_error`` per input); an input's exception never fails the chunk. The supervisor hears
``("progress", [call_id])`` at an input's start, at most every ``PROGRESS_EVERY`` s, and moves
the chunk's deadline to that input's timeout (plus ``CHUNK_SLACK``): the executor times an
input out itself, the supervisor's deadline only catches an input stuck where no signal lands.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from chute import _outcome
from chute._chunk import PROGRESS_EVERY, MapChunk
from chute._runtime import run_call
from chute._traceback import format_user_exception
from chute.config import Settings
from chute.exception import FunctionTimeoutError


class Progress:
    """Says an input of a chunk started, at most every ``PROGRESS_EVERY`` s (``send``)."""

    def __init__(self, call_id: str, send: Callable[[str], None]) -> None:
        self._call_id, self._send = call_id, send
        self._last = time.monotonic()  # the supervisor timed the chunk's start itself

    def input_started(self) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            self._last = now
            self._send(self._call_id)


def _timed_out(name: str, call_id: str, timeout: float) -> FunctionTimeoutError:
    return FunctionTimeoutError(
        f"{name} ({call_id}, an input of a map) exceeded its timeout of {timeout:g} s"
    )


def _failure(exc: BaseException, call_id: str, settings: Settings) -> bytes:
    return _outcome.pack_error(exc, format_user_exception(exc), settings, call_id)


def _value(value: Any, call_id: str, settings: Settings) -> bytes:
    try:
        return _outcome.pack_value(value, settings)
    except Exception as exc:  # unpicklable or too large: this input's failure, not the chunk's
        return _failure(exc, call_id, settings)


class _Alarm(BaseException):
    """Raised in the input at its timeout: a BaseException, so that the user's ``except
    Exception`` does not swallow it (it runs their ``finally`` blocks)."""


def _raise_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


def run_chunk_sync(
    handler: Callable[..., Any],
    name: str,
    call_id: str,
    chunk: MapChunk,
    settings: Settings,
    progress: Progress,
) -> list[bytes]:
    """Run every input of ``chunk`` in this (the main) thread; SIGALRM ends an input at its
    timeout by raising in it (as RQ and huey time out a job), so the next one can run."""
    out: list[bytes] = []
    previous = signal.signal(signal.SIGALRM, _raise_alarm)
    try:
        for index, (args, kwargs) in enumerate(chunk.inputs):
            progress.input_started()
            try:
                signal.setitimer(signal.ITIMER_REAL, chunk.timeout)
                try:
                    value = run_call(handler, call_id, args, kwargs, index)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _Alarm as alarm:  # the traceback says where the input was when time ran out
                exc = _timed_out(name, call_id, chunk.timeout)
                where = format_user_exception(alarm).rstrip().rpartition("\n")[0]  # without "_Alarm"
                text = f"{where}\n{_outcome.error_line(exc)}\n"
                out.append(_outcome.pack_error(exc, text, settings, call_id))
            except Exception as exc:
                out.append(_failure(exc, call_id, settings))
            else:
                out.append(_value(value, call_id, settings))
    finally:
        signal.signal(signal.SIGALRM, previous)
    return out


async def run_chunk_async(
    call_one: Callable[[str, tuple[Any, ...], dict[str, Any], int | None], Awaitable[Any]],
    name: str,
    call_id: str,
    chunk: MapChunk,
    settings: Settings,
    progress: Progress,
) -> list[bytes]:
    """Run every input of ``chunk`` on the executor's loop, one at a time, each under
    ``asyncio.wait_for`` of its timeout."""
    out: list[bytes] = []
    for index, (args, kwargs) in enumerate(chunk.inputs):
        progress.input_started()
        try:
            value = await asyncio.wait_for(call_one(call_id, args, kwargs, index), chunk.timeout)
        except TimeoutError:
            out.append(_failure(_timed_out(name, call_id, chunk.timeout), call_id, settings))
        except Exception as exc:
            out.append(_failure(exc, call_id, settings))
        else:
            out.append(_value(value, call_id, settings))
    return out
