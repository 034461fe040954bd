"""``chute.Volume``: a named directory that functions mount and any process can read and write.

A volume is the folder ``<root>/<environment>/<name>``. ``<root>`` is ``$CHUTE_VOLUMES_DIR``
(point every machine at one shared path, e.g. an NFS mount, to share volumes between them),
else ``chute-volumes`` beside the SQLite database, else ``volumes`` in chute's per-user data
directory. The file API works from any process; a function declares where it sees the volume
with ``@app.function(volumes={"/data": vol})``.

Consistency: every process sees one shared directory, so ``commit()`` and ``reload()`` have
nothing to publish or pull and return at once (Modal's snapshot-per-container model is not
reproduced). Concurrent writers of one file: the last rename wins, as with Modal's last commit.

Example:
    ```python
    vol = chute.Volume.from_name("models", create_if_missing=True)
    with vol.batch_upload() as batch:
        batch.put_file("weights.bin", "/weights.bin")
    assert [e.path for e in vol.listdir("/")] == ["weights.bin"]
    data = b"".join(vol.read_file("weights.bin"))
    ```
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import platformdirs

from chute import _settings_table, _validate
from chute._client import Client
from chute._ref import random_id
from chute.exception import AlreadyExistsError, InvalidError, NotFoundError
from chute.types import FileEntry, FileEntryType

VOLUMES_DIR_ENV = "CHUTE_VOLUMES_DIR"
_CHUNK = 1024 * 1024
_FORBIDDEN_MOUNTS = ("/", "/root", "/tmp")


def volumes_root() -> Path:
    """Where volumes live (see the module docstring)."""
    configured = _settings_table.read(VOLUMES_DIR_ENV)
    if configured:
        return Path(str(configured))
    settings = Client.from_env().settings
    if settings.url.kind == "sqlite":
        return Path(settings.url.path).parent / "chute-volumes"
    return Path(platformdirs.user_data_dir("chute", appauthor=False)) / "volumes"


def check_mount_path(path: str | PurePosixPath) -> str:
    """A mount path: absolute, canonical, and not ``/``, ``/root`` or ``/tmp`` (as in Modal).

    Raises:
        InvalidError: otherwise.
    """
    text = str(path)
    pure = PurePosixPath(text)
    if not pure.is_absolute() or str(pure) != text.rstrip("/") or ".." in pure.parts:
        raise InvalidError(f"Volume mount path must be an absolute, canonical path, got {text!r}.")
    if str(pure) in _FORBIDDEN_MOUNTS:
        raise InvalidError(f"Volume cannot be mounted at {text!r}: pick another path, e.g. '/data'.")
    return str(pure)


class Volume:
    """A named, persistent directory (see the module docstring).

    Raises:
        InvalidError: an invalid name, a path outside the volume, or a write on a read-only handle.
        NotFoundError: (on use) the volume does not exist and ``create_if_missing`` was not set.
    """

    def __init__(self) -> None:
        raise RuntimeError("Use chute.Volume.from_name(name, create_if_missing=True) or Volume.ephemeral().")

    name: str
    _env_name: str | None
    _create: bool
    _read_only: bool
    _sub_path: str | None

    @classmethod
    def _new(cls, name: str, env: str | None, create: bool) -> Volume:
        v = cls.__new__(cls)
        v.name, v._env_name, v._create, v._read_only, v._sub_path = name, env, create, False, None
        return v

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
        create_options: Any = None,
        client: Any = None,
    ) -> Volume:
        """The volume called ``name`` (lazy: checked, or created, on first use).

        Raises:
            InvalidError: an invalid name.
        """
        env = _validate.check_env(environment_name) if environment_name else None
        return Volume._new(_validate.check_name(name, "Volume"), env, create_if_missing)

    @staticmethod
    def from_id(volume_id: str, client: Any = None) -> Volume:
        """A volume by the ``object_id`` of a handle (``vo-<env>.<name>``)."""
        prefix, _, rest = volume_id.partition("-")
        env, _, name = rest.partition(".")
        if prefix != "vo" or not env or not name:
            raise InvalidError(f"Invalid Volume id {volume_id!r}: expected 'vo-<environment>.<name>'.")
        return Volume._new(_validate.check_name(name, "Volume"), _validate.check_env(env), False)

    @classmethod
    @contextmanager
    def ephemeral(
        cls,
        client: Any = None,
        environment_name: str | None = None,
        version: int | None = None,
        create_options: Any = None,
        _heartbeat_sleep: float = 300,
    ) -> Iterator[Volume]:
        """A fresh, anonymous volume deleted when the ``with`` block exits."""
        vol = cls._new(random_id("ep").replace("-", "."), environment_name, True)
        vol.hydrate()
        try:
            yield vol
        finally:
            shutil.rmtree(vol._root(), ignore_errors=True)

    # -- where ------------------------------------------------------------------------------------

    @property
    def environment_name(self) -> str:
        return self._env_name or Client.from_env().settings.env

    @property
    def object_id(self) -> str:
        return f"vo-{self.environment_name}.{self.name}"

    def _root(self) -> Path:
        return volumes_root() / self.environment_name / self.name

    @property
    def local_path(self) -> Path:
        """The directory holding the volume's files (its ``sub_path`` if one was set).

        Raises:
            NotFoundError: the volume does not exist and ``create_if_missing`` was not set.
        """
        root = self._root()
        if not root.is_dir():
            if not self._create:
                raise NotFoundError(
                    f"Volume {self.name!r} not found in environment {self.environment_name!r}: create "
                    "it with Volume.from_name(name, create_if_missing=True)."
                )
            root.mkdir(parents=True, exist_ok=True)
        return root / self._sub_path if self._sub_path else root

    def _path(self, path: str) -> Path:
        if any(c in path for c in "*?["):
            raise InvalidError(f"Volume paths do not take glob patterns, got {path!r}.")
        base = self.local_path
        target = (base / path.lstrip("/")).resolve()
        if target != base.resolve() and base.resolve() not in target.parents:
            raise InvalidError(f"Path {path!r} is outside the volume.")
        return target

    def _writable(self) -> None:
        if self._read_only:
            raise InvalidError(f"Volume {self.name!r} was opened read-only: writes are refused.")

    # -- handles ------------------------------------------------------------------------------------

    def hydrate(self, client: Any = None) -> Volume:
        """Check (or create) the volume now; returns self."""
        self.local_path  # noqa: B018 - raises NotFoundError / creates it
        return self

    def read_only(self) -> Volume:
        """A handle that refuses writes (and mounts read-only)."""
        return self.with_mount_options(read_only=True)

    def with_mount_options(
        self, *, read_only: bool | None = None, sub_path: str | PurePosixPath | None = None
    ) -> Volume:
        """A handle with other mount options: read-only, or a subdirectory as its root."""
        v = Volume._new(self.name, self._env_name, self._create)
        v._read_only = self._read_only if read_only is None else read_only
        v._sub_path = str(sub_path).strip("/") if sub_path is not None else self._sub_path
        return v

    def commit(self) -> None:
        """Publish changes: nothing to do, every process shares the directory."""
        self.local_path  # noqa: B018

    def reload(self) -> None:
        """Pull committed changes: nothing to do, every process shares the directory."""
        self.local_path  # noqa: B018

    # -- file API ----------------------------------------------------------------------------------

    def iterdir(self, path: str, *, recursive: bool = True) -> Iterator[FileEntry]:
        """Entries under ``path`` (recursively by default).

        Raises:
            FileNotFoundError: no such path.
        """
        base, target = self.local_path, self._path(path)
        if not target.exists():
            raise FileNotFoundError(f"No such file or directory in volume {self.name!r}: {path!r}")
        if target.is_file():
            yield _entry(base, target)
            return
        children = sorted(target.rglob("*") if recursive else target.iterdir())
        for child in children:
            yield _entry(base, child)

    def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """Entries under ``path`` (one level unless ``recursive``).

        Raises:
            FileNotFoundError: no such path.
        """
        return list(self.iterdir(path, recursive=recursive))

    def read_file(self, path: str) -> Iterator[bytes]:
        """The file's content, in chunks.

        Raises:
            FileNotFoundError: no such file.
        """
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(f"No such file in volume {self.name!r}: {path!r}")
        return _chunks(target)

    def read_file_into_fileobj(
        self, path: str, fileobj: IO[bytes], progress_cb: Callable[..., Any] | None = None
    ) -> int:
        """Copy the file into ``fileobj``; returns the number of bytes."""
        total = 0
        for chunk in self.read_file(path):
            fileobj.write(chunk)
            total += len(chunk)
            if progress_cb is not None:
                progress_cb(advance=len(chunk))
        return total

    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory with ``recursive=True``.

        Raises:
            FileNotFoundError: no such path.
            InvalidError: a non-empty directory without ``recursive``, or a read-only handle.
        """
        self._writable()
        target = self._path(path)
        if not target.exists():
            raise FileNotFoundError(f"No such file or directory in volume {self.name!r}: {path!r}")
        if target.is_dir():
            if not recursive and any(target.iterdir()):
                raise InvalidError(f"{path!r} is a non-empty directory: pass recursive=True.")
            shutil.rmtree(target)
        else:
            target.unlink()

    def copy_files(self, src_paths: Sequence[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files (directories with ``recursive``) within the volume."""
        self._writable()
        dst = self._path(dst_path)
        for src_path in src_paths:
            src = self._path(src_path)
            target = dst / src.name if dst.is_dir() else dst
            if src.is_dir():
                if not recursive:
                    raise InvalidError(f"{src_path!r} is a directory: pass recursive=True.")
                shutil.copytree(src, target, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)

    @contextmanager
    def batch_upload(self, force: bool = False) -> Iterator[_BatchUpload]:
        """Upload files and directories; they appear when the block exits without error.

        Raises:
            FileExistsError: a destination exists and ``force`` is False.
        """
        self._writable()
        batch = _BatchUpload(self, force)
        yield batch
        batch._apply()

    def __repr__(self) -> str:
        return f"Volume({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Volume) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)


class _BatchUpload:
    """What ``Volume.batch_upload()`` yields: ``put_file`` / ``put_directory``."""

    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume, self._force = volume, force
        self._files: list[tuple[str | Path | IO[bytes], str, int | None]] = []

    def put_file(
        self, local_file: str | Path | IO[bytes], remote_path: str | PurePosixPath, mode: int | None = None
    ) -> None:
        """Upload a local file (a path or a binary file object) to ``remote_path``."""
        self._files.append((local_file, str(remote_path), mode))

    def put_directory(
        self, local_path: str | Path, remote_path: str | PurePosixPath, recursive: bool = True
    ) -> None:
        """Upload every file of a local directory under ``remote_path``."""
        local = Path(local_path)
        pattern = local.rglob("*") if recursive else local.iterdir()
        for path in sorted(p for p in pattern if p.is_file()):
            self._files.append(
                (path, str(PurePosixPath(str(remote_path)) / path.relative_to(local).as_posix()), None)
            )

    def _apply(self) -> None:
        targets = [(src, self._volume._path(remote), mode) for src, remote, mode in self._files]
        if not self._force:
            for _, target, _ in targets:
                if target.exists():
                    raise FileExistsError(
                        f"{target.name} exists in volume {self._volume.name!r}: pass force=True."
                    )
        for src, target, mode in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, then rename: readers never see half a file.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            with os.fdopen(fd, "wb") as out:
                if isinstance(src, str | Path):
                    with open(src, "rb") as f:
                        shutil.copyfileobj(f, out, _CHUNK)
                else:
                    shutil.copyfileobj(src, out, _CHUNK)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)


class _VolumeManager:
    """``chute.Volume.objects``: create, list and delete volumes (Modal's ``VolumeManager``)."""

    def create(
        self,
        name: str,
        *,
        version: int | None = None,
        allow_existing: bool = False,
        environment_name: str | None = None,
        client: Any = None,
        experimental_options: dict[str, Any] | None = None,
    ) -> None:
        """Create a volume.

        Raises:
            AlreadyExistsError: it exists and ``allow_existing`` is False.
        """
        vol = Volume.from_name(name, environment_name=environment_name, create_if_missing=True)
        if vol._root().is_dir() and not allow_existing:
            raise AlreadyExistsError(f"Volume {name!r} already exists.")
        vol.hydrate()

    def list(
        self,
        *,
        max_objects: int | None = None,
        created_before: Any = None,
        environment_name: str = "",
        client: Any = None,
    ) -> list[Volume]:
        """The volumes of the environment, by name."""
        env = environment_name or Client.from_env().settings.env
        folder = volumes_root() / env
        names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return [Volume.from_name(n, environment_name=env) for n in names[:max_objects]]

    def delete(
        self,
        name: str,
        *,
        allow_missing: bool = False,
        environment_name: str | None = None,
        client: Any = None,
    ) -> None:
        """Delete a volume and its files.

        Raises:
            NotFoundError: it does not exist and ``allow_missing`` is False.
        """
        root = Volume.from_name(name, environment_name=environment_name)._root()
        if not root.is_dir():
            if allow_missing:
                return
            raise NotFoundError(f"Volume {name!r} not found.")
        shutil.rmtree(root)


Volume.objects = _VolumeManager()  # type: ignore[attr-defined]


def _entry(base: Path, path: Path) -> FileEntry:
    st = path.lstat()
    kind = (
        FileEntryType.SYMLINK
        if path.is_symlink()
        else FileEntryType.DIRECTORY
        if path.is_dir()
        else FileEntryType.FILE
    )
    return FileEntry(path.relative_to(base).as_posix(), kind, int(st.st_mtime), st.st_size)


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


__all__ = ["FileEntry", "FileEntryType", "Volume", "check_mount_path", "volumes_root"]
