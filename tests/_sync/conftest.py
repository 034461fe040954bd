# Auto-generated from tests/_async/conftest.py by scripts/unasync.py: DO NOT EDIT.
from __future__ import annotations

from collections.abc import Iterator, Iterator

import pytest

from chute import _client
from chute.backends._sync.base import Backend
from chute.backends._sync.base import Backend
from tests._flavours import sync_open_backend, sync_open_backend


@pytest.fixture(autouse=True)
def _close_backend(chute_env: str) -> Iterator[None]:
    yield
    # Every client the test used (a monkeypatched environment makes another one).
    for client in list(_client._clients.values()):
        client.close()


@pytest.fixture
def b(backend_url: str) -> Iterator[Backend]:
    """The backend under test, in this folder's flavour, on a fresh store of every backend."""
    backend = sync_open_backend(backend_url)
    yield backend
    backend.close()


@pytest.fixture
def other(backend_url: str) -> Iterator[Backend]:
    """A second client of the same store, always sync: it acts from other threads (``later``)."""
    backend = sync_open_backend(backend_url)
    yield backend
    backend.close()
