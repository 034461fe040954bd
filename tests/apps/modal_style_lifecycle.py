"""Executor lifecycle as Modal apps rely on it: @enter once per executor, @exit on scale-down
and SIGTERM, secrets and env= in the executor's environment, @concurrent on a class.

Hooks append ``<event> <pid>`` lines to ``$LIFECYCLE_LOG`` (set by the test for the worker).
"""

import asyncio
import os
import time

import chute as modal

app = modal.App("modal-style-lifecycle")


def _log(event: str) -> None:
    with open(os.environ["LIFECYCLE_LOG"], "a") as f:
        f.write(f"{event} {os.getpid()}\n")


@app.cls(scaledown_window=2)
class Counter:
    @modal.enter()
    def start(self):
        _log("enter")
        self.hits = 0

    @modal.method()
    def hit(self) -> tuple[int, int]:
        self.hits += 1
        return os.getpid(), self.hits

    @modal.exit()
    def stop(self):
        _log("exit")


@app.cls(scaledown_window=30)
@modal.concurrent(max_inputs=20)
class Embedder:
    @modal.enter()
    async def load(self):
        await asyncio.sleep(0.3)  # concurrent first calls wait for this one load
        _log("aenter")

    @modal.method()
    async def embed(self, text: str) -> tuple[int, str, float, float]:
        start = time.time()
        await asyncio.sleep(1.0)
        return os.getpid(), text.upper(), start, time.time()


@app.function(
    secrets=[
        modal.Secret.from_dict({"LIFECYCLE_TOKEN": "tok-secret-42"}),
        modal.Secret.from_name("lc-named"),
    ],
    env={"LIFECYCLE_MODE": "prod", "LIFECYCLE_DROPPED": None},
)
def environment() -> dict[str, str | None]:
    return {
        k: os.environ.get(k)
        for k in ("LIFECYCLE_TOKEN", "LIFECYCLE_MODE", "LIFECYCLE_DROPPED", "NAMED_KEY", "MODAL_IS_REMOTE")
    } | {"call": modal.current_function_call_id(), "local": str(modal.is_local())}
