"""Code that travels with ``chute deploy``: bundles, versions, signatures (issue 15).

``chute deploy app.py`` packs the app file and the local Python sources it imported (files
under the app's folder, as Modal's ``include_source`` does), plus what its images name with
``add_local_python_source``/``add_local_dir``/``add_local_file``, into one deterministic zip.
The zip is content-addressed (sha256) and stored in chunks in the environment's named
``chute.Dict`` ``chute-code`` (``blob/<hash>`` → chunk count, ``chunk/<hash>/<i>`` → bytes),
so a redeploy of unchanged code stores nothing new. Each deploy appends a *version* to the
app's record (``app/<name>``): its hash, entry file, function specs and, when
``CHUTE_SECRET`` is set, an HMAC-SHA256 of all that. ``apps`` lists the app names.

Trust: generic workers (``chute worker --all``) run only code read from this store. Every
value in the Dict is sealed with ``CHUTE_SECRET`` like any chute payload, and the version's
own signature binds app, number, hash and entry: a worker with the secret refuses unsigned
or differently signed code. Without a secret, whoever can write to the backend can run code
on the workers.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import io
import json
import sys
import time
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from chute import _image_plan
from chute._client import Client
from chute.app import App
from chute.dict import Dict
from chute.exception import InvalidError, NotFoundError

STORE = "chute-code"
# Chunk size of stored bundles. Measured on this machine (loaded, 2 cores) for a 5 MiB bundle,
# put/get: SQLite 256 KiB 0.39/0.24 s, 1 MiB 0.21/0.26 s, 4 MiB 0.29/0.22 s; Redis 256 KiB
# 1.28/0.46 s, 1 MiB 0.34/0.41 s, 4 MiB 0.36/0.30 s. 1 MiB: as fast, and no single value is
# large enough to stall a Redis server for other clients. An app's sources are usually KiBs.
CHUNK = 1 << 20
# Versions kept per app (``chute app history``, rollback targets, calls submitted under them);
# older ones, and bundles no kept version names, are deleted at the next deploy.
KEEP_VERSIONS = 10
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"site-packages", "dist-packages", ".venv", "venv", "__pycache__", ".git"}


@dataclass
class Version:
    """One deploy of an app: which code (``hash`` of the bundle, ``entry`` file in it) and specs."""

    number: int
    app: str
    hash: str
    entry: str
    specs: list[tuple[str, str]]  # (function name, spec JSON)
    deployed_at: float
    size: int
    files: int
    signature: str | None = None
    rollback_of: int | None = None
    packages: list[str] = field(default_factory=list)  # pip_install/uv_pip_install of its images
    image: dict[str, Any] | None = None  # what its images need on the worker (``_image_plan``)

    def signed_text(self) -> bytes:
        specs = json.dumps(sorted(self.specs))
        packages = json.dumps(self.packages)
        text = f"{self.app}\n{self.number}\n{self.hash}\n{self.entry}\n{specs}\n{packages}"
        if self.image is not None:  # (versions deployed before plans were signed without it)
            text += "\n" + json.dumps(self.image, sort_keys=True)
        return text.encode()

    def sign(self, secret: bytes) -> str:
        return hmac.new(secret, self.signed_text(), hashlib.sha256).hexdigest()

    def check(self, secret: bytes | None) -> None:
        """Refuse a version this process may not run.

        Raises:
            InvalidError: ``secret`` is set and the version is unsigned or signed with another.
        """
        if secret is None:
            return
        if self.signature is None:
            raise InvalidError(
                f"{self.app} version {self.number} is unsigned and this worker has CHUTE_SECRET set: "
                "redeploy it with the same CHUTE_SECRET."
            )
        if not hmac.compare_digest(self.signature, self.sign(secret)):
            raise InvalidError(
                f"{self.app} version {self.number} is signed with another CHUTE_SECRET: "
                "redeploy it with this worker's secret."
            )


@dataclass
class AppRecord:
    """An app's versions and which one is live (None: stopped)."""

    name: str
    current: int | None = None
    versions: list[Version] = field(default_factory=list)

    def version(self, number: int) -> Version:
        for v in self.versions:
            if v.number == number:
                return v
        raise NotFoundError(
            f"App {self.name!r} has no version {number} (versions: {[v.number for v in self.versions]})."
        )

    def live(self) -> Version | None:
        return None if self.current is None else self.version(self.current)


# -- bundles -----------------------------------------------------------------------------------------


def _python_files(folder: Path) -> Iterable[Path]:
    for p in sorted(folder.rglob("*.py")):
        if not _SKIP_PARTS.intersection(p.relative_to(folder).parts):
            yield p


def _local_modules(roots: list[Path]) -> dict[str, Path]:
    """Files of modules imported by now from under ``roots`` (the app's folder and the working
    directory; not installed packages, not chute), each at the path its dotted name gives, so
    ``import a.b`` finds it in the bundle."""
    out: dict[str, Path] = {}
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if not file or not file.endswith(".py") or name.split(".")[0] in ("chute", "__main__"):
            continue
        path = Path(file).resolve()
        root = next((r for r in roots if path.is_relative_to(r)), None)
        if root is None or _SKIP_PARTS.intersection(path.relative_to(root).parts):
            continue
        package = path.name == "__init__.py"
        tail = name.replace(".", "/") + ("/__init__.py" if package else ".py")
        if not path.as_posix().endswith("/" + tail):
            continue  # imported under another name (the app file itself): added as the entry
        # Modules imported later (lazily) travel when named with add_local_python_source.
        out[tail] = path
    return out


def _python_source(name: str) -> dict[str, Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise InvalidError(f"add_local_python_source: module {name!r} is not importable here.")
    origin = Path(spec.origin).resolve()
    if spec.submodule_search_locations:
        folder = origin.parent
        return {
            f"{name.replace('.', '/')}/{p.relative_to(folder).as_posix()}": p for p in _python_files(folder)
        }
    return {f"{name.replace('.', '/')}.py": origin}


def _remote(remote: str) -> str:
    """Where an image's ``remote_path`` lands in the bundle (the executors' working directory
    is the bundle, standing for Modal's ``/root``)."""
    parts = PurePosixPath(remote).parts[1:]
    if parts[:1] == ("root",):
        parts = parts[1:]
    return "/".join(parts)


def _existing(base: Path, local: str, method: str) -> Path:
    path = (base / local).resolve()
    if not path.exists():
        raise InvalidError(
            f"{method}: {local!r} does not exist (paths are relative to where you deploy from)."
        )
    return path


def _images(apps: list[App]) -> list[Any]:
    images = [app.image for app in apps]
    images += [fn._options.image for app in apps for fn in app.functions.values() if fn._options is not None]
    return [i for i in images if i is not None]


def image_plan(apps: list[App]) -> tuple[dict[str, Any] | None, dict[str, Path]]:
    """The apps' images as one plan for the worker, and the files it ships (``_image_plan``)."""
    return _image_plan.plan(_images(apps), Path.cwd())


def _image_files(apps: list[App], base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for image in _images(apps):
        for step in image._steps:
            args = step.args
            if step.method == "add_local_python_source":
                for name in args["modules"]:
                    out.update(_python_source(name))
            elif step.method == "add_local_dir":
                local = _existing(base, args["local"], step.method)
                for p in sorted(local.rglob("*")):
                    if p.is_file():
                        out[f"{_remote(args['remote']).rstrip('/')}/{p.relative_to(local).as_posix()}"] = p
            elif step.method == "add_local_file":
                local = _existing(base, args["local"], step.method)
                remote = args["remote"]
                out[_remote(remote + local.name if remote.endswith("/") else remote)] = local
    return {k.lstrip("/"): v for k, v in out.items()}


def bundle(app_file: Path, module: ModuleType, apps: list[App]) -> tuple[bytes, str, int]:
    """The deterministic zip of the app's code, its sha256 and its file count."""
    files = _local_modules([app_file.resolve().parent, Path.cwd().resolve()])
    files.update(_image_files(apps, Path.cwd()))
    files.update(image_plan(apps)[1])
    files[app_file.name] = app_file.resolve()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name].read_bytes())
    data = out.getvalue()
    return data, hashlib.sha256(data).hexdigest(), len(files)


# -- the store -----------------------------------------------------------------------------------------


def store(env: str) -> Dict:
    return Dict.from_name(STORE, environment_name=env, create_if_missing=True)


def put_blob(d: Dict, data: bytes, digest: str) -> None:
    """Store ``data`` under its hash (nothing to do when it is there already)."""
    if d.get(f"blob/{digest}") is not None:
        return
    n = max(1, -(-len(data) // CHUNK))
    for i in range(n):
        d[f"chunk/{digest}/{i}"] = data[i * CHUNK : (i + 1) * CHUNK]
    d[f"blob/{digest}"] = n  # written last: a blob is complete once this key exists


def get_blob(d: Dict, digest: str) -> bytes:
    """The bundle ``digest`` names, checked against its hash.

    Raises:
        NotFoundError: not stored, or a chunk is missing or altered.
    """
    n = d.get(f"blob/{digest}")
    if n is None:
        raise NotFoundError(f"Code bundle {digest[:12]} is not in the backend's store: redeploy the app.")
    data = b"".join(d.get(f"chunk/{digest}/{i}") or b"" for i in range(int(n)))
    if hashlib.sha256(data).hexdigest() != digest:
        raise NotFoundError(f"Code bundle {digest[:12]} is incomplete or altered in the store: redeploy.")
    return data


def _to_record(raw: Any, name: str) -> AppRecord:
    if raw is None:
        return AppRecord(name)
    data = json.loads(raw)
    versions = [Version(**{**v, "specs": [tuple(s) for s in v["specs"]]}) for v in data["versions"]]
    return AppRecord(name, data["current"], versions)


def read_app(d: Dict, name: str) -> AppRecord:
    return _to_record(d.get(f"app/{name}"), name)


def write_app(d: Dict, record: AppRecord) -> None:
    data = {"current": record.current, "versions": [asdict(v) for v in record.versions]}
    d[f"app/{record.name}"] = json.dumps(data)
    names = set(d.get("apps") or [])
    if record.name not in names:
        d["apps"] = sorted(names | {record.name})


def app_names(d: Dict) -> list[str]:
    return list(d.get("apps") or [])


def add_version(d: Dict, name: str, base: Version, *, rollback_of: int | None = None) -> Version:
    """Append a version (a copy of ``base`` with the next number), make it live, sign it."""
    settings = Client.from_env().settings
    record = read_app(d, name)
    number = max((v.number for v in record.versions), default=0) + 1
    version = Version(
        number, name, base.hash, base.entry, base.specs, time.time(), base.size, base.files,
        rollback_of=rollback_of, packages=base.packages, image=base.image,
    )  # fmt: skip
    if settings.secret is not None:
        version.signature = version.sign(settings.secret)
    record.versions.append(version)
    record.current = number
    dropped, record.versions = record.versions[:-KEEP_VERSIONS], record.versions[-KEEP_VERSIONS:]
    write_app(d, record)
    _collect(d, {v.hash for v in dropped})
    return version


def _collect(d: Dict, hashes: set[str]) -> None:
    """Delete the bundles of collected versions that no kept version of any app names."""
    if not hashes:
        return
    for app in app_names(d):
        hashes -= {v.hash for v in read_app(d, app).versions}
    for digest in hashes:
        n = d.get(f"blob/{digest}")
        if n is None:
            continue
        d.pop(f"blob/{digest}", None)  # first: a blob without this key is absent to readers
        for i in range(int(n)):
            d.pop(f"chunk/{digest}/{i}", None)
