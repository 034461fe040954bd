"""The gRPC servicer: Modal's Queue, Dict and Function RPCs over chute's ops layer.

Each RPC reads the request, runs Modal's semantics with chute's own helpers (validation,
handles and hydration, ``queue_len``/``queue_clear``/``dict_len``/``dict_clear``, limits and
error messages) and the async backend, and maps chute's exceptions to gRPC statuses the
``modal`` client turns back into the same exceptions (NOT_FOUND → ``NotFoundError``, …).
Every other RPC of Modal's API answers UNIMPLEMENTED, naming itself.

Payloads are never unpickled here: see ``chute.modal_server._payload``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf import empty_pb2
from modal_proto import api_pb2

from chute._client import Client, created_by
from chute.modal_server._rpc import _environment_id, _unary
from chute.modal_server.call_rpcs import CallRPCs
from chute.modal_server.dict_rpcs import DictRPCs
from chute.modal_server.function_rpcs import FunctionRPCs
from chute.modal_server.queue_rpcs import QueueRPCs

if TYPE_CHECKING:
    from grpclib.server import Stream


class ChuteModalServicer(QueueRPCs, DictRPCs, FunctionRPCs, CallRPCs):
    """Modal's ``ModalClient`` gRPC service for Queue, Dict and Function, backed by a chute ``Client``.

    Create it with ``create_servicer`` (mypy sees the generated base's RPCs as abstract).
    """

    # -- client handshake and environments --------------------------------------------------

    async def ClientHello(self, stream: Stream[empty_pb2.Empty, api_pb2.ClientHelloResponse]) -> None:
        # The token was checked when the request arrived (chute.modal_server._auth).
        await _unary(stream, "ClientHello", self._client_hello)

    async def _client_hello(self, request: empty_pb2.Empty) -> api_pb2.ClientHelloResponse:
        return api_pb2.ClientHelloResponse()

    async def WorkspaceNameLookup(
        self, stream: Stream[empty_pb2.Empty, api_pb2.WorkspaceNameLookupResponse]
    ) -> None:
        await _unary(stream, "WorkspaceNameLookup", self._workspace_name_lookup)

    async def _workspace_name_lookup(self, request: empty_pb2.Empty) -> api_pb2.WorkspaceNameLookupResponse:
        return api_pb2.WorkspaceNameLookupResponse(workspace_name="chute", username=created_by())

    async def EnvironmentGetOrCreate(
        self, stream: Stream[api_pb2.EnvironmentGetOrCreateRequest, api_pb2.EnvironmentGetOrCreateResponse]
    ) -> None:
        await _unary(stream, "EnvironmentGetOrCreate", self._environment_get_or_create)

    async def _environment_get_or_create(
        self, request: api_pb2.EnvironmentGetOrCreateRequest
    ) -> api_pb2.EnvironmentGetOrCreateResponse:
        # chute's environments are namespaces that exist as soon as they are named.
        env = self._env(request.deployment_name)
        return api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=_environment_id(env), metadata=api_pb2.EnvironmentMetadata(name=env)
        )

    async def EnvironmentList(self, stream: Stream[empty_pb2.Empty, api_pb2.EnvironmentListResponse]) -> None:
        await _unary(stream, "EnvironmentList", self._environment_list)

    async def _environment_list(self, request: empty_pb2.Empty) -> api_pb2.EnvironmentListResponse:
        # Environments are implicit in chute: only the server's default one is listed.
        env = self._settings.env
        item = api_pb2.EnvironmentListItem(name=env, default=True, environment_id=_environment_id(env))
        return api_pb2.EnvironmentListResponse(items=[item])


def create_servicer(client: Client) -> ChuteModalServicer:
    """The servicer for ``client``'s backend (chute's settings: secret, limits, environment)."""
    return ChuteModalServicer(client)  # type: ignore[abstract]
