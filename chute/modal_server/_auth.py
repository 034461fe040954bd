"""The modal client's credentials: a token id and secret sent as metadata on every request."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from grpclib import GRPCError, Status
from grpclib.events import RecvRequest

TOKEN_ID_HEADER = "x-modal-token-id"
TOKEN_SECRET_HEADER = "x-modal-token-secret"


@dataclass(frozen=True)
class TokenAuth:
    """Accepts requests carrying this token id and secret; ``None`` accepts any credentials."""

    token_id: str | None = None
    token_secret: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.token_id is not None

    def accepts(self, token_id: str, token_secret: str) -> bool:
        if self.token_id is None or self.token_secret is None:
            return True
        # Both compared in constant time, and both always compared.
        id_ok = hmac.compare_digest(token_id.encode(), self.token_id.encode())
        secret_ok = hmac.compare_digest(token_secret.encode(), self.token_secret.encode())
        return id_ok and secret_ok

    async def on_request(self, event: RecvRequest) -> None:
        """grpclib ``RecvRequest`` listener: runs before any RPC's handler, the handshake included."""
        metadata = event.metadata
        token_id = str(metadata.get(TOKEN_ID_HEADER, ""))
        token_secret = str(metadata.get(TOKEN_SECRET_HEADER, ""))
        if not self.accepts(token_id, token_secret):
            raise GRPCError(
                Status.UNAUTHENTICATED,
                "Invalid token for this chute modal-server: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET "
                "to the --token-id/--token-secret the server was started with.",
            )
