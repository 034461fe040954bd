"""State shared by Queue and Dict handles: lazy identity, pickling by reference, info, ids."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from chute._client import Client
from chute.backends.types import Kind, ObjectInfo

_ALPHABET = string.ascii_letters + string.digits


def random_id(prefix: str) -> str:
    """``<prefix>-`` followed by 22 random alphanumerics (~131 bits), from one urandom read."""
    n = int.from_bytes(secrets.token_bytes(17))
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return prefix + "-" + "".join(chars)


def new_object_id(kind: Kind) -> str:
    """``qu-`` / ``di-`` followed by 22 random alphanumerics."""
    return random_id(kind.prefix)


@dataclass(frozen=True)
class ObjectMetadata:
    """What ``info()`` returns: ``name`` is None for ephemeral objects; ``created_at`` is local time."""

    name: str | None
    created_at: datetime
    created_by: str | None


class Handle:
    """A lazy reference to a stored object: by name (maybe creating it) or by id."""

    _kind: ClassVar[Kind]
    _client: Client
    _name: str | None
    _env: str
    _create_if_missing: bool
    _id: str | None
    _info: ObjectInfo | None

    def _init_handle(
        self,
        client: Client | None,
        *,
        name: str | None = None,
        env: str | None = None,
        object_id: str | None = None,
        create_if_missing: bool = False,
        info: ObjectInfo | None = None,
    ) -> None:
        self._client = client or Client.from_env()
        self._name = name
        self._env = env or self._client.settings.env
        self._id = object_id
        self._create_if_missing = create_if_missing
        self._info = info

    @classmethod
    def _new(cls, client: Client | None = None, **kwargs: Any) -> Self:
        obj = cls.__new__(cls)
        obj._init_handle(client, **kwargs)
        obj._init_extra()
        return obj

    def _init_extra(self) -> None:
        """Subclasses set their own local state here."""

    @property
    def name(self) -> str | None:
        """The object's name; None for ephemeral objects."""
        return self._name if self._info is None else self._info.name

    @property
    def is_hydrated(self) -> bool:
        """Whether the handle has looked up its identity on the backend yet."""
        return self._info is not None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # By reference (Modal does the same): the receiving process uses its own CHUTE_URL.
        from chute._sync.queue_ops import hydrate

        info = hydrate(self)
        return (_rebuild, (type(self), info))

    def __repr__(self) -> str:
        ident = self._id or (self._info.id if self._info else None)
        label = f"name={self.name!r}" if self.name else f"id={ident!r}"
        return f"{type(self).__name__}({label})"


def _rebuild(cls: type[Handle], info: ObjectInfo) -> Handle:
    return cls._new(name=info.name, env=info.env, object_id=info.id, info=info)


def metadata(info: ObjectInfo) -> ObjectMetadata:
    return ObjectMetadata(
        name=info.name,
        created_at=datetime.fromtimestamp(info.created_at).astimezone(),
        created_by=info.created_by,
    )
