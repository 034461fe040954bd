"""Modal wire compatibility: the ``modal`` client's Queue, Dict and Functions, served by chute.

``chute modal-server`` speaks Modal's gRPC API (``modal_proto``, over grpclib) for the Queue,
Dict and Function RPCs (lookups, ``spawn``/``remote``/``map``, ``FunctionCall.get``), so
unmodified programs that ``import modal`` run against chute when pointed at
it with ``MODAL_SERVER_URL``, ``MODAL_TOKEN_ID`` and ``MODAL_TOKEN_SECRET``. Objects are
chute's own: a queue created through modal is ``chute.Queue.from_name`` with the same name and
environment (Modal's default environment ``""`` is chute's ``CHUTE_ENV``), ids are the same
``qu-``/``di-`` ids, and items and dict entries are stored in chute's payload format (signed
with ``CHUTE_SECRET`` when it is set), so both clients see the same data.

Needs the ``modal`` extra: ``pip install 'chute[modal]'``.
"""

from __future__ import annotations

from chute.modal_server._auth import TokenAuth
from chute.modal_server.server import DEFAULT_PORT, ModalServer, is_loopback, serve, tls_context
from chute.modal_server.servicer import ChuteModalServicer, create_servicer

__all__ = [
    "DEFAULT_PORT",
    "ChuteModalServicer",
    "ModalServer",
    "TokenAuth",
    "create_servicer",
    "is_loopback",
    "serve",
    "tls_context",
]
