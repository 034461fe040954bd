"""Backend URLs: parsed and validated once, when Settings are built (pure: no I/O).

Each backend's rules live here, next to each other: the SQLite URL names an absolute file
and takes ``?synchronous=``; a Redis URL names a host (or socket) and a database number and
takes the options in ``REDIS_OPTIONS``. Anything else (a misspelt option, a trailing space, a
database that is not a number) is refused with InvalidError saying what to write instead, so
a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from chute.exception import InvalidError

SQLITE_SCHEMES = frozenset({"sqlite"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "valkey", "valkeys", "redis+cluster", "rediss+cluster"})
TLS_SCHEMES = frozenset({"rediss", "valkeys", "rediss+cluster"})
DEFAULT_PREFIX = "chute:"
# Query options that configure chute, not redis-py: stripped from the URL given to redis-py
# (chute sizes redis-py's pools from max_connections itself: chute/backends/_redis_conn.py).
CHUTE_OPTIONS = frozenset({"prefix", "max_connections", "wait_replicas"})
SYNCHRONOUS = {"off": "OFF", "normal": "NORMAL", "full": "FULL", "extra": "EXTRA"}
_BOOLS = frozenset({"true", "false", "yes", "no", "1", "0"})
_CERT_REQS = frozenset({"none", "optional", "required"})
# Options chute sets itself (from CHUTE_TIMEOUT): a URL value would break its timeout promise.
_OWN_OPTIONS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "timeout", "retry_on_timeout", "retry_on_error"}
)


@dataclass(frozen=True)
class BackendURL:
    """A parsed and validated backend URL."""

    raw: str
    kind: str  # "sqlite" | "redis"
    path: str = ""  # sqlite file
    options: dict[str, str] = field(default_factory=dict)  # validated query options, as written
    client_url: str = ""  # redis: the URL for redis-py (chute's options removed, valkey → redis)
    cluster: bool = False  # redis: redis+cluster:// or rediss+cluster://
    prefix: str = DEFAULT_PREFIX  # redis: namespace of every key
    synchronous: str = "NORMAL"  # sqlite: PRAGMA synchronous

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``, safe for logs and error messages."""
        return redact_url(self.raw)


def parse_url(url: object) -> BackendURL:
    """Parse and validate a backend URL.

    Raises:
        InvalidError: unknown scheme, relative SQLite path, surrounding whitespace, an unknown
            or malformed option, a Redis database that is not a number… (the message says
            what to write instead).
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidError(
            f"Invalid backend URL {redact_url(str(url))!r}: expected e.g. 'sqlite:///abs/path.db' "
            "or 'redis://host:6379/0'."
        )
    if url != url.strip():
        raise InvalidError(
            f"Invalid backend URL {redact_url(url)!r}: it starts or ends with whitespace. Remove it "
            "(check how CHUTE_URL is set: a trailing space or newline is easy to miss)."
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise InvalidError(f"Invalid backend URL {redact_url(url)!r}: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme in SQLITE_SCHEMES:
        return _sqlite(url, parts.netloc, parts.path, parts.query)
    if scheme in REDIS_SCHEMES:
        return _redis(url, scheme, parts.hostname, parts.path, parts.query)
    raise InvalidError(
        f"Unsupported backend URL scheme {scheme!r} in {redact_url(url)!r}. Use one of: "
        "sqlite:///abs/path.db, redis://, rediss:// (TLS), unix:///path.sock, redis+cluster://."
    )


def _options(url: str, query: str, allowed: dict[str, str], hint: str) -> dict[str, str]:
    """The query as a dict, refusing unknown names (with a suggestion) and repeated ones."""
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _OWN_OPTIONS and name not in allowed:
            raise InvalidError(
                f"Option {name!r} in {redact_url(url)!r} is set by chute itself: remove it from the URL "
                "and set CHUTE_TIMEOUT (seconds before a backend operation fails) instead."
            )
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            known = ", ".join(f"{k} ({v})" for k, v in sorted(allowed.items())) or "none"
            raise InvalidError(
                f"Unknown option {name!r} in {redact_url(url)!r}.{guess} {hint} accept: {known}."
            )
        if name in options:
            raise InvalidError(f"Option {name!r} appears twice in {redact_url(url)!r}: keep one.")
        options[name] = value
    return options


def _sqlite(url: str, netloc: str, raw_path: str, query: str) -> BackendURL:
    path = unquote(raw_path)
    if netloc or not path.startswith("/"):
        raise InvalidError(
            f"Invalid SQLite URL {url!r}: the path must be absolute, as in 'sqlite:///abs/path.db' "
            "(three slashes, then the absolute path)."
        )
    if path.endswith("/"):
        raise InvalidError(
            f"Invalid SQLite URL {url!r}: it names a folder; add a file name such as chute.db."
        )
    options = _options(url, query, {"synchronous": "|".join(SYNCHRONOUS)}, "SQLite URLs")
    sync = options.get("synchronous", "normal")
    if sync.lower() not in SYNCHRONOUS:
        raise InvalidError(
            f"Invalid synchronous={sync!r} in {url!r}: use one of {', '.join(SYNCHRONOUS)} "
            "(full fsyncs every commit)."
        )
    return BackendURL(
        raw=url, kind="sqlite", path=path, options=options, synchronous=SYNCHRONOUS[sync.lower()]
    )


def _bool(value: str) -> bool:
    return value.lower() in _BOOLS


def _int_at_least(low: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return value.isascii() and value.isdigit() and low <= int(value) < 2**31

    return check


def _text(value: str) -> bool:
    return bool(value)


# Redis URL options: name -> (what the value must be, check, TLS only).
REDIS_OPTIONS: dict[str, tuple[str, Callable[[str], bool], bool]] = {
    "prefix": ("key prefix, no '{' or '}'", lambda v: "{" not in v and "}" not in v, False),
    "db": ("database number >= 0", _int_at_least(0), False),
    "username": ("ACL user", _text, False),
    "password": ("password", _text, False),
    "client_name": ("CLIENT SETNAME", _text, False),
    "max_connections": ("int >= 1, commands in flight per client (default 100)", _int_at_least(1), False),
    "wait_replicas": ("int >= 0, replicas a write waits for (Redis WAIT)", _int_at_least(0), False),
    "socket_keepalive": ("true|false", _bool, False),
    "ssl_cert_reqs": ("none|optional|required", lambda v: v.lower() in _CERT_REQS, True),
    "ssl_ca_certs": ("CA bundle file", _text, True),
    "ssl_ca_path": ("CA folder", _text, True),
    "ssl_certfile": ("client certificate file", _text, True),
    "ssl_keyfile": ("client key file", _text, True),
    "ssl_password": ("client key password", _text, True),
    "ssl_check_hostname": ("true|false", _bool, True),
}


def _redis(url: str, scheme: str, hostname: str | None, raw_path: str, query: str) -> BackendURL:
    shown = redact_url(url)
    tls = scheme in TLS_SCHEMES
    cluster = scheme.endswith("+cluster")
    if scheme != "unix" and not hostname:
        raise InvalidError(f"Invalid Redis URL {shown!r}: a host is required, as in redis://host:6379/0.")
    options = _options(url, query, {k: v[0] for k, v in REDIS_OPTIONS.items()}, "Redis URLs")
    for name, value in options.items():
        what, check, tls_only = REDIS_OPTIONS[name]
        if tls_only and not tls:
            raise InvalidError(
                f"Option {name!r} in {shown!r} configures TLS, which {scheme}:// does not use: "
                "use rediss:// (Redis over TLS), or remove the option."
            )
        if not check(value):
            raise InvalidError(f"Invalid {name}={value!r} in {shown!r}: expected {what}.")
    db_path = unquote(raw_path).strip("/") if scheme != "unix" else ""
    if db_path and not _int_at_least(0)(db_path):
        raise InvalidError(
            f"Invalid Redis URL {shown!r}: the path must be a database number, as in "
            f"redis://host:6379/0; got {db_path!r}. (Use ?prefix=name: to keep apps apart in one database.)"
        )
    if db_path and "db" in options and int(db_path) != int(options["db"]):
        raise InvalidError(
            f"Invalid Redis URL {shown!r}: the database is given twice (path and ?db=); keep one."
        )
    db = int(options.get("db", db_path or 0))
    if cluster and db != 0:
        raise InvalidError(f"Invalid Redis URL {shown!r}: Redis Cluster has database 0 only; use /0.")
    client_url, _, ours = redis_py_url(url)
    return BackendURL(
        raw=url,
        kind="redis",
        options=options,
        client_url=client_url,
        cluster=cluster,
        prefix=ours.get("prefix", DEFAULT_PREFIX),
    )


def redis_py_url(raw: str) -> tuple[str, bool, dict[str, str]]:
    """``(url for redis-py, is_cluster, chute options)`` from a chute Redis URL."""
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    scheme = scheme.removesuffix("+cluster")
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in CHUTE_OPTIONS}
    rest = urlencode([(k, v) for k, v in query if k not in CHUTE_OPTIONS])
    # Not urlunsplit: it turns "unix:///path" into "unix:/path".
    return f"{scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else ""), cluster, ours


_QUERY_SECRET = re.compile(r"((?:^|[?&])(?:ssl_)?password=)[^&#]*")


def redact_url(url: str) -> str:
    """Replace the passwords of a URL (``user:password@``, ``?password=``) with ``***``."""
    url = _QUERY_SECRET.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<unparseable url>"
    return urlunsplit(parts._replace(netloc=netloc))
