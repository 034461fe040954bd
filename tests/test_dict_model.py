"""Model-based test: Dict against a plain dict, on every backend.

Keys are drawn so that Python's ``==`` and chute's byte identity agree (no mixing of 1, 1.0
and True): the model is a dict keyed by ``(type, value)``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import chute

KEYS = st.one_of(
    st.sampled_from(["a", "b", "c", "ü", ""]),
    st.integers(-3, 3),
    st.tuples(st.sampled_from(["t", "u"]), st.integers(0, 2)),
    st.frozensets(st.sampled_from(["x", "y", "z"]), max_size=3),
    st.sampled_from([None, b"a", 2.5]),
)
VALUES = st.one_of(
    st.integers(), st.text(max_size=20), st.none(), st.binary(max_size=30), st.lists(st.integers())
)


def _mk(key: Any) -> tuple[type, Any]:
    return (type(key), key)


class DictModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.name = f"model-{uuid.uuid4().hex[:10]}"
        self.d = chute.Dict.from_name(self.name, create_if_missing=True)
        self.model: dict[tuple[type, Any], Any] = {}

    def teardown(self) -> None:
        chute.Dict.objects.delete(self.name, allow_missing=True)

    @rule(k=KEYS, v=VALUES)
    def put(self, k: Any, v: Any) -> None:
        assert self.d.put(k, v) is True
        self.model[_mk(k)] = v

    @rule(k=KEYS, v=VALUES)
    def put_skip_if_exists(self, k: Any, v: Any) -> None:
        expected = _mk(k) not in self.model
        assert self.d.put(k, v, skip_if_exists=True) is expected
        self.model.setdefault(_mk(k), v)

    @rule(k=KEYS, v=VALUES)
    def setitem(self, k: Any, v: Any) -> None:
        self.d[k] = v
        self.model[_mk(k)] = v

    @rule(k=KEYS)
    def get(self, k: Any) -> None:
        sentinel = object()
        got = self.d.get(k, sentinel)
        if _mk(k) in self.model:
            assert got == self.model[_mk(k)]
        else:
            assert got is sentinel

    @rule(k=KEYS)
    def getitem(self, k: Any) -> None:
        if _mk(k) in self.model:
            assert self.d[k] == self.model[_mk(k)]
        else:
            with pytest.raises(KeyError):
                self.d[k]

    @rule(k=KEYS)
    def pop(self, k: Any) -> None:
        if _mk(k) in self.model:
            assert self.d.pop(k) == self.model.pop(_mk(k))
        else:
            with pytest.raises(KeyError):
                self.d.pop(k)

    @rule(k=KEYS)
    def pop_default(self, k: Any) -> None:
        assert self.d.pop(k, "dflt") == self.model.pop(_mk(k), "dflt")

    @rule(k=KEYS)
    def delitem(self, k: Any) -> None:
        if _mk(k) in self.model:
            del self.d[k]
            del self.model[_mk(k)]
        else:
            with pytest.raises(KeyError):
                del self.d[k]

    @rule(
        pairs=st.lists(st.tuples(KEYS, VALUES), max_size=8),
        kw=st.dictionaries(st.sampled_from(["a", "kw"]), VALUES),
    )
    def update(self, pairs: list[tuple[Any, Any]], kw: dict[str, Any]) -> None:
        mapping = dict(pairs)  # (Python-equal keys collapse here first, exactly as for the caller)
        self.d.update(mapping, **kw)
        for k, v in [*mapping.items(), *kw.items()]:
            self.model[_mk(k)] = v

    @rule(k=KEYS)
    def contains(self, k: Any) -> None:
        assert (k in self.d) is (_mk(k) in self.model)
        assert self.d.contains(k) is (_mk(k) in self.model)

    @rule()
    def clear(self) -> None:
        self.d.clear()
        self.model.clear()

    @rule()
    def items(self) -> None:
        got = {_mk(k): v for k, v in self.d.items()}
        assert got == self.model
        assert sorted(map(repr, self.d.values())) == sorted(map(repr, self.model.values()))

    @invariant()
    def length(self) -> None:
        assert self.d.len() == len(self.model)


def test_dict_matches_model(chute_env: str) -> None:
    run_state_machine_as_test(
        DictModel, settings=settings(max_examples=30, stateful_step_count=30, deadline=None)
    )
