"""``WebSpec``: what a web decorator declared, stored with the function's spec by ``chute deploy``."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["asgi", "wsgi", "fastapi", "web_server"]
KINDS: tuple[Kind, ...] = ("asgi", "wsgi", "fastapi", "web_server")

# Attribute the web decorators set on the raw function; ``@app.function()`` reads it.
WEB_ATTR = "__chute_web__"

_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class WebSpec:
    """A web endpoint's declaration.

    Attributes:
        kind: ``asgi``, ``wsgi``, ``fastapi`` (``fastapi_endpoint``) or ``web_server``.
        file: absolute path of the source file, which the endpoint's executor imports.
        method: HTTP method of a ``fastapi_endpoint``'s single route.
        docs: a ``fastapi_endpoint`` serves ``/docs`` and ``/openapi.json``.
        label: the endpoint's name (default ``<app>-<function>``, as Modal's URLs); it keys
            the endpoint's port, so it must be unique in its environment.
        custom_domains: extra ``Host`` names a token-less server answers for this endpoint.
        requires_proxy_auth: apply ``chute serve``'s token rules (default: public, as in Modal).
        port: ``web_server``: the port the function's own server listens on.
        startup_timeout: ``web_server``: seconds to wait for that port to accept.
    """

    kind: Kind
    file: str | None = None
    method: str = "GET"
    docs: bool = False
    label: str | None = None
    custom_domains: tuple[str, ...] = ()
    requires_proxy_auth: bool = False
    port: int | None = None
    startup_timeout: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["custom_domains"] = list(self.custom_domains)
        return data

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WebSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in raw.items() if k in known}
        data["custom_domains"] = tuple(data.get("custom_domains") or ())
        return cls(**data)


def slug(app_name: str, function_name: str) -> str:
    """Modal's default label: ``<app>-<function>``, lowercased, ``_`` and ``.`` → ``-``."""
    text = f"{app_name}-{function_name}".lower().replace("_", "-").replace(".", "-")
    return re.sub(r"-{2,}", "-", text).strip("-")[:63] or "endpoint"


def label_of(app_name: str, function_name: str, web: WebSpec) -> str:
    """The endpoint's label: the declared one, else Modal's ``<app>-<function>``."""
    return web.label or slug(app_name, function_name)


def check_label(label: str | None) -> str | None:
    """Labels follow DNS label rules (as Modal's, which become host names).

    Raises:
        InvalidError: not 1-63 lowercase letters, digits and dashes (no dash at either end).
    """
    from chute.exception import InvalidError

    if label is None:
        return None
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise InvalidError(
            f"Invalid web endpoint label {label!r}: use 1-63 lowercase letters, digits and dashes, "
            "not starting or ending with a dash."
        )
    return label
