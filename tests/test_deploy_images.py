"""Images on ``chute worker --all`` (issue 15): one virtualenv per image, and images it won't build.

Real processes on every backend, no network: the packages are wheels made in the test's
folder and installed by path (``pip_install``) or from a requirements file shipped with the
deploy. Two workers started together on one machine build the virtualenv once. An image that
needs ``apt_install`` (or a Python the machine lacks) is not built without
``--allow-image-commands``, and the reason shows in ``chute function list``, on the dashboard
and in the caller's warning.
"""

from __future__ import annotations

import asyncio
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import chute
from chute._async import call_ops as async_call_ops
from chute._sync import call_ops as sync_call_ops
from tests._workers import wait_until
from tests.test_deploy_code import Deployment

IMAGE_APP = """
import os
import sys
import chute

image = (
    chute.Image.debian_slim()
    .pip_install({wheel!r})
    .pip_install_from_requirements("requirements.txt")
    .env({{"GREETING": "hello"}})
    .workdir("/root/work")
)
app = chute.App("imgapp", image=image)


@app.function()
def g():
    import chutetinypkg
    import chutereqpkg

    return [chutetinypkg.VALUE, chutereqpkg.VALUE, sys.prefix, os.getcwd(), os.environ["GREETING"]]
"""

BLOCKED_APP = """
import chute

app = chute.App("aptapp", image=chute.Image.debian_slim().apt_install("cowsay"))
old = chute.App("oldpy", image=chute.Image.debian_slim(python_version="3.10"))


@app.function()
def h():
    return "apt"


@old.function()
def k():
    return "old"
"""

COMMANDS_APP = """
import chute

image = chute.Image.debian_slim().run_commands("echo ran > {marker}")
app = chute.App("cmdapp", image=image)


@app.function()
def c():
    return open({marker!r}).read().strip()
"""


def wheel(folder: Path, name: str) -> Path:
    """A pure-Python wheel made by hand (no index, no build backend needed)."""
    info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {name!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"])
    path = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for file, text in files.items():
            z.writestr(file, text)
    return path


@pytest.fixture
def deployment(chute_env: str, tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path, "imgapp")
    yield d
    d.stop()


@pytest.mark.timeout(300)
def test_image_virtualenv_built_once_and_shared(deployment: Deployment) -> None:
    src = deployment.src
    (src / "requirements.txt").write_text(f"{wheel(src, 'chutereqpkg')}\n")
    (src / "imgapp.py").write_text(IMAGE_APP.format(wheel=str(wheel(src, "chutetinypkg"))))
    deployment.cli("deploy", "imgapp.py")
    logs = [deployment.start_worker(), deployment.start_worker()]  # together: one builds, one waits
    call = chute.Function.from_name("imgapp", "g").spawn()
    try:
        tiny, req, prefix, cwd, greeting = call.get(timeout=240)  # a venv with pip: slow when loaded
    except TimeoutError:
        for log in logs:
            print(log.read_text())  # shown by pytest: where the build stands
        raise
    assert (tiny, req, greeting) == ("chutetinypkg", "chutereqpkg", "hello")
    (venv,) = (deployment.cache / "venvs").glob("*/pyvenv.cfg")
    assert Path(prefix) == venv.parent  # the executor runs with the image's virtualenv's Python
    assert Path(cwd).name == "work" and (Path(cwd).parent / "imgapp.py").is_file()  # workdir
    for log in logs:
        deployment.wait_log(log, "serving imgapp version 1")
    built = [log.read_text().count("built the image's virtualenv") for log in logs]
    assert sorted(built) == [0, 1]
    with pytest.raises(ImportError):
        import chutetinypkg  # noqa: F401  # only the image's virtualenv has it


def _dashboard_waits() -> dict[str, str | None]:
    from tests.http.conftest import asgi_client

    async def read() -> dict[str, str | None]:
        async with asgi_client() as client:
            data = (await client.get("/dashboard/summary")).json()
        return {f"{f['app']}.{f['name']}": f["waits"] for f in data["functions"]}

    return asyncio.run(read())


def test_images_the_worker_may_not_build_say_why(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deployment.src / "blocked.py").write_text(BLOCKED_APP)
    deployment.cli("deploy", "blocked.py")
    deployment.start_worker()

    def listing() -> str:
        return " ".join(deployment.cli("function", "list").split())  # rich wraps long lines

    wait_until(lambda: "python3.10" in listing(), timeout=60, what="both reasons listed")
    text = listing()
    assert "aptapp.h waits: its image needs apt_install" in text
    assert "--allow-image-commands" in text
    assert "oldpy.k waits: its image needs Python 3.10" in text
    waits = _dashboard_waits()
    assert "apt_install" in (waits["aptapp.h"] or "") and "3.10" in (waits["oldpy.k"] or "")
    monkeypatch.setattr(sync_call_ops, "NO_WORKER_AFTER", 0.5)
    monkeypatch.setattr(async_call_ops, "NO_WORKER_AFTER", 0.5)
    call = chute.Function.from_name("aptapp", "h").spawn()
    with caplog.at_level(logging.WARNING, logger="chute"), pytest.raises(TimeoutError):
        call.get(timeout=3)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "chute"]
    assert "aptapp.h" in message and "apt_install" in message and "--allow-image-commands" in message
    assert call.info().state is chute.CallState.PENDING


def test_image_commands_run_with_the_opt_in(deployment: Deployment, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    (deployment.src / "cmd.py").write_text(COMMANDS_APP.format(marker=str(marker)))
    deployment.cli("deploy", "cmd.py")
    deployment.start_worker("--allow-image-commands")
    assert chute.Function.from_name("cmdapp", "c").remote() == "ran"


def test_image_plan(tmp_path: Path) -> None:
    from chute._image_plan import plan

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "requirements.txt").write_text("six\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["attrs"]\n[project.optional-dependencies]\nfast = ["ujson"]\n'
    )
    image = (
        chute.Image.debian_slim(python_version="3.12")
        .pip_install("requests", extra_options="--no-deps")
        .pip_install_from_requirements("a/requirements.txt")
        .pip_install_from_pyproject("pyproject.toml", optional_dependencies=["fast"])
        .apt_install("curl")
        .run_commands("echo hi")
        .env({"A": "1"})
        .workdir("/root/w")
    )
    out, files = plan([image, image], tmp_path)  # an app's images sharing steps: each step once
    assert out is not None
    assert [s["args"] for s in out["steps"] if s["kind"] == "pip"] == [
        ["requests", "--no-deps"],
        ["-r", next(iter(files))],
        ["attrs", "ujson"],
    ]
    assert out["needs"] == ["apt_install", "run_commands"]
    assert (out["python"], out["env"], out["workdir"]) == ("3.12", {"A": "1"}, "/root/w")
    # The key is the content: the same requirements from another folder name the same virtualenv.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "requirements.txt").write_text("six\n")
    other = chute.Image.debian_slim(python_version="3.12").pip_install("requests", extra_options="--no-deps")
    again, _ = plan([other.pip_install_from_requirements("b/requirements.txt")], tmp_path)
    first, _ = plan([other.pip_install_from_requirements("a/requirements.txt")], tmp_path)
    assert again is not None and first is not None and again["key"] == first["key"]
    with pytest.raises(chute.exception.InvalidError, match="does not exist"):
        plan([chute.Image.debian_slim().pip_install_from_requirements("missing.txt")], tmp_path)
