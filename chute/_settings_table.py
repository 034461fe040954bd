"""Every ``CHUTE_*`` environment variable, in one table: name, parser, default, documentation.

This table is the only place chute reads its environment (``read``). It builds
``Settings`` (``config.Settings.from_env``), keys the process-wide client cache
(``settings_key``), and generates the README's configuration table (``markdown``;
``python -m chute._settings_table`` prints it, and a test checks the README matches).
To add a variable: add a row here, then paste the printed table into the README.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from chute import _validate
from chute._url import parse_url
from chute.exception import InvalidError

DEFAULT_ENV = "main"
DEFAULT_TIMEOUT = 5.0
DEFAULT_LEASE = 10.0
DEFAULT_EPHEMERAL_TTL = 60.0
DEFAULT_CALL_LOG_BYTES = 64 * 1024
# Backend timeouts and leases: at most a day (a lease is renewed every quarter of it).
MAX_TIMEOUT = 24 * 3600.0


@dataclass(frozen=True)
class Var:
    """One environment variable. ``parse(name, raw)`` validates a set, non-empty value;
    ``settings`` is True for the variables ``Settings`` is built from (the client cache key)."""

    name: str
    parse: Callable[[str, str], object]
    default: str  # as shown in the README
    doc: str
    settings: bool = True


def _url(name: str, raw: str) -> object:
    return parse_url(raw)


def _env(name: str, raw: str) -> object:
    try:
        return _validate.check_env(raw)
    except InvalidError as exc:
        raise InvalidError(f"{name}={raw!r}: {exc}") from None


def _secret(name: str, raw: str) -> object:
    return raw.encode()


def _text(name: str, raw: str) -> object:
    return raw


def _seconds(name: str, raw: str) -> object:
    return _validate.env_seconds(name, raw, MAX_TIMEOUT)


def _ttl(name: str, raw: str) -> object:
    return _validate.env_seconds(name, raw)


def _count(name: str, raw: str) -> object:
    return _validate.env_count(name, raw)


def _count_or_zero(name: str, raw: str) -> object:
    return 0 if raw.strip() == "0" else _validate.env_count(name, raw)


def _flag(name: str, raw: str) -> object:
    value = raw.strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise InvalidError(f"{name}={raw!r} must be 0 or 1.")
    return value in ("1", "true", "yes")


def _port(name: str, raw: str) -> object:
    try:
        port = int(raw.strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise InvalidError(f"{name}={raw!r} must be a port number (1-65535).")
    return port


VARS: tuple[Var, ...] = (
    Var("CHUTE_URL", _url, "embedded SQLite", "backend URL (see Backends)"),
    Var("CHUTE_ENV", _env, f"`{DEFAULT_ENV}`", "environment (namespace) for names"),
    Var(
        "CHUTE_SECRET",
        _secret,
        "unset",
        "HMAC key: sign every payload, refuse unsigned or tampered ones before unpickling (not empty)",
    ),
    Var(
        "CHUTE_TIMEOUT",
        _seconds,
        f"{DEFAULT_TIMEOUT:g}",
        "seconds before a backend operation fails with `BackendUnavailableError`",
    ),
    Var(
        "CHUTE_LEASE",
        _seconds,
        f"{DEFAULT_LEASE:g}",
        "seconds a worker's claim on a call lasts without renewal",
    ),
    Var(
        "CHUTE_EPHEMERAL_TTL",
        _ttl,
        f"{DEFAULT_EPHEMERAL_TTL:g}",
        "seconds an ephemeral object survives its owner's last heartbeat",
    ),
    Var("CHUTE_MAX_PARTITION_ITEMS", _count, "5,000", "items per queue partition"),
    Var("CHUTE_MAX_ITEM_BYTES", _count, "1 MiB", "bytes per serialized queue item"),
    Var("CHUTE_MAX_PARTITIONS", _count, "100,000", "partitions per queue"),
    Var(
        "CHUTE_MAX_VALUE_BYTES",
        _count,
        "100 MiB",
        "bytes per serialized dict value, call argument, result or error (tracebacks are truncated)",
    ),
    Var(
        "CHUTE_IMAGE_ID",
        _text,
        "set by chute",
        "in an executor: the id of the `chute.Image` it runs (`Image.imports()` re-raises there)",
        settings=False,
    ),
    Var(
        "CHUTE_QUIET_IGNORED_OPTIONS",
        _text,
        "unset",
        "set (by `app.run()` for its worker): do not warn again about options ignored outside Modal",
        settings=False,
    ),
    Var(
        "CHUTE_VOLUMES_DIR",
        _text,
        "beside the SQLite file (else the user data dir)",
        "where `chute.Volume`s live; a shared path shares them between machines",
        settings=False,
    ),
    Var(
        "CHUTE_MOUNT_NAMESPACES",
        _flag,
        "`1`",
        "`0`: never mount volumes in a private mount namespace (a function with `volumes=` then fails)",
        settings=False,
    ),
    Var(
        "CHUTE_FORK_EXECUTORS",
        _flag,
        "`1`",
        "`0`: start each executor as a new interpreter instead of forking it from the worker's "
        "warm zygote (Linux; ~0.7 s more per executor start)",
        settings=False,
    ),
    Var(
        "CHUTE_CALL_LOG_BYTES",
        _count_or_zero,
        "64 KiB",
        "bytes of a call's stdout/stderr kept per attempt (the last ones; `chute call logs`); 0: keep none",
        settings=False,
    ),
    Var(
        "CHUTE_PORTABLE",
        _flag,
        "`0`",
        "1: use the portable fallbacks (no `prctl`, pidfds, abstract sockets) on Linux too, as on macOS",
        settings=False,
    ),
    Var(
        "CHUTE_WEB_PORT",
        _port,
        "8001",
        "first port given to web endpoints (each gets its own, kept in the backend)",
        settings=False,
    ),
    Var(
        "CHUTE_WEB_HOST",
        _text,
        "the `--host` of the last `chute serve`, else `127.0.0.1`",
        "host name in web endpoint URLs",
        settings=False,
    ),
    Var(
        "CHUTE_TOKEN",
        _text,
        "unset",
        "`chute serve`: accepted bearer token specs, whitespace-separated",
        settings=False,
    ),
    Var(
        "CHUTE_MODAL_TOKEN_ID",
        _text,
        "unset",
        "`chute modal-server`: token id modal clients present",
        settings=False,
    ),
    Var(
        "CHUTE_MODAL_TOKEN_SECRET",
        _text,
        "unset",
        "`chute modal-server`: token secret modal clients present",
        settings=False,
    ),
)
BY_NAME = {v.name: v for v in VARS}


def read(name: str) -> object | None:
    """The parsed value of ``name`` from the environment, or None when unset or empty.

    An empty value counts as unset, except for ``CHUTE_SECRET``: an empty secret would
    silently turn signing off, so it is refused.

    Raises:
        InvalidError: the value does not parse (the message names the variable and the fix).
    """
    var = BY_NAME[name]
    raw = os.environ.get(name)
    if raw is None:
        return None
    if raw == "":
        if name == "CHUTE_SECRET":
            raise InvalidError(
                "CHUTE_SECRET is set but empty, which would turn payload signing off: set it to a "
                "long random string (e.g. `openssl rand -hex 32`), or unset it to run without signing."
            )
        return None
    return var.parse(name, raw)


def raw(name: str) -> str | None:
    """A variable that is not chute's, as it is (``PYTHONPATH``; the keys ``Secret.from_local_environ``
    copies): this module stays the one place that reads the environment."""
    return os.environ.get(name)


_KEY_NAMES = tuple(v.name for v in VARS if v.settings)
_KEY_NAMES_FS = tuple(os.fsencode(name) for name in _KEY_NAMES)


def settings_key() -> tuple[str | bytes | None, ...]:
    """The raw values ``Settings.from_env`` depends on (the process-wide client cache key).

    Read on every ``Client.from_env()``, i.e. per spawn and per handle use: ``os.environ.get``
    encodes each name and decodes each value (~55 µs for the ~30 names), so this reads the
    encoded mapping behind ``os.environ`` when it has one (CPython on POSIX: ~2 µs)."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and os.name == "posix":
        return tuple(data.get(name) for name in _KEY_NAMES_FS)
    return tuple(os.environ.get(name) for name in _KEY_NAMES)


def markdown() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.doc} |" for v in VARS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
