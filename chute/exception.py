"""Exceptions raised by chute.

Names and triggers follow ``modal.exception`` so that ``except modal.exception.X`` ports
to ``except chute.exception.X`` unchanged. Queue operations also raise the stdlib
``queue.Empty`` / ``queue.Full``, ``Dict`` raises ``KeyError``, and a pending
``FunctionCall.get(timeout=...)`` raises the builtin ``TimeoutError``, exactly as Modal does.

Tree::

    Error
    ├── InvalidError (also ValueError)      bad name, partition key, argument
    │   └── ConflictError                    a precondition on the stored state failed
    ├── NotFoundError                        object (queue, dict, call) does not exist
    ├── AlreadyExistsError                   objects.create() of an existing name
    ├── RequestSizeError                     item/value larger than the configured limit
    ├── SerializationError                   value cannot be pickled
    ├── DeserializationError                 stored bytes cannot be unpickled (missing module…)
    ├── IntegrityError                       payload signature missing or wrong (CHUTE_SECRET)
    ├── ConnectionError (also builtin ConnectionError)
    │   └── BackendUnavailableError          the backend cannot be reached or timed out
    │       └── AuthError                    the backend refused our credentials
    ├── PermissionDeniedError                the backend or a CLI refused the operation
    ├── ResourceExhaustedError               a limit was reached (backlog, capacity)
    ├── UnimplementedError                   Modal has it; chute does not (yet)
    ├── InternalError, ServiceError, DataLossError, VersionError   as in Modal
    ├── TimeoutError (NOT the builtin; as in Modal)
    │   ├── OutputExpiredError               a call's result is gone (result TTL passed)
    │   ├── FunctionTimeoutError             a call exceeded its ``timeout``
    │   └── SandboxTimeoutError, ExecTimeoutError, VolumeUploadTimeoutError,
    │       MountUploadTimeoutError, InteractiveTimeoutError   (Modal's names)
    ├── RemoteError                          a call failed with no user exception (cancelled…)
    │   └── ImageBuildError                  an image build failed (Modal's name)
    ├── InternalFailure                      an infrastructure failure (retried without using retries)
    ├── ExecutionError                       misuse of an object (wrong id kind…, app not running)
    └── ClientClosed                         a blocked call was interrupted by close()

    InputCancellation (a BaseException)      raised in user code whose input was cancelled

    DurabilityWarning (a UserWarning)        the backend may drop acknowledged data (Redis eviction)
    IgnoredOptionWarning (a UserWarning)     a Modal option that has no meaning outside Modal's cloud
    DeprecationError (a UserWarning)         raised for Modal's removed options (as in Modal)
    AsyncUsageWarning, ServerWarning (UserWarnings)   Modal's names
"""

from __future__ import annotations

import builtins


class Error(Exception):
    """Base class of every chute error."""


ChuteError = Error


class InvalidError(Error, ValueError):
    """An argument is invalid: the message says which one and how to fix it."""


class ConflictError(InvalidError):
    """The operation conflicts with the current stored state."""


class NotFoundError(Error):
    """The named or identified object does not exist (or was deleted)."""


class AlreadyExistsError(Error):
    """``objects.create`` was asked to create a name that already exists."""


class RequestSizeError(Error):
    """A serialized item or value is larger than the configured limit."""


class SerializationError(Error):
    """A value could not be serialized with cloudpickle."""


class DeserializationError(Error):
    """Stored bytes could not be deserialized (usually a module missing in this process)."""


class IntegrityError(Error):
    """A payload failed its HMAC check: it was not written by a holder of ``CHUTE_SECRET``."""


class ConnectionError(Error, builtins.ConnectionError):
    """A connection failed (Modal's name). ``except chute.exception.ConnectionError`` also
    catches backend outages (``BackendUnavailableError``), and so does the builtin
    ``except ConnectionError``."""


class BackendUnavailableError(ConnectionError):
    """The storage backend cannot be reached, or did not answer within the configured timeout."""


class AuthError(BackendUnavailableError):
    """The backend rejected the configured credentials."""


class TimeoutError(Error):
    """Base of chute's own timeouts. Not the builtin ``TimeoutError``, exactly as in Modal."""


class OutputExpiredError(TimeoutError):
    """The result of a function call has expired (or was never produced and nothing is pending)."""


class FunctionTimeoutError(TimeoutError):
    """A function call exceeded its ``timeout``."""


class RemoteError(Error):
    """A function call failed without a user exception (cancelled, worker lost, …)."""


class ExecutionError(Error):
    """An object was used in a way that cannot work (for example an id of the wrong kind)."""


class ClientClosed(Error):
    """The client was closed while a call was waiting on it."""


class PermissionDeniedError(Error):
    """The operation is not permitted (Modal's name)."""


class ResourceExhaustedError(Error):
    """A limit or a capacity was reached (Modal's name)."""


class UnimplementedError(Error):
    """The operation exists in Modal but not in chute (Modal's name)."""


class InternalError(Error):
    """An internal error of the platform (Modal's name)."""


class ServiceError(Error):
    """The service failed to handle a request (Modal's name)."""


class DataLossError(Error):
    """Data was lost or corrupted (Modal's name)."""


class VersionError(Error):
    """The client and the server (or stored data) versions are incompatible (Modal's name)."""


class InternalFailure(Error):
    """An infrastructure failure, retried without using up the function's retries (Modal's name)."""


class ImageBuildError(RemoteError):
    """An image build failed (Modal's name; chute builds no images)."""


class SandboxTimeoutError(TimeoutError):
    """A sandbox exceeded its timeout (Modal's name)."""


class ExecTimeoutError(TimeoutError):
    """A sandbox exec exceeded its timeout (Modal's name)."""


class VolumeUploadTimeoutError(TimeoutError):
    """A volume upload timed out (Modal's name)."""


class MountUploadTimeoutError(TimeoutError):
    """A mount upload timed out (Modal's name)."""


class InteractiveTimeoutError(TimeoutError):
    """An interactive session timed out (Modal's name)."""


class InputCancellation(BaseException):
    """Raised inside a running function whose input was cancelled (a ``BaseException``, so that
    ``except Exception`` in user code does not swallow it; as in Modal)."""


class DurabilityWarning(UserWarning):
    """The backend is configured in a way that can lose acknowledged data (e.g. Redis evicting keys)."""


class IgnoredOptionWarning(UserWarning):
    """A Modal option (``cloud=``, ``region=``, an image's packages, …) has no meaning outside
    Modal's cloud: chute accepts it so the app file runs unchanged, and ignores it."""


class DeprecationError(UserWarning):
    """Raised (not only warned) for Modal options and APIs that Modal removed, as Modal does.

    A ``UserWarning`` subclass, exactly as ``modal.exception.DeprecationError``.
    """


class AsyncUsageWarning(UserWarning):
    """A blocking API was called from async code (Modal's name)."""


class ServerWarning(UserWarning):
    """A warning sent by the server (Modal's name)."""


__all__ = [
    "AlreadyExistsError",
    "AsyncUsageWarning",
    "AuthError",
    "BackendUnavailableError",
    "ChuteError",
    "ClientClosed",
    "ConflictError",
    "ConnectionError",
    "DataLossError",
    "DeprecationError",
    "DeserializationError",
    "DurabilityWarning",
    "Error",
    "ExecTimeoutError",
    "ExecutionError",
    "FunctionTimeoutError",
    "IgnoredOptionWarning",
    "ImageBuildError",
    "InputCancellation",
    "IntegrityError",
    "InteractiveTimeoutError",
    "InternalError",
    "InternalFailure",
    "InvalidError",
    "MountUploadTimeoutError",
    "NotFoundError",
    "OutputExpiredError",
    "PermissionDeniedError",
    "RemoteError",
    "RequestSizeError",
    "ResourceExhaustedError",
    "SandboxTimeoutError",
    "SerializationError",
    "ServerWarning",
    "ServiceError",
    "TimeoutError",
    "UnimplementedError",
    "VersionError",
    "VolumeUploadTimeoutError",
]
