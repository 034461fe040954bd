"""Settings from the environment, and backend URL parsing.

Precedence is: explicit argument, then environment variable, then default. The default
backend is an SQLite file in the per-user data directory, so independently started
processes of one user meet there without any configuration.

The environment variables, their parsers, defaults and documentation are one table,
``chute._settings_table.VARS`` (the README's configuration table is generated from it).
Settings are validated when they are built: a bad value or URL fails there, with an
InvalidError that names the variable and the fix, never later inside a backend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from chute import _settings_table as table
from chute import _validate
from chute._settings_table import DEFAULT_ENV, DEFAULT_EPHEMERAL_TTL, DEFAULT_LEASE, DEFAULT_TIMEOUT
from chute._url import REDIS_SCHEMES, SQLITE_SCHEMES, BackendURL, parse_url, redact_url
from chute.exception import InvalidError

DEFAULT_PARTITION_TTL = 24 * 3600

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_EPHEMERAL_TTL",
    "DEFAULT_LEASE",
    "DEFAULT_PARTITION_TTL",
    "DEFAULT_TIMEOUT",
    "REDIS_SCHEMES",
    "SQLITE_SCHEMES",
    "BackendURL",
    "Limits",
    "Settings",
    "default_url",
    "parse_url",
    "redact_url",
]


@dataclass(frozen=True)
class Limits:
    """Size limits, enforced identically by every backend. Defaults are Modal's.

    Raises:
        InvalidError: a limit is not a positive int (at most ``_validate.MAX_COUNT``).
    """

    max_partition_items: int = 5_000
    max_item_bytes: int = 1024 * 1024
    max_partitions: int = 100_000
    max_partition_key_bytes: int = 64
    max_value_bytes: int = 100 * 1024 * 1024
    max_update_entries: int = 10_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _validate.check_count(getattr(self, f.name), f"Limits.{f.name}")


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to talk to a backend.

    Raises:
        InvalidError: an invalid environment name, an empty secret, or a timeout, lease or
            TTL that is not a positive, finite number of seconds.
    """

    url: BackendURL
    env: str = DEFAULT_ENV
    secret: bytes | None = None
    timeout: float = DEFAULT_TIMEOUT
    ephemeral_ttl: float = DEFAULT_EPHEMERAL_TTL
    limits: Limits = field(default_factory=Limits)
    lease: float = DEFAULT_LEASE

    def __post_init__(self) -> None:
        if not isinstance(self.url, BackendURL):
            raise InvalidError(f"Settings.url must be a BackendURL (from parse_url), got {self.url!r}.")
        _validate.check_env(self.env)
        if self.secret is not None and (not isinstance(self.secret, bytes) or not self.secret):
            raise InvalidError("Settings.secret must be non-empty bytes, or None to turn signing off.")
        _validate.check_seconds(self.timeout, "timeout", maximum=table.MAX_TIMEOUT, exclusive_min=True)
        _validate.check_seconds(self.lease, "lease", maximum=table.MAX_TIMEOUT, exclusive_min=True)
        _validate.check_ttl(self.ephemeral_ttl, "ephemeral_ttl")

    @classmethod
    def from_env(cls, url: str | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CHUTE_*`` environment variables (arguments win).

        Raises:
            InvalidError: a variable or the URL is invalid (the message names it and the fix).
        """

        def get(name: str, default: Any) -> Any:
            value = table.read(name)
            return default if value is None else value

        defaults = Limits()
        limits = Limits(
            max_partition_items=get("CHUTE_MAX_PARTITION_ITEMS", defaults.max_partition_items),
            max_item_bytes=get("CHUTE_MAX_ITEM_BYTES", defaults.max_item_bytes),
            max_partitions=get("CHUTE_MAX_PARTITIONS", defaults.max_partitions),
            max_value_bytes=get("CHUTE_MAX_VALUE_BYTES", defaults.max_value_bytes),
        )
        fields: dict[str, Any] = {
            "url": parse_url(url) if url else get("CHUTE_URL", None) or parse_url(default_url()),
            "env": get("CHUTE_ENV", DEFAULT_ENV),
            "secret": get("CHUTE_SECRET", None),
            "timeout": get("CHUTE_TIMEOUT", DEFAULT_TIMEOUT),
            "lease": get("CHUTE_LEASE", DEFAULT_LEASE),
            "ephemeral_ttl": get("CHUTE_EPHEMERAL_TTL", DEFAULT_EPHEMERAL_TTL),
            "limits": limits,
        }
        return cls(**{**fields, **overrides})


def env_value(name: str) -> Any:
    """A ``CHUTE_*`` variable that is not part of ``Settings`` (``CHUTE_TOKEN``…), parsed; None if unset."""
    return table.read(name)


def default_url() -> str:
    """``sqlite:///`` + ``chute.db`` in the per-user data directory (created on demand)."""
    path = Path(platformdirs.user_data_dir("chute", appauthor=False)) / "chute.db"
    return f"sqlite://{path}"
