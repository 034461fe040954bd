"""``chute.Secret``: environment variables for functions, named ones stored in the backend.

- ``Secret.from_dict({...})`` and ``Secret.from_local_environ([...])`` carry their values in
  the process that defines them; ``Secret.from_dotenv()`` reads a ``.env`` file when resolved.
- ``Secret.from_name("name")`` refers to a secret stored in the backend (``chute secret create``
  or ``Secret.objects.create``). Stored secrets are encrypted at rest with AES-256-GCM when
  ``CHUTE_SECRET`` is set (a key derived from it with HKDF-SHA256; the environment and name
  are bound to the ciphertext), and then a secret stored without encryption is refused.
  Key *names* are stored in clear so that listings need no key.

Values are never part of a ``repr``, a function spec, a listing or a log line.

Example:
    ```python
    chute.Secret.objects.create("openai", {"OPENAI_API_KEY": "sk-..."})

    @app.function(secrets=[chute.Secret.from_name("openai"), chute.Secret.from_dict({"MODE": "prod"})])
    def ask(question: str) -> str:
        return environ["OPENAI_API_KEY"][:3]  # from os import environ
    ```
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chute import _settings_table, _validate
from chute._client import Client, created_by
from chute._sync import secret_ops
from chute.exception import AlreadyExistsError, IntegrityError, InvalidError, NotFoundError

_FORMAT = b"CS1"  # not a chute payload tag, so generic Dict tools cannot decode (or print) it
_NONCE = 12
_HKDF_INFO = b"chute secrets v1"


@dataclass(frozen=True)
class SecretInfo:
    """A stored secret as listed: its name and key names, never its values."""

    name: str
    environment_name: str
    keys: tuple[str, ...]
    created_at: float
    created_by: str | None
    encrypted: bool


def _check_env_dict(env_dict: object, what: str) -> dict[str, str]:
    if not isinstance(env_dict, dict):
        raise InvalidError(f"{what} expects a dict of str to str, got {type(env_dict).__name__}.")
    out: dict[str, str] = {}
    for key, value in env_dict.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise InvalidError(
                f"{what}: keys and values must be str (or None to drop a key); bad key {key!r}."
            )
        if value is not None:
            out[key] = value
    return out


class Secret:
    """A set of environment variables for a function (``secrets=[...]``).

    Raises:
        InvalidError: non-str keys or values; a missing local variable (``from_local_environ``).
        NotFoundError: (on ``resolve``) a named secret that does not exist.
    """

    def __init__(self) -> None:
        raise RuntimeError("Use chute.Secret.from_dict / from_name / from_dotenv / from_local_environ.")

    _kind: str
    _values: dict[str, str] | None
    _name: str | None
    _env_name: str | None
    _required_keys: tuple[str, ...]
    _dotenv: tuple[str | None, str]

    @classmethod
    def _new(cls, kind: str, values: dict[str, str] | None = None, name: str | None = None) -> Secret:
        s = cls.__new__(cls)
        s._kind, s._values, s._name = kind, values, name
        s._env_name, s._required_keys, s._dotenv = None, (), (None, ".env")
        return s

    # -- constructors ------------------------------------------------------------------------------

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] = {}) -> Secret:  # noqa: B006 - Modal's signature
        """A secret with these values (``None`` values are dropped).

        Raises:
            InvalidError: a key or value is not a str.
        """
        return Secret._new("dict", _check_env_dict(env_dict, "Secret.from_dict"))

    @staticmethod
    def from_local_environ(env_keys: list[str]) -> Secret:
        """The current values of these variables of this process's environment.

        In an executor (``chute.is_local()`` is False) missing variables are skipped instead,
        as Modal's returns an empty secret inside a container.

        Raises:
            InvalidError: a variable is not set (outside executors).
        """
        from chute._context import is_local

        missing = [k for k in env_keys if k not in os.environ]
        if missing and is_local():
            raise InvalidError(
                f"Secret.from_local_environ: {missing} not set in this process's environment. Set them, "
                "or use Secret.from_name() for a secret stored with `chute secret create`."
            )
        values = {k: v for k in env_keys if (v := _settings_table.raw(k)) is not None}
        return Secret._new("local_environ", values)

    @staticmethod
    def from_dotenv(path: str | Path | None = None, *, filename: str = ".env", client: Any = None) -> Secret:
        """The variables of a ``.env`` file, read when the secret is resolved.

        With no ``path``, ``filename`` is looked for in the current directory and its parents;
        with a file or directory ``path``, from there upwards. No file: an empty secret.
        """
        s = Secret._new("dotenv")
        s._dotenv = (os.fspath(path) if path is not None else None, filename)
        return s

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        required_keys: list[str] = [],  # noqa: B006 - Modal's signature
        client: Any = None,
    ) -> Secret:
        """The secret stored under ``name`` (lazy: resolved when a function needs it).

        Raises:
            InvalidError: an invalid name.
        """
        s = Secret._new("name", name=_validate.check_name(name, "Secret"))
        s._env_name = _validate.check_env(environment_name) if environment_name else None
        s._required_keys = tuple(required_keys)
        return s

    # -- use ------------------------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The stored secret's name (``from_name``), else None."""
        return self._name

    def resolve(self) -> dict[str, str]:
        """The variables this secret sets (reads the backend or the ``.env`` file).

        Raises:
            NotFoundError: a named secret does not exist.
            InvalidError: a named secret lacks one of ``required_keys``.
        """
        if self._kind == "name":
            assert self._name is not None
            values = get_stored(self._name, environment_name=self._env_name)
            missing = [k for k in self._required_keys if k not in values]
            if missing:
                raise InvalidError(f"Secret {self._name!r} is missing the required keys {missing}.")
            return values
        if self._kind == "dotenv":
            found = _find_dotenv(*self._dotenv)
            return parse_dotenv(found.read_text()) if found else {}
        return dict(self._values or {})

    def hydrate(self, client: Any = None) -> Secret:
        """Check that a named secret exists (raises ``NotFoundError`` otherwise); returns self."""
        if self._kind == "name":
            self.resolve()
        return self

    def update(self, env_dict: dict[str, str]) -> None:
        """Add or replace keys of a stored secret (or of this in-memory one)."""
        values = _check_env_dict(env_dict, "Secret.update")
        if self._kind == "name":
            assert self._name is not None
            merged = {**get_stored(self._name, environment_name=self._env_name), **values}
            store(self._name, merged, environment_name=self._env_name, overwrite=True)
        else:
            self._values = {**(self._values or {}), **values}

    def _describe(self) -> str:
        """For listings and hashes: the name, or the key names; never values."""
        if self._kind == "name":
            return f"secret:{self._name}"
        if self._kind == "dotenv":
            return f"dotenv:{self._dotenv[0] or '.'}/{self._dotenv[1]}"
        return f"{self._kind}:{','.join(sorted(self._values or {}))}"

    def __repr__(self) -> str:
        return f"Secret({self._describe()})"


class _SecretManager:
    """``chute.Secret.objects``: create, list and delete stored secrets (Modal's ``SecretManager``)."""

    def create(
        self,
        name: str,
        env_dict: dict[str, str],
        *,
        allow_existing: bool = False,
        environment_name: str | None = None,
        client: Any = None,
    ) -> None:
        """Store a secret (``allow_existing=True`` replaces an existing one).

        Raises:
            AlreadyExistsError: it exists and ``allow_existing`` is False.
            InvalidError: an invalid name, or non-str keys or values.
        """
        _validate.check_name(name, "Secret")
        store(name, _check_env_dict(env_dict, "Secret.objects.create"), environment_name, allow_existing)

    def list(
        self,
        *,
        max_objects: int | None = None,
        created_before: Any = None,
        environment_name: str = "",
        client: Any = None,
    ) -> list[Secret]:
        """The stored secrets as ``Secret.from_name`` handles, by name."""
        infos = list_stored(environment_name or None)[:max_objects]
        return [Secret.from_name(i.name, environment_name=environment_name or None) for i in infos]

    def delete(
        self,
        name: str,
        *,
        allow_missing: bool = False,
        environment_name: str | None = None,
        client: Any = None,
    ) -> None:
        """Delete a stored secret.

        Raises:
            NotFoundError: it does not exist and ``allow_missing`` is False.
        """
        if not delete_stored(name, environment_name) and not allow_missing:
            raise NotFoundError(f"Secret {name!r} not found.")


Secret.objects = _SecretManager()  # type: ignore[attr-defined]


# -- storage ------------------------------------------------------------------------------------------


def _where(env: str | None) -> tuple[Client, str]:
    client = Client.from_env()
    return client, _validate.check_env(env or client.settings.env)


def _cipher_key(secret: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


def seal(values: dict[str, str], env: str, name: str, key: bytes | None) -> bytes:
    """The stored form of a secret: key names in clear, values encrypted when ``key`` is set."""
    plain = json.dumps(values, sort_keys=True).encode()
    if key is None:
        enc, data = "none", plain
    else:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = _secrets.token_bytes(_NONCE)
        enc, data = (
            "aes-256-gcm",
            nonce + AESGCM(_cipher_key(key)).encrypt(nonce, plain, f"{env}\0{name}".encode()),
        )
    record = {
        "keys": sorted(values),
        "created_at": time.time(),
        "created_by": created_by(),
        "enc": enc,
        "data": base64.b64encode(data).decode(),
    }
    return _FORMAT + json.dumps(record).encode()


def _record(raw: bytes) -> dict[str, Any]:
    if not raw.startswith(_FORMAT):
        raise IntegrityError("A stored secret is not in chute's secret format.")
    record: dict[str, Any] = json.loads(raw[len(_FORMAT) :])
    return record


def unseal(raw: bytes, env: str, name: str, key: bytes | None) -> dict[str, str]:
    """The values of a stored secret.

    Raises:
        InvalidError: it is encrypted and ``CHUTE_SECRET`` is not set.
        IntegrityError: decryption failed (another key, or tampered), or it is stored in clear
            while ``CHUTE_SECRET`` is set.
    """
    record = _record(raw)
    data = base64.b64decode(record["data"])
    if record["enc"] == "none":
        if key is not None:
            raise IntegrityError(
                f"Secret {name!r} is stored unencrypted but CHUTE_SECRET is set: re-create it "
                "(`chute secret create --force`) so that it is encrypted."
            )
        values: dict[str, str] = json.loads(data)
        return values
    if key is None:
        raise InvalidError(f"Secret {name!r} is encrypted: set CHUTE_SECRET to the key it was stored with.")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plain = AESGCM(_cipher_key(key)).decrypt(data[:_NONCE], data[_NONCE:], f"{env}\0{name}".encode())
    except InvalidTag:
        raise IntegrityError(
            f"Secret {name!r} cannot be decrypted with this CHUTE_SECRET (another key, or tampered)."
        ) from None
    values = json.loads(plain)
    return values


def store(name: str, values: dict[str, str], environment_name: str | None, overwrite: bool) -> None:
    """Store ``values`` under ``name``; refuse to replace unless ``overwrite``.

    Raises:
        AlreadyExistsError: the name is taken and ``overwrite`` is False.
    """
    client, env = _where(environment_name)
    sealed = seal(values, env, name, client.settings.secret)
    if not secret_ops.put(client, env, name, sealed, overwrite=overwrite) and not overwrite:
        raise AlreadyExistsError(f"Secret {name!r} already exists (use allow_existing=True / --force).")


def get_stored(name: str, *, environment_name: str | None = None) -> dict[str, str]:
    """The values of the stored secret ``name``. Raises NotFoundError if there is none."""
    client, env = _where(environment_name)
    raw = secret_ops.get(client, env, name)
    if raw is None:
        raise NotFoundError(
            f"Secret {name!r} not found in environment {env!r}: create it with "
            f"`chute secret create {name} KEY=VALUE ...`."
        )
    return unseal(raw, env, name, client.settings.secret)


def list_stored(environment_name: str | None = None) -> list[SecretInfo]:
    """Every stored secret, by name, with key names only (no key needed: names are in clear)."""
    client, env = _where(environment_name)
    out: list[SecretInfo] = []
    for name, raw in secret_ops.scan(client, env):
        record = _record(raw)
        encrypted = record["enc"] != "none"
        out.append(
            SecretInfo(
                name, env, tuple(record["keys"]), record["created_at"], record.get("created_by"), encrypted
            )
        )
    return out


def delete_stored(name: str, environment_name: str | None = None) -> bool:
    """Delete a stored secret; False if it did not exist."""
    client, env = _where(environment_name)
    return secret_ops.delete(client, env, name)


# -- .env files ----------------------------------------------------------------------------------------


def _find_dotenv(path: str | None, filename: str) -> Path | None:
    start = Path(path).resolve() if path is not None else Path.cwd()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` prefix, quotes and ``#`` comments allowed); empty values are ""."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace("\\n", "\n") if value[0] == '"' else value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key.strip()] = value
    return out


def resolve_all(secrets: Sequence[Secret]) -> dict[str, str]:
    """The variables of several secrets, later ones winning."""
    out: dict[str, str] = {}
    for s in secrets:
        out.update(s.resolve())
    return out


__all__ = ["Secret", "SecretInfo"]
