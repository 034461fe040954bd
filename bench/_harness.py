"""Timing, statistics and result tables shared by the benchmark groups.

Each group module exposes ``run(env, scale) -> Report``: a ``Report`` holds the tables to
print (rendered both with rich and as markdown for ``bench/RESULTS.md``) and the raw numbers
for the JSON file. Latencies are kept in integer nanoseconds until they are formatted.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich import box
from rich.table import Table


@dataclass(frozen=True)
class Scale:
    """How much work each group does. ``--quick`` shrinks counts but keeps every measurement."""

    quick: bool
    latency_reps: int  # repetitions; the systems are interleaved within each one
    latency_iters: int  # put+get pairs timed per repetition
    latency_warmup: int  # untimed pairs before each repetition
    batch_size: int
    batch_rounds: int  # timed put_many+get_many rounds per system
    batch_warmup: int
    xproc_items: int  # items sent producer -> consumer per cross-process run
    xproc_reps: int
    wakeup_rounds: int  # timed wake-ups per system
    wakeup_warmup: int
    idle_seconds: float

    @classmethod
    def full(cls) -> Scale:
        return cls(
            quick=False,
            latency_reps=5,
            latency_iters=2000,
            latency_warmup=300,
            batch_size=1000,
            batch_rounds=30,
            batch_warmup=5,
            xproc_items=20_000,
            xproc_reps=3,
            wakeup_rounds=500,
            wakeup_warmup=30,
            idle_seconds=5.0,
        )

    @classmethod
    def small(cls) -> Scale:
        return cls(
            quick=True,
            latency_reps=3,
            latency_iters=1000,
            latency_warmup=200,
            batch_size=1000,
            batch_rounds=10,
            batch_warmup=2,
            xproc_items=10_000,
            xproc_reps=1,
            wakeup_rounds=300,
            wakeup_warmup=20,
            idle_seconds=5.0,
        )


# -- statistics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Summary of a sample (units are the caller's: ns for latencies, items/s for rates)."""

    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(sorted_xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of an already sorted sample, linearly interpolated."""
    if not sorted_xs:
        return math.nan
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(xs: Sequence[float]) -> Stats:
    s = sorted(xs)
    if not s:
        return Stats(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Stats(len(s), percentile(s, 0.5), percentile(s, 0.99), sum(s) / len(s), s[0], s[-1])


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either side was not measured."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def settle() -> None:
    """Collect garbage before a timed section, so one system does not pay for another's garbage."""
    gc.collect()


# -- formatting --------------------------------------------------------------------------------

NA = "n/a"


def fmt_ns(ns: float | None) -> str:
    """A latency: µs below 10 ms, else ms."""
    if ns is None or math.isnan(ns):
        return NA
    us = ns / 1000
    if us < 100:
        return f"{us:.1f} µs"
    if us < 10_000:
        return f"{us:.0f} µs"
    return f"{us / 1000:.1f} ms"


def fmt_rate(per_s: float | None) -> str:
    if per_s is None or math.isnan(per_s):
        return NA
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k/s"
    return f"{per_s:.0f} /s"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return NA
    return f"{x:.3f}x" if x < 0.1 else f"{x:.2f}x"


def verdict(ok: bool | None) -> str:
    """Whether a target is met: informational only, nothing fails on it."""
    return NA if ok is None else ("yes" if ok else "NO")


def unavailable_notes(reasons: Iterable[str | None]) -> list[str]:
    """One footnote per distinct reason some rows read n/a."""
    return [f"n/a: {r}" for r in sorted({r for r in reasons if r})]


# -- tables ------------------------------------------------------------------------------------


@dataclass
class ResultTable:
    """One table of results, printable with rich and as GitHub markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def to_rich(self) -> Table:
        caption = "\n".join(self.notes) if self.notes else None
        table = Table(
            title=self.title,
            caption=caption,
            caption_justify="left",
            box=box.SIMPLE_HEAVY,
            title_justify="left",
            title_style="bold",
        )
        for i, col in enumerate(self.columns):
            # First column names the system; the rest are numbers, right-aligned.
            table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in self.rows:
            table.add_row(*row)
        return table

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        lines.append("")
        return "\n".join(lines)


@dataclass
class Report:
    """What a benchmark group hands back to ``run.py``."""

    tables: list[ResultTable]
    data: dict[str, Any]
