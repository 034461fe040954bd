"""A rich progress bar for ``Function.map`` when a person is watching (stderr is a terminal)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import rich.progress


class Progress:
    """Counts finished calls; draws nothing unless stderr is a terminal."""

    def __init__(self, total: int, label: str) -> None:
        self._bar: rich.progress.Progress | None = None
        self._task: Any = None
        if total > 1 and sys.stderr.isatty():
            # Imported here: rich's progress costs ~60 ms of every process's `import chute`.
            import rich.progress
            from rich.console import Console

            self._bar = rich.progress.Progress(console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
