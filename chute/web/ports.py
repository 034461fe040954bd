"""Each web endpoint's port, allocated once and kept in the backend, and its URL.

An endpoint is keyed by ``<env>/<label>``. The first process that needs its port (``chute
deploy``, ``chute serve``, ``Function.get_web_url()``) takes the lowest free port from
``CHUTE_WEB_PORT`` (default 8001) up, with an atomic put-if-absent in the dict
``web-ports`` of the environment ``chute-system``, which also records the port's owner. So a
URL never changes once given out: not across restarts, redeploys, or machines sharing a
Redis backend. The URL's host is ``CHUTE_WEB_HOST`` if set, else the address the last
``chute serve`` advertised, else ``127.0.0.1``.
"""

from __future__ import annotations

from chute._ref import ObjectRef
from chute._sync import dict_ops
from chute.backends.types import Kind
from chute.config import env_value
from chute.exception import InvalidError
from chute.web.spec import WebSpec, label_of

DEFAULT_BASE_PORT = 8001
SYSTEM_ENV = "chute-system"
PORTS_DICT = "web-ports"
_HOST_KEY = "host"


def base_port() -> int:
    """``CHUTE_WEB_PORT``: the first port given to endpoints (default 8001).

    Raises:
        InvalidError: not a port number.
    """
    port: int | None = env_value("CHUTE_WEB_PORT")
    return DEFAULT_BASE_PORT if port is None else port


def _registry() -> ObjectRef:
    # The ops seam, not chute.Dict: chute.app (get_web_url) may not import its sibling chute.dict.
    return ObjectRef.of(Kind.DICT, name=PORTS_DICT, env=SYSTEM_ENV, create_if_missing=True)


def endpoint_key(env: str, app_name: str, function_name: str, web: WebSpec) -> str:
    return f"{env}/{label_of(app_name, function_name, web)}"


def assigned_port(key: str) -> int | None:
    """The port already given to endpoint ``key``, if any (one backend read)."""
    registry = _registry()
    port = dict_ops.dict_get(registry, f"ep:{key}")
    return int(port) if port is not None else None


def port_for(key: str) -> int:
    """The endpoint's port, allocating the lowest free one from ``CHUTE_WEB_PORT`` on first use.

    Safe against racing allocators: a port is claimed with put-if-absent before it is
    recorded as the endpoint's, and an endpoint recorded by someone else meanwhile wins.

    Raises:
        InvalidError: no port left below 65536.
    """
    registry = _registry()
    existing = dict_ops.dict_get(registry, f"ep:{key}")
    if existing is not None:
        return int(existing)
    port = base_port()
    while True:
        if port > 65535:
            raise InvalidError(f"No port left for web endpoint {key}: lower CHUTE_WEB_PORT.")
        owner = dict_ops.dict_get(registry, f"port:{port}")
        if owner == key or (
            owner is None and dict_ops.dict_put(registry, f"port:{port}", key, skip_if_exists=True)
        ):
            break
        if owner is None:
            continue  # lost a race for this port: look at it again
        port += 1
    if dict_ops.dict_put(registry, f"ep:{key}", port, skip_if_exists=True):
        return port
    dict_ops.dict_pop(registry, f"port:{port}")  # another process recorded this endpoint first
    return int(dict_ops.dict_getitem(registry, f"ep:{key}"))


def advertise_host(host: str) -> None:
    """Record the address ``chute serve`` binds, for the URLs that other processes build."""
    registry = _registry()
    dict_ops.dict_setitem(registry, _HOST_KEY, host)


def url_host() -> str:
    """``CHUTE_WEB_HOST``, else the address the last ``chute serve`` advertised, else 127.0.0.1."""
    explicit: str | None = env_value("CHUTE_WEB_HOST")
    if explicit:
        return explicit
    registry = _registry()
    host = dict_ops.dict_get(registry, _HOST_KEY)
    return str(host) if host else "127.0.0.1"


def format_url(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def web_url(env: str, app_name: str, function_name: str, web: WebSpec) -> str:
    """The endpoint's stable URL (allocates its port on first use)."""
    return format_url(url_host(), port_for(endpoint_key(env, app_name, function_name, web)))


def advertised(bind_host: str) -> str:
    """The host to put in URLs for a server bound to ``bind_host`` (a wildcard → 127.0.0.1)."""
    explicit: str | None = env_value("CHUTE_WEB_HOST")
    if explicit:
        return explicit
    if bind_host.strip("[]") in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return bind_host.strip("[]")
