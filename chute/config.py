"""Settings from the environment, and backend URL parsing.

Precedence is: explicit argument, then environment variable, then default. The default
backend is an SQLite file in the per-user data directory, so independently started
processes of one user meet there without any configuration.

Environment variables:
    CHUTE_URL                  backend URL (``sqlite:///abs/path.db``, ``redis://``, ``rediss://``,
                               ``unix://``, ``redis+cluster://``; ``valkey://`` aliases ``redis://``)
    CHUTE_ENV                  default environment (namespace) for names; default ``main``
    CHUTE_SECRET               HMAC key: sign every payload, refuse unsigned/tampered ones
    CHUTE_TIMEOUT              seconds before a backend operation fails with BackendUnavailableError
    CHUTE_MAX_PARTITION_ITEMS  items per queue partition (default 5,000)
    CHUTE_MAX_ITEM_BYTES       bytes per serialized queue item (default 1 MiB)
    CHUTE_MAX_PARTITIONS       partitions per queue (default 100,000)
    CHUTE_MAX_VALUE_BYTES      bytes per serialized dict value (default 100 MiB)
    CHUTE_EPHEMERAL_TTL        seconds an ephemeral object survives without a heartbeat (default 60)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import platformdirs

from chute.exception import InvalidError

DEFAULT_ENV = "main"
DEFAULT_PARTITION_TTL = 24 * 3600
DEFAULT_TIMEOUT = 5.0
DEFAULT_EPHEMERAL_TTL = 60.0

SQLITE_SCHEMES = frozenset({"sqlite"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "valkey", "valkeys", "redis+cluster", "rediss+cluster"})


@dataclass(frozen=True)
class Limits:
    """Size limits, enforced identically by every backend. Defaults are Modal's."""

    max_partition_items: int = 5_000
    max_item_bytes: int = 1024 * 1024
    max_partitions: int = 100_000
    max_partition_key_bytes: int = 64
    max_value_bytes: int = 100 * 1024 * 1024
    max_update_entries: int = 10_000


@dataclass(frozen=True)
class BackendURL:
    """A parsed and validated backend URL."""

    raw: str
    kind: str  # "sqlite" | "redis"
    path: str = ""  # sqlite file
    options: dict[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``, safe for logs and error messages."""
        return redact_url(self.raw)


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to talk to a backend."""

    url: BackendURL
    env: str = DEFAULT_ENV
    secret: bytes | None = None
    timeout: float = DEFAULT_TIMEOUT
    ephemeral_ttl: float = DEFAULT_EPHEMERAL_TTL
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_env(cls, url: str | None = None, **overrides: object) -> Settings:
        """Build settings from ``CHUTE_*`` environment variables (arguments win)."""
        env = os.environ
        limits = Limits(
            max_partition_items=_env_int("CHUTE_MAX_PARTITION_ITEMS", Limits.max_partition_items),
            max_item_bytes=_env_int("CHUTE_MAX_ITEM_BYTES", Limits.max_item_bytes),
            max_partitions=_env_int("CHUTE_MAX_PARTITIONS", Limits.max_partitions),
            max_value_bytes=_env_int("CHUTE_MAX_VALUE_BYTES", Limits.max_value_bytes),
        )
        secret = env.get("CHUTE_SECRET")
        settings = cls(
            url=parse_url(url or env.get("CHUTE_URL") or default_url()),
            env=env.get("CHUTE_ENV") or DEFAULT_ENV,
            secret=secret.encode() if secret else None,
            timeout=_env_float("CHUTE_TIMEOUT", DEFAULT_TIMEOUT),
            ephemeral_ttl=_env_float("CHUTE_EPHEMERAL_TTL", DEFAULT_EPHEMERAL_TTL),
            limits=limits,
        )
        return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


def default_url() -> str:
    """``sqlite:///`` + ``chute.db`` in the per-user data directory (created on demand)."""
    path = Path(platformdirs.user_data_dir("chute", appauthor=False)) / "chute.db"
    return f"sqlite://{path}"


def parse_url(url: str) -> BackendURL:
    """Validate a backend URL.

    Raises:
        InvalidError: unknown scheme, relative SQLite path, or a malformed URL.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidError(
            f"Invalid backend URL {redact_url(str(url))!r}: expected e.g. 'sqlite:///abs/path.db' "
            "or 'redis://host:6379/0'."
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme in SQLITE_SCHEMES:
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/"):
            raise InvalidError(
                f"Invalid SQLite URL {url!r}: the path must be absolute, as in 'sqlite:///abs/path.db' "
                "(three slashes, then the absolute path)."
            )
        return BackendURL(raw=url, kind="sqlite", path=path, options=options)
    if scheme in REDIS_SCHEMES:
        if scheme != "unix" and not parts.hostname:
            raise InvalidError(f"Invalid Redis URL {redact_url(url)!r}: a host is required.")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            raise InvalidError(f"Invalid Redis URL {redact_url(url)!r}: {exc}.") from None
        return BackendURL(raw=url, kind="redis", options=options)
    raise InvalidError(
        f"Unsupported backend URL scheme {scheme!r} in {redact_url(url)!r}. Use one of: "
        "sqlite:///abs/path.db, redis://, rediss:// (TLS), unix:///path.sock, redis+cluster://."
    )


def redact_url(url: str) -> str:
    """Replace the password of a URL (if any) with ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidError(f"{name}={raw!r} is not an integer.") from None
    if value <= 0:
        raise InvalidError(f"{name}={raw!r} must be a positive integer.")
    return value


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidError(f"{name}={raw!r} is not a number of seconds.") from None
    if value <= 0:
        raise InvalidError(f"{name}={raw!r} must be positive.")
    return value
