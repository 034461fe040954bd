"""What ``chute.Image`` records: its steps as JSON-ready records, and Modal's argument checks."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from chute.exception import InvalidError

# Set in an executor to the object_id of the image its function declares: inside it,
# ``Image.imports()`` lets exceptions propagate (Modal's MODAL_IMAGE_ID).
IMAGE_ID_ENV = "CHUTE_IMAGE_ID"
SUPPORTED_PYTHON_SERIES = ("3.10", "3.11", "3.12", "3.13", "3.14")
_PYTHON_RE = re.compile(r"^3(?:\.\d{1,2}){1,2}(rc\d*)?t?$")


class _Default:
    """Stands for a default that Modal computes (ignore patterns); recorded as its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NON_PYTHON_FILES: Any = _Default("NON_PYTHON_FILES")
AUTO_DOCKERIGNORE: Any = _Default("AUTO_DOCKERIGNORE")


@dataclass(frozen=True)
class ImageStep:
    """One recorded builder call: its method name and JSON-ready arguments (secrets by name only)."""

    method: str
    args: dict[str, Any]


def _jsonable(value: Any) -> Any:
    from chute.secret import Secret
    from chute.volume import Volume

    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, os.PathLike | PurePosixPath):
        return str(value)
    if isinstance(value, Secret):
        return value._describe()
    if isinstance(value, Volume):
        return f"volume:{value.name}"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', type(value).__name__)}>"
    return repr(value)


def _flatten(method: str, packages: Sequence[str | list[str]]) -> list[str]:
    out: list[str] = []
    for item in packages:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and all(isinstance(p, str) for p in item):
            out.extend(item)
        else:
            raise InvalidError(f"{method}: expected str or list[str] arguments, got {item!r}.")
    return out


def _check_python(python_version: str | None, method: str) -> str:
    if isinstance(python_version, float):
        raise TypeError("The `python_version` argument should be a string, not a float.")
    if python_version is None:
        return "{}.{}".format(*sys.version_info[:2])
    if not isinstance(python_version, str) or not _PYTHON_RE.match(python_version):
        raise InvalidError(f"Invalid Python version for {method}: {python_version!r}.")
    series = ".".join(python_version.rstrip("t").split(".")[:2])
    if series not in SUPPORTED_PYTHON_SERIES:
        raise InvalidError(
            f"Unsupported Python version: {python_version!r}. Supported series: {SUPPORTED_PYTHON_SERIES}."
        )
    return python_version
