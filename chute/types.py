"""Plain records returned by the function API (``modal.types``' names and fields)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FileEntryType(enum.IntEnum):
    """Kind of a listed volume entry (Modal's ``FileEntryType``)."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3
    FIFO = 4
    SOCKET = 5


@dataclass(frozen=True)
class FileEntry:
    """A listed volume file or directory: ``path`` relative to the volume root, ``mtime`` in Unix seconds."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


@dataclass(frozen=True)
class FunctionCurrentStats:
    """``Function.get_current_stats()``: a live snapshot of one function.

    ``backlog``: calls waiting to run; ``num_total_runners``: executors serving it across
    workers; ``num_running_inputs``: calls running now; ``input_headroom``: how many more
    could start at once under ``max_containers``.
    """

    backlog: int
    num_total_runners: int
    num_running_inputs: int
    input_headroom: int


@dataclass(frozen=True)
class FunctionAutoscalerSettings:
    """``Function.update_autoscaler()``'s result: the settings now stored for the function."""

    min_containers: int | None
    max_containers: int | None
    scaledown_window: int | float | None
    buffer_containers: int | None


class InputStatus(enum.IntEnum):
    """Where an input is (Modal's values)."""

    PENDING = 0
    SUCCESS = 1
    FAILURE = 2
    TERMINATED = 3
    TIMEOUT = 4
    INIT_FAILURE = 5


@dataclass
class InputInfo:
    """One node of ``FunctionCall.get_call_graph()``: an input and the calls spawned while it ran."""

    input_id: str
    function_call_id: str
    task_id: str
    status: InputStatus
    function_name: str
    module_name: str
    children: list[InputInfo] = field(default_factory=list)


__all__ = [
    "FileEntry",
    "FileEntryType",
    "FunctionAutoscalerSettings",
    "FunctionCurrentStats",
    "InputInfo",
    "InputStatus",
]
