"""``chute modal-server``: Modal's gRPC API (Queue, Dict, Functions), so the ``modal`` client uses chute."""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer

from chute.cli._common import err_console


def _usage_error(message: str) -> NoReturn:
    err_console.print(f"[red]Error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


def modal_server(
    host: Annotated[
        str, typer.Option(help="Address to bind. Non-loopback addresses need a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port, printed at start).")
    ] = 50051,
    token_id: Annotated[
        str | None,
        typer.Option(
            envvar="CHUTE_MODAL_TOKEN_ID",
            help="Token id the modal client must send (its MODAL_TOKEN_ID).",
            show_default=False,
        ),
    ] = None,
    token_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CHUTE_MODAL_TOKEN_SECRET",
            help="Token secret the modal client must send (its MODAL_TOKEN_SECRET).",
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(help="PEM certificate (chain) to serve TLS with; needs --tls-key.", show_default=False),
    ] = None,
    tls_key: Annotated[
        str | None,
        typer.Option(help="PEM private key of --tls-cert.", show_default=False),
    ] = None,
) -> None:
    """Serve Modal's Queue, Dict and Function API (gRPC) from chute's backend, for the `modal` client.

    Point unmodified `import modal` programs at it with MODAL_SERVER_URL=http://HOST:PORT
    (https:// with --tls-cert/--tls-key) plus MODAL_TOKEN_ID/MODAL_TOKEN_SECRET set to this
    server's token. Queues, dicts and function calls are chute's own: chute.Queue, chute.Dict
    and chute.FunctionCall see the same objects, items and results, and `chute worker` runs
    the calls modal clients spawn.
    """
    try:
        from chute.modal_server import TokenAuth, is_loopback, serve, tls_context
    except ImportError as exc:
        _usage_error(f"chute modal-server needs the modal package ({exc}): pip install 'chute[modal]'")
    from chute._client import Client
    from chute.exception import InvalidError

    try:
        client = Client.from_env()  # every CHUTE_* setting validated before anything starts
    except InvalidError as exc:
        _usage_error(str(exc))

    if (token_id is None) != (token_secret is None):
        _usage_error("Pass both --token-id and --token-secret (or CHUTE_MODAL_TOKEN_ID/_SECRET), or neither.")
    if (tls_cert is None) != (tls_key is None):
        _usage_error("Pass both --tls-cert and --tls-key, or neither.")
    tls = None
    if tls_cert is not None and tls_key is not None:
        try:
            tls = tls_context(tls_cert, tls_key)
        except InvalidError as exc:
            _usage_error(str(exc))
    if token_id is None:
        if not is_loopback(host):
            _usage_error(
                f"Refusing to serve on {host} without a token: anyone who can reach it could read and "
                "change every queue and dict, and run any deployed function. Pass --token-id/--token-secret, "
                "or bind 127.0.0.1."
            )
        if client.settings.secret is not None:
            _usage_error(
                "CHUTE_SECRET is set, and this server signs what modal clients write: pass "
                "--token-id/--token-secret so that only holders of the token can write."
            )
        err_console.print(
            "[yellow]Warning:[/yellow] no --token-id/--token-secret: any modal token is accepted.",
            highlight=False,
        )

    def ready(bound: int) -> None:
        display = f"[{host}]" if ":" in host else host
        url = f"{'https' if tls else 'http'}://{display}:{bound}"
        settings = client.settings
        print(
            f"chute modal-server: Modal's Queue, Dict and Function API at {url} "
            f"(backend {settings.url.redacted}, environment {settings.env!r})",
            flush=True,
        )
        token = (
            "MODAL_TOKEN_ID=<token-id> MODAL_TOKEN_SECRET=<token-secret>"
            if token_id
            else ("MODAL_TOKEN_ID=any MODAL_TOKEN_SECRET=any")
        )
        print(f"Point the modal client at it: MODAL_SERVER_URL={url} {token}", flush=True)

    auth = TokenAuth(token_id, token_secret)
    asyncio.run(serve(host, port, auth, client=client, on_ready=ready, tls=tls))
