"""Resources: what one executor of a function needs (``gpu=``, ``cpu=``, ``memory=``) and what a
worker has (``chute worker --gpus/--cpu/--memory``). Pure: no I/O besides machine detection.

- **GPUs** are counted, not typed: ``"A100:2"`` needs 2 GPUs, ``"any"``/``"T4"`` one; a list
  (Modal's fallback ranking) needs the count of its first entry. A worker holds GPU ids
  (``--gpus 0,1``, or those ``nvidia-smi`` lists); each executor gets its own ids in
  ``CUDA_VISIBLE_DEVICES``.
- **CPU and memory** requests (the first of a ``(request, limit)`` pair) are counted against the
  worker's declared capacity. A memory *limit* (a plain ``memory=`` or the pair's second value)
  is enforced on the executor's processes (``chute.worker._limits``).

Live workers announce their ``Capacity`` in the worker registry, so a listing can say why a
function's calls wait (``unmet``): "needs 1 GPU; no live worker has one".
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chute.exception import InvalidError

_COUNT = re.compile(r":(\d+)$")


@dataclass(frozen=True)
class Need:
    """One executor's requirement: GPUs (a count), CPU cores, memory request and limit (MiB)."""

    gpus: int = 0
    cpu: float = 0.0
    memory: int = 0
    memory_limit: int | None = None

    @classmethod
    def of(cls, gpu: Any, cpu: Any, memory: Any) -> Need:
        """From a ``FunctionSpec``'s stored ``gpu``/``cpu``/``memory`` values."""
        return cls(
            gpus=gpu_count(gpu), cpu=_request(cpu), memory=int(_request(memory)), memory_limit=_limit(memory)
        )

    @property
    def any(self) -> bool:
        return bool(self.gpus or self.cpu or self.memory)


def gpu_count(gpu: Any) -> int:
    """GPUs a ``gpu=`` value asks for: 0 for None, the ``:N`` suffix, else 1."""
    if not gpu:
        return 0
    first = gpu[0] if isinstance(gpu, list) else gpu
    match = _COUNT.search(str(first))
    return int(match.group(1)) if match else 1


def _request(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value[0] if isinstance(value, list | tuple) else value)


def _limit(memory: Any) -> int | None:
    if memory is None:
        return None
    return int(memory[1] if isinstance(memory, list | tuple) else memory)


@dataclass(frozen=True)
class Capacity:
    """What a worker offers its executors: GPU ids, CPU cores and memory (MiB)."""

    gpus: tuple[str, ...]
    cpu: float
    memory: int

    def fits(self, need: Need) -> bool:
        """Whether one executor needing ``need`` fits in this capacity when nothing else runs."""
        return need.gpus <= len(self.gpus) and need.cpu <= self.cpu and need.memory <= self.memory

    def to_json(self) -> dict[str, Any]:
        return {"gpus": list(self.gpus), "cpu": self.cpu, "memory": self.memory}

    @classmethod
    def from_json(cls, raw: Any) -> Capacity | None:
        """From a worker's registry entry; None when it announced none (an older worker)."""
        if not isinstance(raw, dict):
            return None
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return cls(tuple(str(g) for g in raw["gpus"]), float(raw["cpu"]), int(raw["memory"]))
        return None


def parse_gpus(text: str) -> tuple[str, ...]:
    """``--gpus 0,1`` → ``("0", "1")``; ``--gpus none`` (or empty) → no GPUs.

    Raises:
        InvalidError: an id that is not a non-negative integer (or a GPU UUID), or a repeated id.
    """
    if text.strip().lower() in ("", "none"):
        return ()
    ids = tuple(part.strip() for part in text.split(","))
    for gpu in ids:
        if not re.fullmatch(r"\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+", gpu):
            raise InvalidError(
                f"--gpus takes GPU indexes or UUIDs separated by commas (e.g. 0,1), got {gpu!r}."
            )
    if len(set(ids)) != len(ids):
        raise InvalidError(f"--gpus lists a GPU twice: {text!r}.")
    return ids


def detect_gpus() -> tuple[str, ...]:
    """The GPU indexes ``nvidia-smi`` lists (none when it is missing or fails)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip().isdigit())


def machine_memory_mib() -> int:
    """Physical memory of this machine in MiB (a large number where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20))
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def worker_capacity(gpus: str | None, cpu: float | None, memory: int | None) -> Capacity:
    """The capacity of ``chute worker --gpus/--cpu/--memory`` (defaults: detected from the machine).

    Raises:
        InvalidError: ``--cpu``/``--memory`` not positive, or bad ``--gpus``.
    """
    if cpu is not None and not cpu > 0:
        raise InvalidError(f"--cpu must be a positive number of cores, got {cpu!r}.")
    if memory is not None and not memory > 0:
        raise InvalidError(f"--memory must be a positive number of MiB, got {memory!r}.")
    return Capacity(
        gpus=parse_gpus(gpus) if gpus is not None else detect_gpus(),
        cpu=float(cpu) if cpu is not None else float(os.cpu_count() or 1),
        memory=int(memory) if memory is not None else machine_memory_mib(),
    )


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def unmet(need: Need, capacities: Iterable[Capacity | None]) -> str | None:
    """Why no live worker can start an executor needing ``need`` (None when one can, or when
    a worker did not say what it has). ``capacities``: those of the live workers serving it."""
    known = []
    for cap in capacities:
        if cap is None or cap.fits(need):
            return None
        known.append(cap)
    if not known:
        return None
    if need.gpus and not any(need.gpus <= len(c.gpus) for c in known):
        most = max(len(c.gpus) for c in known)
        has = "one" if need.gpus == 1 else str(need.gpus)
        tail = "" if most == 0 or need.gpus == 1 else f" (the most is {most})"
        return f"needs {_plural(need.gpus, 'GPU')}; no live worker has {has}{tail}"
    if need.cpu and not any(need.cpu <= c.cpu for c in known):
        most_cpu = max(c.cpu for c in known)
        return f"needs {_plural(need.cpu, 'CPU')}; no live worker has that many (the most is {most_cpu:g})"
    most_mem = max(c.memory for c in known)
    return f"needs {need.memory} MiB of memory; no live worker has that much (the most is {most_mem} MiB)"


def pending_reason(key: str, need: Need, workers: Iterable[dict[str, Any]], backlog: int) -> str | None:
    """Why ``key``'s pending calls cannot run (for listings): no live worker serves it, or none
    of those that do has the resources one executor needs. None when they can run."""
    workers = list(workers)
    serving = [w for w in workers if key in (w.get("functions") or [])]
    if not serving:
        why = unserved_reason(key, workers)
        if why is not None:
            return why
        return "no live worker serves it" if backlog else None
    return unmet(need, (Capacity.from_json(w.get("capacity")) for w in serving))


def unserved_reason(key: str, workers: Iterable[dict[str, Any]]) -> str | None:
    """Why a ``chute worker --all`` does not serve ``key`` (its image cannot be built there, its
    code is refused...), as that worker announced it; None when none said."""
    for w in workers:
        reasons = w.get("unserved")
        if isinstance(reasons, dict) and isinstance(reasons.get(key), str):
            return str(reasons[key])
    return None
