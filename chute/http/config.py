"""``ServerConfig``: everything ``create_app`` needs, with the defaults ``chute serve`` uses."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from chute.config import Settings
from chute.http.auth import TokenSet

# Slack on top of the item limit for JSON framing and escaping (a JSON-encoded string can be
# several times longer than its pickle), and for put_many batches.
BODY_SLACK_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_WAIT = 60.0
DEFAULT_SAMPLE_INTERVAL = 5.0
HISTORY_SECONDS = 3600.0


@dataclass(frozen=True)
class ServerConfig:
    """Settings of the HTTP server.

    Attributes:
        tokens: accepted bearer tokens; empty = no authentication (loopback only).
        allow_pickle: accept and send ``application/x-python-pickle`` bodies (token required).
        max_body_bytes: request body limit; None = 2 MiB + ``CHUTE_MAX_ITEM_BYTES``.
        max_wait: longest a request may block (queue get/put, call result), in seconds.
        default_env: environment of requests that name none; None = ``$CHUTE_ENV`` or ``main``.
        envs: environments sampled for the dashboard charts and ``/metrics``; () = default_env.
        sample_interval: seconds between samples of queue depth and throughput.
        history_seconds: how far back the charts go.
        allowed_hosts: ``Host`` names an open (token-less) server answers besides loopback
            names and addresses, which it always answers (this stops DNS rebinding).
    """

    tokens: TokenSet = field(default_factory=TokenSet)
    allow_pickle: bool = False
    max_body_bytes: int | None = None
    max_wait: float = DEFAULT_MAX_WAIT
    default_env: str | None = None
    envs: tuple[str, ...] = ()
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL
    history_seconds: float = HISTORY_SECONDS
    allowed_hosts: tuple[str, ...] = ()

    def resolved(self) -> ServerConfig:
        """Fill in the defaults that come from the ``CHUTE_*`` environment."""
        settings = Settings.from_env()
        default_env = self.default_env or settings.env
        return dataclasses.replace(
            self,
            default_env=default_env,
            envs=self.envs or (default_env,),
            max_body_bytes=self.max_body_bytes or BODY_SLACK_BYTES + settings.limits.max_item_bytes,
        )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere
