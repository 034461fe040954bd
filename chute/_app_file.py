"""Loading the user's app file (``chute run|deploy|worker|serve FILE``) by its path.

A file is imported from its path, never by searching ``sys.path`` for its stem, so an app
file named like a module that is already imported (``queue.py``, ``select.py``, ``typer.py``)
is still the user's file. It is registered under its stem when that names nothing else,
else under ``chute_app_<stem>``; the rule depends only on the file and the installed
packages, so every process (the CLI, the supervisor, each executor) picks the same name and
objects pickled by reference on one side resolve on the other.

A file that fails to import gives one short InvalidError naming the user's file and line
(the error, and the traceback frames of the user's own code), not the frames of the CLI
and ``importlib`` above it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from chute.app import App
from chute.exception import InvalidError

# Frames of these files are machinery between the CLI and the user's code: never shown.
_MACHINERY = ("<frozen importlib", f"{Path(__file__).name}")


def module_name(path: Path) -> str:
    """The name ``path`` is imported under: its stem, unless that names another module.

    Decided from the standard library's names and the other ``sys.path`` entries (not from
    what this process happens to have imported), so every process agrees.
    """
    stem = path.stem.replace(".", "_")
    if stem in sys.stdlib_module_names or stem in sys.builtin_module_names:
        return f"chute_app_{stem}"
    folder = path.resolve().parent
    others = [p for p in sys.path if isinstance(p, str) and Path(p or ".").resolve() != folder]
    try:
        elsewhere = importlib.machinery.PathFinder.find_spec(stem, others) is not None
    except (ImportError, ValueError):
        elsewhere = True
    return f"chute_app_{stem}" if elsewhere else stem


def load_target(target: str) -> ModuleType:
    """Import ``path/to/app.py`` (by path; its folder first on sys.path) or ``pkg.module``.

    Raises:
        InvalidError: the file does not exist, has a syntax error, or raised while importing
            (the message shows where, in the user's code).
    """
    path = Path(target)
    if not (target.endswith(".py") or path.exists()):
        try:
            return importlib.import_module(target)
        except ImportError as exc:
            raise InvalidError(f"Cannot import {target!r}: {exc}") from None
        except Exception as exc:
            raise InvalidError(_import_failure(target, exc)) from None
    if not path.is_file():
        raise InvalidError(f"App file {target!r} does not exist.")
    path = path.resolve()
    name = module_name(path)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the app's own imports of sibling modules work as with `python app.py`
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", None) or "/").resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidError(f"Cannot import {target!r}: it is not a Python source file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if not isinstance(exc, Exception):
            raise
        raise InvalidError(_import_failure(target, exc)) from None
    return module


def _import_failure(target: str, exc: Exception) -> str:
    """``exc`` as a short report: where in the user's code, and what."""
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename or target}:{exc.lineno or '?'}"
        text = (exc.text or "").rstrip("\n")
        caret = ""
        if text and exc.offset:
            stripped = text.lstrip()
            pad = max(0, exc.offset - 1 - (len(text) - len(stripped)))
            caret = f"\n    {stripped}\n    {' ' * pad}^"
        return f"Cannot import {target}: {type(exc).__name__} at {where}: {exc.msg}{caret}"
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not any(part in f.filename for part in _MACHINERY)
    ]
    shown = "".join(traceback.format_list(frames[-5:])).rstrip()
    summary = "".join(traceback.format_exception_only(exc)).strip()
    return f"Cannot import {target}: {summary}" + (f"\n{shown}" if shown else "")


def apps_in(module: ModuleType) -> list[App]:
    """The ``chute.App`` objects defined at the top level of ``module``."""
    apps = [v for v in vars(module).values() if isinstance(v, App)]
    if not apps:
        raise InvalidError(
            f"{getattr(module, '__file__', None) or module.__name__} defines no chute.App "
            "(expected e.g. `app = chute.App('name')`)."
        )
    return apps
