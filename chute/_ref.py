"""The state a Queue or Dict handle carries, as a record the ops layer works on.

``ObjectRef`` sits below the public classes: ``chute.Queue``/``chute.Dict`` wrap one, and the
ops (``chute/_async``), the HTTP API, the CLI and the Modal servicer pass it around without
touching a public class. It is mutable only in ``info`` (filled in once, by hydration) and in
the handle-local flags ``closed``/``mp_style``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chute._client import Client
from chute.backends.types import Kind, ObjectInfo

_ALPHABET = string.ascii_letters + string.digits


# Random bytes below 248 (4 x 62) map uniformly onto the alphabet; the 8 others are dropped.
_TO_ALPHABET = bytes((_ALPHABET * 5)[:256], "ascii")
_DROP = bytes(range(248, 256))


def random_id(prefix: str) -> str:
    """``<prefix>-`` followed by 22 uniformly random alphanumerics (~131 bits).

    Done in C (``bytes.translate``): ``map`` and ``spawn_map`` make thousands per second."""
    chars = b""
    while len(chars) < 22:  # 32 bytes keep 22 or more but about once in 10**11 draws
        chars += secrets.token_bytes(32).translate(_TO_ALPHABET, _DROP)
    return prefix + "-" + chars[:22].decode()


def new_object_id(kind: Kind) -> str:
    """``qu-`` / ``di-`` followed by 22 random alphanumerics."""
    return random_id(kind.prefix)


@dataclass(frozen=True)
class ObjectMetadata:
    """What ``info()`` returns: ``name`` is None for ephemeral objects; ``created_at`` is local time."""

    name: str | None
    created_at: datetime
    created_by: str | None


def metadata(info: ObjectInfo) -> ObjectMetadata:
    return ObjectMetadata(
        name=info.name,
        created_at=datetime.fromtimestamp(info.created_at).astimezone(),
        created_by=info.created_by,
    )


@dataclass(eq=False, slots=True)
class ObjectRef:
    """A lazy reference to a stored queue or dict: by name (maybe creating it) or by id.

    ``info`` is None until the first operation looks the object up (``ops.hydrate``).
    """

    client: Client
    kind: Kind
    env: str
    name: str | None = None
    id: str | None = None
    create_if_missing: bool = False
    info: ObjectInfo | None = None
    closed: bool = False  # Queue.close() was called on this handle
    mp_style: bool = False  # a multiprocessing-style queue: get(block=False) raises queue.Empty
    # Queue(write_behind=True): the chute._feeder.Feeder its puts go to, in this process.
    feeder: Any = None
    # ... and the chute._readahead.ReadAhead its gets read ahead into, in this process.
    reader: Any = None

    @classmethod
    def of(
        cls,
        kind: Kind,
        client: Client | None = None,
        *,
        name: str | None = None,
        env: str | None = None,
        object_id: str | None = None,
        create_if_missing: bool = False,
        info: ObjectInfo | None = None,
        mp_style: bool = False,
    ) -> ObjectRef:
        client = client or Client.from_env()
        return cls(
            client=client,
            kind=kind,
            env=env or client.settings.env,
            name=name,
            id=object_id,
            create_if_missing=create_if_missing,
            info=info,
            mp_style=mp_style,
        )

    @classmethod
    def of_info(cls, client: Client, info: ObjectInfo) -> ObjectRef:
        """A hydrated reference to an object the caller has just looked up."""
        return cls(client=client, kind=info.kind, env=info.env, name=info.name, id=info.id, info=info)

    @property
    def display_name(self) -> str | None:
        return self.name if self.info is None else self.info.name

    def describe(self) -> str:
        """``Queue 'jobs'``, ``ephemeral Dict di-…``: how error messages name the object."""
        kind = self.kind.value.capitalize()
        if self.info is not None and self.info.name is None:
            return f"ephemeral {kind} {self.info.id}"
        name = self.display_name
        return f"{kind} {name!r}" if name else f"{kind} {self.id}"


@dataclass(frozen=True, slots=True)
class KindRef:
    """``Queue.objects`` / ``Dict.objects`` as the ops see them: the kind, and how to wrap a
    listed object in its public handle (given by the public class, so ops never import it)."""

    kind: Kind
    wrap: Callable[[Client, ObjectInfo], Any]
