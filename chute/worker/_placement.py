"""A worker's resources as its executors hold them: which GPUs are free, how many CPU cores
and MiB of memory are promised (``chute._resources`` has the rules; this is the ledger).

An executor takes its function's ``Need`` when it starts and gives it back when it is
forgotten (exited or killed). A function whose need does not fit the worker's whole capacity
is never claimed here: its calls stay pending for a worker that has it (listings say why).
"""

from __future__ import annotations

from chute._resources import Capacity, Need


class Ledger:
    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self._free_gpus = list(capacity.gpus)
        self._cpu = 0.0
        self._memory = 0

    def ever_fits(self, need: Need) -> bool:
        """Whether this worker could run such an executor at all."""
        return self.capacity.fits(need)

    def startable(self, need: Need) -> int:
        """How many more executors needing ``need`` fit now (a large number when it needs nothing)."""
        counts = [1 << 30]
        if need.gpus:
            counts.append(len(self._free_gpus) // need.gpus)
        if need.cpu:
            counts.append(int((self.capacity.cpu - self._cpu + 1e-9) // need.cpu))
        if need.memory:
            counts.append((self.capacity.memory - self._memory) // need.memory)
        return max(0, min(counts))

    def take(self, need: Need) -> tuple[str, ...]:
        """Hold ``need`` for one executor; returns the GPU ids it gets (call after ``startable``)."""
        gpus = tuple(self._free_gpus[: need.gpus])
        del self._free_gpus[: need.gpus]
        self._cpu += need.cpu
        self._memory += need.memory
        return gpus

    def give(self, need: Need, gpus: tuple[str, ...]) -> None:
        """Release what ``take`` held (once per executor)."""
        order = {g: i for i, g in enumerate(self.capacity.gpus)}
        self._free_gpus = sorted([*self._free_gpus, *gpus], key=lambda g: order.get(g, 0))
        self._cpu = max(0.0, self._cpu - need.cpu)
        self._memory = max(0, self._memory - need.memory)
