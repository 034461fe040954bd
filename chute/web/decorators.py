"""Modal's web decorators: ``asgi_app``, ``wsgi_app``, ``fastapi_endpoint``, ``web_server``.

Each goes *under* ``@app.function()``, or on a method of an ``@app.cls`` class, as in Modal::

    @app.function()
    @chute.asgi_app()
    def fastapi_app():
        return web_app

    @app.cls()
    class Model:
        @chute.enter()
        def load(self): ...

        @chute.fastapi_endpoint()
        def predict(self, x: int): ...

The decorator checks its arguments, records a ``WebSpec`` on the function and returns it
unchanged; ``@app.function()`` (or ``@app.cls()``, for each such method: a function named
``<Class>.<method>``) stores the spec with the function, and ``chute serve`` serves the
endpoint (see ``chute.web``).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from chute.exception import InvalidError
from chute.web.spec import WEB_ATTR, Kind, WebSpec, check_label

F = TypeVar("F", bound=Callable[..., Any])

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _source_file(raw: Callable[..., Any]) -> str | None:
    try:
        path = inspect.getsourcefile(raw)
    except TypeError:
        return None
    return str(path) if path else None


def _domains(custom_domains: Iterable[str] | None) -> tuple[str, ...]:
    if custom_domains is None:
        return ()
    if isinstance(custom_domains, str):
        raise InvalidError("custom_domains must be an iterable of domain names, not a str: use [domain].")
    return tuple(str(d).lower() for d in custom_domains)


def _non_self_params(raw: Callable[..., Any]) -> bool:
    """Parameters besides ``self`` (a method of an ``@app.cls`` class may be an endpoint)."""
    params = list(inspect.signature(raw).parameters)
    return bool(params[1:] if params[:1] == ["self"] else params)


def _attach(kind: Kind, name: str, factory: bool, **fields: Any) -> Callable[[F], F]:
    def decorate(raw: F) -> F:
        from chute.app import Function

        if isinstance(raw, Function):
            raise InvalidError(
                f"@chute.{name}() must be applied below @app.function(), not above it: swap the order."
            )
        if not callable(raw):
            raise InvalidError(f"@chute.{name}() decorates a function, got {type(raw).__name__}.")
        if inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw):
            raise InvalidError(f"Web endpoint {raw.__name__} cannot be a generator function.")
        if factory:
            if inspect.iscoroutinefunction(raw):
                raise InvalidError(
                    f"@chute.{name}() factory {raw.__name__} must be a plain (sync) function: "
                    "define the app at module level or return it from a def."
                )
            if _non_self_params(raw):
                raise InvalidError(f"@chute.{name}() factory {raw.__name__} must take no parameters.")
        setattr(raw, WEB_ATTR, WebSpec(kind=kind, file=_source_file(raw), **fields))
        return raw

    return decorate


def asgi_app(
    *,
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Serve the ASGI app (FastAPI, Starlette, …) that the decorated function returns.

    The factory runs once per executor process; the app's lifespan runs too. Requests reach
    the app at ``/`` of the endpoint's own port (``Function.get_web_url()``).

    Args:
        label: the endpoint's name (default ``<app>-<function>``).
        custom_domains: extra ``Host`` names a token-less ``chute serve`` answers for it.
        requires_proxy_auth: require ``chute serve``'s token (``Authorization: Bearer`` or
            Modal's ``Modal-Secret`` header); by default the endpoint is public, as in Modal.

    Raises:
        InvalidError: the factory is async, takes parameters or is a generator; the
            decorator is above ``@app.function()``; an invalid label.

    Example:
        ```python
        web_app = fastapi.FastAPI()

        @app.function()
        @chute.asgi_app()
        def fastapi_app():
            return web_app
        ```
    """
    return _attach(
        "asgi",
        "asgi_app",
        True,
        label=check_label(label),
        custom_domains=_domains(custom_domains),
        requires_proxy_auth=bool(requires_proxy_auth),
    )


def wsgi_app(
    *,
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Serve the WSGI app (Flask, Django, a plain callable) that the decorated function returns.

    Requests run on a thread pool through uvicorn's WSGI adapter. Arguments as ``asgi_app``.

    Raises:
        InvalidError: as ``asgi_app``.

    Example:
        ```python
        @app.function()
        @chute.wsgi_app()
        def flask_app():
            return flask.Flask(__name__)
        ```
    """
    return _attach(
        "wsgi",
        "wsgi_app",
        True,
        label=check_label(label),
        custom_domains=_domains(custom_domains),
        requires_proxy_auth=bool(requires_proxy_auth),
    )


def fastapi_endpoint(
    *,
    method: str = "GET",
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Serve the decorated function as one FastAPI route at ``/`` (CORS open to all origins).

    Parameters follow FastAPI: simple types come from the query string, a pydantic model or
    ``dict`` from the JSON body. The function may be ``async``.

    Args:
        method: the route's HTTP method.
        docs: also serve ``/docs`` and ``/openapi.json``.
        label: as ``asgi_app``.
        custom_domains: as ``asgi_app``.
        requires_proxy_auth: as ``asgi_app``.

    Raises:
        InvalidError: an unknown method, a generator, or as ``asgi_app``.

    Example:
        ```python
        @app.function()
        @chute.fastapi_endpoint(method="POST", docs=True)
        def square(x: int):
            return {"square": x * x}
        ```
    """
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidError(f"fastapi_endpoint method must be one of {sorted(_METHODS)}, got {method!r}.")
    return _attach(
        "fastapi",
        "fastapi_endpoint",
        False,
        method=method.upper(),
        docs=bool(docs),
        label=check_label(label),
        custom_domains=_domains(custom_domains),
        requires_proxy_auth=bool(requires_proxy_auth),
    )


def web_endpoint(
    *,
    method: str = "GET",
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Modal's older name of ``fastapi_endpoint`` (same arguments); warns ``DeprecationWarning``.

    Raises:
        InvalidError: as ``fastapi_endpoint``.
    """
    warnings.warn(
        "chute.web_endpoint is the old name of chute.fastapi_endpoint (as in Modal): use fastapi_endpoint.",
        DeprecationWarning,
        stacklevel=2,
    )
    return fastapi_endpoint(
        method=method,
        label=label,
        custom_domains=custom_domains,
        docs=docs,
        requires_proxy_auth=requires_proxy_auth,
    )


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Proxy the endpoint to a server that the decorated function starts on ``port``.

    The function must start the server (e.g. ``subprocess.Popen``) and return. chute waits
    until ``127.0.0.1:port`` accepts (a server bound to ``0.0.0.0`` or ``127.0.0.1`` both
    work), then forwards HTTP from the endpoint's URL to it. The port is a real port of this
    machine (no container isolates it): one executor per endpoint, and the server is also
    reachable at that port directly, without the endpoint's token check.

    Args:
        port: the server's port (1-65535).
        startup_timeout: seconds to wait for the port; then the builtin ``TimeoutError``
            fails the executor's start (retried with backoff).
        label: as ``asgi_app``.
        custom_domains: as ``asgi_app``.
        requires_proxy_auth: as ``asgi_app``.

    Raises:
        InvalidError: ``port`` outside 1-65535, ``startup_timeout <= 0``, or as ``asgi_app``.

    Example:
        ```python
        @app.function()
        @chute.web_server(8000)
        def server():
            subprocess.Popen("python -m http.server 8000", shell=True)
        ```
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidError(f"web_server port must be an int in 1-65535, got {port!r}.")
    if (
        isinstance(startup_timeout, bool)
        or not isinstance(startup_timeout, int | float)
        or startup_timeout <= 0
    ):
        raise InvalidError(f"web_server startup_timeout must be > 0 seconds, got {startup_timeout!r}.")
    return _attach(
        "web_server",
        "web_server",
        True,
        port=port,
        startup_timeout=float(startup_timeout),
        label=check_label(label),
        custom_domains=_domains(custom_domains),
        requires_proxy_auth=bool(requires_proxy_auth),
    )
