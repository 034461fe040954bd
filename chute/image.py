"""A minimal ``chute.Image``: records Modal's builder steps and builds nothing.

Placeholder so that Modal app files that declare an image import unchanged; the full
``Image`` (every builder method, ``env`` reaching the executor) replaces this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Image:
    """An image description: the steps Modal would build (recorded, not built).

    Example:
        ```python
        image = chute.Image.debian_slim().pip_install("fastapi[standard]")
        app = chute.App("fastapi-modal", image=image)
        ```
    """

    steps: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @classmethod
    def debian_slim(cls, python_version: str | None = None, force_build: bool = False) -> Image:
        """The base image (recorded only)."""
        return cls((("debian_slim", (python_version,)),))

    def pip_install(self, *packages: str | list[str], **options: Any) -> Image:
        """Add a ``pip install`` step (recorded only: install what the app needs yourself)."""
        return Image((*self.steps, ("pip_install", tuple(packages))))
