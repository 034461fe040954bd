"""Model-based test: Queue against a dict of deques, over several partitions, on every backend."""

from __future__ import annotations

import uuid
from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import chute

PARTITIONS = st.sampled_from([None, "a", "b", "ünï"])
VALUES = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.binary(max_size=30))


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.name = f"model-{uuid.uuid4().hex[:10]}"
        self.q = chute.Queue.from_name(self.name, create_if_missing=True)
        self.model: dict[str | None, deque[object]] = {}

    def teardown(self) -> None:
        chute.Queue.objects.delete(self.name, allow_missing=True)

    def _part(self, p: str | None) -> deque[object]:
        return self.model.setdefault(p, deque())

    @rule(v=VALUES, p=PARTITIONS)
    def put(self, v: object, p: str | None) -> None:
        self.q.put(v, partition=p)
        self._part(p).append(v)

    @rule(vs=st.lists(VALUES, max_size=8), p=PARTITIONS)
    def put_many(self, vs: list[object], p: str | None) -> None:
        self.q.put_many(vs, partition=p)
        self._part(p).extend(vs)

    @rule(p=PARTITIONS)
    def get(self, p: str | None) -> None:
        got = self.q.get(block=False, partition=p)
        expected = self._part(p).popleft() if self._part(p) else None
        assert got == expected

    @rule(n=st.integers(1, 10), p=PARTITIONS)
    def get_many(self, n: int, p: str | None) -> None:
        got = self.q.get_many(n, block=False, partition=p)
        part = self._part(p)
        expected = [part.popleft() for _ in range(min(n, len(part)))]
        assert got == expected

    @rule(p=PARTITIONS)
    def clear(self, p: str | None) -> None:
        self.q.clear(partition=p)
        self._part(p).clear()

    @rule()
    def clear_all(self) -> None:
        self.q.clear(all=True)
        self.model.clear()

    @rule(p=PARTITIONS)
    def iterate(self, p: str | None) -> None:
        assert list(self.q.iterate(partition=p)) == list(self._part(p))

    @invariant()
    def lengths(self) -> None:
        for p in (None, "a", "b", "ünï"):
            assert self.q.len(partition=p) == len(self._part(p))
        assert self.q.len(total=True) == sum(len(d) for d in self.model.values())


def test_queue_matches_model(chute_env: str) -> None:
    run_state_machine_as_test(
        QueueModel, settings=settings(max_examples=40, stateful_step_count=30, deadline=None)
    )
