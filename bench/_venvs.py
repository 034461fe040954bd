"""A virtualenv of its own for each task queue ``bench/jobs.py`` compares chute with.

Each peer's pinned packages go into ``bench/.venvs/<peer>/`` (gitignored), built on first use
with ``python -m venv`` and pip, so that chute's own ``.venv`` keeps the redis-py it ships with
(arq, for one, requires redis-py < 6). A venv is rebuilt when its pins or the Python version
change (``bench-spec.txt`` inside it records both) and reused otherwise. The peer's workers and
its submitter then run on that venv's interpreter, importing ``bench/peers/<peer>_peer.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("CHUTE_BENCH_VENVS", ROOT / "bench" / ".venvs"))
BUILD_TIMEOUT_S = 900.0

# Exact pins of each peer; hiredis wherever the peer's Redis client uses it (redis-py's own
# advice for speed; chute's redis-py has it too). The rest of each venv is what pip resolves
# for these pins: `versions` below reads back what was installed, for the table notes.
PINS: dict[str, list[str]] = {
    "rq": ["rq==3.0.0", "hiredis==3.5.0"],
    "huey": ["huey==3.5.4", "redis==8.1.0", "hiredis==3.5.0"],
    "arq": ["arq==0.28.0", "hiredis==3.5.0"],  # arq requires redis-py < 6: 5.x in its own venv
    # saq's redis extra caps redis-py below 8 (with 8.x its worker runs out of pool connections at
    # concurrency=100); saq imports typing_extensions without declaring it (saq 0.26.4).
    "saq": ["saq[redis,hiredis]==0.26.4", "typing_extensions==4.16.0"],
    "celery": ["celery[redis]==5.7.0", "hiredis==3.5.0"],
    "dramatiq": ["dramatiq[redis]==2.2.1", "hiredis==3.5.0"],
    "taskiq": ["taskiq==0.13.0", "taskiq-redis==1.2.4", "hiredis==3.5.0"],
    "streaq": ["streaq==7.2.0"],  # coredis, with its own hiredis dependency
}
# The distributions whose versions the notes name, per peer.
SHOWN = {
    "rq": ["rq", "redis"],
    "huey": ["huey", "redis"],
    "arq": ["arq", "redis"],
    "saq": ["saq", "redis"],
    "celery": ["celery", "kombu", "redis"],
    "dramatiq": ["dramatiq", "redis"],
    "taskiq": ["taskiq", "taskiq-redis", "redis"],
    "streaq": ["streaq", "coredis"],
}


@dataclass
class Venv:
    peer: str
    python: str | None  # the venv's interpreter, or None when it could not be built
    error: str | None  # why not
    versions: dict[str, str]


def _spec(peer: str) -> str:
    return json.dumps({"pins": PINS[peer], "python": sys.version.split()[0]}, sort_keys=True)


def _installed(python: str, names: list[str]) -> dict[str, str]:
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    got = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, timeout=60)
    return dict(json.loads(got.stdout)) if got.returncode == 0 else {}


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("WARNING")]
    tail = " ".join(lines[-2:]).split(" (from versions:")[0]  # pip's list of every version
    return tail[:300] if lines else "no output"


def ensure(peer: str) -> Venv:
    """The peer's venv, built now if missing or stale; ``python`` None (with why) if it cannot be."""
    where = VENVS / peer
    python = where / "bin" / "python"
    spec_file = where / "bench-spec.txt"
    spec = _spec(peer)
    with contextlib.suppress(OSError):
        if python.exists() and spec_file.read_text() == spec:
            return Venv(peer, str(python), None, _installed(str(python), SHOWN[peer]))
    shutil.rmtree(where, ignore_errors=True)
    where.parent.mkdir(parents=True, exist_ok=True)
    # The base interpreter, not chute's venv: a venv made from a venv's python still works, but
    # this keeps the chain short and the peer's venv independent of chute's.
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(where)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS[peer]],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Venv(peer, None, f"venv for {peer} not built: {exc}", {})
        if done.returncode != 0:
            shutil.rmtree(where, ignore_errors=True)
            what = "pip install " + " ".join(PINS[peer]) if "pip" in cmd else "python -m venv"
            return Venv(peer, None, f"{what} failed: {_tail(done.stderr or done.stdout)}", {})
    spec_file.write_text(spec)
    return Venv(peer, str(python), None, _installed(str(python), SHOWN[peer]))


def ensure_all(peers: Iterable[str]) -> dict[str, Venv]:
    """Build the missing venvs, a few at a time (pip is mostly waiting on the network)."""
    peers = list(dict.fromkeys(peers))
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(peers, pool.map(ensure, peers), strict=True))


if __name__ == "__main__":
    for v in ensure_all(sys.argv[1:] or PINS).values():
        print(v.peer, v.python or f"n/a: {v.error}", v.versions)
