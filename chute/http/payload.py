"""Values over HTTP: JSON by default, pickle when the server allows it.

JSON values round-trip exactly (a tuple comes back as a list). A stored value JSON cannot
represent (a Python object put by a Python client, bytes, NaN) is sent as its ``repr()``
string. Clients that need exact Python values use pickle: the server must run with
``--allow-pickle`` and a token, and the request sends ``Content-Type:
application/x-python-pickle`` (body: the raw pickle) and/or ``Accept:
application/x-python-pickle`` (response body: the raw pickle). Unpickling a body runs code
chosen by its sender inside the server, which is why only token holders may do it.
"""

from __future__ import annotations

import math
import pickle
from typing import Any, TypeVar

import cloudpickle
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

PICKLE = "application/x-python-pickle"
M = TypeVar("M", bound=BaseModel)


def jsonable(value: Any) -> Any:
    """``value`` made JSON-encodable: containers converted, anything else as its repr()."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: jsonable(v) for k, v in value.items()}
    return repr(value)


def key_text(key: Any) -> str:
    """How a dict key is shown over HTTP: str keys as they are, others as repr()."""
    return key if isinstance(key, str) else repr(key)


def _pickle_allowed(request: Request) -> bool:
    config = request.app.state.config
    return bool(config.allow_pickle and config.tokens.enabled)


def sends_pickle(request: Request) -> bool:
    """Whether the request body is a pickle (415 when the server does not accept them)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != PICKLE:
        return False
    if not _pickle_allowed(request):
        raise HTTPException(
            415, "Pickle bodies are disabled: start the server with --allow-pickle and a token."
        )
    return True


def wants_pickle(request: Request) -> bool:
    """Whether the client asked for a pickled response (406 when the server does not send them)."""
    if PICKLE not in request.headers.get("accept", "").lower():
        return False
    if not _pickle_allowed(request):
        raise HTTPException(
            406, "Pickle responses are disabled: start the server with --allow-pickle and a token."
        )
    return True


async def read_body(request: Request, model: type[M]) -> M | Any:
    """The request body: a validated ``model`` for JSON, or the unpickled object for a pickle.

    Parsed by hand rather than by FastAPI so that one route accepts both encodings; the JSON
    schema still appears in OpenAPI through ``json_body(model)``.

    Raises:
        RequestValidationError: 422 for JSON that does not match ``model``.
        HTTPException: 400 for an unreadable pickle or a body that is not UTF-8, 415 when
            pickles are disabled.
    """
    pickled = sends_pickle(request)
    body = await request.body()
    if pickled:
        try:
            return pickle.loads(body)
        except Exception as exc:
            raise HTTPException(
                400, f"Cannot unpickle the request body: {type(exc).__name__}: {exc}"
            ) from None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, f"The request body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8."
        ) from None
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body that ``read_body`` parses."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def pickle_response(value: Any) -> Response:
    """A raw cloudpickle body."""
    return Response(cloudpickle.dumps(value), media_type=PICKLE)


def value_response(value: Any, pickled: bool, field: str = "value") -> Response:
    """``{field: value}`` as JSON, or the raw pickle of ``value`` (decide ``pickled`` with
    ``wants_pickle`` *before* a destructive read, so a 406 never loses the value)."""
    if pickled:
        return pickle_response(value)
    return JSONResponse({field: jsonable(value)})
