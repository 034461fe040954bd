"""Jepsen-style accounting for the chaos suite: what was acknowledged vs what came back.

Every scenario fills in one ``Tally`` (the ``tally`` fixture of ``tests/chaos/conftest.py``
records it when the test ends, pass or fail). The tallies are printed in pytest's terminal
summary and appended, one line each, to ``test-artifacts/chaos-tally.txt``.

Vocabulary, for items (queue items, dict entries) and for calls (jobs) alike:

- ``acked``: operations the client saw succeed (a ``put`` returned, a ``spawn`` returned an id).
- ``received``: distinct acknowledged items read back (consumed, drained, or looked up) intact.
- ``lost``: acknowledged, never received.
- ``duplicated``: received more than once (counted once per extra copy).
- ``unexpected``: received but never sent, or corrupted (checksum mismatch).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "chaos-tally.txt"

RESULTS: list[Tally] = []
_header_written = False


@dataclass
class Tally:
    scenario: str
    backend: str
    acked: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    kills: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
    outcome: str = "?"

    def account(
        self,
        acked: Iterable[Hashable],
        received: Iterable[Hashable],
        *,
        unexpected: int = 0,
        may_be_present: Iterable[Hashable] = (),
    ) -> tuple[set[Hashable], Counter[Hashable]]:
        """Fill acked/received/lost/duplicated from ids. ``received`` is every copy read back
        (valid ids only; corrupted ones are counted in ``unexpected``). Ids that were neither
        acknowledged nor in ``may_be_present`` (in-flight, unacknowledged writes) count as
        unexpected. Returns ``(lost ids, Counter of received ids)``."""
        acked_set = set(acked)
        counts = Counter(received)
        maybe = set(may_be_present)
        self.acked = len(acked_set)
        self.received = sum(1 for k in acked_set if counts[k] > 0)
        lost = {k for k in acked_set if counts[k] == 0}
        self.lost = len(lost)
        self.duplicated = sum(c - 1 for c in counts.values() if c > 1)
        self.unexpected = unexpected + sum(1 for k in counts if k not in acked_set and k not in maybe)
        return lost, counts

    def line(self) -> str:
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.extra.items())
        return (
            f"{self.outcome:7} {self.scenario:<34} {self.backend:<7} {self.seconds:6.1f}s "
            f"acked={self.acked} received={self.received} lost={self.lost} dup={self.duplicated} "
            f"unexpected={self.unexpected} kills={self.kills}" + (f" {extra}" if extra else "")
        )


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def record(t: Tally) -> None:
    """Keep the tally for the terminal summary and append it to the artifact file."""
    global _header_written
    RESULTS.append(t)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    with ARTIFACT.open("a") as f:
        if not _header_written:
            f.write(f"# chaos run {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            _header_written = True
        f.write(t.line() + "\n")
