"""Running the servicer: a grpclib server on one socket (TLS optional), token checks, garbage collection."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import ssl
from collections.abc import Callable

from grpclib.config import Configuration
from grpclib.events import RecvRequest, listen
from grpclib.server import Server

from chute._async import inspection
from chute._client import Client
from chute.exception import InvalidError
from chute.modal_server._auth import TokenAuth
from chute.modal_server.servicer import create_servicer

log = logging.getLogger("chute.modal_server")

DEFAULT_PORT = 50051
# How often expired ephemeral objects (whose modal client stopped heartbeating) are deleted.
GC_INTERVAL = 60.0
# Flow-control windows, as large as the modal client's, so big dict values stream quickly.
_WINDOW = 64 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context for gRPC (HTTP/2 over TLS 1.2+) from PEM files.

    Raises:
        InvalidError: a file is missing or unreadable, or the key does not match the certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidError(
            f"Cannot load the TLS certificate {cert_file!r} with key {key_file!r}: {exc}. Pass PEM files "
            "(the certificate chain, then its private key)."
        ) from exc
    context.set_alpn_protocols(["h2"])
    return context


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class ModalServer:
    """Modal's gRPC API (Queue, Dict, Function) over ``client``'s backend, over TLS when ``tls``
    is given. Start it on a running loop."""

    def __init__(self, client: Client, auth: TokenAuth, tls: ssl.SSLContext | None = None) -> None:
        self.client = client
        self.auth = auth
        self.tls = tls
        self.port = 0
        self._server: Server | None = None
        self._gc: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
        """Listen on ``host:port`` (port 0 picks a free one); returns the bound port."""
        server = Server(
            [create_servicer(self.client)],
            config=Configuration(http2_connection_window_size=_WINDOW, http2_stream_window_size=_WINDOW),
        )
        listen(server, RecvRequest, self.auth.on_request)
        sock = _bind(host, port)
        try:
            await server.start(sock=sock, ssl=self.tls)
        except BaseException:
            sock.close()
            raise
        self._server = server
        self.port = int(sock.getsockname()[1])
        self._gc = asyncio.create_task(self._collect_garbage(), name="chute-modal-server-gc")
        return self.port

    async def _collect_garbage(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a backend blip must not stop collection
                await inspection.collect_garbage(self.client)
            await asyncio.sleep(GC_INTERVAL)

    async def close(self) -> None:
        """Stop listening, cancel running requests (blocked gets included) and close the backend."""
        if self._gc is not None:
            self._gc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc
            self._gc = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.client.aclose()


async def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    auth: TokenAuth | None = None,
    *,
    client: Client | None = None,
    on_ready: Callable[[int], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM. ``on_ready`` gets the bound port once clients can connect."""
    server = ModalServer(client or Client.from_env(), auth or TokenAuth(), tls)
    bound = await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if on_ready is not None:
            on_ready(bound)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.close()
