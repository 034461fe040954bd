"""Pure helpers of the Function RPCs: ids, handle metadata, and chute's outcomes as Modal results.

Ids carry what the server needs to find a function again, so it keeps no table of them:

- a function id is ``fu-`` + unpadded URL-safe base64 of ``env NUL app NUL name`` (plus ``NUL
  params`` for a class instance bound to constructor parameters, which the ``modal`` client
  sends pickled and the server never unpickles). A class's *service function*, the one
  ``Cls.from_name(app, "Model")`` looks up, is named ``Model.*``; its methods are chute's job
  functions ``Model.<method>`` (``@app.cls``).
- a function call made by ``spawn``/``remote`` is the chute call itself (``fc-…``); a map's
  call is a fresh ``fc-…`` id whose input ``idx`` is the chute call ``map_input_id(id, idx)``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import string
from dataclasses import dataclass, field

from modal_proto import api_pb2

from chute import _outcome, _validate
from chute._jobs import FunctionSpec
from chute.backends.types import CallRecord, CallState, FunctionRecord
from chute.exception import InvalidError, NotFoundError

SERVICE_SUFFIX = ".*"
# A class instance's constructor parameters, as the modal client pickles them (chute's own cap).
MAX_PARAMS_BYTES = 16 * 1024
_ALNUM = string.digits + string.ascii_letters
_PICKLE = api_pb2.DATA_FORMAT_PICKLE
_CHUTE_TIMEOUT = "chute.exception.FunctionTimeoutError"


@dataclass(frozen=True)
class FunctionKey:
    """What a function id names: a deployed function, or a class's service function (bound
    to constructor parameters or not)."""

    env: str
    app: str
    name: str
    params: bytes | None = None

    @property
    def is_class(self) -> bool:
        return self.name.endswith(SERVICE_SUFFIX)

    @property
    def class_name(self) -> str:
        return self.name.removesuffix(SERVICE_SUFFIX)

    @property
    def id(self) -> str:
        raw = b"\0".join(part.encode() for part in (self.env, self.app, self.name))
        if self.params is not None:
            raw += b"\0" + self.params
        return "fu-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @property
    def label(self) -> str:
        return f"{self.app}.{self.class_name if self.is_class else self.name}"

    def method(self, method_name: str) -> str:
        """The chute function an input runs: this function, or the class's method."""
        if not self.is_class:
            return self.name
        if not method_name:
            raise InvalidError(f"A call of class {self.label} must name a method.")
        return _validate.check_name(f"{self.class_name}.{method_name}", "Function")

    @classmethod
    def parse(cls, function_id: str) -> FunctionKey:
        """Raises NotFoundError for anything that is not a function id this server made."""
        try:
            if not function_id.startswith("fu-"):
                raise ValueError
            body = function_id[3:]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            parts = raw.split(b"\0", 3)
            env, app, name = (p.decode() for p in parts[:3])
            _validate.check_env(env)
            _validate.check_name(app, "App")
            _validate.check_name(name.removesuffix(SERVICE_SUFFIX), "Function")
        except (ValueError, InvalidError, binascii.Error, UnicodeDecodeError):
            raise NotFoundError(f"Function with id {function_id!r} not found.") from None
        return cls(env, app, name, parts[3] if len(parts) == 4 else None)

    def bound(self, params: bytes) -> FunctionKey:
        """This class's service function bound to pickled constructor parameters."""
        if len(params) > MAX_PARAMS_BYTES:
            raise InvalidError(f"{self.label}: parameter values exceed {MAX_PARAMS_BYTES} bytes.")
        return FunctionKey(self.env, self.app, self.name, params or None)


def class_id(env: str, app: str, name: str) -> str:
    raw = b"\0".join(part.encode() for part in (env, app, name))
    return "cs-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def map_input_id(call_id: str, idx: int) -> str:
    """The chute call of a map's input ``idx``: derived from the map's id, so any server (and
    ``FunctionCall.from_id(id).get(index=idx)`` in any process) finds it without a table."""
    n = int.from_bytes(hashlib.sha256(f"{call_id}/{idx}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(_ALNUM[r])
    return "fc-" + "".join(chars)


@dataclass
class MapState:
    """A ``map`` in progress (kept by the server that runs it, for as long as the client polls):
    inputs submitted and not yet delivered, and the deliveries the client has not acknowledged
    yet. The client's ``last_entry_id`` counts the deliveries it received, so a response lost on
    the way is sent again, and those it did receive are forgotten."""

    pending: dict[int, str] = field(default_factory=dict)
    unacked: list[tuple[int, str]] = field(default_factory=list)
    acked: int = 0  # deliveries before ``unacked``
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, idx: int, call_id: str) -> None:
        # A retried FunctionPutInputs may send an input again: if it was delivered already,
        # it is delivered twice, and the client ignores the second output.
        self.pending[idx] = call_id
        self.arrived.set()

    def ack(self, received: int) -> list[tuple[int, str]]:
        """The client has ``received`` deliveries: forget those, return the rest (to send again)."""
        received = min(received, self.delivered)
        if received > self.acked:
            del self.unacked[: received - self.acked]
            self.acked = received
        return list(self.unacked)

    def deliver(self, idx: int) -> str:
        call_id = self.pending.pop(idx)
        self.unacked.append((idx, call_id))
        return call_id

    @property
    def delivered(self) -> int:
        return self.acked + len(self.unacked)


# -- handle metadata -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """A deployed chute function as the metadata needs it."""

    name: str
    spec: FunctionSpec
    is_generator: bool

    @classmethod
    def of(cls, record: FunctionRecord) -> Deployed:
        raw = json.loads(record.spec)
        return cls(record.name, FunctionSpec.from_json(record.spec), bool(raw.get("is_generator")))


def _function_type(generator: bool) -> api_pb2.Function.FunctionType.ValueType:
    return api_pb2.Function.FUNCTION_TYPE_GENERATOR if generator else api_pb2.Function.FUNCTION_TYPE_FUNCTION


def _handle(function_name: str, generator: bool, max_bytes: int) -> api_pb2.FunctionHandleMetadata:
    return api_pb2.FunctionHandleMetadata(
        function_name=function_name,
        function_type=_function_type(generator),
        supported_input_formats=[_PICKLE],
        supported_output_formats=[_PICKLE],
        # Larger arguments would go to blob storage: BlobCreate answers with the size limit.
        max_object_size_bytes=max_bytes,
        max_async_object_size_bytes=max_bytes,
    )


def handle_metadata(
    key: FunctionKey, functions: list[Deployed], max_bytes: int
) -> api_pb2.FunctionHandleMetadata:
    """The handle of a function (``functions`` = [it]) or of a class's service function
    (``functions`` = its methods)."""
    if not key.is_class:
        return _handle(key.name, functions[0].is_generator, max_bytes)
    meta = _handle(key.name, False, max_bytes)
    meta.class_parameter_info.CopyFrom(
        api_pb2.ClassParameterInfo(format=api_pb2.ClassParameterInfo.PARAM_SERIALIZATION_FORMAT_PICKLE)
    )
    prefix = key.class_name + "."
    for f in functions:
        method = _handle(f.name, f.is_generator, max_bytes)
        method.is_method = True
        method.use_method_name = f.name.removeprefix(prefix)
        meta.method_handle_metadata[method.use_method_name].CopyFrom(method)
    return meta


def function_data(key: FunctionKey, functions: list[Deployed]) -> api_pb2.FunctionData:
    """What ``Function.info()`` reads: timeout, retries, scaling."""
    spec = functions[0].spec
    timeout = int(spec.timeout)
    fn = api_pb2.Function(
        function_name=key.name,
        app_name=key.app,
        module_name=spec.module or "",
        timeout_secs=timeout,
        concurrency_limit=spec.max_containers,
        warm_pool_size=spec.min_containers,
        task_idle_timeout_secs=int(spec.scaledown_window),
        is_class=key.is_class,
        retry_policy=api_pb2.FunctionRetryPolicy(
            retries=spec.retries.max_retries,
            backoff_coefficient=spec.retries.backoff_coefficient,
            initial_delay_ms=int(spec.retries.initial_delay * 1000),
            max_delay_ms=int(spec.retries.max_delay * 1000),
        ),
    )
    data = api_pb2.FunctionData(
        function_name=key.name,
        module_name=spec.module or "",
        function_type=_function_type(not key.is_class and functions[0].is_generator),
        timeout_secs=timeout,
        concurrency_limit=spec.max_containers,
        warm_pool_size=spec.min_containers,
        task_idle_timeout_secs=int(spec.scaledown_window),
        is_class=key.is_class,
        ranked_functions=[api_pb2.FunctionData.RankedFunction(rank=0, function=fn)],
        supported_input_formats=[_PICKLE],
        supported_output_formats=[_PICKLE],
    )
    if key.is_class:
        data.method_definitions_set = True
        prefix = key.class_name + "."
        for f in functions:
            data.method_definitions[f.name.removeprefix(prefix)].CopyFrom(
                api_pb2.MethodDefinition(function_name=f.name, function_type=_function_type(f.is_generator))
            )
    return data


# -- outcomes ------------------------------------------------------------------------------------


def _message(summary: str, exc_type: str) -> str:
    """chute's own errors reach the modal client as Modal's: drop the class name chute put first."""
    name = exc_type.rsplit(".", 1)[-1] + ": "
    return summary.removeprefix(name)


def generic_result(record: CallRecord, secret: bytes | None) -> api_pb2.GenericResult | None:
    """A terminal call's outcome as Modal's result (the value's or the exception's pickle as the
    worker stored it, signature checked), or None if it has expired (no output any more).

    Raises:
        IntegrityError: the outcome's signature does not match CHUTE_SECRET.
    """
    status = api_pb2.GenericResult
    if record.state is CallState.EXPIRED:
        return None
    if record.result is None:
        return status(status=status.GENERIC_STATUS_FAILURE, exception=record.error or "failed")
    outcome = _outcome.split(record.result, secret, f"the result of {record.id}")
    if outcome.ok:
        return status(status=status.GENERIC_STATUS_SUCCESS, data=outcome.value)
    if record.state is CallState.CANCELLED:
        return status(
            status=status.GENERIC_STATUS_TERMINATED, exception=_message(outcome.summary, outcome.exc_type)
        )
    if outcome.exc_type == _CHUTE_TIMEOUT:
        return status(
            status=status.GENERIC_STATUS_TIMEOUT, exception=_message(outcome.summary, outcome.exc_type)
        )
    if outcome.exc_type.startswith("chute.") or not outcome.exception:
        # chute's own errors (a crashed worker…): the modal client raises RemoteError with the text.
        return status(
            status=status.GENERIC_STATUS_FAILURE,
            exception=_message(outcome.summary, outcome.exc_type),
            traceback=outcome.traceback,
        )
    return status(
        status=status.GENERIC_STATUS_FAILURE,
        exception=outcome.summary,
        traceback=outcome.traceback,
        data=outcome.exception,
    )


def expired_result(call_id: str) -> api_pb2.GenericResult:
    """A map input whose result is gone (expired, or collected) before it was delivered."""
    return api_pb2.GenericResult(
        status=api_pb2.GenericResult.GENERIC_STATUS_FAILURE,
        exception=f"The result of function call {call_id} has expired.",
    )


def output_item(idx: int, call_id: str, result: api_pb2.GenericResult) -> api_pb2.FunctionGetOutputsItem:
    return api_pb2.FunctionGetOutputsItem(
        result=result, idx=idx, input_id=call_id, data_format=_PICKLE, retry_count=0
    )
