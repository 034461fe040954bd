"""An entrypoint that fails, for ``chute run``'s traceback (tests/test_cli_ops.py)."""

from __future__ import annotations

import chute

app = chute.App("test-failing-entry")


def helper() -> None:
    raise RuntimeError("entry failed")


@app.local_entrypoint()
def main() -> None:
    helper()
