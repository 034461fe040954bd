"""Every program in examples/ runs, unchanged, on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED_003 = ["seed003_blocking.py", "seed003_nonblocking.py", "seed003_timeout.py"]


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120
    )


def test_seed003_programs(chute_env: str) -> None:
    procs = {
        name: subprocess.Popen([sys.executable, str(EXAMPLES / name)], stdout=subprocess.PIPE, text=True)
        for name in SEED_003
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, name
        lines = out.splitlines()
        got = [line for line in lines if line.startswith(">got ")]
        assert len(got) == 10, (name, out)
        # The producer prints its "Done" after its last put, so it may race the consumer's.
        assert "Producer: Done" in lines and "Consumer: Done" in lines, (name, out)
        assert lines.index("Consumer: Done") > max(
            i for i, line in enumerate(lines) if line.startswith(">got ")
        ), (
            name,
            out,
        )


@pytest.mark.parametrize("name", ["seed_queue.py", "seed_async.py"])
def test_seed_examples(chute_env: str, name: str) -> None:
    result = run(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_pipeline_demo(chute_env: str) -> None:
    result = run("pipeline.py", "3000", "2")
    assert result.returncode == 0, result.stderr
    assert "3,000 tasks" in result.stdout and "none lost" in result.stdout
