"""Smoke test of an installed chute, run by scripts/package-check with a clean venv's Python.

``package_smoke.py SOURCE_DIR base|server``: checks that the installed package (not the
checkout: the checkout is never on sys.path here) has every data file of the source tree
(dashboard static files, Lua scripts, ``py.typed``), that ``import chute`` and the ``chute``
command work, that a command whose extra is missing names it (``base``) or that the server's
pieces import and its offline API docs assets are there (``server``), then prints the import
time and the installed size.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Data files that must ship in the wheel, as globs relative to the package directory.
DATA_GLOBS = ["py.typed", "**/*.lua", "**/static/**/*"]
# Installed by `python -m venv` itself: not part of chute's footprint.
VENV_TOOLS = {"pip", "setuptools", "wheel"}


def fail(message: str) -> None:
    print(f"package-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def data_files(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for pattern in DATA_GLOBS:
        for path in package_dir.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(path.relative_to(package_dir).as_posix())
    return found


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def import_seconds() -> float:
    """Best of 5 fresh interpreters: wall time of ``import chute`` alone."""
    code = "import time; t = time.perf_counter(); import chute; print(time.perf_counter() - t)"
    return min(float(run(sys.executable, "-c", code).stdout) for _ in range(5))


def installed_mb(dists: list[str] | None = None) -> float:
    total = 0
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name.lower() in VENV_TOOLS or (dists is not None and name.lower() not in dists):
            continue
        total += sum(f.size or 0 for f in dist.files or [])
    return total / 1e6


def check_files(source: Path) -> None:
    import chute

    installed_dir = Path(chute.__file__).parent
    if source.resolve() in installed_dir.resolve().parents or installed_dir.resolve() == source.resolve():
        fail(f"chute was imported from the checkout ({installed_dir}), not from the installed wheel")
    expected = data_files(source / "chute")
    if not any(f.endswith(".lua") for f in expected) or not any("static/" in f for f in expected):
        fail(f"the source tree has no Lua scripts or static files to compare with: {sorted(expected)}")
    missing = expected - data_files(installed_dir)
    if missing:
        fail(f"files missing from the wheel: {sorted(missing)}")
    if list(installed_dir.rglob("test_*.py")):
        fail("tests were packaged")
    print(f"package-check: {len(expected)} data files present (py.typed, Lua scripts, static files)")


def check_cli(mode: str) -> None:
    import chute

    chute_bin = str(Path(sys.executable).parent / "chute")
    version = run(chute_bin, "--version")
    if version.returncode != 0 or version.stdout != f"chute {chute.__version__}\n":
        fail(f"chute --version printed {version.stdout!r} {version.stderr!r}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHUTE_URL": f"sqlite://{tmp}/smoke.db"}
        put = run(chute_bin, "queue", "put", "smoke", "hello", env=env)
        got = run(chute_bin, "queue", "get", "smoke", env=env)
        if put.returncode != 0 or got.returncode != 0 or "hello" not in got.stdout:
            fail(f"chute queue put/get: {put.stderr} {got.stdout!r} {got.stderr}")
        if mode == "base":
            serve = run(chute_bin, "serve", env=env)
            if serve.returncode != 2 or "pip install 'chute[server]'" not in serve.stderr:
                fail(f"chute serve without the server extra: exit {serve.returncode}, {serve.stderr!r}")
            modal = run(chute_bin, "modal-server", env=env)
            if modal.returncode != 2 or "pip install 'chute[modal]'" not in modal.stderr:
                fail(f"chute modal-server without the modal extra: {modal.stderr!r}")
    print(f"package-check: chute --version, queue put/get, missing extras named ({mode})")


def check_server() -> None:
    from chute.http import server

    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        if not (server.DOCS_ASSETS_DIR / name).is_file():
            fail(f"the offline API docs asset {name} is missing")
    import chute.web.executor  # noqa: F401  (the web endpoints' process: uvicorn, a2wsgi)

    print("package-check: chute.http and chute.web import; Swagger UI and ReDoc assets present")


def main() -> None:
    source, mode = Path(sys.argv[1]), sys.argv[2]
    started = time.perf_counter()
    import chute

    print(f"package-check: import chute {chute.__version__} from {Path(chute.__file__).parent}")
    check_files(source)
    check_cli(mode)
    if mode == "server":
        check_server()
    chute_only = installed_mb(["chute"])
    print(
        f"package-check: [{mode}] import chute: {import_seconds() * 1000:.0f} ms (best of 5); "
        f"installed: {installed_mb():.1f} MB with dependencies, chute itself {chute_only:.1f} MB "
        f"({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
