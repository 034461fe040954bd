"""Tracebacks that start at the user's code: chute's (or the CLI's) own frames left out.

A remote call's traceback is formatted in the executor, whose first frames are chute's
(the executor loop, ``run_call``); ``chute run`` raises the user's error from under typer
and click. Neither helps the reader: :func:`format_user_exception` drops the *leading*
frames that belong to the given packages, so the traceback starts at the user's function.
Frames after the first user frame stay (a chute call made inside the user's code is part
of the story), and when every frame is chute's (chute itself failed), nothing is dropped.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def package_dirs(modules: Iterable[object]) -> tuple[str, ...]:
    """The folders of the given (imported) packages, for ``skip``."""
    out: list[str] = []
    for module in modules:
        path = getattr(module, "__file__", None)
        if path:
            out.append(str(Path(path).resolve().parent) + os.sep)
    return tuple(out)


def trim(tb: TracebackType | None, skip: tuple[str, ...]) -> TracebackType | None:
    """``tb`` without its leading frames whose file lies under one of ``skip``; ``tb`` itself
    when all of them do."""
    first = tb
    while tb is not None and _resolved(tb.tb_frame.f_code.co_filename).startswith(skip):
        tb = tb.tb_next
    return tb if tb is not None else first


def format_user_exception(exc: BaseException, skip: tuple[str, ...] = (PACKAGE_DIR,)) -> str:
    """``traceback.format_exception(exc)`` starting at the first frame outside ``skip``
    (chute's own folder by default). Chained exceptions keep their tracebacks."""
    return "".join(traceback.format_exception(type(exc), exc, trim(exc.__traceback__, skip)))


_cache: dict[str, str] = {}


def _resolved(filename: str) -> str:
    out = _cache.get(filename)
    if out is None:
        try:
            out = str(Path(filename).resolve())
        except (OSError, RuntimeError):
            out = filename
        _cache[filename] = out
    return out
