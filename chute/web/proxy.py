"""``HttpProxy``: the ASGI app in front of a ``web_server`` endpoint, forwarding HTTP to its port.

Bodies stream both ways (nothing is buffered whole). Hop-by-hop headers are dropped; the
client's ``Host`` is passed on, with ``X-Forwarded-For``/``-Proto``/``-Host`` added, so the
server builds its absolute URLs for the endpoint's address. WebSockets are not forwarded
(the handshake is refused): serve such an app with ``asgi_app`` instead.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def wait_for_port(port: int, timeout: float) -> None:
    """Return once ``127.0.0.1:port`` accepts a connection.

    Raises:
        TimeoutError: (the builtin, as Modal) nothing accepted within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"web_server: nothing accepted connections on port {port} within {timeout:g} s "
                    "(start the server in the function and bind it to 0.0.0.0 or 127.0.0.1)."
                ) from None
            time.sleep(0.05)


class HttpProxy:
    """Forward every HTTP request to ``http://127.0.0.1:<port>``; 502 when it does not answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003, "reason": "web_server: no websockets"})
        else:
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{self.port}",
                    timeout=httpx.Timeout(None, connect=10.0),
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
                    follow_redirects=False,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._client is not None, "the proxy's lifespan must run (uvicorn lifespan='on')"
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        client_addr = scope.get("client")
        if client_addr:
            headers.append((b"x-forwarded-for", str(client_addr[0]).encode()))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        original = dict(scope["headers"])
        host = original.get(b"host")
        if host:
            headers.append((b"x-forwarded-host", host))
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = raw_path + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
        # A request without a body must not become a chunked one: some servers (http.server)
        # would read the chunk trailer as the next request.
        has_body = b"content-length" in original or b"transfer-encoding" in original
        request = self._client.build_request(
            scope["method"],
            target.decode("latin-1"),
            headers=headers,
            content=_body(receive) if has_body else None,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            body = f"web_server on port {self.port} did not answer: {type(exc).__name__}".encode()
            await send(
                {"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        try:
            out = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
