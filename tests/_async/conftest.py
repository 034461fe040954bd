from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import chute


@pytest.fixture(autouse=True)
async def _close_backend(chute_env: str) -> AsyncIterator[None]:
    yield
    await chute.Client.from_env().aclose()
