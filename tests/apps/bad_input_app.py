"""Job functions for tests/test_bad_input.py: results and errors that used to escape chute's checks."""

from __future__ import annotations

import threading

import chute

app = chute.App("test-bad-input")


class Weird(Exception):
    """Pickles to something that is not an exception (a str)."""

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return (str, ("not an exception",))


@app.function()
def ok() -> int:
    return 1


@app.function()
def huge_error(size: int) -> None:
    raise ValueError("e" * size)


@app.function()
def unpicklable_result() -> object:
    return {"lock": threading.Lock()}


@app.function()
def weird_error() -> None:
    raise Weird("boom")
