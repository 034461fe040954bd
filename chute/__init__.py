"""chute: self-hosted, Modal-compatible distributed queues, dicts and jobs.

Embedded (an SQLite file, no server) by default; set ``CHUTE_URL=redis://…`` to share them
across machines through Redis or Valkey.
"""

from chute import exception
from chute._client import Client
from chute._inputs import batched, concurrent
from chute._version import __version__
from chute.app import App, Function, Retries
from chute.backends.types import CallState
from chute.call import CallInfo, FunctionCall
from chute.dict import Dict
from chute.image import Image
from chute.queue import Queue
from chute.web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

__all__ = [
    "App",
    "CallInfo",
    "CallState",
    "Client",
    "Dict",
    "Function",
    "FunctionCall",
    "Image",
    "Queue",
    "Retries",
    "__version__",
    "asgi_app",
    "batched",
    "concurrent",
    "exception",
    "fastapi_endpoint",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
