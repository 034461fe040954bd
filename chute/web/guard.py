"""``EndpointGuard``: ``chute serve``'s access rules in front of a web endpoint.

- **Public endpoints** (Modal's default, ``requires_proxy_auth=False``): no token. On a
  server without tokens (loopback only) the ``Host`` header must still be a loopback name or
  one of the endpoint's ``custom_domains``, which stops DNS rebinding; cross-origin requests
  are the app's business (``fastapi_endpoint`` answers CORS for every origin, as in Modal).
- **Private endpoints** (``requires_proxy_auth=True``, or every endpoint under ``chute serve
  --web-private``): the API's rules. With tokens, a request needs one that covers the
  endpoint's environment, as ``Authorization: Bearer <token>`` or in Modal's
  ``Modal-Secret`` header (401 without or with an unknown token, 403 outside its
  environments). Without tokens, loopback ``Host`` names and same-origin requests only.

``Modal-Key``/``Modal-Secret`` are removed before the app sees the request.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from chute.http.auth import TokenSet
from chute.http.config import is_loopback

_PROXY_AUTH_HEADERS = (b"modal-key", b"modal-secret")


class EndpointGuard:
    """ASGI middleware enforcing the rules above for the endpoint of environment ``env``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        env: str,
        tokens: TokenSet,
        private: bool,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.env = env
        self.tokens = tokens
        self.private = private
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(headers)
        if refusal is not None:
            await _refuse(scope, send, *refusal)
            return
        if any(name in headers for name in _PROXY_AUTH_HEADERS):
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in _PROXY_AUTH_HEADERS]
        await self.app(scope, receive, send)

    def _refusal(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if not self.tokens.enabled:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            try:
                hostname = urlsplit(f"//{host}").hostname or ""
            except ValueError:
                hostname = ""
            if not is_loopback(hostname) and hostname not in self.allowed_hosts:
                return 403, "Host not allowed: this server has no token and answers loopback names only."
            origin = headers.get(b"origin")
            if self.private and origin is not None:
                if urlsplit(origin.decode("latin-1")).netloc.lower() != host:
                    return 403, "Cross-origin request refused."
            return None
        if not self.private:
            return None
        presented = headers.get(b"modal-secret", b"").decode("latin-1").strip()
        if not presented:
            scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            presented = value.strip() if scheme.lower() == "bearer" else ""
        if not presented:
            return 401, "Missing token: send 'Authorization: Bearer <token>' (or a Modal-Secret header)."
        token = self.tokens.match(presented)
        if token is None:
            return 401, "Invalid token."
        if not token.allows(self.env):
            return 403, f"This token is not allowed to access environment {self.env!r}."
        return None


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="chute"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
