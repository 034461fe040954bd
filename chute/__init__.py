"""chute: self-hosted, Modal-compatible distributed queues, dicts and jobs.

Embedded (an SQLite file, no server) by default; set ``CHUTE_URL=redis://…`` to share them
across machines through Redis or Valkey.
"""

from typing import TYPE_CHECKING, Any

from chute import exception
from chute._client import Client

# Modal's function surface (issue 13): classes, images, secrets, volumes, schedules, context.
from chute._context import current_function_call_id, current_input_id, is_local
from chute._inputs import batched, concurrent
from chute._jobs import RateLimit
from chute._version import __version__
from chute.app import App, Function, Retries
from chute.backends.types import CallState
from chute.call import CallInfo, FunctionCall, current_call
from chute.dict import Dict
from chute.queue import Queue
from chute.web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

if TYPE_CHECKING:
    from chute.cls import Cls, enter, exit, method, parameter
    from chute.image import Image
    from chute.schedule import Cron, Period
    from chute.secret import Secret
    from chute.volume import Volume

# Loaded on first use: every executor imports chute, and most apps use few of these.
_LAZY = {
    "Cls": "chute.cls",
    "enter": "chute.cls",
    "exit": "chute.cls",
    "method": "chute.cls",
    "parameter": "chute.cls",
    "Image": "chute.image",
    "Cron": "chute.schedule",
    "Period": "chute.schedule",
    "Secret": "chute.secret",
    "Volume": "chute.volume",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chute' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "App",
    "CallInfo",
    "CallState",
    "Client",
    "Cls",
    "Cron",
    "Dict",
    "Function",
    "FunctionCall",
    "Image",
    "Period",
    "Queue",
    "RateLimit",
    "Retries",
    "Secret",
    "Volume",
    "__version__",
    "asgi_app",
    "batched",
    "concurrent",
    "current_call",
    "current_function_call_id",
    "current_input_id",
    "enter",
    "exception",
    "exit",
    "fastapi_endpoint",
    "is_local",
    "method",
    "parameter",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
