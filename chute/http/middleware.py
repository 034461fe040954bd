"""ASGI middleware: a streaming request-body limit, a UTF-8 URL check, and browser-attack guards
for open servers."""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes, urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chute.http.config import is_loopback


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit.

    An HTTPException on purpose: FastAPI re-raises those from body parsing (any other
    exception there becomes a 400), so the client gets the 413 whoever was reading.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the server's {limit:,}-byte limit.")


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, counted while streaming.

    A ``Content-Length`` over the limit is refused before reading anything; a chunked or
    lying body is cut off as soon as the running count passes the limit, so a huge upload
    never sits in memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_error(send, 400, "Invalid Content-Length header.")
                return
            if size > self.max_bytes:
                await _send_error(send, 413, BodyTooLarge(self.max_bytes).detail)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            # Reached only if no handler turned it into a response (e.g. raw ASGI readers).
            if started:
                raise
            await _send_error(send, 413, exc.detail)


class OpenServerGuard:
    """Protects a server that has no tokens from web pages open in a local browser.

    Without a token anyone who can reach the port is trusted, and a malicious page in the
    user's browser can reach 127.0.0.1. Two checks close that: the ``Host`` header must be a
    loopback name or address, or one of ``allowed_hosts`` (defeats DNS rebinding), and a
    request carrying a foreign ``Origin`` is refused (defeats cross-site form posts, which need
    no CORS preflight). With tokens configured nothing is checked: browsers never attach a
    bearer token on their own.
    """

    def __init__(self, app: ASGIApp, enabled: bool, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.enabled = enabled
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        try:
            hostname = urlsplit(f"//{host}").hostname or ""
        except ValueError:  # e.g. an unbalanced "[" in the header
            hostname = ""
        if not is_loopback(hostname) and hostname not in self.allowed_hosts:
            await _send_error(
                send, 403, "Host not allowed: this server has no token and answers loopback names only."
            )
            return
        origin = headers.get(b"origin")
        if origin is not None and urlsplit(origin.decode("latin-1")).netloc.lower() != host:
            await _send_error(send, 403, "Cross-origin request refused.")
            return
        await self.app(scope, receive, send)


class Utf8UrlGuard:
    """400 for a URL whose %-escapes do not decode as UTF-8.

    Starlette decodes them with replacement characters, so ``/keys/%FE`` and ``/keys/%FF``
    would both name the key ``"\ufffd"`` and overwrite each other (likewise names and query
    parameters): such a request is refused instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            query = scope.get("query_string", b"").replace(b"+", b" ")
            try:
                unquote_to_bytes(raw_path).decode("utf-8")
                unquote_to_bytes(query).decode("utf-8")
            except UnicodeDecodeError:
                await _send_error(
                    send,
                    400,
                    "The URL is not valid UTF-8 once its %-escapes are decoded: percent-encode keys, "
                    "names and parameters as UTF-8 bytes.",
                )
                return
        await self.app(scope, receive, send)
