"""Call logs: ``GET /calls/{call_id}/logs``, what a call printed, per attempt."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from chute._async import inspection
from chute._client import Client
from chute.http.api_jobs import CallId, _authorized_call
from chute.http.common import RESPONSES, Caller

router = APIRouter(tags=["jobs"], responses=RESPONSES)


class AttemptLog(BaseModel):
    attempt: int = Field(description="Attempt number, from 1.")
    text: str = Field(description="Its stdout and stderr, as UTF-8 (undecodable bytes replaced).")


class CallLogs(BaseModel):
    call_id: str
    attempts: list[AttemptLog] = Field(
        description="Attempts that printed anything, in order; each keeps its last CHUTE_CALL_LOG_BYTES."
    )


@router.get("/calls/{call_id}/logs", summary="Get a call's output")
async def get_logs(call_id: CallId, caller: Caller) -> CallLogs:
    """What the call wrote to stdout and stderr, per attempt, kept as long as its result
    (empty when it printed nothing). Poll it to follow a running call."""
    await _authorized_call(call_id, caller)
    logs = await inspection.call_logs(Client.from_env(), call_id)
    return CallLogs(
        call_id=call_id,
        attempts=[AttemptLog(attempt=a, text=data.decode("utf-8", "replace")) for a, data in logs],
    )
