"""Resources and executor recycling as Modal apps declare them: gpu=, cpu=, memory= limits,
single_use_containers / max_inputs=1, startup_timeout, volumes at a mount path, and a function
whose autoscaler and per-call options the tests change.

``$RESOURCES_LOG`` (hooks append ``<event> <pid>``) and ``$RESOURCES_MOUNT`` (the volume's mount
path) are set by the test for deploy and the worker.
"""

import os
import time

import chute as modal

app = modal.App("modal-style-resources")
volume = modal.Volume.from_name("resources-data", create_if_missing=True)
MOUNT = os.environ.get("RESOURCES_MOUNT", "/data")


def _log(event: str) -> None:
    with open(os.environ["RESOURCES_LOG"], "a") as f:
        f.write(f"{event} {os.getpid()}\n")


@app.function(gpu="A100")
def on_gpu() -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@app.function(cpu=64.0)
def many_cores() -> int:
    return os.getpid()


@app.function(memory=(64, 200), timeout=60)
def hog(mib: int, seconds: float = 20) -> int:
    block = b"x" * (mib << 20)  # written, so resident
    time.sleep(seconds)  # a call that is not killed takes this long
    return len(block)


@app.function(timeout=60)
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def fails() -> None:
    raise ValueError("always")


@app.function(max_containers=3, scaledown_window=30)
def capped(seconds: float) -> tuple[int, float, float]:
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


@app.cls(single_use_containers=True)
class OneShot:
    @modal.enter()
    def start(self):
        _log("enter")

    @modal.method()
    def pid(self) -> int:
        return os.getpid()

    @modal.exit()
    def stop(self):
        _log("exit")


@app.function(max_inputs=1)
def legacy_single() -> int:
    return os.getpid()


@app.cls(startup_timeout=2)
class SlowStart:
    @modal.enter()
    def load(self):
        time.sleep(60)

    @modal.method()
    def ping(self) -> str:
        return "pong"


@app.function(volumes={MOUNT: volume})
def write_volume(text: str) -> list[str]:
    with open(os.path.join(MOUNT, "hello.txt"), "w") as f:
        f.write(text)
    return sorted(os.listdir(MOUNT))
