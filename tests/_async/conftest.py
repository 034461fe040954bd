from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chute import _client


@pytest.fixture(autouse=True)
async def _close_backend(chute_env: str) -> AsyncIterator[None]:
    yield
    # Every client the test used (a monkeypatched environment makes another one).
    for client in list(_client._clients.values()):
        await client.aclose()
