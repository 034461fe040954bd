"""``App``'s checks: its default name, its options, its deploy arguments (Modal's rules)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.image import Image
    from chute.secret import Secret
    from chute.volume import Volume

_TAG_RE = re.compile(r"^[A-Za-z0-9._-]{1,63}$")
_DEPLOY_TAG_RE = re.compile(r"^[A-Za-z0-9._-]{1,50}$")


def caller_module() -> str:
    """The ``__name__`` of the module creating the app (two frames up: App.__init__'s caller)."""
    return str(sys._getframe(2).f_globals.get("__name__", "__main__"))


def default_name(module: str) -> str:
    """An unnamed app is named after its module: the file's stem for a script (``__main__``),
    else the module's last component, so the submitting process and the workers (which
    import the file by its stem or the module by its name) agree."""
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        base = Path(main_file).stem if main_file else "main"
    else:
        base = module.rsplit(".", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", base)[:64].strip("-") or "app"
    return cleaned


def check_app_options(
    tags: object, image: object, secrets: object, volumes: object
) -> tuple[dict[str, str], Image | None, tuple[Secret, ...], dict[str, Volume]]:
    """Validated app-level defaults.

    Raises:
        InvalidError: a tag not matching ``[A-Za-z0-9._-]{1,63}``, ``image`` not an Image,
            ``secrets`` not a list of Secret, or bad volumes.
    """
    from chute._options import check_volumes

    tag_map: dict[str, str] = {}
    if tags is not None:
        if not isinstance(tags, Mapping):
            raise InvalidError("tags must be a dict of str to str.")
        for key, value in tags.items():
            if not isinstance(key, str) or not isinstance(value, str) or not _TAG_RE.match(key):
                raise InvalidError(f"Invalid tag {key!r}: keys and values must match [A-Za-z0-9._-]{{1,63}}.")
            if not _TAG_RE.match(value):
                raise InvalidError(
                    f"Invalid value for tag {key!r}: {value!r} must match [A-Za-z0-9._-]{{1,63}}."
                )
            tag_map[key] = value
    if image is not None:
        from chute.image import Image

        if not isinstance(image, Image):
            raise InvalidError(f"App image must be a chute.Image, got {type(image).__name__}.")
    if not isinstance(secrets, Sequence) or isinstance(secrets, str):
        raise InvalidError("App secrets must be a list of chute.Secret.")
    if secrets:
        from chute.secret import Secret

        if not all(isinstance(s, Secret) for s in secrets):
            raise InvalidError("App secrets must be a list of chute.Secret.")
    return tag_map, image, tuple(secrets), check_volumes(volumes)


def check_deploy(name: str | None, tag: str, strategy: str) -> None:
    """Modal's deploy checks.

    Raises:
        InvalidError: ``tag`` not matching ``[A-Za-z0-9._-]{1,50}``, or a strategy other
            than ``rolling``/``recreate``.
    """
    if tag and not _DEPLOY_TAG_RE.match(tag):
        raise InvalidError(f"Deployment tag {tag!r} must match [A-Za-z0-9._-]{{1,50}}.")
    if strategy not in ("rolling", "recreate"):
        raise InvalidError(f"strategy must be 'rolling' or 'recreate', got {strategy!r}.")
