"""The Lua scripts of the Redis/Valkey backend: one file per operation in ``chute/backends/lua/``.

Each script is an attribute of this module (``scripts.queue_put``), so a call site in the
backend reads ``self._run(scripts.queue_put, keys=[...], args=[...])`` and go-to-definition
lands on the line below that names the file. Shared Lua code lives in
``lua/includes/<name>.lua`` and is spliced in where a file says ``--- @include "<name>"``
(bullmq's convention): each include once per script, its own includes first.

Every script starts with a header in bullmq's convention, which :func:`load` parses (and
refuses when malformed, at import)::

    --[[
      What the script does.

      Input:
        KEYS[1] marker  what the key is
        ...
        ARGV[1] n       what the argument is      (or "ARGV none")
        ARGV[2...] items                          (a variable number, last)

      Output:
        what it returns
    ]]

The files are read once, at import, through ``importlib.resources`` (so an installed wheel
works); pure otherwise: the backends register the sources with their client (EVALSHA, loaded
on NOSCRIPT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

_LUA = resources.files("chute.backends").joinpath("lua")
_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"[ \t]*$', re.MULTILINE)
_HEADER = re.compile(r"\A--\[\[\n(?P<body>.*?)\n\]\]\n", re.DOTALL)
_DECL = re.compile(r"^[ \t]*(KEYS|ARGV)\[(\d+)(\.\.\.)?\][ \t]+(\w+)[ \t]+\S", re.MULTILINE)


@dataclass(frozen=True)
class LuaScript:
    """One script: its source with includes spliced in, and what its header declares."""

    name: str
    source: str
    #: The names of KEYS[1], KEYS[2], ... as the header declares them.
    keys: tuple[str, ...]
    #: The names of ARGV[1], ARGV[2], ...; with ``variadic``, the last one repeats.
    args: tuple[str, ...]
    variadic: bool

    def __repr__(self) -> str:
        return f"<LuaScript {self.name}: KEYS {', '.join(self.keys)}>"


def _read(path: str) -> str:
    return _LUA.joinpath(path).read_text(encoding="utf-8")


def _splice(text: str, done: set[str], chain: tuple[str, ...]) -> str:
    """``text`` with each ``--- @include`` line replaced by that include (spliced the same way),
    or by nothing when ``done`` already has it."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in chain:
            raise ValueError(f"Lua include cycle: {' -> '.join((*chain, name))}")
        if name in done:
            return f"-- ({name} is included above)"
        done.add(name)
        return _splice(_read(f"includes/{name}.lua"), done, (*chain, name)).rstrip("\n")

    return _INCLUDE.sub(one, text)


def _declared(name: str, header: str, what: str) -> tuple[tuple[str, ...], bool]:
    entries = [m for m in _DECL.finditer(header) if m.group(1) == what]
    numbers = [int(m.group(2)) for m in entries]
    if numbers != list(range(1, len(entries) + 1)):
        raise ValueError(f"lua/{name}.lua: {what} must be numbered 1, 2, ... in its header, not {numbers}")
    variadic = [m.group(3) is not None for m in entries]
    if any(variadic[:-1]):
        raise ValueError(f"lua/{name}.lua: only the last {what} entry may be variadic ([n...])")
    if what == "KEYS" and (not entries or any(variadic)):
        raise ValueError(f"lua/{name}.lua: its header must declare its KEYS, a fixed number")
    if what == "ARGV" and not entries and not re.search(r"^\s*ARGV none$", header, re.MULTILINE):
        raise ValueError(f"lua/{name}.lua: its header must declare its ARGV, or say 'ARGV none'")
    return tuple(m.group(4) for m in entries), bool(variadic and variadic[-1])


def load(name: str) -> LuaScript:
    """Reads ``lua/<name>.lua``, splices in its includes and parses its header.

    Raises ValueError when the header is missing or malformed, or an include is circular."""
    text = _read(f"{name}.lua")
    header = _HEADER.match(text)
    if header is None or not re.search(r"^\s*Output:\n\s*\S", header["body"], re.MULTILINE):
        raise ValueError(f"lua/{name}.lua must start with a --[[ ... ]] header with Input: and Output:")
    keys, _ = _declared(name, header["body"], "KEYS")
    args, variadic = _declared(name, header["body"], "ARGV")
    return LuaScript(name, _splice(text, set(), ()), keys, args, variadic)


# -- queues: lua/queue_*.lua ------------------------------------------------------------------
queue_put: Final = load("queue_put")
queue_push: Final = load("queue_push")
queue_pop: Final = load("queue_pop")
queue_give_back: Final = load("queue_give_back")
queue_state: Final = load("queue_state")
queue_len: Final = load("queue_len")
queue_clear: Final = load("queue_clear")
queue_scan: Final = load("queue_scan")
queue_partitions: Final = load("queue_partitions")
object_purge: Final = load("object_purge")

# -- dicts: lua/kv_*.lua -----------------------------------------------------------------------
kv_get: Final = load("kv_get")
kv_contains: Final = load("kv_contains")
kv_put: Final = load("kv_put")
kv_pop: Final = load("kv_pop")
kv_len: Final = load("kv_len")
kv_scan: Final = load("kv_scan")
kv_clear: Final = load("kv_clear")

# -- registry: lua/registry_*.lua --------------------------------------------------------------
registry_create: Final = load("registry_create")
registry_lookup: Final = load("registry_lookup")
registry_list: Final = load("registry_list")
registry_drop: Final = load("registry_drop")
registry_heartbeat: Final = load("registry_heartbeat")
registry_reap: Final = load("registry_reap")

# -- jobs (function calls): lua/job_*.lua ------------------------------------------------------
job_deploy: Final = load("job_deploy")
job_register: Final = load("job_register")
job_submit: Final = load("job_submit")
job_submit_many: Final = load("job_submit_many")
job_get_many: Final = load("job_get_many")
job_claim: Final = load("job_claim")
job_heartbeat: Final = load("job_heartbeat")
job_finish: Final = load("job_finish")
job_finish_many: Final = load("job_finish_many")
job_retry: Final = load("job_retry")
job_release: Final = load("job_release")
job_cancel: Final = load("job_cancel")
job_get: Final = load("job_get")
job_stats: Final = load("job_stats")
job_list: Final = load("job_list")
job_sweep: Final = load("job_sweep")
job_requeue: Final = load("job_requeue")
job_progress: Final = load("job_progress")
job_schedule_init: Final = load("job_schedule_init")
job_schedule_update: Final = load("job_schedule_update")
job_schedule_tick: Final = load("job_schedule_tick")

# -- workers: lua/worker_*.lua -----------------------------------------------------------------
call_log_append: Final = load("call_log_append")
call_log_read: Final = load("call_log_read")
worker_beat: Final = load("worker_beat")
worker_gone: Final = load("worker_gone")
worker_list: Final = load("worker_list")

#: Every script above, for the backends to register with their client.
ALL: Final[tuple[LuaScript, ...]] = tuple(v for v in list(globals().values()) if isinstance(v, LuaScript))
