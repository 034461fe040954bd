"""Image, Secret, Volume, schedules, options and classes at the API level (no workers)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import chute
from chute import _options, _runtime
from chute.exception import (
    AlreadyExistsError,
    DeprecationError,
    IgnoredOptionWarning,
    IntegrityError,
    InvalidError,
    NotFoundError,
)
from chute.secret import parse_dotenv, seal, unseal


def _noop() -> None: ...


# -- Image -----------------------------------------------------------------------------------------


def test_image_records_steps_and_hashes() -> None:
    base = chute.Image.debian_slim(python_version="3.12")
    image = base.pip_install("b", ["a"]).apt_install("git").env({"K": "v"}).workdir("/app")
    assert base.steps[0].method == "debian_slim" and len(base.steps) == 1  # immutable
    assert [s.method for s in image.steps] == ["debian_slim", "pip_install", "apt_install", "env", "workdir"]
    assert image.steps[1].args["packages"] == ["a", "b"]  # sorted, as Modal
    assert image.env_vars == {"K": "v"}
    same = chute.Image.debian_slim(python_version="3.12").pip_install("a", "b").apt_install("git")
    assert same.env({"K": "v"}).workdir("/app").hash == image.hash
    assert image.object_id.startswith("im-") and image.hash != base.hash
    assert base.pip_install() is base  # no packages: the same image
    assert image.builds_something and not chute.Image.debian_slim().env({"A": "1"}).builds_something


def test_image_hash_is_stable_across_processes() -> None:
    code = "import chute; print(chute.Image.debian_slim('3.12').pip_install('x').env({'A': '1'}).hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == chute.Image.debian_slim("3.12").pip_install("x").env({"A": "1"}).hash


def test_image_errors_as_modal() -> None:
    with pytest.raises(TypeError, match="float"):
        chute.Image.debian_slim(python_version=3.12)  # type: ignore[arg-type]
    with pytest.raises(InvalidError, match="Unsupported"):
        chute.Image.debian_slim(python_version="3.8")
    with pytest.raises(InvalidError, match="str or list"):
        chute.Image.debian_slim().pip_install(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidError, match="must be strings"):
        chute.Image.debian_slim().env({"A": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidError, match="absolute"):
        chute.Image.debian_slim().add_local_dir(".", "relative")
    local = chute.Image.debian_slim().add_local_dir(".", "/src")
    with pytest.raises(InvalidError, match="add_local"):
        local.pip_install("x")
    local.add_local_file(__file__, "/src/x.py")  # more local files are fine
    chute.Image.debian_slim().add_local_dir(".", "/src", copy=True).pip_install("x")  # copy=True is fine


def test_image_imports_records_or_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    image = chute.Image.debian_slim().pip_install("nothing-here")
    with image.imports():
        import not_a_module_anywhere
    assert isinstance(image.inside_exceptions[0], ImportError)
    with pytest.warns(UserWarning, match="non-ImportError"), image.imports():
        raise RuntimeError("x")
    monkeypatch.setenv("CHUTE_IMAGE_ID", image.object_id)
    with pytest.raises(ImportError), image.imports():
        import not_a_module_anywhere  # noqa: F401


# -- schedules -------------------------------------------------------------------------------------


def test_period_and_cron_validate_and_round_trip() -> None:
    period = chute.Period(hours=1, seconds=0.5)
    assert chute.schedule.Schedule.from_json(period.to_json()) == period
    cron = chute.Cron("*/15 9-17 * * mon-fri", timezone="Europe/Paris")
    assert chute.schedule.Schedule.from_json(cron.to_json()) == cron
    chute.Cron("@daily")
    with pytest.raises(TypeError):
        chute.Period(days=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidError):
        chute.Period()
    for bad in ["* * *", "61 * * * *", "* * * 13 *", "5-1 * * * *", "*/0 * * * *"]:
        with pytest.raises(InvalidError):
            chute.Cron(bad)
    with pytest.raises(InvalidError, match="timezone"):
        chute.Cron("0 6 * * *", timezone="Mars/Base")


# -- function options ------------------------------------------------------------------------------


def test_function_options_are_stored_on_the_spec() -> None:
    app = chute.App("opts", secrets=[chute.Secret.from_dict({"A": "1"})])
    vol = chute.Volume.from_name("v1", create_if_missing=True)

    @app.function(
        env={"MODE": "x"},
        secrets=[chute.Secret.from_name("openai")],
        volumes={"/data": vol},
        gpu="A100:2",
        cpu=(1.0, 2.0),
        memory=512,
        timeout=30,
        startup_timeout=10,
        retries=3,
        min_containers=1,
        max_containers=4,
        buffer_containers=1,
        scaledown_window=20,
        single_use_containers=True,
        name="renamed",
        schedule=chute.Cron("0 * * * *"),
        serialized=True,
    )
    def f() -> None: ...

    assert app.functions["renamed"] is f and f.name == "renamed"
    spec = chute.app.FunctionSpec.from_json(f.spec.to_json())
    assert spec == f.spec
    assert (spec.gpu, spec.cpu, spec.memory, spec.timeout, spec.startup_timeout) == (
        "A100:2",
        [1.0, 2.0],
        512,
        30,
        10,
    )
    assert (spec.min_containers, spec.max_containers, spec.buffer_containers, spec.scaledown_window) == (
        1,
        4,
        1,
        20,
    )
    assert spec.single_use_containers and spec.retries.max_retries == 3
    assert spec.schedule == {"kind": "cron", "cron_string": "0 * * * *", "timezone": "UTC"}
    assert spec.secrets == ["dict:A", "secret:openai", "dict:MODE"]  # names only, app's first, env= last
    assert spec.volumes == {"/data": "v1"}
    assert "1" not in json.dumps(spec.secrets)
    assert f._options is not None and f._options.env == {"MODE": "x"}


def test_bare_decorator_and_decoration_errors() -> None:
    from tests.apps import modal_style_basic as m

    assert m.square.local(3) == 9 and m.app.functions["square"] is m.square  # bare @app.function
    app = chute.App("errors")
    with pytest.raises(TypeError, match=r"app\.cls"):
        app.function()(type("K", (), {}))
    with pytest.raises(InvalidError, match="global scope"):

        @app.function()
        def inner() -> None: ...

    @app.function(serialized=True)
    def allowed() -> None: ...

    with pytest.raises(InvalidError, match="retries"):

        @app.function(retries=1, serialized=True)
        def gen() -> Iterator[int]:
            yield 1

    with pytest.raises(InvalidError, match="no arguments"):

        @app.function(schedule=chute.Period(hours=1), serialized=True)
        def needs(x: int) -> None: ...

    for kwargs, match in [
        ({"timeout": None}, "timeout"),
        ({"scaledown_window": 4000}, "scaledown_window"),
        ({"gpu": "A100:x"}, "gpu"),
        ({"cpu": -1}, "cpu"),
        ({"secrets": chute.Secret.from_dict({})}, "list"),
        ({"volumes": {"/tmp": chute.Volume.from_name("v")}}, "/tmp"),
        ({"max_inputs": 2}, "max_inputs=1"),
        ({"min_containers": 3, "max_containers": 2}, "min_containers"),
    ]:
        with pytest.raises(InvalidError, match=match):
            app.function(**kwargs)
    with pytest.raises(DeprecationError, match="min_containers"):
        app.function(keep_warm=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        app.function(mounts=[])  # type: ignore[call-arg]
    with pytest.warns(DeprecationError, match="single_use_containers"):
        assert app.function(max_inputs=1)(_noop).spec.single_use_containers


def test_cloud_only_options_warn_once_per_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_options, "_warned", set())
    app = chute.App("warn")
    with pytest.warns(IgnoredOptionWarning, match=r"cloud=, region=") as record:
        app.function(cloud="aws", region="us-east")(_noop)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.function(cloud="gcp")(_noop)  # named before: silent
        app.function(gpu="H100", cpu=2, memory=100)(_noop)  # local meaning
    with pytest.warns(IgnoredOptionWarning, match="image="):
        app.function(image=chute.Image.debian_slim().pip_install("torch"))(_noop)


def test_generator_rules() -> None:
    app = chute.App("gens")
    countdown = chute.app.find_function("modal-style-basic", "countdown")
    if countdown is None:
        from tests.apps import modal_style_basic

        countdown = modal_style_basic.countdown
    assert countdown.spec.is_generator
    assert list(countdown.local(3)) == [3, 2, 1]
    for call in (lambda: countdown.remote(1), lambda: countdown.spawn(1), lambda: countdown.map([1])):
        with pytest.raises(InvalidError, match="generator"):
            call()

    @app.function(serialized=True)
    def not_gen() -> int:
        return 1

    with pytest.raises(InvalidError, match="remote_gen"):
        list(not_gen.remote_gen())


def test_with_options_and_concurrency_make_variants() -> None:
    from tests.apps import modal_style_basic as m

    base = m.square
    variant = base.with_options(timeout=7, retries=2, max_containers=3, gpu="T4", env={"X": "1"})
    assert (variant.spec.timeout, variant.spec.retries.max_retries, variant.spec.max_containers) == (7, 2, 3)
    assert variant.spec.gpu == "T4" and variant.spec.secrets[-1] == "dict:X"
    assert base.spec.timeout == 300 and base.spec.gpu is None  # the base is unchanged
    assert variant.with_options(timeout=9).spec.max_containers == 3  # chained: merged
    conc = base.with_concurrency(max_inputs=8, target_inputs=4)
    assert (conc.spec.max_inputs, conc.spec.target_inputs) == (8, 4)
    with pytest.raises(InvalidError):
        base.with_concurrency(max_inputs=2, target_inputs=3)
    with pytest.raises(InvalidError, match=r"Cls\.from_name"):
        chute.Function.from_name("app", "Model.predict")


# -- executor environment and mounts ---------------------------------------------------------------


def test_executor_environment_layers() -> None:
    image = chute.Image.debian_slim().env({"A": "image", "B": "image"})
    env = _runtime.executor_environment(
        {"PATH": "/bin", "A": "worker"},
        image=image,
        secret_values=[{"B": "app-secret", "C": "app"}, {"C": "fn-secret"}],
        env={"D": "env", "E": None},
        image_built=True,
    )
    assert "CHUTE_IMAGE_ID" not in _runtime.executor_environment({}, image=image)  # packages not there
    assert env == {
        "PATH": "/bin",
        "A": "image",
        "B": "app-secret",
        "C": "fn-secret",
        "D": "env",
        "CHUTE_IMAGE_ID": image.object_id,
        "MODAL_IS_REMOTE": "1",
    }


def test_mount_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_VOLUMES_DIR", str(tmp_path))
    a, b = chute.Volume.from_name("a"), chute.Volume.from_name("b").read_only()
    plan = _runtime.mount_plan({"/z": a, "/data": b})
    assert [(m.path, m.volume, m.read_only) for m in plan] == [("/data", "b", True), ("/z", "a", False)]
    assert plan[1].source == tmp_path / "main" / "a"
    with pytest.raises(InvalidError, match="both"):
        _runtime.mount_plan({"/x": a, "/y": a})
    with pytest.raises(InvalidError):
        _runtime.mount_plan({"relative": a})


# -- Volume ----------------------------------------------------------------------------------------


def test_volume_file_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_VOLUMES_DIR", str(tmp_path / "vols"))
    with pytest.raises(NotFoundError):
        chute.Volume.from_name("missing").listdir("/")
    vol = chute.Volume.from_name("data", create_if_missing=True)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("A")
    (tmp_path / "one.bin").write_bytes(b"x" * 3_000_000)
    with vol.batch_upload() as batch:
        batch.put_file(tmp_path / "one.bin", "/one.bin")
        batch.put_file(io.BytesIO(b"hello"), "/sub/hello.txt")
        batch.put_directory(tmp_path / "dir", "/copied")
    assert [e.path for e in vol.listdir("/")] == ["copied", "one.bin", "sub"]
    assert sorted(e.path for e in vol.listdir("/", recursive=True)) == [
        "copied",
        "copied/a.txt",
        "one.bin",
        "sub",
        "sub/hello.txt",
    ]
    assert b"".join(vol.read_file("sub/hello.txt")) == b"hello"
    assert len(b"".join(vol.read_file("/one.bin"))) == 3_000_000
    out = io.BytesIO()
    assert vol.read_file_into_fileobj("one.bin", out) == 3_000_000
    with pytest.raises(FileExistsError), vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"again"), "/sub/hello.txt")
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"again"), "/sub/hello.txt")
    assert b"".join(vol.read_file("sub/hello.txt")) == b"again"
    vol.copy_files(["sub/hello.txt"], "/copied")
    assert {e.path for e in vol.listdir("copied")} == {"copied/a.txt", "copied/hello.txt"}
    with pytest.raises(InvalidError, match="non-empty"):
        vol.remove_file("copied")
    vol.remove_file("copied", recursive=True)
    with pytest.raises(FileNotFoundError):
        list(vol.read_file("copied/a.txt"))
    with pytest.raises(InvalidError, match="outside"):
        vol.listdir("../../etc")
    with pytest.raises(InvalidError, match="glob"):
        vol.listdir("*.txt")
    with pytest.raises(InvalidError, match="read-only"):
        vol.read_only().remove_file("one.bin")
    vol.commit()
    vol.reload()
    # Another process sees the same files (a shared directory).
    code = "import chute; print(b''.join(chute.Volume.from_name('data').read_file('sub/hello.txt')).decode())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "again"
    with chute.Volume.ephemeral() as eph:
        with eph.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"1"), "/x")
        root = eph._root()
        assert root.is_dir()
    assert not root.exists()
    chute.Volume.objects.create("made")
    with pytest.raises(AlreadyExistsError):
        chute.Volume.objects.create("made")
    assert "made" in [v.name for v in chute.Volume.objects.list()]
    chute.Volume.objects.delete("made")
    chute.Volume.objects.delete("made", allow_missing=True)


# -- Secret ----------------------------------------------------------------------------------------


def test_secret_constructors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert chute.Secret.from_dict({"A": "1", "B": None}).resolve() == {"A": "1"}
    with pytest.raises(InvalidError):
        chute.Secret.from_dict({"A": 1})  # type: ignore[dict-item]
    monkeypatch.setenv("LOCAL_TOKEN", "abc")
    assert chute.Secret.from_local_environ(["LOCAL_TOKEN"]).resolve() == {"LOCAL_TOKEN": "abc"}
    with pytest.raises(InvalidError, match="NOT_SET_ANYWHERE"):
        chute.Secret.from_local_environ(["NOT_SET_ANYWHERE"])
    (tmp_path / "sub").mkdir()
    (tmp_path / ".env").write_text("# comment\nexport A=1\nB='two words'\nC=\"x\\ny\"\nD=\nE=v # note\n")
    assert chute.Secret.from_dotenv(tmp_path / "sub").resolve() == {
        "A": "1",
        "B": "two words",
        "C": "x\ny",
        "D": "",
        "E": "v",
    }
    monkeypatch.chdir(tmp_path / "sub")
    assert chute.Secret.from_dotenv().resolve()["A"] == "1"
    assert chute.Secret.from_dotenv(filename=".nothing").resolve() == {}
    secret = chute.Secret.from_dict({"TOKEN": "hidden-value"})
    assert "hidden-value" not in repr(secret) and "TOKEN" in repr(secret)
    assert parse_dotenv("A=1") == {"A": "1"}


def test_secret_sealing_is_authenticated() -> None:
    key = b"k" * 16
    sealed = seal({"TOKEN": "v"}, "main", "s", key)
    assert b'v"' not in sealed and b"TOKEN" in sealed  # key names in clear, values encrypted
    assert unseal(sealed, "main", "s", key) == {"TOKEN": "v"}
    with pytest.raises(IntegrityError):
        unseal(sealed, "main", "other-name", key)  # bound to its name
    with pytest.raises(IntegrityError):
        unseal(sealed, "main", "s", b"x" * 16)
    with pytest.raises(InvalidError, match="CHUTE_SECRET"):
        unseal(sealed, "main", "s", None)
    plain = seal({"TOKEN": "v"}, "main", "s", None)
    assert unseal(plain, "main", "s", None) == {"TOKEN": "v"}
    with pytest.raises(IntegrityError, match="unencrypted"):
        unseal(plain, "main", "s", key)


def test_secret_store_on_backend(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chute.Secret.objects.create("api", {"TOKEN": "value-1", "USER": "me"})
    with pytest.raises(AlreadyExistsError):
        chute.Secret.objects.create("api", {"TOKEN": "x"})
    assert chute.Secret.from_name("api").resolve() == {"TOKEN": "value-1", "USER": "me"}
    with pytest.raises(InvalidError, match="required keys"):
        chute.Secret.from_name("api", required_keys=["MISSING"]).resolve()
    chute.Secret.from_name("api").update({"USER": "you"})
    assert chute.Secret.from_name("api").resolve()["USER"] == "you"
    assert [s.name for s in chute.Secret.objects.list()] == ["api"]
    with pytest.raises(NotFoundError, match="chute secret create"):
        chute.Secret.from_name("nope").hydrate()
    chute.Secret.objects.delete("api")
    with pytest.raises(NotFoundError):
        chute.Secret.objects.delete("api")
    monkeypatch.setenv("CHUTE_SECRET", "a-key")
    chute.Secret.objects.create("enc", {"TOKEN": "value-2"})
    assert chute.Secret.from_name("enc").resolve() == {"TOKEN": "value-2"}
    info = chute.secret.list_stored()[0]
    assert info.encrypted and info.keys == ("TOKEN",)


def test_secret_cli_never_prints_values(chute_env: str) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chute", *args], capture_output=True, text=True, timeout=60
        )

    created = cli("secret", "create", "db", "PASSWORD=hunter2-value", "HOST=db.local")
    assert created.returncode == 0, created.stderr
    listed = cli("secret", "list")
    as_json = json.loads(cli("secret", "list", "--json").stdout)
    assert as_json[0]["name"] == "db" and as_json[0]["keys"] == ["HOST", "PASSWORD"]
    again = cli("secret", "create", "db", "PASSWORD=x")
    assert again.returncode == 1 and "already exists" in again.stderr
    for result in (created, listed, again):
        assert "hunter2-value" not in result.stdout + result.stderr
    dict_list = cli("dict", "list")
    assert "hunter2-value" not in dict_list.stdout + dict_list.stderr
    assert cli("secret", "delete", "db", "--yes").returncode == 0
    assert cli("secret", "list", "--json").stdout.strip() == "[]"


# -- classes at the API level ----------------------------------------------------------------------


def test_cls_declaration_rules() -> None:
    app = chute.App("cls-rules")
    with pytest.raises(TypeError):
        app.cls()(lambda: None)
    with pytest.raises(InvalidError, match="constructor"):
        app.cls(serialized=True)(type("WithInit", (), {"__init__": lambda self: None}))
    with pytest.raises(InvalidError, match="type"):
        app.cls()(type("F", (), {"__annotations__": {"x": float}, "x": chute.parameter()}))
    with pytest.raises(InvalidError, match="annotated"):
        app.cls()(type("N", (), {"x": chute.parameter()}))
    with pytest.raises(InvalidError, match="memory_snapshot"):
        app.cls()(type("S", (), {"load": chute.enter(snap=True)(lambda self: None)}))
    with pytest.raises(InvalidError, match="combined"):
        chute.method()(chute.enter()(lambda self: None))


def test_cls_instances_and_local_calls() -> None:
    from tests.apps.modal_style_inference import Model, app

    assert set(app.functions) >= {"Model.predict", "Model.stream"}
    assert app.functions["Model.stream"].spec.is_generator
    small = Model(name="small")
    assert small == Model(name="small", scale=2)  # defaults applied: the same instance
    assert small != Model(name="small", scale=3) and small != Model(name="large")
    assert small.predict.local(3) == 6
    assert small.loaded == 1  # attributes come from the local instance; enter ran once
    small.predict.local(4)
    assert small._local().loaded == 1
    assert list(small.stream.local(2)) == [0, 2]
    with pytest.raises(AttributeError, match="instantiate"):
        Model.predict  # noqa: B018
    with pytest.raises(TypeError, match="Expected int, got str"):
        Model(name="small", scale="2")._remote_params()
    with pytest.raises(InvalidError, match="positional"):
        Model("small")._remote_params()
    with pytest.raises(InvalidError, match="missing"):
        Model()._remote_params()
    with pytest.raises(InvalidError, match="no parameters"):
        Model(name="x", other=1)._remote_params()
    with pytest.raises(ValueError, match="pickleable"):
        Model(name=lambda: None if False else (x for x in ()))
    variant = Model.with_options(gpu="A100", timeout=20).with_concurrency(max_inputs=4)
    assert variant(name="small").predict.spec.timeout == 20
    assert variant._methods["predict"].spec.max_inputs == 4


def test_cls_run_method_builds_the_instance_per_call() -> None:
    from chute.cls import instance_for, run_exit_hooks, run_method
    from tests.apps.modal_style_inference import Model

    instance = instance_for(Model, {"name": "large", "scale": 1})
    assert instance.weights == 10 and instance.loaded == 1
    assert instance.predict(2) == 20  # self.method(...) inside the class: a local call
    run_exit_hooks(instance)
    assert run_method(Model, "predict", {"name": "small", "scale": 2}, 5) == 10
