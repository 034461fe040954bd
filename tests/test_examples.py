"""Every program in examples/ runs, unchanged, on every backend."""

from __future__ import annotations

import re
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
        # The seed's producer and consumer are threads of one program: their prints may interleave
        # within a line ("Producer: Done>got 0.97"), so count the values, not the lines.
        got = re.findall(r">got \d", out)
        assert len(got) == 10, (name, out)
        assert "Producer: Done" in out and "Consumer: Done" in out, (name, out)
        assert out.rindex("Consumer: Done") > out.rindex(">got "), (name, out)


@pytest.mark.parametrize("name", ["seed_queue.py", "seed_async.py"])
def test_seed_examples(chute_env: str, name: str) -> None:
    result = run(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_pipeline_demo(chute_env: str) -> None:
    result = run("pipeline.py", "3000", "2")
    assert result.returncode == 0, result.stderr
    # rich wraps the summary at the terminal width, and the store's path in it can be long.
    out = " ".join(result.stdout.split())
    assert "3,000 tasks" in out and "none lost" in out, out
