"""The executor: the process (Modal's container) that runs one function's calls.

It loads the user's code once, then runs what the supervisor sends until told to stop. It
holds no lease: the supervisor owns leases, timeouts and results; the executor reports
``ready``, ``start`` (for calls the supervisor asked to hear about, i.e. queued ones) and
``done`` per call id. One exception, for latency: the result of a lone successful call is
written here and reported ``recorded`` (``_recorder``).

Messages in: ``("init", {...})``, ``("run", [(call_id, payload, report_start, record), ...])``
(``record``: the attempt, when this executor may write the call's result itself),
``("cancel", [call_id, ...])``, ``("stop",)``. Out: ``("ready", pid)``, ``("fatal", text)``,
``("start", [call_id, ...])``, ``("done", [(call_id, ok, outcome, error_line), ...])``,
``("recording", [call_id])`` then ``("recorded", [call_id])`` (``_recorder``),
``("progress", [call_id, ...])`` (a map chunk started its next input: ``_chunks``).

Two ways to serve:

- **serial**: a plain sync function without ``@concurrent``/``@batched`` runs in the main
  thread, one call at a time (signal handlers and main-thread-only libraries work, as on
  Modal);
- **loop**: everything else runs on one asyncio loop in the main thread: ``async def``
  calls as tasks, sync ``@concurrent`` calls in a pool of ``max_inputs`` threads, and
  ``@batched`` inputs grouped by ``_batching.Batcher``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chute import _outcome
from chute._chunk import chunk_of
from chute._context import enter_executor
from chute._platform import MountUnavailable, mount_volumes, set_title
from chute._runtime import run_call, run_call_async
from chute._traceback import format_user_exception
from chute.config import Settings
from chute.exception import ExecutionError
from chute.worker import _capture
from chute.worker._batching import Batcher
from chute.worker._chunks import Progress, run_chunk_async, run_chunk_sync
from chute.worker._fdcapture import FdCapture
from chute.worker._proc import BlockingChannel, die_with_parent, frame
from chute.worker._recorder import Recorder
from chute.worker._service import Service, load_service

Done = tuple[str, bool, bytes, str | None]


def run_sync_call(
    service: Service, call_id: str, payload: bytes, settings: Settings, channel: BlockingChannel
) -> Done:
    """Run one call of a sync function here (a map chunk: each of its inputs); never raises
    for the function's own errors."""
    try:
        args, kwargs = _outcome.load_args(payload, settings, call_id)
        chunk = chunk_of(args, kwargs)
        with _capture.capturing(call_id):
            if chunk is None:
                value = run_call(service.handler, call_id, args, kwargs)
            else:
                progress = Progress(call_id, lambda c: channel.send(("progress", [c])))
                value = run_chunk_sync(service.handler, service.name, call_id, chunk, settings, progress)
        return (call_id, True, _outcome.pack_value(value, settings), None)
    except Exception as exc:
        return failure(call_id, exc, settings)


def failure(call_id: str, exc: BaseException, settings: Settings) -> Done:
    text = format_user_exception(exc)  # starts at the user's function, not at this module
    return (call_id, False, _outcome.pack_error(exc, text, settings, call_id), _outcome.error_line(exc))


def main(fd: int | None = None, parent: int | None = None) -> None:
    """Entry point: of the ``python -c`` bootstrap from ``_proc`` (argv = [chute root, socket
    fd]), or of a fork of the zygote (``_zygote``: its socket fd, and the zygote as parent)."""
    sock = socket.socket(fileno=int(sys.argv[2]) if fd is None else fd)
    channel = BlockingChannel(sock)
    kind, init = channel.recv()
    assert kind == "init", kind
    if parent is not None:
        init["parent"] = parent
    parent_path: list[str] = init["sys_path"]
    sys.path[:] = parent_path + [p for p in sys.path if p not in parent_path]
    set_title(init["title"])
    mount_error: str | None = None
    try:
        # First, while this process has one thread (unshare refuses CLONE_NEWUSER otherwise).
        mount_volumes(init.get("mounts") or [], init.get("mount_namespaces", True))
    except MountUnavailable as exc:
        mount_error = str(exc)
    die_with_parent(init["parent"])
    enter_executor()
    # A process the user's code forks must not hold our socket: the supervisor would never
    # see it close, and a stray write from the child would corrupt the stream.
    os.register_at_fork(after_in_child=sock.close)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when we stop
    try:
        if init.get("fatal"):  # the supervisor could not prepare this executor (e.g. a missing secret)
            raise RuntimeError(init["fatal"])
        if mount_error is not None:
            raise ExecutionError(mount_error)
        service = load_service(init["target"], init["app"], init["function"])
        service.enter()
    except Exception as exc:  # the supervisor reports it, and fails the calls sent here with it
        channel.send(("fatal", f"{init['app']}.{init['function']}: {_outcome.error_line(exc)}"))
        sys.exit(2)
    from chute._client import Client

    client = Client.from_env()
    settings = client.settings
    # fd-level output (subprocesses, C code) can be told apart only when one call runs at a time.
    sink, fds = _capture.install(fd_level=service.serial)
    channel.send(("ready", os.getpid()))
    try:
        if service.serial:
            shipper = _capture.SerialShipper(channel, sink)
            _serve_serial(channel, service, settings, shipper, fds, Recorder(client), sink)
        else:
            recorder = None if service.batch_max_size is not None else Recorder(client, aio=True)
            asyncio.run(LoopServer(sock, channel, service, settings, sink, recorder).serve())
    finally:
        service.exit()


def _serve_serial(
    channel: BlockingChannel,
    service: Service,
    settings: Settings,
    shipper: _capture.SerialShipper,
    fds: FdCapture | None = None,
    recorder: Recorder | None = None,
    sink: _capture.Captured | None = None,
) -> None:
    """One call at a time, in order. Between calls, read what arrived without blocking: a
    cancel drops a queued call (reported done), so it never starts. A call that succeeded
    silently with nothing queued behind it has its result written here (``_recorder``)."""
    queue: deque[tuple[str, bytes, bool, int | None]] = deque()
    while True:
        try:
            messages = [channel.recv()] if not queue else channel.recv_ready()
        except (EOFError, OSError):
            return
        for message in messages:
            kind = message[0]
            if kind == "stop":
                return
            if kind == "run":
                queue.extend(message[1])
            elif kind == "cancel":
                dropped = set(message[1])
                cancelled = [q for q in queue if q[0] in dropped]
                if cancelled:
                    queue = deque(q for q in queue if q[0] not in dropped)
                    channel.send(("done", [(q[0], False, b"", "cancelled") for q in cancelled]))
            # A cancel of the running call needs nothing here: the supervisor kills us.
        announced = False  # the next call's start went out with the last call's result
        while queue and not (announced and channel.has_input()):
            call_id, payload, report_start, record = queue.popleft()
            if report_start and not announced:
                channel.send(("start", [call_id]))
            writes = sink.writes if sink is not None else 0
            with fds.attributed(call_id) if fds is not None else contextlib.nullcontext():
                done = run_sync_call(service, call_id, payload, settings, channel)
            out: list[tuple[str, list[Any]]] = [("done", [done])]
            if (
                recorder is not None
                and record is not None
                and done[1]
                and not queue
                and (sink is None or sink.writes == writes)
                and not channel.has_input()  # more calls, likely: the supervisor batches the writes
                and recorder.usable()
            ):
                # Said first, so the supervisor knows before the caller can have the result.
                shipper.send_all([("recording", [call_id])])
                if recorder.finish(call_id, record, done[2]):
                    out = [("recorded", [call_id])]
            announced = bool(queue) and queue[0][2]
            if announced:
                out.append(("start", [queue[0][0]]))  # one write for both
            shipper.send_all(out)  # the call's last output first


class LoopServer:
    """Serves calls on an asyncio loop: tasks for async functions, threads for sync ones."""

    def __init__(
        self,
        sock: socket.socket,
        channel: BlockingChannel,
        service: Service,
        settings: Settings,
        sink: _capture.Captured | None = None,
        recorder: Recorder | None = None,
    ):
        self._sock, self._channel, self._service, self._settings = sock, channel, service, settings
        self._sink, self._recorder = sink, recorder
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._out = bytearray()
        self._done: list[Done] = []
        self._starts: list[str] = []
        self._progress: list[str] = []  # map chunks that started an input (``_chunks.Progress``)
        self._flush_soon = False
        self._writing = False
        self._stopped = asyncio.Event()
        # At most max_inputs run; the supervisor may send more (queued, report_start) when
        # calls are short, so the next one starts the moment one ends.
        self._limit = asyncio.Semaphore(service.max_inputs)
        self._threads: ThreadPoolExecutor | None = None
        if not service.is_async:
            self._threads = ThreadPoolExecutor(service.max_inputs, thread_name_prefix="chute-input")
        self._batcher: Batcher | None = None
        if service.batch_max_size is not None:
            self._batcher = Batcher(
                self, service.batch_max_size, service.batch_wait_ms / 1000, service.max_inputs
            )

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._sock.setblocking(False)
        loop.add_reader(self._sock.fileno(), self._on_readable)
        for message in self._channel.feed(b""):  # read along with "init", before the loop started
            self._handle(message)
        if self._sink is not None:
            loop.call_later(_capture.SHIP_EVERY, self._ship_output)
        try:
            await self._stopped.wait()
        finally:
            loop.remove_reader(self._sock.fileno())
            for task in list(self._tasks.values()):
                task.cancel()
            if self._threads is not None:
                self._threads.shutdown(wait=False, cancel_futures=True)

    # -- input -----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._stopped.set()
            return
        for message in self._channel.feed(data):
            self._handle(message)

    def _handle(self, message: Any) -> None:
        kind = message[0]
        if kind == "run":
            for call_id, payload, report_start, record in message[1]:
                if self._batcher is not None:
                    self._batcher.add(call_id, payload)
                else:
                    run = self._run_one(call_id, payload, report_start, record)
                    self._tasks[call_id] = asyncio.create_task(run)
        elif kind == "cancel":
            for call_id in message[1]:
                task = self._tasks.get(call_id)
                if task is not None:
                    task.cancel()
                elif self._batcher is not None and self._batcher.drop(call_id):
                    self.finished([(call_id, False, b"", "cancelled")])
        elif kind == "stop":
            self._stopped.set()

    # -- running ---------------------------------------------------------------------------

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        """The user's function, awaited (async) or in a worker thread (sync)."""
        if self._threads is None:
            return await self._service.handler(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, functools.partial(self._service.handler, *args, **kwargs)
        )

    async def _call_one(
        self, call_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], input_index: int | None = None
    ) -> Any:
        """One call (or input of a map chunk), with its call context (``current_function_call_id()``)."""
        handler = self._service.handler
        if self._threads is None:
            with _capture.capturing(call_id):  # this task's context only
                return await run_call_async(handler, call_id, args, kwargs, input_index)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads,
            functools.partial(
                _capture.run_captured, call_id, run_call, handler, call_id, args, kwargs, input_index
            ),
        )

    async def _run_one(self, call_id: str, payload: bytes, report_start: bool, record: int | None) -> None:
        settings = self._settings
        writes = self._sink.writes if self._sink is not None else 0
        try:
            async with self._limit:
                if report_start:
                    self.started([call_id])
                args, kwargs = _outcome.load_args(payload, settings, call_id)
                chunk = chunk_of(args, kwargs)
                if chunk is None:
                    value = await self._call_one(call_id, args, kwargs)
                else:
                    progress = Progress(call_id, self.progressed)
                    name = self._service.name
                    value = await run_chunk_async(self._call_one, name, call_id, chunk, settings, progress)
            done: Done = (call_id, True, _outcome.pack_value(value, settings), None)
        except asyncio.CancelledError:
            done = (call_id, False, b"", "cancelled")  # the supervisor already gave up on it
        except Exception as exc:
            done = failure(call_id, exc, settings)
        finally:
            self._tasks.pop(call_id, None)
        if record is not None and done[1] and await self._recorded(call_id, record, done[2], writes):
            return
        self.finished([done])

    async def _recorded(self, call_id: str, attempt: int, outcome: bytes, writes: int) -> bool:
        """Write a lone call's result here (``_recorder``): only when no other call is inside
        and it printed nothing (output is stored before the result, by the supervisor)."""
        recorder = self._recorder
        if (
            recorder is None
            or self._tasks
            or (self._sink is not None and self._sink.writes != writes)
            or not recorder.usable()
        ):
            return False
        # Said first, so the supervisor knows before the caller can have the result.
        self._out += frame(("recording", [call_id]))
        self._write()
        if not await recorder.finish_aio(call_id, attempt, outcome):
            return False
        self._out += frame(("recorded", [call_id]))
        self._write()
        return True

    def load_args(self, call_id: str, payload: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return _outcome.load_args(payload, self._settings, call_id)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def signature_target(self) -> Any:
        return self._service.raw

    # -- output ----------------------------------------------------------------------------

    def started(self, call_ids: list[str]) -> None:
        self._starts += call_ids
        self._schedule_flush()

    def progressed(self, call_id: str) -> None:
        self._progress.append(call_id)
        self._schedule_flush()

    def finished(self, done: list[Done]) -> None:
        self._done += done
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        # Everything that finished in one turn of the loop goes out in one message.
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _ship_output(self) -> None:
        """Every SHIP_EVERY: send what calls printed (a call's last output goes with its done)."""
        if self._sink is not None and self._sink.has_pending():
            self._schedule_flush()
        asyncio.get_running_loop().call_later(_capture.SHIP_EVERY, self._ship_output)

    def _flush(self) -> None:
        self._flush_soon = False
        if self._sink is not None and self._sink.has_pending():
            self._out += frame(("logs", self._sink.drain()))  # before the calls' done
        if self._starts:
            self._out += frame(("start", self._starts))
            self._starts = []
        if self._progress:
            self._out += frame(("progress", self._progress))
            self._progress = []
        if self._done:
            self._out += frame(("done", self._done))
            self._done = []
        self._write()

    def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while self._out:
            try:
                n = self._sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    loop.add_writer(self._sock.fileno(), self._write)
                    self._writing = True
                return
            except OSError:
                self._stopped.set()
                return
            del self._out[:n]
        if self._writing:
            loop.remove_writer(self._sock.fileno())
            self._writing = False
