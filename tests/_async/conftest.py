from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from chute import _client
from chute.backends._async.base import AsyncBackend
from chute.backends._sync.base import Backend
from tests._flavours import async_open_backend, sync_open_backend


@pytest.fixture(autouse=True)
async def _close_backend(chute_env: str) -> AsyncIterator[None]:
    yield
    # Every client the test used (a monkeypatched environment makes another one).
    for client in list(_client._clients.values()):
        await client.aclose()


@pytest.fixture
async def b(backend_url: str) -> AsyncIterator[AsyncBackend]:
    """The backend under test, in this folder's flavour, on a fresh store of every backend."""
    backend = async_open_backend(backend_url)
    yield backend
    await backend.aclose()


@pytest.fixture
def other(backend_url: str) -> Iterator[Backend]:
    """A second client of the same store, always sync: it acts from other threads (``later``)."""
    backend = sync_open_backend(backend_url)
    yield backend
    backend.close()
