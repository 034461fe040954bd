"""The arguments summary (``chute._args_summary``): bounded, never raising; and calls stored by
an older chute (a SQLite database from before schema 5, a Redis record without the field),
which read as having none."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
import redis

from chute._args_summary import MAX_SUMMARY, summarize
from chute._context import STREAM_KW
from chute._url import redis_py_url
from chute.backends import _redis_keys as rk
from chute.backends._call_tags import function_tag
from chute.backends.types import SubmitRequest
from tests._flavours import sync_open_backend


class BadRepr:
    def __repr__(self) -> str:
        raise ValueError("nope")


class NotAStr:
    def __repr__(self) -> str:
        return 42  # type: ignore[return-value]


class Surrogate:
    def __repr__(self) -> str:
        return "S\ud800"


class Long:
    def __repr__(self) -> str:
        return "L" * 10_000


def test_values_are_bounded_and_never_raise() -> None:
    assert summarize("f", (), {}) == "f()"
    assert (
        summarize("f", (1, "abc", 2.5, None, True), {"x": (1, "a")})
        == "f(1, 'abc', 2.5, None, True, x=(1, 'a'))"
    )
    assert summarize("f", ({"a": {"b": {"c": {"d": 1}}}},), {}) == "f({'a': {'b': {'c': {...}}}})"
    assert summarize("f", (BadRepr(), NotAStr()), {"k": [BadRepr()]}) == (
        "f(<BadRepr object>, <NotAStr object>, k=[<BadRepr object>])"
    )
    assert summarize("f", (Surrogate(),), {}) == "f(S\\ud800)"  # storable as UTF-8
    assert len(summarize("f", (Long(),), {})) < 80
    assert summarize("f", (10**5000,), {}) == "f(<int of 16610 bits>)"  # str() would refuse it
    assert summarize("f", (b"x" * 1000,), {}).startswith("f(b'xxx")
    assert summarize("gen", (1,), {STREAM_KW: "st-1"}) == "gen(1)"  # chute's own keyword left out


def test_the_whole_is_cut_to_the_bound() -> None:
    many = summarize("f", tuple(range(10_000)), {})
    assert len(many) == MAX_SUMMARY and many.endswith("…") and many.startswith("f(0, 1, 2, ")
    kw = summarize("f", (), {f"k{i}": "v" * 30 for i in range(1000)})
    assert len(kw) == MAX_SUMMARY and kw.endswith("…")
    # Past the bound, the remaining arguments are not even repr'd (cheap for many arguments).
    seen: list[int] = []

    class Counted:
        def __repr__(self) -> str:
            seen.append(1)
            return "c" * 20

    summarize("f", (Counted(),) * 1000, {})
    assert len(seen) < 20


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_sqlite_database_of_schema_4_gets_the_column(backend_url: str) -> None:
    b = sync_open_backend(backend_url)
    old = b.job_submit(SubmitRequest("main", "app", "f", "fc-old", b"p", 60.0))
    b.close()
    path = Path(backend_url.removeprefix("sqlite://"))
    with sqlite3.connect(path) as conn:  # as chute left it before schema 5
        conn.execute("ALTER TABLE calls DROP COLUMN args")
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    b = sync_open_backend(backend_url)
    try:
        rec = b.job_get(old)
        assert rec is not None and rec.args_summary is None
        new = b.job_submit(SubmitRequest("main", "app", "f", "fc-new", b"p", 60.0, args_summary="f(1)"))
        rec = b.job_get(new)
        assert rec is not None and rec.args_summary == "f(1)"
    finally:
        b.close()


@pytest.mark.parametrize("backend_url", ["redis"], indirect=True)
def test_redis_record_without_the_field_reads_as_none(backend_url: str) -> None:
    b = sync_open_backend(backend_url)
    try:
        call = b.job_submit(SubmitRequest("main", "app", "f", f"fc-{uuid.uuid4().hex[:22]}", b"p", 60.0))
        rec = b.job_get(call)
        assert rec is not None and rec.args_summary is None  # stored as ""
        key = rk.job_keys(backend_url.split("prefix=")[1]).shard(function_tag("main", "app", "f")).call(call)
        with redis.Redis.from_url(redis_py_url(backend_url)[0].split("?")[0]) as raw:
            assert raw.hdel(key, "as") == 1  # as a record written before the field existed
        rec = b.job_get(call)
        assert rec is not None and rec.args_summary is None
        [listed] = b.job_list("main", app="app", function="f")
        assert listed.id == call and listed.args_summary is None
    finally:
        b.close()
