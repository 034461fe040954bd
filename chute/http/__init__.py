"""``chute serve``: an HTTP API, a web dashboard and Prometheus metrics for a chute backend.

Build the ASGI app with ``create_app(ServerConfig(...))`` to mount it in another server, or
run ``chute serve``.
"""

from __future__ import annotations

from chute.http.auth import Token, TokenSet, load_tokens, parse_token_spec
from chute.http.config import ServerConfig, is_loopback
from chute.http.server import create_app

__all__ = [
    "ServerConfig",
    "Token",
    "TokenSet",
    "create_app",
    "is_loopback",
    "load_tokens",
    "parse_token_spec",
]
