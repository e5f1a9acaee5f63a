"""The state overlay's snapshot and restore against a reference that copies everything."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.state.accounts import Account, StateOverlay

BASE = {bytes([k]): bytes([k, k]) for k in range(0, 8, 2)}
KEYS = st.integers(0, 7).map(lambda k: bytes([k]))
ADDRESSES = st.integers(0, 3).map(lambda a: bytes([a]) * 20)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, st.one_of(st.none(), st.binary(max_size=3))),
        st.tuples(st.just("account"), ADDRESSES, st.integers(0, 10**6)),
        st.tuples(st.just("read"), ADDRESSES, st.just(0)),
        st.tuples(st.just("snapshot"), st.just(b""), st.just(0)),
        st.tuples(st.just("restore"), st.just(b""), st.just(0)),
    ),
    max_size=60,
)


def _view(state: StateOverlay) -> tuple[dict[bytes, bytes | None], dict[bytes, Account]]:
    accounts = {bytes([a]) * 20: state.get_account(bytes([a]) * 20) for a in range(4)}
    return dict(state.changes), accounts


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_restore_undoes_exactly_what_followed_the_snapshot(ops):
    state = StateOverlay(BASE.get)
    marks: list[tuple[int, tuple[dict[bytes, bytes | None], dict[bytes, Account]]]] = []
    for op, key, value in ops:
        if op == "set":
            state.set(key, value)
        elif op == "account":
            state.set_account(key, Account(value, value % 7))
        elif op == "read":
            state.get_account(key)
        elif op == "snapshot":
            marks.append((state.snapshot(), _view(state)))
        elif marks:
            mark, expected = marks.pop()
            state.restore(mark)
            assert _view(state) == expected
    for mark, expected in reversed(marks):
        state.restore(mark)
        assert _view(state) == expected


def test_restore_to_a_mark_that_was_never_taken_is_refused():
    state = StateOverlay(BASE.get)
    with pytest.raises(ValueError):
        state.restore(0)
    state.snapshot()
    with pytest.raises(ValueError):
        state.restore(5)
