"""An image's virtualenv on a worker: built once per machine, keyed by the image's content.

``ensure(plan, bundle, cache, allow_commands)`` returns the Python to run a version's pool
and executors with: the worker's own interpreter when the image installs nothing (and asks
for no other Python), else ``CACHE/<plan key>/bin/python`` of a virtualenv it builds with
``uv venv`` when uv is on PATH, else ``python -m venv``. Apps whose images have the same
steps, shipped files and Python share one. The build runs under an exclusive file lock and is
marked done last, so two workers on one machine build it once (the second waits, then reuses
it); a failed build leaves nothing and is tried again at the next look.

chute (and pip: the virtualenv is made without its own, which saves most of its build time)
stays importable in the virtualenv without installing it there (workers may have no package
index to install from): a ``_chute_worker.pth`` in its site-packages runs
``site.addsitedir`` on the worker interpreter's site-packages folders (so their ``.pth`` files,
editable installs included, work too), placed *after* the virtualenv's own: the image's
packages win, chute and its dependencies fill in what the image does not install. An image on
another Python series (``python3.X`` from PATH) gets the same folders, so chute's compiled
dependencies must import there too; the build checks ``import chute.worker`` and says why not.

Steps a worker cannot undo or check (``run_commands``, ``apt_install``, a registry base) run only
with ``allow_commands`` (``chute worker --all --allow-image-commands``); otherwise ``ensure``
raises ``Unbuildable`` naming them, and the parent reports it where callers look.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

from chute.exception import InvalidError

DONE = ".chute-built"
ALLOW_FLAG = "--allow-image-commands"


class Unbuildable(InvalidError):
    """This worker will not build the image (a missing Python, steps it is not allowed to run)."""


def python_for(series: str | None) -> str:
    """The interpreter for an image's Python series on this machine.

    Raises:
        Unbuildable: no ``python3.X`` for that series on PATH.
    """
    mine = "{}.{}".format(*sys.version_info[:2])
    if series is None or series == mine:
        return sys.executable
    found = _interpreters.get(series) if series in _interpreters else _working(f"python{series}", series)
    _interpreters[series] = found
    if found is None:
        raise Unbuildable(
            f"its image needs Python {series} (python_version, or the deployer's Python by default) "
            f"and this worker has no python{series} on PATH (it runs {mine})"
        )
    return found


_interpreters: dict[str, str | None] = {}


def _working(name: str, series: str) -> str | None:
    """``name`` from PATH if it runs and is that series (a pyenv shim may exist and fail)."""
    found = shutil.which(name)
    if found is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if out.returncode == 0 and out.stdout.strip() == series:
            return found
    return None


def check(plan: dict[str, Any] | None, allow_commands: bool) -> None:
    """Refuse what this worker may not build, before fetching anything.

    Raises:
        Unbuildable: steps that need ``--allow-image-commands``, or a missing Python.
    """
    if plan is None:
        return
    needs = plan.get("needs") or []
    if needs and not allow_commands:
        raise Unbuildable(
            f"its image needs {', '.join(needs)}, which a worker runs only when told to: "
            f"start the worker with `chute worker --all {ALLOW_FLAG}`"
        )
    python_for(plan.get("python"))


def ensure(plan: dict[str, Any] | None, bundle: Path, cache: Path, allow_commands: bool) -> str:
    """The Python executable for a version whose image is ``plan`` (built now if missing).

    Raises:
        Unbuildable: see ``check``.
        InvalidError: a build step failed (its last output lines say why).
    """
    check(plan, allow_commands)
    if plan is None or not plan.get("steps"):
        return python_for(None if plan is None else plan.get("python"))
    target = cache / plan["key"]
    python = target / "bin" / "python"
    if (target / DONE).is_file():
        return str(python)
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait, then reuse
        if (target / DONE).is_file():
            return str(python)
        shutil.rmtree(target, ignore_errors=True)
        try:
            _build(plan, bundle, target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        (target / DONE).write_text(plan["key"])
    print(f"chute worker: built the image's virtualenv {target}", file=sys.stderr, flush=True)
    return str(python)


def _run(argv: list[str], what: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise InvalidError(f"{what} failed: {tail}")


def _build(plan: dict[str, Any], bundle: Path, target: Path) -> None:
    base = python_for(plan.get("python"))
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "--quiet", "--python", base, str(target)], "creating the virtualenv", bundle)
    else:
        # ensurepip is most of a venv's build time (44 s of 45 measured on a loaded machine):
        # without it, pip comes from the worker's site-packages (linked below) and installs into
        # the virtualenv, whose interpreter runs it (`python -m pip` in run_commands too). Only a
        # worker without pip gives the virtualenv its own.
        bare = [] if importlib.util.find_spec("pip") is None else ["--without-pip"]
        _run([base, "-m", "venv", *bare, str(target)], "creating the virtualenv", bundle)
    python = str(target / "bin" / "python")
    _link_worker_site(python, bundle)
    env = {**os.environ, **plan.get("env", {}), "VIRTUAL_ENV": str(target)}
    env["PATH"] = os.pathsep.join([str(target / "bin"), env.get("PATH", "")])
    for step in plan["steps"]:
        kind, method = step["kind"], step["method"]
        if kind == "pip":
            argv = [uv, "pip", "install", "--python", python] if uv else [python, "-m", "pip", "install"]
            quiet = ["-q"] if uv else ["-q", "--no-input", "--disable-pip-version-check"]
            _run([*argv, *quiet, *step["args"]], f"{method} {' '.join(step['args'])}", bundle, env)
        elif kind == "shell":
            for command in step["commands"]:
                _run(["sh", "-c", command], f"{method} {command!r}", bundle, env)
        elif kind == "apt":
            apt = ["apt-get", "install", "-y", "-q", *step["packages"]]
            _run(apt, f"apt_install {' '.join(step['packages'])} (as this worker's user)", bundle, env)
        # kind "base": allowed by the operator, nothing to run (the machine provides it)
    _run([python, "-c", "import chute.worker._generic"], "importing chute in the virtualenv", bundle)


def _link_worker_site(python: str, cwd: Path) -> None:
    """Make chute and its dependencies importable in the virtualenv (see the module's doc)."""
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, cwd=cwd,
    )  # fmt: skip
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    chute_root = str(Path(__file__).resolve().parent.parent.parent)
    lines = [f"import site; site.addsitedir({f!r})" for f in folders if Path(f).is_dir()]
    lines.append(chute_root)  # chute itself, wherever this worker imports it from
    (Path(out.stdout.strip()) / "_chute_worker.pth").write_text("\n".join(lines) + "\n")
