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
    ├── BackendUnavailableError (also builtin ConnectionError)
    │   └── AuthError                        the backend refused our credentials
    ├── TimeoutError (NOT the builtin; as in Modal)
    │   ├── OutputExpiredError               a call's result is gone (result TTL passed)
    │   └── FunctionTimeoutError             a call exceeded its ``timeout``
    ├── RemoteError                          a call failed with no user exception (cancelled…)
    ├── ExecutionError                       misuse of an object (wrong id kind…)
    └── ClientClosed                         a blocked call was interrupted by close()

    DurabilityWarning (a UserWarning)        the backend may drop acknowledged data (Redis eviction)
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


class BackendUnavailableError(Error, builtins.ConnectionError):
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


class DurabilityWarning(UserWarning):
    """The backend is configured in a way that can lose acknowledged data (e.g. Redis evicting keys)."""


__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "BackendUnavailableError",
    "ChuteError",
    "ClientClosed",
    "ConflictError",
    "DeserializationError",
    "DurabilityWarning",
    "Error",
    "ExecutionError",
    "FunctionTimeoutError",
    "IntegrityError",
    "InvalidError",
    "NotFoundError",
    "OutputExpiredError",
    "RemoteError",
    "RequestSizeError",
    "SerializationError",
    "TimeoutError",
]
