"""Deployed code on a worker: fetch a version's bundle once per machine, by content hash.

``materialize`` returns ``CACHE/<hash>/`` holding the unpacked bundle (the app file at its
top). It is written to a temporary folder and renamed into place, so two workers sharing a
cache never see half a bundle; a folder that exists is complete and is reused as it is.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from chute import _deploy
from chute.dict import Dict


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "chute" / "code"


def materialize(d: Dict, version: _deploy.Version, cache: Path, secret: bytes | None) -> Path:
    """The folder of ``version``'s code in ``cache`` (fetched and unpacked if missing).

    Raises:
        InvalidError: the version's signature does not match ``secret`` (see ``Version.check``).
        NotFoundError: the bundle is missing or altered in the store.
    """
    version.check(secret)
    target = cache / version.hash
    if (target / version.entry).is_file():
        return target
    data = _deploy.get_blob(d, version.hash)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version.hash[:12]}-", dir=cache))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                dest = (tmp / name).resolve()
                if not dest.is_relative_to(tmp.resolve()):
                    continue  # never write outside the bundle's folder
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
        try:
            os.rename(tmp, target)
        except OSError:  # another worker put it there first: theirs is the same bytes
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
