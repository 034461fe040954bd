"""What ``chute.Queue`` and ``chute.Dict`` share: a lazy handle over an ``ObjectRef``, the
``objects`` manager, and the ``ephemeral()`` context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from chute._async import objects as aobjects
from chute._client import Client
from chute._dual import dual
from chute._ref import KindRef, ObjectRef
from chute._sync import objects
from chute.backends.types import Kind, ObjectInfo

H = TypeVar("H", bound="Handle")


def _hydrate(h: H) -> H:
    """Synchronize the handle with the backend (look the object up, creating it if asked)."""
    objects.hydrate(h._ref)
    return h


async def _ahydrate(h: H) -> H:
    """Synchronize the handle with the backend (look the object up, creating it if asked)."""
    await aobjects.hydrate(h._ref)
    return h


class Handle:
    """A lazy reference to a stored object: by name (maybe creating it) or by id."""

    _kind: ClassVar[Kind]
    _ref: ObjectRef

    @classmethod
    def _new(cls, client: Client | None = None, **kwargs: Any) -> Self:
        obj = cls.__new__(cls)
        obj._ref = ObjectRef.of(cls._kind, client, **kwargs)
        return obj

    @classmethod
    def _of_info(cls, client: Client, info: ObjectInfo) -> Self:
        obj = cls.__new__(cls)
        obj._ref = ObjectRef.of_info(client, info)
        return obj

    @property
    def name(self) -> str | None:
        """The object's name; None for ephemeral objects."""
        return self._ref.display_name

    @property
    def is_hydrated(self) -> bool:
        """Whether the handle has looked up its identity on the backend yet."""
        return self._ref.info is not None

    @property
    def object_id(self) -> str:
        """The object's id (``qu-…``/``di-…``); looks the object up if not hydrated yet.

        Raises:
            NotFoundError: the object does not exist (and ``create_if_missing`` was not set).
        """
        return (self._ref.info or objects.hydrate(self._ref)).id

    hydrate = dual(_hydrate, _ahydrate)
    info = dual(objects.info, aobjects.info, via="_ref")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # By reference (Modal does the same): the receiving process uses its own CHUTE_URL.
        info = objects.hydrate(self._ref)
        return (_rebuild, (type(self), info, self._ref.mp_style))

    def __repr__(self) -> str:
        ref = self._ref
        label = (
            f"name={self.name!r}" if self.name else f"id={ref.id or (ref.info.id if ref.info else None)!r}"
        )
        return f"{type(self).__name__}({label})"


def _rebuild(cls: type[Handle], info: ObjectInfo, mp_style: bool = False) -> Handle:
    obj = cls._new(name=info.name, env=info.env, object_id=info.id, info=info)
    obj._ref.mp_style = mp_style
    return obj


class ObjectManager:
    """``Queue.objects`` / ``Dict.objects``: create, list and delete named objects."""

    def __init__(self, cls: type[Handle]) -> None:
        self._ref = KindRef(cls._kind, cls._of_info)

    create = dual(objects.objects_create, aobjects.objects_create, via="_ref")
    list = dual(objects.objects_list, aobjects.objects_list, via="_ref")
    delete = dual(objects.objects_delete, aobjects.objects_delete, via="_ref")


class EphemeralContext(Generic[H]):
    """``with X.ephemeral() as x`` and ``async with X.ephemeral() as x``."""

    def __init__(self, handle: H, max_items: int | None = None) -> None:
        self._handle = handle
        self._max_items = max_items

    def __enter__(self) -> H:
        objects.create_ephemeral(self._handle._ref, self._max_items)
        return self._handle

    def __exit__(self, *exc: object) -> None:
        objects.delete_ephemeral(self._handle._ref)

    async def __aenter__(self) -> H:
        await aobjects.create_ephemeral(self._handle._ref, self._max_items)
        return self._handle

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await aobjects.delete_ephemeral(self._handle._ref)
