# Auto-generated from tests/_async/conftest.py by scripts/unasync.py: DO NOT EDIT.
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chute import _client


@pytest.fixture(autouse=True)
def _close_backend(chute_env: str) -> Iterator[None]:
    yield
    # Every client the test used (a monkeypatched environment makes another one).
    for client in list(_client._clients.values()):
        client.close()
