"""The HTTP API's routes, one module per resource:

- ``api_queues``: ``/queues`` (create, list, delete, put, get, len, clear, partitions, peek)
- ``api_dicts``: ``/dicts`` (create, list, delete, keys, items, len, clear)
- ``api_jobs``: ``/functions`` (list, spawn) and ``/calls`` (list, status, result, cancel)
- ``api_logs``: ``/calls/{id}/logs`` (a call's output per attempt)

Shared parameters, error mapping and long-wait handling live in ``chute.http.common``.
"""

from __future__ import annotations

from fastapi import APIRouter

from chute.http import api_dicts, api_jobs, api_logs, api_queues

router = APIRouter()
router.include_router(api_queues.router)
router.include_router(api_dicts.router)
router.include_router(api_jobs.router)
router.include_router(api_logs.router)
