"""Web endpoint throughput and latency: a trivial async FastAPI route through chute vs plain uvicorn.

Three servers of the same app (bench/_web_app.py), each started fresh in its own process on
an SQLite backend and measured in turn (interleaved over the repetitions):

- **uvicorn**: ``uvicorn bench._web_app:web_app`` (no access log), the baseline;
- **chute serve**: ``chute serve bench/_web_app.py``: the endpoint in its executor process
  (what chute ships);
- **in-process**: the endpoint on the ``chute serve`` process's own event loop next to the
  API and the worker pool (bench/_web_inprocess.py; the design chute did not ship).

The load is ``--conns`` keep-alive HTTP/1.1 connections, each sending ``GET /`` back to back
for ``seconds`` after a warm-up, from an asyncio client in this process. Requests/s counts the
measured window; latencies are per request (write to last body byte).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._env import Env, free_port
from bench._harness import (
    NA,
    Report,
    ResultTable,
    Scale,
    fmt_ns,
    fmt_rate,
    fmt_ratio,
    ratio,
    summarize,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "bench" / "_web_app.py")
TARGET_RATIO = 0.8
CONNS = 16


@dataclass
class Run:
    requests: int
    seconds: float
    latencies_ns: list[int]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


async def _connection(port: int, start_ns: int, stop_ns: int, out: list[int], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        while (t0 := time.perf_counter_ns()) < stop_ns:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            t1 = time.perf_counter_ns()
            if b" 200 " not in head[:16]:
                errors.append(1)
            elif t0 >= start_ns:
                out.append(t1 - t0)
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(port: int, warmup: float, seconds: float, conns: int) -> Run:
    now = time.perf_counter_ns()
    start_ns = now + int(warmup * 1e9)
    stop_ns = start_ns + int(seconds * 1e9)
    latencies: list[int] = []
    errors: list[int] = []
    await asyncio.gather(*(_connection(port, start_ns, stop_ns, latencies, errors) for _ in range(conns)))
    return Run(len(latencies), seconds, latencies, len(errors))


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def _start(system: str, env: Env, rep: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``system`` on fresh ports; returns the process and the endpoint's port."""
    port = free_port()
    child_env = {
        **os.environ,
        "CHUTE_URL": env.sqlite_url(f"web-{system}-{rep}"),
        "CHUTE_WEB_PORT": str(port),
    }
    child_env.pop("CHUTE_ENV", None)
    if system == "uvicorn":
        argv = ["-m", "uvicorn", "bench._web_app:web_app", "--port", str(port), "--log-level", "warning"]
        argv.append("--no-access-log")
    elif system == "chute serve":
        argv = ["-m", "chute", "serve", APP_FILE, "--port", str(free_port()), "--log-level", "warning"]
    else:
        argv = [str(ROOT / "bench" / "_web_inprocess.py"), APP_FILE, "bench-web", "bench_app"]
        argv += [str(free_port()), str(port)]
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=child_env, stderr=subprocess.DEVNULL)
    _wait_ready(proc, f"http://127.0.0.1:{port}/")
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


SYSTEMS = ["uvicorn", "chute serve", "in-process"]


def measure(env: Env, reps: int, seconds: float, warmup: float = 1.0, conns: int = CONNS) -> dict[str, Run]:
    """Interleaved repetitions of every system; their runs merged per system."""
    merged: dict[str, Run] = {}
    for rep in range(reps):
        for system in SYSTEMS:
            proc, port = _start(system, env, rep)
            try:
                run = asyncio.run(_load(port, warmup, seconds, conns))
            finally:
                _stop(proc)
            acc = merged.setdefault(system, Run(0, 0.0, [], 0))
            acc.requests += run.requests
            acc.seconds += run.seconds
            acc.latencies_ns += run.latencies_ns
            acc.errors += run.errors
    return merged


def run(env: Env, scale: Scale) -> Report:
    reps, seconds = (1, 3.0) if scale.quick else (3, 5.0)
    runs = measure(env, reps, seconds)
    base = runs["uvicorn"].rate
    table = ResultTable(
        f"Web endpoint: trivial async FastAPI route, {CONNS} keep-alive connections, "
        f"{reps} x {seconds:g} s per system",
        ["system", "requests/s", "p50", "p99", "errors", "vs uvicorn", f"target ≥ {TARGET_RATIO}x"],
        notes=[
            "chute serve = the endpoint in its executor process (shipped); in-process = on chute "
            "serve's own loop beside the API and worker pool (bench/_web_inprocess.py, not shipped)."
        ],
    )
    data: dict[str, Any] = {}
    for system in SYSTEMS:
        r = runs[system]
        st = summarize([float(x) for x in r.latencies_ns])
        rel = ratio(r.rate, base)
        target = NA if system == "uvicorn" else verdict(rel is not None and rel >= TARGET_RATIO)
        table.add_row(
            system, fmt_rate(r.rate), fmt_ns(st.p50), fmt_ns(st.p99), str(r.errors), fmt_ratio(rel), target
        )
        data[system] = {"rps": r.rate, "p50_ns": st.p50, "p99_ns": st.p99, "errors": r.errors, "ratio": rel}
    return Report([table], {"web": data})
