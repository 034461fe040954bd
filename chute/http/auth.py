"""Bearer tokens, optionally scoped to environments.

A token *spec* is ``TOKEN`` (every environment) or ``TOKEN:ENV[,ENV...]`` (only those).
Specs come from ``--token`` (repeatable), ``$CHUTE_TOKEN`` (one or more specs separated by
whitespace) and ``--tokens-file`` (one spec per line, ``#`` starts a comment). With no token
configured the server is open, which ``chute serve`` only allows on a loopback address.

Requests authenticate with ``Authorization: Bearer TOKEN``. A missing or unknown token gets
401; a known token used on an environment outside its scope gets 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Query, Request

from chute import _validate
from chute.exception import InvalidError

# Query parameter pattern for environment names (the same rule as every chute name).
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


@dataclass(frozen=True)
class Token:
    """One accepted bearer token; ``envs`` is None when it grants every environment."""

    secret: str
    envs: frozenset[str] | None = None

    def allows(self, env: str) -> bool:
        """Whether this token may act on ``env``."""
        return self.envs is None or env in self.envs


@dataclass(frozen=True)
class TokenSet:
    """The tokens a server accepts. Empty means authentication is off."""

    tokens: tuple[Token, ...] = ()

    @property
    def enabled(self) -> bool:
        """True when requests must present a token."""
        return bool(self.tokens)

    def match(self, presented: str) -> Token | None:
        """The token equal to ``presented``, compared in constant time against every token."""
        found = None
        candidate = presented.encode()
        for token in self.tokens:
            # No early exit: the time taken must not reveal which token (if any) matched.
            if hmac.compare_digest(token.secret.encode(), candidate):
                found = token
        return found


def parse_token_spec(spec: str) -> Token:
    """``TOKEN`` or ``TOKEN:ENV[,ENV...]`` → Token.

    Raises:
        InvalidError: empty token, whitespace in it, or an invalid environment name.
    """
    secret, sep, scope = spec.strip().partition(":")
    if not secret or any(c.isspace() for c in secret):
        raise InvalidError(
            "Invalid token spec: expected TOKEN or TOKEN:ENV[,ENV...], with no whitespace in TOKEN."
        )
    if not sep:
        return Token(secret)
    envs = [e.strip() for e in scope.split(",") if e.strip()]
    if not envs:
        raise InvalidError(f"Invalid token spec {secret[:2]}…:{scope!r}: list at least one environment.")
    return Token(secret, frozenset(_validate.check_env(e) for e in envs))


def load_tokens(
    specs: Iterable[str] = (), env_value: str | None = None, file: Path | None = None
) -> TokenSet:
    """Collect tokens from CLI specs, the ``$CHUTE_TOKEN`` value and a tokens file.

    Raises:
        InvalidError: a spec is malformed or the file cannot be read.
    """
    all_specs = list(specs)
    if env_value:
        all_specs += env_value.split()
    if file is not None:
        try:
            lines = file.read_text().splitlines()
        except OSError as exc:
            raise InvalidError(f"Cannot read tokens file {str(file)!r}: {exc.strerror}.") from None
        all_specs += [ln.split("#", 1)[0].strip() for ln in lines]
    return TokenSet(tuple(parse_token_spec(s) for s in all_specs if s.strip()))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="chute"'})


def authenticate(request: Request) -> Token | None:
    """FastAPI dependency: the caller's token (None when authentication is off).

    Raises:
        HTTPException: 401 when a token is required and missing or unknown.
    """
    tokens: TokenSet = request.app.state.config.tokens
    if not tokens.enabled:
        return None
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.")
    token = tokens.match(presented.strip())
    if token is None:
        raise _unauthorized("Invalid bearer token.")
    request.state.token = token
    return token


def authorize(token: Token | None, env: str) -> None:
    """Raise 403 unless ``token`` (None = auth off) may act on ``env``."""
    if token is not None and not token.allows(env):
        raise HTTPException(403, f"This token is not allowed to access environment {env!r}.")


EnvQuery = Annotated[
    str | None,
    Query(
        pattern=NAME_PATTERN,
        description="Environment (namespace). Default: the server's environment, or the only "
        "environment of a token scoped to exactly one.",
    ),
]


def request_env(request: Request, env: EnvQuery = None) -> str:
    """FastAPI dependency: authenticate, pick the environment, and check the token's scope.

    Raises:
        HTTPException: 401 (no/bad token) or 403 (environment outside the token's scope).
    """
    token = authenticate(request)
    if env is None:
        if token is not None and token.envs is not None and len(token.envs) == 1:
            (env,) = token.envs
        else:
            env = str(request.app.state.config.default_env)
    authorize(token, env)
    return env
