"""``chute.Image``: Modal's image builder, recorded and never built.

chute runs functions in the worker's own Python environment, so an image builds nothing. It
records its steps (``image.steps``, with a content hash ``image.hash`` and an ``object_id``
derived from it) so that an app file written for Modal runs unchanged, and one part of it
has a local meaning: the variables set with ``.env({...})`` (``image.env_vars``) are part of
the executor's environment (see ``chute._runtime.executor_environment``). Packages,
commands and files are ignored outside Modal's cloud (``@app.function`` warns once with
``IgnoredOptionWarning``).

Example:
    ```python
    image = (
        chute.Image.debian_slim(python_version="3.12")
        .pip_install("torch", "transformers")
        .env({"HF_HOME": "/cache"})
    )
    with image.imports():
        import torch  # may be missing locally: the ImportError is recorded, not raised

    @app.function(image=image)
    def embed(text: str) -> list[float]: ...
    ```
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from chute import _settings_table
from chute._image_spec import (
    AUTO_DOCKERIGNORE,
    IMAGE_ID_ENV,
    NON_PYTHON_FILES,
    ImageStep,
    _check_python,
    _flatten,
    _jsonable,
)
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.secret import Secret
    from chute.volume import Volume

P = ParamSpec("P")


class Image:
    """An immutable, recorded image definition. Every builder method returns a new ``Image``.

    Raises:
        InvalidError: as Modal does: bad package arguments, a non-absolute remote path, a
            non-string ``env`` value, or a build step after a non-``copy`` ``add_local_*``.
    """

    def __init__(self) -> None:
        raise RuntimeError("Build images with a constructor such as chute.Image.debian_slim().")

    @classmethod
    def _new(cls, steps: tuple[ImageStep, ...], local_files: bool) -> Image:
        image = cls.__new__(cls)
        image._steps = steps
        image._local_files = local_files  # a non-copy add_local_* was recorded
        image.inside_exceptions = []
        return image

    _steps: tuple[ImageStep, ...]
    _local_files: bool
    inside_exceptions: list[Exception]

    # -- introspection ------------------------------------------------------------------------

    @property
    def steps(self) -> tuple[ImageStep, ...]:
        """The recorded builder calls, base first."""
        return self._steps

    @property
    def hash(self) -> str:
        """A SHA-256 of the recorded steps: equal definitions give equal hashes in any process."""
        data = json.dumps([[s.method, s.args] for s in self._steps], sort_keys=True, default=repr)
        return hashlib.sha256(data.encode()).hexdigest()

    @property
    def object_id(self) -> str:
        """``im-`` and the first 22 characters of ``hash`` (stable across processes)."""
        return "im-" + self.hash[:22]

    @property
    def env_vars(self) -> dict[str, str]:
        """The variables set by ``.env()`` steps, later steps winning."""
        out: dict[str, str] = {}
        for step in self._steps:
            if step.method == "env":
                out.update(step.args["vars"])
        return out

    @property
    def builds_something(self) -> bool:
        """Whether a step would install or copy something (what chute cannot do)."""
        local = {"env", "workdir", "debian_slim", "add_local_python_source"}
        return any(s.method not in local for s in self._steps)

    def __repr__(self) -> str:
        return f"Image({' -> '.join(s.method for s in self._steps)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.hash == self.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def _then(self, method: str, *, local_files: bool = False, **args: Any) -> Image:
        if self._local_files and not local_files:
            raise InvalidError(
                f"An image tried to run a build step ({method}) after using `image.add_local_*` to include "
                "local files. Run `image.add_local_*` commands last, or set `copy=True` on them."
            )
        step = ImageStep(method, {k: _jsonable(v) for k, v in args.items()})
        return Image._new((*self._steps, step), self._local_files or (local_files and not args.get("copy")))

    @staticmethod
    def _base(method: str, **args: Any) -> Image:
        return Image._new((ImageStep(method, {k: _jsonable(v) for k, v in args.items()}),), False)

    # -- base images ---------------------------------------------------------------------------

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """Modal's default image (Debian slim with ``python_version``, default: this interpreter's).

        Raises:
            TypeError: ``python_version`` is a float.
            InvalidError: an unsupported Python series.
        """
        return Image._base("debian_slim", python_version=_check_python(python_version, "debian_slim"))

    @staticmethod
    def micromamba(python_version: str | None = None, force_build: bool = False) -> Image:
        """A micromamba base image (recorded)."""
        return Image._base("micromamba", python_version=_check_python(python_version, "micromamba"))

    @staticmethod
    def from_scratch(force_build: bool = False) -> Image:
        """An empty image (recorded)."""
        return Image._base("from_scratch")

    @staticmethod
    def from_registry(
        tag: str,
        secret: Secret | None = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006 - Modal's signature; never mutated
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from a container registry (recorded)."""
        return Image._base(
            "from_registry", tag=tag, secret=secret, setup=setup_dockerfile_commands, add_python=add_python
        )

    @staticmethod
    def from_aws_ecr(
        tag: str,
        secret: Secret | None = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from AWS ECR (recorded)."""
        return Image._base("from_aws_ecr", tag=tag, secret=secret, add_python=add_python)

    @staticmethod
    def from_gcp_artifact_registry(
        tag: str,
        secret: Secret | None = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from Google Artifact Registry (recorded)."""
        return Image._base("from_gcp_artifact_registry", tag=tag, secret=secret, add_python=add_python)

    @staticmethod
    def from_dockerfile(
        path: str | Path,
        *,
        force_build: bool = False,
        context_dir: Path | str | None = None,
        ignore: Sequence[str] | Callable[[Path], bool] = AUTO_DOCKERIGNORE,
        build_args: dict[str, str] = {},  # noqa: B006
        registry_secret: Secret | None = None,
        secrets: Collection[Secret] | None = None,
        env: dict[str, str | None] | None = None,
        gpu: str | None = None,
        add_python: str | None = None,
    ) -> Image:
        """An image built from a Dockerfile (recorded, with a hash of the file when it exists)."""
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else None
        return Image._base("from_dockerfile", path=path, sha256=digest, build_args=build_args)

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, client: Any = None) -> Image:
        """An image published under ``name`` (recorded)."""
        return Image._base("from_name", name=name)

    @classmethod
    def from_id(cls, image_id: str, client: Any = None) -> Image:
        """An image by id (recorded)."""
        return Image._base("from_id", image_id=image_id)

    # -- packages ------------------------------------------------------------------------------

    def pip_install(
        self,
        *packages: str | list[str],
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``pip install`` of the packages (sorted; no packages: the same image)."""
        pkgs = sorted(_flatten("pip_install", packages))
        if not pkgs:
            return self
        return self._then("pip_install", packages=pkgs, index_url=index_url, extra_options=extra_options)

    def uv_pip_install(
        self,
        *packages: str | list[str],
        requirements: list[str] | None = None,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        uv_version: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``uv pip install`` of the packages and requirement files."""
        pkgs = sorted(_flatten("uv_pip_install", packages))
        if not pkgs and not requirements:
            return self
        return self._then("uv_pip_install", packages=pkgs, requirements=requirements)

    def uv_sync(
        self,
        uv_project_dir: str = "./",
        *,
        force_build: bool = False,
        groups: list[str] | None = None,
        extras: list[str] | None = None,
        frozen: bool = True,
        extra_options: str = "",
        uv_version: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``uv sync`` of a project."""
        return self._then("uv_sync", uv_project_dir=uv_project_dir, groups=groups, extras=extras)

    def pip_install_from_requirements(
        self,
        requirements_txt: str,
        find_links: str | None = None,
        *,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``pip install -r requirements_txt``."""
        return self._then("pip_install_from_requirements", requirements_txt=requirements_txt)

    def pip_install_from_pyproject(
        self,
        pyproject_toml: str,
        optional_dependencies: list[str] = [],  # noqa: B006
        *,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record installing a ``pyproject.toml``'s dependencies."""
        return self._then(
            "pip_install_from_pyproject", pyproject_toml=pyproject_toml, optional=optional_dependencies
        )

    def pip_install_private_repos(
        self,
        *repositories: str,
        git_user: str,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        gpu: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        force_build: bool = False,
    ) -> Image:
        """Record ``pip install`` from private git repositories."""
        return self._then("pip_install_private_repos", repositories=list(repositories), git_user=git_user)

    def poetry_install_from_file(
        self,
        poetry_pyproject_toml: str,
        poetry_lockfile: str | None = None,
        *,
        ignore_lockfile: bool = False,
        force_build: bool = False,
        with_: list[str] = [],  # noqa: B006
        without: list[str] = [],  # noqa: B006
        only: list[str] = [],  # noqa: B006
        poetry_version: str | None = "latest",
        old_installer: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``poetry install``."""
        return self._then(
            "poetry_install_from_file", pyproject=poetry_pyproject_toml, lockfile=poetry_lockfile
        )

    def apt_install(
        self,
        *packages: str | list[str],
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``apt-get install`` of the packages (no packages: the same image)."""
        pkgs = _flatten("apt_install", packages)
        return self._then("apt_install", packages=pkgs) if pkgs else self

    def micromamba_install(
        self,
        *packages: str | list[str],
        spec_file: str | None = None,
        channels: list[str] = [],  # noqa: B006
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Record ``micromamba install``."""
        pkgs = _flatten("micromamba_install", packages)
        if not pkgs and spec_file is None:
            return self
        return self._then("micromamba_install", packages=pkgs, spec_file=spec_file, channels=channels)

    # -- build steps -----------------------------------------------------------------------------

    def run_commands(
        self,
        *commands: str | list[str],
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        volumes: dict[str | PurePosixPath, Volume] | None = None,
        gpu: str | None = None,
        force_build: bool = False,
    ) -> Image:
        """Record shell commands (no commands: the same image)."""
        cmds = _flatten("run_commands", commands)
        return self._then("run_commands", commands=cmds, secrets=secrets) if cmds else self

    def dockerfile_commands(
        self,
        *dockerfile_commands: str | list[str],
        context_files: dict[str, str] = {},  # noqa: B006
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
        context_dir: Path | str | None = None,
        force_build: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = AUTO_DOCKERIGNORE,
        build_args: dict[str, str] = {},  # noqa: B006
    ) -> Image:
        """Record Dockerfile commands."""
        cmds = _flatten("dockerfile_commands", dockerfile_commands)
        return self._then("dockerfile_commands", commands=cmds) if cmds else self

    def run_function(
        self,
        raw_f: Callable[..., Any],
        *,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        volumes: dict[str | PurePosixPath, Any] = {},  # noqa: B006
        network_file_systems: dict[str | PurePosixPath, Any] = {},  # noqa: B006
        gpu: str | list[str] | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        timeout: int = 3600,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        force_build: bool = False,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] = {},  # noqa: B006
        include_source: bool = True,
    ) -> Image:
        """Record a build-time function call (chute does not run it)."""
        return self._then("run_function", function=getattr(raw_f, "__qualname__", repr(raw_f)))

    def env(self, vars: dict[str, str]) -> Image:
        """Set environment variables; executors of functions using this image get them.

        Raises:
            InvalidError: a value is not a str.
        """
        bad = [key for key, value in vars.items() if not isinstance(value, str) or not isinstance(key, str)]
        if bad:
            raise InvalidError(f"Image ENV variables must be strings. Invalid keys: {bad}")
        return self._then("env", vars=dict(vars))

    def workdir(self, path: str | PurePosixPath) -> Image:
        """Set the working directory (recorded)."""
        return self._then("workdir", path=str(path))

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        """Set the container entrypoint (recorded)."""
        return self._then("entrypoint", commands=entrypoint_commands)

    def shell(self, shell_commands: list[str]) -> Image:
        """Set the default shell (recorded)."""
        return self._then("shell", commands=shell_commands)

    def cmd(self, cmd: list[str]) -> Image:
        """Set the default command (recorded)."""
        return self._then("cmd", cmd=cmd)

    def pipe(self, func: Callable[Concatenate[Image, P], Image], *args: P.args, **kwargs: P.kwargs) -> Image:
        """``func(self, *args, **kwargs)``: apply a function that extends an image."""
        return func(self, *args, **kwargs)

    # -- local files -------------------------------------------------------------------------------

    def add_local_file(self, local_path: str | Path, remote_path: str, *, copy: bool = False) -> Image:
        """Record adding a local file at ``remote_path`` (absolute, or ending in ``/``)."""
        if not PurePosixPath(remote_path).is_absolute():
            raise InvalidError(f"add_local_file: remote_path must be an absolute path, got {remote_path!r}.")
        return self._then("add_local_file", local_files=True, local=local_path, remote=remote_path, copy=copy)

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str,
        *,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = [],  # noqa: B006
    ) -> Image:
        """Record adding a local directory at ``remote_path`` (absolute)."""
        if not PurePosixPath(remote_path).is_absolute():
            raise InvalidError(f"add_local_dir: remote_path must be an absolute path, got {remote_path!r}.")
        return self._then(
            "add_local_dir", local_files=True, local=local_path, remote=remote_path, copy=copy, ignore=ignore
        )

    def add_local_python_source(
        self,
        *modules: str,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = NON_PYTHON_FILES,
    ) -> Image:
        """Record adding local Python packages (workers import them from their own path anyway)."""
        return self._then("add_local_python_source", local_files=True, modules=list(modules), copy=copy)

    # -- Modal API with no work to do ------------------------------------------------------------------

    def build(self, app: Any = None) -> Image:
        """Nothing to build: returns the image."""
        return self

    def hydrate(self, client: Any = None) -> Image:
        """Nothing to look up: returns the image."""
        return self

    @contextmanager
    def imports(self) -> Iterator[None]:
        """Import packages that may exist only where the function runs.

        Outside an executor running this image, an exception raised in the block is recorded
        in ``inside_exceptions`` and swallowed (a non-``ImportError`` also warns); inside one
        (``CHUTE_IMAGE_ID`` equals ``object_id``) it propagates.

        Example:
            ```python
            with image.imports():
                import torch
            ```
        """
        try:
            yield
        except Exception as exc:
            if _settings_table.read(IMAGE_ID_ENV) == self.object_id:
                raise
            self.inside_exceptions.append(exc)
            if not isinstance(exc, ImportError):
                warnings.warn(
                    f"Warning: caught a non-ImportError exception in an `imports()` block: {exc!r}",
                    stacklevel=3,
                )


__all__ = ["AUTO_DOCKERIGNORE", "NON_PYTHON_FILES", "Image", "ImageStep"]
