"""Web endpoints that depend on their function's settings, served by ``chute serve`` in
tests/test_web_endpoints.py: secrets (a stored one and a dict), ``env=``, the image's
``.env()``, and a class endpoint whose ``@chute.enter`` hook must run once per executor.

``WEB_TEST_EVENTS`` (set by the test) is a file each executor appends its lifecycle events to.
"""

from __future__ import annotations

import os
from typing import Any

import fastapi

import chute

image = chute.Image.debian_slim().env({"FROM_IMAGE": "image-value"})
app = chute.App("web-settings", image=image)
EVENTS = os.environ.get("WEB_TEST_EVENTS", os.devnull)
# Read at import: the executor imports this file with the function's environment already set.
SECRET_AT_IMPORT = os.environ.get("STORED_TOKEN")


def _event(text: str) -> None:
    with open(EVENTS, "a") as f:
        f.write(f"{os.getpid()} {text}\n")


@app.function(
    secrets=[
        chute.Secret.from_name("web-stored-secret"),
        chute.Secret.from_dict({"DICT_TOKEN": "dict-value"}),
    ],
    env={"MODE": "prod"},
)
@chute.fastapi_endpoint()
def settings() -> dict[str, Any]:
    return {
        name: os.environ.get(name)
        for name in ("STORED_TOKEN", "DICT_TOKEN", "MODE", "FROM_IMAGE", "MODAL_IS_REMOTE")
    } | {"at_import": SECRET_AT_IMPORT}


@app.cls(min_containers=2, max_containers=2, env={"CLS_MODE": "cls"})
class Greeter:
    greeting: str = chute.parameter(default="hello")

    @chute.enter()
    def load(self) -> None:
        _event("enter")
        self.entered = getattr(self, "entered", 0) + 1

    @chute.exit()
    def close(self) -> None:
        _event("exit")

    @chute.fastapi_endpoint()
    def greet(self, name: str) -> dict[str, Any]:
        return {
            "text": f"{self.greeting} {name}",
            "entered": self.entered,
            "pid": os.getpid(),
            "mode": os.environ.get("CLS_MODE"),
        }

    @chute.asgi_app(label="greeter-app")
    def web(self) -> fastapi.FastAPI:
        web_app = fastapi.FastAPI()

        @web_app.get("/hi")
        def hi() -> dict[str, Any]:
            return {"greeting": self.greeting, "entered": self.entered}

        return web_app
