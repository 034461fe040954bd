"""Pieces shared by the route modules: dependencies, parameters, errors, long waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue as stdlib_queue
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from chute import exception as exc_mod
from chute.http.auth import NAME_PATTERN, Token, authenticate, request_env

T = TypeVar("T")
log = logging.getLogger("chute.http")

Env = Annotated[str, Depends(request_env)]
Caller = Annotated[Token | None, Depends(authenticate)]
Name = Annotated[str, Path(pattern=NAME_PATTERN, description="Object name: 1-64 of [A-Za-z0-9._-].")]

# Status a request gets when its client went away before the answer (nginx's convention).
CLIENT_CLOSED = 499


class ErrorBody(BaseModel):
    """Every error response: a message, and the chute exception type when there is one."""

    detail: Any
    type: str | None = None


class Ok(BaseModel):
    """Acknowledgement of an operation with nothing else to return."""

    ok: bool = True


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _err("Invalid argument (chute InvalidError)."),
    401: _err("Missing or invalid bearer token."),
    403: _err("The token is not allowed on this environment, or a cross-origin request."),
    404: _err("No such object."),
    413: _err("Request body or item over the size limit."),
    422: _err("Malformed parameters or body."),
    503: _err("The storage backend is unavailable."),
}
PICKLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    406: _err("Pickle response requested but disabled."),
    415: _err("Pickle body sent but disabled."),
}

# chute exception -> HTTP status; the first matching class wins (subclasses listed first).
_STATUS: list[tuple[type[BaseException], int]] = [
    (exc_mod.NotFoundError, 404),
    (exc_mod.OutputExpiredError, 404),
    (exc_mod.AlreadyExistsError, 409),
    (exc_mod.InvalidError, 400),
    (exc_mod.SerializationError, 400),
    (exc_mod.RequestSizeError, 413),
    (stdlib_queue.Full, 409),
    (exc_mod.BackendUnavailableError, 503),
    (exc_mod.TimeoutError, 504),
]


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON error for a chute (or queue.Full) exception; unlisted ones are 500s."""
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
    detail = str(exc) or type(exc).__name__
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, detail)  # the operator should see these
    return JSONResponse({"detail": detail, "type": type(exc).__name__}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map chute's exceptions to statuses (see ``_STATUS``) for every route of ``app``."""

    async def handler(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    app.add_exception_handler(exc_mod.Error, handler)
    app.add_exception_handler(stdlib_queue.Full, handler)


def max_wait(request: Request, timeout: float) -> float:
    """``timeout`` cut to the server's longest allowed wait."""
    return min(timeout, float(request.app.state.config.max_wait))


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | Response:
    """Await ``work``, but cancel it if the client disconnects first.

    A long-polling get whose client has gone must stop waiting, or the item it takes
    afterwards would be removed from the queue and answered to nobody.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # nobody to tell
            await task
        return Response(status_code=CLIENT_CLOSED)
    finally:
        for t in (task, watcher):
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
