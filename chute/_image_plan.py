"""What a deployed app's images ask of a generic worker: its *plan* (issue 15).

``chute deploy`` turns the steps of the app's images (its own and its functions') into one
JSON-ready plan stored with the version (``_deploy.Version.image``); ``chute worker --all``
builds it (``chute.worker._deps``). Steps in recorded order:

- ``pip`` — ``pip install ARGS`` in the image's virtualenv: ``pip_install``/``uv_pip_install``
  (packages, index URL, extra options), ``pip_install_from_requirements`` (the file is shipped
  in the bundle under ``_chute_image/`` and installed with ``-r``) and
  ``pip_install_from_pyproject`` (its ``[project]`` dependencies and the optional groups named,
  read at deploy as Modal does);
- ``shell`` / ``apt`` — what a worker does only when started with ``--allow-image-commands``:
  ``run_commands``, the ``RUN`` lines of ``dockerfile_commands``, ``apt_install``;
- ``base`` — an image from a registry or a Dockerfile (``from_registry``...): the worker cannot
  pull it; with ``--allow-image-commands`` the operator vouches that the machine provides it.

``python`` is the series of ``debian_slim``/``micromamba(python_version=...)`` (Modal's default:
the deployer's own), ``env`` the ``.env()`` variables, ``workdir`` the last ``.workdir()``.
``needs`` names the steps that require the opt-in. ``key`` (sha256 of the steps, shipped file
contents and Python series) names the virtualenv: apps with the same image share it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

from chute.exception import InvalidError

SHIPPED = "_chute_image"
_BASES = {
    "from_registry",
    "from_aws_ecr",
    "from_gcp_artifact_registry",
    "from_dockerfile",
    "from_scratch",
    "micromamba_install",
    "pip_install_private_repos",
    "poetry_install_from_file",
    "uv_sync",
    "run_function",
}


def _pip_args(args: dict[str, Any]) -> list[str]:
    out = list(args.get("packages") or [])
    if args.get("index_url"):
        out += ["--index-url", str(args["index_url"])]
    if args.get("extra_options"):
        out += shlex.split(str(args["extra_options"]))
    return out


def _pyproject(path: Path, optional: list[str]) -> list[str]:
    try:
        project = tomllib.loads(path.read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidError(f"pip_install_from_pyproject: cannot read {path}: {exc}") from exc
    deps = list(project.get("dependencies") or [])
    groups = project.get("optional-dependencies") or {}
    for name in optional:
        deps += list(groups.get(name) or [])
    return deps


def plan(images: list[Any], base: Path) -> tuple[dict[str, Any] | None, dict[str, Path]]:
    """The images' plan (None: nothing to build on the worker) and the files to ship with it
    (bundle path -> local file), relative paths being relative to ``base`` (where one deploys).

    Raises:
        InvalidError: a requirements or pyproject file does not exist.
    """
    steps: list[dict[str, Any]] = []
    files: dict[str, Path] = {}
    python: str | None = None
    env: dict[str, str] = {}
    workdir: str | None = None
    seen: set[str] = set()
    for image in images:
        for step in image._steps:
            method, args = step.method, step.args
            if method in ("debian_slim", "micromamba") and args.get("python_version"):
                python = ".".join(str(args["python_version"]).rstrip("t").split(".")[:2])
            if method == "env":
                env.update(args["vars"])
            elif method == "workdir":
                workdir = args["path"]
            item = _step(method, args, base, files)
            if item is not None and json.dumps(item) not in seen:  # an app's images share steps
                seen.add(json.dumps(item))
                steps.append(item)
    if not steps and python is None and not env and workdir is None:
        return None, files
    needs = sorted({s["method"] for s in steps if s["kind"] != "pip"})
    out = {"python": python, "steps": steps, "env": env, "workdir": workdir, "needs": needs}
    digest = hashlib.sha256(json.dumps([python, steps], sort_keys=True).encode())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name].read_bytes()).digest())
    out["key"] = digest.hexdigest()
    return out, files


def _step(method: str, args: dict[str, Any], base: Path, files: dict[str, Path]) -> dict[str, Any] | None:
    if method in ("pip_install", "uv_pip_install"):
        pip = _pip_args(args)
        for req in args.get("requirements") or []:
            pip += ["-r", _ship(base, req, method, files)]
        return {"kind": "pip", "method": method, "args": pip} if pip else None
    if method == "pip_install_from_requirements":
        shipped = _ship(base, args["requirements_txt"], method, files)
        return {"kind": "pip", "method": method, "args": ["-r", shipped]}
    if method == "pip_install_from_pyproject":
        path = (base / args["pyproject_toml"]).resolve()
        if not path.is_file():
            raise InvalidError(f"{method}: {args['pyproject_toml']!r} does not exist (paths are relative "
                               "to where you deploy from).")  # fmt: skip
        deps = _pyproject(path, list(args.get("optional") or []))
        return {"kind": "pip", "method": method, "args": deps} if deps else None
    if method == "run_commands":
        return {"kind": "shell", "method": method, "commands": list(args["commands"])}
    if method == "dockerfile_commands":
        runs = [c.strip()[4:] for c in args["commands"] if c.strip().upper().startswith("RUN ")]
        return {"kind": "shell", "method": method, "commands": runs}
    if method == "apt_install":
        return {"kind": "apt", "method": method, "packages": list(args["packages"])}
    if method in _BASES:
        return {"kind": "base", "method": method}
    return None


def _ship(base: Path, local: str, method: str, files: dict[str, Path]) -> str:
    path = (base / local).resolve()
    if not path.is_file():
        raise InvalidError(
            f"{method}: {local!r} does not exist (paths are relative to where you deploy from)."
        )
    # Named by content: the same file deployed from anywhere names the same virtualenv.
    name = f"{SHIPPED}/{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}-{path.name}"
    files[name] = path
    return name
