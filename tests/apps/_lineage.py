"""Which worker (supervisor) runs this executor, for test apps that check where calls ran."""

from __future__ import annotations

import os
from pathlib import Path


def worker_pid() -> int:
    """The pid of the worker running this executor: its parent, or its parent's parent when it
    was forked from the worker's zygote (chute/worker/_zygote.py)."""
    parent = os.getppid()
    title = Path(f"/proc/{parent}/cmdline").read_bytes()
    if title.startswith(b"chute executor zygote"):
        return int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return parent
