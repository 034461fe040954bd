"""Project hygiene: the public surface and the generated sync code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import chute
import chute.exception

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_complete() -> None:
    for module in (chute, chute.exception):
        public = {n for n in dir(module) if not n.startswith("_") and n != "annotations"}
        exported = set(module.__all__)
        assert list(module.__all__) == sorted(module.__all__)
        assert exported <= public | {"__version__"}
    assert {"Queue", "exception", "__version__"} <= set(chute.__all__)


def test_exceptions_share_a_base() -> None:
    for name in chute.exception.__all__:
        cls = getattr(chute.exception, name)
        base_exception = cls is chute.exception.InputCancellation  # a BaseException, as in Modal
        assert issubclass(cls, chute.exception.Error) or issubclass(cls, Warning) or base_exception, name
    assert issubclass(chute.exception.InvalidError, ValueError)
    assert issubclass(chute.exception.BackendUnavailableError, ConnectionError)
    assert not issubclass(chute.exception.OutputExpiredError, TimeoutError)  # as in Modal


def test_generated_sync_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
