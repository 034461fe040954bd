"""Backend selection: a URL scheme maps to one module, imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chute.config import Settings

if TYPE_CHECKING:
    from chute.backends._async.base import AsyncBackend
    from chute.backends._sync.base import Backend


def open_backend(settings: Settings) -> Backend:
    """A sync backend for ``settings.url`` (used on the caller's thread)."""
    if settings.url.kind == "sqlite":
        from chute.backends._sync.sqlite import SQLiteBackend

        return SQLiteBackend(settings)
    from chute.backends._sync.redis import RedisBackend

    return RedisBackend(settings)


def open_async_backend(settings: Settings) -> AsyncBackend:
    """An async backend for ``settings.url``, bound to the running event loop."""
    if settings.url.kind == "sqlite":
        from chute.backends._async.sqlite import AsyncSQLiteBackend

        return AsyncSQLiteBackend(settings)
    from chute.backends._async.redis import AsyncRedisBackend

    return AsyncRedisBackend(settings)
