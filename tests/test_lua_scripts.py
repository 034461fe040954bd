"""The Lua scripts of the Redis backend (``chute/backends/lua/``). Checked statically:

- every script's header declares its KEYS and ARGV (and what it returns), and the body uses
  exactly the KEYS and ARGV it declares;
- every call site in the backend (both flavours) passes as many KEYS as the header declares,
  named like the header names them (``k.marker`` for ``marker``: a swapped pair fails), and the
  declared number of ARGV;
- every key a script touches is declared in KEYS (what Redis Cluster requires): the key
  argument of each ``redis.call`` is traced back through locals, helper parameters, call sites
  and return values to a ``KEYS[n]``. Building a key name inside Lua is refused, except on one
  of the prefixes in ``KEY_PREFIXES`` or from a key name stored in a record
  (``STORED_KEY_FIELDS``), each justified below;
- every script compiles on a real server once its includes are spliced in.

And run: every script through redis-py's cluster client (both flavours), which refuses a
script whose KEYS span two hash slots.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest
import redis

from chute.backends import _redis_keys, _redis_scripts
from chute.backends._redis_scripts import LuaScript
from chute.backends.types import (
    CALL_TOMBSTONE,
    CallState,
    ClaimRequest,
    CompleteRequest,
    Completion,
    Kind,
    LogChunk,
    PutStatus,
    SubmitRequest,
)
from tests import test_redis_specific
from tests._servers import RedisServer
from tests.test_redis_specific import ar, close, make, new_dict, new_queue, put, settings

ROOT = Path(__file__).resolve().parents[1]
LUA = resources.files("chute.backends").joinpath("lua")
SCRIPTS = {s.name: s for s in _redis_scripts.ALL}
cluster_server = test_redis_specific.cluster_server  # the fixture: a one-node Redis Cluster
# The Redis backend of each flavour: its modules (redis.py and the jobs mixin, redis_jobs.py).
BACKENDS = [ROOT / "chute/backends/_async", ROOT / "chute/backends/_sync"]
BACKEND_MODULES = ("redis.py", "redis_jobs.py")
# Job operations are built as data, ``(scripts.<name>, KEYS, ARGV)``, to be run one by one or
# pipelined (``_run_cmd``/``_pipeline`` in redis_jobs.py): these are call sites too.
COMMAND_BUILDERS = ROOT / "chute/backends/_redis_job_cmds.py"

# Prefixes a script may append to, to name keys it only learns while running. Each is passed in
# KEYS (so Redis and redis-py's cluster client check that it is in the script's slot) and ends
# after the hash tag, so every key built on it is in that slot too. Unavoidable: passing the keys
# themselves would need a read before the script, and the script would no longer be atomic.
KEY_PREFIXES = {
    # P{<id>}:p: -- the lists of a queue's partitions, named by the members of its `parts` ZSET
    # (queue_put purges the expired ones, queue_len/partitions count, queue_clear/object_purge
    # delete them all).
    "part_prefix": "partition lists named by the parts ZSET",
    # P{registry}:obj: -- the hashes of objects whose ids are read from the registry's `names`,
    # `by` and `ephemeral` structures (create/lookup of a taken name, list, reap).
    "obj_prefix": "object hashes of ids read from the registry",
    # P{jobs:<tag>}: -- the records and done lists of calls whose ids are read from an index
    # (claim, list, sweep, the earlier call of an idempotency key), and the keys of the function
    # a swept call belongs to (fbase): all in the slot of one function tag.
    "jobs_prefix": "call records of ids read from an index; a swept call's function keys",
    # P{jobs}:f:<env>:<app>:<fn>: -- the per-key sets (F kq:<key>) of the concurrency keys read
    # from the function's `keys` ZSET (job_claim's round-robin).
    "fn_prefix": "a function's per-concurrency-key sets, named by its keys ZSET",
}
# Hash fields holding key names, written by the script that declared those keys, read back by
# scripts that know the record only. Unavoidable for scripts addressed by a call id alone
# (heartbeat, finish, retry, release, cancel) or by an object id (drop, reap).
STORED_KEY_FIELDS = {
    "fk": "T call:<id> fk: its function's prefix F (job_submit); finish/retry/... update F's sets",
    "ik": "T call:<id> ik: its idempotency key (job_submit, KEYS[3]); terminate expires it",
    "lk": "P{registry}:obj:<id> lk: its by-list (registry_create, KEYS[3]); unregister leaves it",
}

# Which arguments of a command are keys. A command missing here fails the test: add it.
ALL_ARGS_ARE_KEYS = {"DEL", "EXISTS", "UNLINK"}
NO_KEYS = {"TIME"}
FIRST_ARG_IS_KEY = set(
    "GET SET INCR INCRBY PEXPIRE PEXPIREAT PERSIST HDEL HEXISTS HGET HGETALL HINCRBY HKEYS HLEN HMGET HSET "
    "HSETNX SADD SREM SCARD "
    "LINDEX LLEN LPOP LPUSH LRANGE LTRIM RPUSH ZADD ZCARD ZCOUNT ZPOPMIN ZRANGE ZRANGEBYLEX "
    "ZRANGEBYSCORE ZREM ZREMRANGEBYSCORE ZREVRANGEBYSCORE ZSCORE".split()
)


# -- the files and their headers ----------------------------------------------------------------


def _lua_files(folder: str = "") -> set[str]:
    base = LUA.joinpath(folder) if folder else LUA
    return {f.name.removesuffix(".lua") for f in base.iterdir() if f.name.endswith(".lua")}


def test_one_attribute_per_file() -> None:
    assert set(SCRIPTS) == _lua_files()
    for name, script in SCRIPTS.items():
        assert getattr(_redis_scripts, name) is script


def test_every_include_is_used() -> None:
    used = set()
    for path in [*(f"{n}.lua" for n in _lua_files()), *(f"includes/{n}.lua" for n in _lua_files("includes"))]:
        used |= set(re.findall(r'^--- @include "(\w+)"', LUA.joinpath(path).read_text(), re.MULTILINE))
    assert used == _lua_files("includes")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_header_declares_keys_argv_and_output(name: str) -> None:
    text = LUA.joinpath(f"{name}.lua").read_text()
    header = text[: text.index("\n]]\n")]
    script = SCRIPTS[name]
    assert script.keys, "a script without KEYS cannot be routed under Redis Cluster"
    for i, key in enumerate(script.keys, 1):
        assert re.search(rf"^    KEYS\[{i}\] {key} +\S", header, re.MULTILINE), f"KEYS[{i}] undocumented"
    assert script.args or "ARGV none" in header
    assert re.search(r"^  Output:\n    \S", header, re.MULTILINE)
    assert len(set(script.keys)) == len(script.keys), "two KEYS with one name"


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_body_uses_exactly_what_the_header_declares(name: str) -> None:
    script = SCRIPTS[name]
    body = _strip_comments(script.source)
    used_keys = {int(n) for n in re.findall(r"\bKEYS\[(\d+)\]", body)}
    assert used_keys == set(range(1, len(script.keys) + 1))
    used_args = {int(n) for n in re.findall(r"\bARGV\[(\d+)\]", body)}
    if script.variadic:  # ARGV[len(args)...] are read by index, in a loop to #ARGV
        assert "#ARGV" in body and set(range(1, len(script.args))) <= used_args
    else:
        assert "#ARGV" not in body and not re.search(r"\bARGV\[[^\d]", body)
        assert used_args == set(range(1, len(script.args) + 1))


def test_includes_take_keys_as_parameters() -> None:
    # An include that read KEYS or ARGV would depend on the layout of each script using it.
    for name in _lua_files("includes"):
        body = _strip_comments(LUA.joinpath(f"includes/{name}.lua").read_text())
        assert not re.search(r"\b(KEYS|ARGV)\b", body), name


def test_constants_match_python() -> None:
    assert f"'{_redis_keys.NOT_FOUND_TOKEN} " in LUA.joinpath("includes/missing.lua").read_text()
    terminate = LUA.joinpath("includes/terminate.lua").read_text()
    assert f"local TOMBSTONE_US = {round(CALL_TOMBSTONE * 1_000_000)}\n" in terminate


def test_every_script_compiles(redis_srv: RedisServer) -> None:
    with redis.Redis.from_url(redis_srv.url) as r:
        for script in SCRIPTS.values():
            r.script_load(script.source)


# -- call sites ------------------------------------------------------------------------------------


@dataclass
class CallSite:
    where: str
    script: LuaScript
    keys: list[str | None]  # the name each key expression gives its key (see _key_name)
    fixed_args: int
    more_args: bool  # starred, or the list is extended after it is bound


def _bindings(func: ast.AST) -> dict[str, list[ast.expr]]:
    out: dict[str, list[ast.expr]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            out.setdefault(node.target.id, []).append(node.value)
    return out


def _extended(func: ast.AST, name: str) -> bool:
    return any(
        isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == name
        for n in ast.walk(func)
    )


def _list(node: ast.expr, binds: dict[str, list[ast.expr]], where: str) -> list[ast.expr]:
    if isinstance(node, ast.Name):
        values = binds.get(node.id, [])
        assert len(values) == 1, f"{where}: bind {node.id} once, to a list literal"
        node = values[0]
    assert isinstance(node, ast.List), f"{where}: pass a list literal (or a name bound to one)"
    return node.elts


def _call_sites(path: Path) -> Iterator[CallSite]:
    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        binds = _bindings(func)
        for node in ast.walk(func):
            if not isinstance(node, ast.Return | ast.Call):
                continue
            where = f"{path.parent.name}/{path.name}:{node.lineno}"
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Tuple)
                and len(node.value.elts) == 3
                and isinstance(node.value.elts[0], ast.Attribute)
            ):  # a command builder: return scripts.<name>, [KEYS], [ARGV]
                target, keys_node, args_node = node.value.elts
                yield _site(where, func, binds, target, keys_node, args_node)
                continue
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("_run", "_script_cmd")  # _script_cmd: EVALSHA for a pipeline
            ):
                continue
            if isinstance(func, ast.AsyncFunctionDef | ast.FunctionDef) and func.name == "_run_cmd":
                continue  # runs what a command builder (checked above) returned
            target = node.args[0] if node.args else None
            kw = {k.arg: k.value for k in node.keywords}
            assert "keys" in kw, f"{where}: pass keys=[...]"
            yield _site(where, func, binds, target, kw["keys"], kw.get("args"))


def _site(
    where: str,
    func: ast.AST,
    binds: dict[str, list[ast.expr]],
    target: ast.expr | None,
    keys_node: ast.expr,
    args_node: ast.expr | None,
) -> CallSite:
    assert (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "scripts"
        and target.attr in SCRIPTS
    ), f"{where}: run a script as scripts.<name>"
    keys = _list(keys_node, binds, where)
    assert not any(isinstance(k, ast.Starred) for k in keys), f"{where}: list each key"
    args = [] if args_node is None else _list(args_node, binds, where)
    more = any(isinstance(a, ast.Starred) for a in args)
    if isinstance(args_node, ast.Name):
        more = more or _extended(func, args_node.id)
    fixed = sum(not isinstance(a, ast.Starred) for a in args)
    names = [_key_name(k, binds) for k in keys]
    return CallSite(where, SCRIPTS[target.attr], names, fixed, more)


def _key_name(node: ast.expr, binds: dict[str, list[ast.expr]]) -> str | None:
    """The name a key expression gives its key: ``k.marker`` -> marker, ``jk.call(id)`` -> call,
    ``fk + b"pending"`` -> pending, a local bound once -> what it is bound to, else its name."""
    if isinstance(node, ast.Name):
        values = binds.get(node.id, [])
        return _key_name(values[0], binds) if len(values) == 1 else node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, bytes)
    ):
        return node.right.value.decode()
    return None


def _call_site_errors(site: CallSite) -> list[str]:
    s, out = site.script, []
    if site.keys != list(s.keys):
        out.append(f"{site.where}: {s.name} takes KEYS {list(s.keys)} in this order, not {site.keys}")
    if s.variadic and site.fixed_args != len(s.args) - 1:
        out.append(f"{site.where}: {s.name} takes ARGV {list(s.args)} (the last repeats)")
    if not s.variadic and (site.more_args or site.fixed_args != len(s.args)):
        out.append(f"{site.where}: {s.name} takes ARGV {list(s.args)}")
    return out


@pytest.mark.parametrize("path", BACKENDS, ids=lambda p: p.name)
def test_call_sites_pass_the_declared_keys_and_args(path: Path) -> None:
    modules = [path / module for module in BACKEND_MODULES] + [COMMAND_BUILDERS]
    sites = [site for module in modules for site in _call_sites(module)]
    assert {s.script.name for s in sites} == set(SCRIPTS), "a script no call site runs"
    assert [e for site in sites for e in _call_site_errors(site)] == []


@pytest.mark.parametrize(
    ("call", "why"),
    [
        ("keys=[k.kv, k.marker], args=[key]", "in this order"),
        ("keys=[k.marker], args=[key]", "in this order"),
        ("keys=[k.marker, k.kv], args=[key, key]", "takes ARGV"),
        ("keys=[k.marker, k.kv], args=[*keys]", "takes ARGV"),
        ("keys=[k.marker, k.kv]", "takes ARGV"),
    ],
)
def test_the_call_site_check_catches(tmp_path: Path, call: str, why: str) -> None:
    path = tmp_path / "backend.py"
    path.write_text(f"async def kv_get(self, k, key):\n    return await self._run(scripts.kv_get, {call})\n")
    (site,) = _call_sites(path)
    errors = _call_site_errors(site)
    assert len(errors) == 1 and why in errors[0], errors


# -- every key a script touches is declared ------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<comment>--\[\[.*?\]\]|--[^\n]*)
    |(?P<str>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")
    |(?P<num>\d+(?:\.\d*)?)|(?P<name>[A-Za-z_]\w*)
    |(?P<op>\.\.\.|\.\.|==|~=|<=|>=|[-+*/%^\#<>=(){}\[\];:,.])""",
    re.VERBOSE | re.DOTALL,
)
_CALL = ["redis", ".", "call", "("]
_ENDS_STATEMENT = set("end then do else elseif local return if for while until ;".split())
_CONTINUES = {"..", "+", "-", "*", "/", "%", "^", "==", "~=", "<", ">", "<=", ">=", "and", "or", ",", "("}


def _strip_comments(src: str) -> str:
    return "".join(m.group(0) for m in _TOKEN.finditer(src) if m.lastgroup != "comment")


def _tokens(src: str) -> list[str]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        assert m, f"cannot read Lua at {src[pos : pos + 30]!r}"
        pos = m.end()
        if m.lastgroup in ("ws", "comment"):
            continue
        out.append("\n" if m.lastgroup == "nl" else m.group(0))
    return out


@dataclass
class Function:
    name: str | None
    params: list[str]
    start: int  # index of its `function` token (0 for the chunk)
    end: int  # index of its `end`
    parent: Function | None


@dataclass(frozen=True)
class Root:
    """Where a key expression's name comes from."""

    kind: str  # "KEYS" (ref: its index), "field" (a stored key name; ref: the hash field), "opaque"
    ref: str
    derived: bool  # something was appended to it


@dataclass
class Lua:
    """Just enough of a Lua 5.1 reader to trace key expressions in chute's scripts."""

    tokens: list[str]
    functions: list[Function] = field(default_factory=list)

    def __post_init__(self) -> None:
        t = self.tokens
        chunk = Function(None, [], 0, len(t), None)
        self.functions.append(chunk)
        stack: list[Function | None] = []
        current = chunk
        loop_do = 0
        for i, tok in enumerate(t):
            if tok == "function":
                j = i + 1
                name = t[j] if t[j] != "(" else None
                while t[j] != "(":
                    j += 1
                close = t.index(")", j)
                params = [p for p in t[j + 1 : close] if p != ","]
                current = Function(name, params, i, -1, current)
                self.functions.append(current)
                stack.append(current)
            elif tok in ("if", "repeat") or (tok == "do" and not loop_do):
                stack.append(None)
            elif tok in ("for", "while"):
                stack.append(None)
                loop_do += 1
            elif tok == "do":
                loop_do -= 1
            elif tok in ("end", "until"):
                block = stack.pop()
                if block is not None:
                    block.end = i
                    current = block.parent or chunk
        assert not stack, "unbalanced blocks"

    def scope(self, i: int) -> Function:
        inner = [f for f in self.functions if f.start <= i <= f.end]
        return max(inner, key=lambda f: f.start)

    def statement(self, i: int) -> list[str]:
        """The tokens from ``i`` to the end of the statement (or expression list) there."""
        t, depth, j = self.tokens, 0, i
        while j < len(t):
            tok = t[j]
            if tok in "([{":
                depth += 1
            elif tok in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and tok in _ENDS_STATEMENT:
                break
            elif depth == 0 and tok == "\n":
                before = next((x for x in reversed(t[i:j]) if x != "\n"), None)
                after = next((x for x in t[j + 1 :] if x != "\n"), None)
                if before not in _CONTINUES and after not in _CONTINUES - {"("}:
                    break
            j += 1
        return [x for x in t[i:j] if x != "\n"]

    @staticmethod
    def split(tokens: list[str], sep: str) -> list[list[str]]:
        parts: list[list[str]] = [[]]
        depth = 0
        for tok in tokens:
            depth += tok in "([{"
            depth -= tok in ")]}"
            if tok == sep and depth == 0:
                parts.append([])
            else:
                parts[-1].append(tok)
        return parts

    def arguments(self, open_paren: int) -> list[list[str]]:
        """The arguments of the call whose ``(`` is at ``open_paren``."""
        depth = 0
        for j in range(open_paren, len(self.tokens)):
            depth += self.tokens[j] in "([{"
            depth -= self.tokens[j] in ")]}"
            if depth == 0:
                args = [x for x in self.tokens[open_paren + 1 : j] if x != "\n"]
                return self.split(args, ",") if args else []
        raise AssertionError("unbalanced parentheses")

    def calls(self, name: str) -> Iterator[tuple[int, list[list[str]]]]:
        """``(index, arguments)`` of each call of the local function ``name``."""
        t = self.tokens
        for i, tok in enumerate(t[:-1]):
            if tok == name and t[i + 1] == "(" and t[i - 1] not in ("function", ".", ":"):
                yield i, self.arguments(i + 1)

    def redis_calls(self) -> Iterator[tuple[int, list[list[str]]]]:
        t = self.tokens
        for i in range(len(t) - 3):
            if t[i : i + 3] in (["redis", ".", "call"], ["redis", ".", "pcall"]) and t[i + 3] == "(":
                yield i, self.arguments(i + 3)

    def bindings(self, name: str, scope: Function) -> list[tuple[int, list[str] | None]]:
        """Where ``name`` gets a value in ``scope``'s own statements (not nested functions'):
        ``(index, expression)``, expression None for a value of unknown origin (a loop variable,
        one of several values returned by a call)."""
        t, out = self.tokens, []
        for i, tok in enumerate(t):
            if tok != name or self.scope(i) is not scope or t[i - 1] in ("function", ".", ":"):
                continue
            first = i  # the first of the targets `a, b, name = ...`
            while t[first - 1] == "," and re.fullmatch(r"[A-Za-z_]\w*", t[first - 2]):
                first -= 2
            last = i
            while t[last + 1] == "," and re.fullmatch(r"[A-Za-z_]\w*", t[last + 2]):
                last += 2
            if t[first - 1] == "for":
                out.append((i, None))
            elif t[last + 1] == "=" and (first == i or t[first - 1] == "local"):
                values = self.split(self.statement(last + 2), ",")
                position = (i - first) // 2
                out.append((i, values[position] if position < len(values) else None))
        return out

    def roots(self, expr: list[str], at: int, seen: frozenset[tuple[str, int]] = frozenset()) -> set[Root]:
        """Where the key name ``expr`` (found at token ``at``) comes from."""
        while expr[:1] == ["("] and self._closing(expr) == len(expr) - 1:
            expr = expr[1:-1]
        parts = self.split(expr, "..")
        if len(parts) > 1:
            return {Root(r.kind, r.ref, True) for r in self.roots(parts[0], at, seen)}
        if len(expr) == 4 and expr[0] == "KEYS" and expr[1] == "[" and expr[2].isdigit():
            return {Root("KEYS", expr[2], False)}
        if expr[:2] == ["KEYS", "["]:
            return {Root("opaque", "a KEYS index that is not a number (write each key's index)", False)}
        if expr[:5] == [*_CALL, "'HGET'"]:
            return {Root("field", expr[-2].strip("'"), False)}
        if len(expr) == 4 and expr[1] == "[" and expr[2].isdigit():
            return self._hmget_field(expr, at, seen)
        if len(expr) == 1 and re.fullmatch(r"[A-Za-z_]\w*", expr[0]):
            found = set()
            for b, value in self._resolve(expr[0], self.scope(at), seen):
                found |= (
                    self.roots(value, b, seen | {(expr[0], b)}) if value else {Root("opaque", expr[0], False)}
                )
            return found
        func = (
            self._function(expr[0])
            if expr[1:2] == ["("] and self._closing(expr[1:]) == len(expr) - 2
            else None
        )
        if func is not None:  # a local function's return value
            found = set()
            for r in range(func.start, func.end):
                if self.tokens[r] == "return" and self.scope(r) is func:
                    found |= self.roots(self.split(self.statement(r + 1), ",")[0], r + 1, seen)
            return found
        return {Root("opaque", " ".join(expr), False)}

    def _hmget_field(self, expr: list[str], at: int, seen: frozenset[tuple[str, int]]) -> set[Root]:
        """``r[n]``, where ``r = redis.call('HMGET', key, field1, field2, ...)``: field n."""
        found = set()
        for _, value in self._resolve(expr[0], self.scope(at), seen):
            fields = self.split(value[5:-1], ",")[2:] if value and value[:5] == [*_CALL, "'HMGET'"] else []
            n = int(expr[2])
            if 1 <= n <= len(fields) and len(fields[n - 1]) == 1:
                found.add(Root("field", fields[n - 1][0].strip("'"), False))
            else:
                found.add(Root("opaque", " ".join(expr), False))
        return found

    @staticmethod
    def _closing(tokens: list[str]) -> int:
        """The index of the bracket closing ``tokens[0]``."""
        depth = 0
        for j, tok in enumerate(tokens):
            depth += tok in "([{"
            depth -= tok in ")]}"
            if depth == 0:
                return j
        return -1

    def _function(self, name: str) -> Function | None:
        return next((f for f in self.functions if f.name == name), None)

    def _resolve(
        self, name: str, scope: Function | None, seen: frozenset[tuple[str, int]]
    ) -> Iterator[tuple[int, list[str] | None]]:
        """The values ``name`` may have, from its innermost binding scope: ``(index, expression)``
        for each assignment, and for a parameter, the argument at each call site."""
        while scope is not None:
            binds = self.bindings(name, scope)
            if name in scope.params or binds:
                yield from ((i, v) for i, v in binds if (name, i) not in seen)
                if name in scope.params and scope.name:
                    pos = scope.params.index(name)
                    for i, args in self.calls(scope.name):
                        if (name, i) not in seen:
                            yield (i, args[pos] if pos < len(args) else None)
                return
            scope = scope.parent
        yield (0, None)  # a global


def _key_args(command: str, args: list[list[str]]) -> list[list[str]]:
    if command in NO_KEYS:
        return []
    if command in ALL_ARGS_ARE_KEYS:
        return args
    assert command in FIRST_ARG_IS_KEY, f"which arguments of {command} are keys? add it to this test"
    return args[:1]


def _violations(script: LuaScript) -> list[str]:
    lua = Lua(_tokens(script.source))
    out = []
    for at, (command, *args) in lua.redis_calls():
        assert len(command) == 1 and command[0][0] == "'", f"{script.name}: a command must be a literal"
        for arg in _key_args(command[0].strip("'"), args):
            text = f"{script.name}: redis.call({command[0]}, {' '.join(arg)}, ...)"
            roots = lua.roots(arg, at + 4)
            scope = lua.scope(at)
            if not roots and (scope.name is None or any(lua.calls(scope.name))):
                out.append(f"{text}: cannot trace where this key comes from")
            for root in roots:
                if root.kind == "KEYS":
                    n = int(root.ref)
                    assert 1 <= n <= len(script.keys), f"{text}: KEYS[{n}] is not declared"
                    name = script.keys[n - 1]
                    if root.derived and name not in KEY_PREFIXES:
                        out.append(f"{text}: builds a key on KEYS[{n}] ({name}), not an allowed prefix")
                    if not root.derived and name in KEY_PREFIXES:
                        out.append(f"{text}: uses the prefix KEYS[{n}] ({name}) as a key")
                elif root.kind == "field":
                    if root.ref not in STORED_KEY_FIELDS:
                        out.append(f"{text}: uses the hash field {root.ref!r} as a key name")
                else:
                    out.append(f"{text}: builds a key from {root.ref}, not from KEYS")
    return out


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_key_touched_is_declared(name: str) -> None:
    assert _violations(SCRIPTS[name]) == []


def _with_body(script: LuaScript, body: str) -> LuaScript:
    return LuaScript(script.name, script.source + "\n" + body, script.keys, script.args, script.variadic)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("redis.call('DEL', 'chute:' .. ARGV[1])", "builds a key from"),
        ("local k = ARGV[1] .. ':x'\nredis.call('GET', k)", "builds a key from"),
        ("redis.call('LLEN', KEYS[1] .. 'x')", "not an allowed prefix"),
        ("redis.call('LLEN', KEYS[5])", "uses the prefix"),
        ("local function f(key) return redis.call('GET', key) end\nf(ARGV[1] .. 'x')", "builds a key from"),
        ("local v = redis.call('HGET', KEYS[1], 'other')\nredis.call('DEL', v)", "hash field 'other'"),
        ("for _, p in ipairs(ARGV) do redis.call('DEL', p) end", "builds a key from p,"),
        ("for i = 1, 4 do redis.call('DEL', KEYS[i]) end", "not a number"),
        ("local r = redis.call('HMGET', KEYS[1], 'fk', 'x')\nredis.call('DEL', r[2])", "hash field 'x'"),
        ("local function g() return ARGV[1] end\nredis.call('DEL', g())", "builds a key from ARGV [ 1 ]"),
        ("local k = KEYS[2]\nk = ARGV[1]\nredis.call('GET', k)", "builds a key from ARGV [ 1 ]"),
        ("redis.call('GET', (ARGV[1]))", "builds a key from ARGV [ 1 ]"),
        ("redis.call('DEL', KEYS[2], 'x')", "builds a key from 'x'"),
    ],
)
def test_the_key_check_catches(body: str, why: str) -> None:
    # queue_put: KEYS[1] is the marker, KEYS[5] the part_prefix.
    found = _violations(_with_body(_redis_scripts.queue_put, body))
    assert len(found) == 1 and why in found[0], found


def test_the_key_check_follows_locals_parameters_and_returns() -> None:
    body = """
local function part_list(prefix, p) return prefix .. p end
local function touch(key) return redis.call('LLEN', key) end
local parts = KEYS[2]
for _, p in ipairs(redis.call('ZRANGE', parts, 0, -1)) do touch(part_list(KEYS[5], p)) end
"""
    assert _violations(_with_body(_redis_scripts.queue_put, body)) == []


# -- on a Redis Cluster ------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_every_script_runs_on_a_cluster(cluster_server: RedisServer, flavour: str) -> None:
    """Every script through redis-py's cluster client, which refuses a script whose KEYS (the
    prefixes included) span two slots; with the paths that build keys on a prefix or a stored
    key name: expired partitions, a taken name, reaped objects, an earlier idempotent call, a
    lost worker's call, a retried call, terminal calls."""
    url = f"redis+cluster://127.0.0.1:{cluster_server.port}/0?prefix=s{uuid.uuid4().hex[:8]}:"
    b = make(flavour, settings(url))
    try:
        q = await new_queue(b)
        info, created = await ar(b.create_object(Kind.QUEUE, "main", "q", object_id="qu-taken"))
        assert (info.id, created) == (q, False)
        assert await ar(b.lookup_object(Kind.QUEUE, "main", "q")) == info
        assert await put(b, q, [b"old"], part=b"old", ttl=0.01) is PutStatus.OK
        await asyncio.sleep(0.05)
        assert await put(b, q, [b"1", b"2"], part=b"p") is PutStatus.OK  # purges "old"
        assert [p.key for p in await ar(b.queue_partitions(q))] == [b"p"]
        assert (await ar(b.queue_len(q, None)), await ar(b.queue_len(q, b"p"))) == (2, 2)
        assert [v for _, v in await ar(b.queue_scan(q, b"p", 0, 5))] == [b"1", b"2"]
        await ar(b.queue_wait(q, b"p", wait=0.01, for_space=False))
        assert await ar(b.queue_get(q, b"p", 1, wait=0)) == [b"1"]
        await ar(b.queue_give_back(q, b"p", [b"1"], ttl=60))
        await ar(b.queue_give_back(q, b"new", [b"n"], ttl=60))  # a missing partition: created
        assert await ar(b.queue_get(q, b"p", 5, wait=0)) == [b"1", b"2"]
        await ar(b.queue_clear(q, b"p"))
        await ar(b.queue_clear(q, None))
        d = await new_dict(b)
        assert await ar(b.kv_put(d, [(b"a", b"1")], only_new=True))
        await ar(b.kv_put(d, [(b"b", b"2")], only_new=False))
        assert await ar(b.kv_get(d, b"a")) == b"1" and await ar(b.kv_contains(d, b"b"))
        assert await ar(b.kv_scan(d, None, 5)) == [(b"a", b"1"), (b"b", b"2")]
        assert (await ar(b.kv_pop(d, b"a")), await ar(b.kv_len(d))) == (b"1", 1)
        await ar(b.kv_clear(d))
        assert [i.id for i in await ar(b.list_objects(Kind.QUEUE, "main"))] == [q]
        eph = await new_queue(b, None, ephemeral_ttl=0.05)
        assert await ar(b.heartbeat(eph, 0.05))
        await asyncio.sleep(0.1)
        assert await ar(b.collect_garbage()) == 1  # reaped (no job slot in use yet)
        assert await ar(b.delete_object(q)) and await ar(b.delete_object(d))

        env, app = "main", "app"
        await ar(b.job_deploy(env, app, [("f", b"{}")]))

        def submit(call_id: str, key: str | None = None) -> SubmitRequest:
            return SubmitRequest(env, app, "f", call_id, b"p", result_ttl=60, idempotency_key=key)

        def claim(lease: float) -> ClaimRequest:
            return ClaimRequest(env, app, "f", "w", n=1, lease=lease, max_running=None, max_lost=0)

        a = await ar(b.job_submit(submit("ca", "k")))
        assert await ar(b.job_submit(submit("cb", "k"))) == a
        await ar(b.job_submit(submit("cc")))
        (lost,) = await ar(b.job_claim(claim(0.01)))
        await asyncio.sleep(0.05)
        (c,) = await ar(b.job_claim(claim(60)))  # fails the lost one
        assert (await ar(b.job_get(lost.id))).state is CallState.FAILED
        assert await ar(b.job_heartbeat(c.id, c.attempts, 60))
        assert await ar(b.job_retry(c.id, c.attempts, delay=0.01, error="again"))
        await asyncio.sleep(0.05)
        (c,) = await ar(b.job_claim(claim(60)))  # promoted from delayed
        assert await ar(b.job_release(c.id, c.attempts))
        (c,) = await ar(b.job_claim(claim(60)))
        assert await ar(b.job_finish(c.id, c.attempts, CallState.SUCCEEDED, b"r"))
        assert await ar(b.job_cancel(a, result=b"x")) is False  # already failed
        assert len(await ar(b.job_list(env))) == len(await ar(b.job_list(env, app=app, function="f"))) == 2
        assert (await ar(b.job_stats(env, app, "f"))).succeeded == 1
        # Job control: a delayed, prioritized, keyed, debounced call; rate limit; replay;
        # progress; schedule ticks.
        ctl = dataclasses.replace(
            submit("cd", "d"), delay=0.01, priority=2, concurrency_key="k", debounce=True
        )
        assert await ar(b.job_submit(ctl)) == "cd"
        assert await ar(b.job_submit(dataclasses.replace(ctl, call_id="ce"))) == "cd"
        await asyncio.sleep(0.05)
        (k,) = await ar(b.job_claim(dataclasses.replace(claim(60), rate_calls=5, max_per_key=1)))
        assert k.id == "cd" and await ar(b.job_set_progress("cd", "{}"))
        assert await ar(b.job_finish("cd", k.attempts, CallState.FAILED, b"e"))
        assert await ar(b.job_requeue("cd"))
        assert (await ar(b.job_schedule_init(env, app, "f", "s", 1.0))).next_at == 1.0
        assert await ar(b.job_schedule_tick(submit("ct"), 1.0, 2.0))
        assert await ar(b.job_schedule_update(env, app, "f", paused=True))
        assert len(await ar(b.job_schedules(env))) == 1
        await ar(b.worker_beat(env, "w", b"{}", ttl=60))
        assert [w for w, _ in await ar(b.worker_list(env))] == ["w"]
        await ar(b.worker_gone(env, "w"))
        # A batch of one function's calls in one script; an id already stored stays as it was.
        many = [submit("m1"), dataclasses.replace(submit("m2"), delay=0.01), submit("cc")]
        assert await ar(b.job_submit_many(many)) == ["m1", "m2", "cc"]
        got = await ar(b.job_get_many(["m1", "nope", "cc"]))
        assert [r and r.id for r in got] == ["m1", None, "cc"]
        (m1,) = await ar(b.job_claim(claim(60)))
        done = [
            CompleteRequest(m1.id, m1.attempts, Completion.SUCCEEDED, b"r"),
            CompleteRequest("cc", 9, Completion.FAILED, b"e", error="x"),
        ]
        assert (await ar(b.job_complete(done)))[0] == [True, False]
        await ar(b.call_logs_append([LogChunk(c.id, c.attempts, b"out", 60)], max_bytes=10))
        assert await ar(b.call_logs(c.id)) == [(c.attempts, b"out")]
        assert await ar(b.collect_garbage()) == 0  # sweeps the function's slot
    finally:
        await close(b)
    with redis.Redis(port=cluster_server.port) as r:
        ran = r.script_exists(*(hashlib.sha1(s.source.encode()).hexdigest() for s in SCRIPTS.values()))
    assert [name for name, yes in zip(SCRIPTS, ran, strict=True) if not yes] == []
