"""Modal's wire bytes <-> chute's stored payloads, without unpickling anything untrusted.

The ``modal`` client sends queue items and dict keys/values as cloudpickle bytes (protocol 4)
and unpickles what it receives. chute stores ``b"\\x00" + pickle`` (or, with ``CHUTE_SECRET``,
``b"\\x01" + HMAC + pickle``; see ``chute._serialize``). The server adds that header (signing
with the secret: it is the trusted writer once the client's token is verified) and strips it
(verifying the signature) on the way out. Values are never unpickled here.

Dict keys are compared by their stored bytes, and chute stores plain keys (str, bytes, int,
float, bool, None, and tuples/frozensets of them) in a canonical pickle that differs from
cloudpickle's protocol-4 bytes. So a key is decoded with an unpickler that refuses every
global (it can only build builtin containers and scalars, so it runs no code) and, when it
is such a plain key, stored exactly as ``chute.Dict`` stores it. Any other key is stored
as the client pickled it.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, NoReturn

from chute._codec import OPAQUE, canonical, encode_key
from chute._serialize import seal, unseal

__all__ = ["seal", "store_key", "unseal"]


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Builds only what pickle's opcodes make without a global: no callable is ever looked up."""

    def find_class(self, module: str, name: str) -> NoReturn:
        raise pickle.UnpicklingError(f"global {module}.{name} refused")

    def persistent_load(self, pid: Any) -> NoReturn:
        raise pickle.UnpicklingError("persistent id refused")


def store_key(body: bytes, secret: bytes | None) -> bytes:
    """The stored form of a dict key the modal client pickled: chute's canonical form for plain
    keys (so ``chute.Dict`` finds them), else the client's bytes with chute's header."""
    try:
        key = _NoGlobalsUnpickler(io.BytesIO(body)).load()
        if canonical(key) is not OPAQUE:
            return encode_key(key, secret)
    except Exception:  # not a plain key (or not a pickle at all): keep the client's bytes
        pass
    return seal(body, secret)
