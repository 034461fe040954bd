# Auto-generated from tests/_async/conftest.py by scripts/unasync.py: DO NOT EDIT.
from __future__ import annotations

from collections.abc import Iterator

import pytest

import chute


@pytest.fixture(autouse=True)
def _close_backend(chute_env: str) -> Iterator[None]:
    yield
    chute.Client.from_env().close()
