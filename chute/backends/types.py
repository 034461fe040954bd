"""Plain data shared by every backend (sync and async)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """What a stored object is; also decides its id prefix."""

    QUEUE = "queue"
    DICT = "dict"

    @property
    def prefix(self) -> str:
        return {"queue": "qu", "dict": "di"}[self.value]


class PutStatus(enum.IntEnum):
    """Outcome of ``queue_put``: stored, or refused without storing anything."""

    OK = 0
    FULL = 1  # the partition would exceed max_items
    TOO_MANY_PARTITIONS = 2  # a new partition would exceed max_partitions


@dataclass(frozen=True)
class ObjectInfo:
    """A stored Queue or Dict. Times are Unix seconds from the backend's clock."""

    id: str
    kind: Kind
    env: str
    name: str | None
    created_at: float
    created_by: str | None = None
    ephemeral: bool = False
    max_items: int | None = None  # per-queue cap (multiprocessing-style maxsize); None = deployment limit


@dataclass(frozen=True)
class PartitionInfo:
    """One queue partition: its key (``b""`` = default), length and expiry (Unix seconds)."""

    key: bytes
    length: int
    expires_at: float
