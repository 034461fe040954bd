"""The packages an app's images ``pip_install``: installed once per machine, by content hash.

``ensure`` installs a version's packages into ``CACHE/<sha256 of the list and Python>/`` with
``uv pip install --target`` when uv is on PATH, else ``python -m pip install --target``, under
an exclusive file lock, so two workers sharing the cache build it once and the second reuses it.
The folder goes first on the app pool's ``PYTHONPATH`` (its executors inherit it). A failed
install leaves no folder: the app is not served, and the worker says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from chute.exception import InvalidError

DONE = ".chute-installed"


def ensure(packages: list[str], cache: Path) -> Path | None:
    """The folder holding ``packages`` (installed now if missing); None when there are none.

    Raises:
        InvalidError: the installer failed (its last output lines say why).
    """
    if not packages:
        return None
    key = json.dumps([sorted(packages), sys.version_info[:2]])
    target = cache / hashlib.sha256(key.encode()).hexdigest()
    if (target / DONE).is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait, then reuse
        if (target / DONE).is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        uv = shutil.which("uv")
        argv = (
            [uv, "pip", "install", "--python", sys.executable, "--target", str(target), *packages]
            if uv
            else [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-input",
                "--target",
                str(target),
                *packages,
            ]
        )
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise InvalidError(f"installing {', '.join(packages)} failed: {tail}")
        (target / DONE).write_text(" ".join(packages))
        print(f"chute worker: installed {', '.join(packages)} in {target}", file=sys.stderr, flush=True)
    return target
