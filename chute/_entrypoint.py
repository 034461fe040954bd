"""``@app.local_entrypoint()``: what it returns. ``chute run`` (``chute.cli.run``) calls it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chute.app import App


class LocalEntrypoint:
    """What ``@app.local_entrypoint()`` returns: callable as the function it wraps."""

    def __init__(self, raw: Callable[..., Any], app: App) -> None:
        self.raw_f = raw
        self.app = app
        functools.update_wrapper(self, raw)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LocalEntrypoint({self.app.name}.{self.raw_f.__qualname__})"
