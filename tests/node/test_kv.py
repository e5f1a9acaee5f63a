"""MemoryKV and LevelDBKV hold to the same KV contract (node/storage/kv.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.storage.kv import KV, LevelDBKV, MemoryKV
from node.types.errors import StoreCorrupted


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    store: KV = MemoryKV() if request.param == "memory" else LevelDBKV(tmp_path / "db")
    yield store
    store.close()


def fill(kv: KV, keys: list[bytes]) -> None:
    with kv.batch() as wb:
        for key in keys:
            wb.put(key, b"v" + key)


KEYS = [b"a", b"a\x00", b"ab", b"a\xff", b"b", b"b\x00\x01", b"c"]


def test_get_put_delete(kv: KV) -> None:
    assert kv.get(b"k") is None
    with kv.batch(sync=True) as wb:
        wb.put(b"k", b"1")
        wb.put(b"gone", b"x")
    assert kv.get(b"k") == b"1"
    with kv.batch() as wb:
        wb.put(b"k", b"2")
        wb.delete(b"gone")
        wb.delete(b"never there")
    assert (kv.get(b"k"), kv.get(b"gone")) == (b"2", None)
    assert list(kv.scan()) == [(b"k", b"2")]


def test_later_writes_in_a_batch_win(kv: KV) -> None:
    with kv.batch() as wb:
        wb.put(b"k", b"1")
        wb.delete(b"k")
        wb.put(b"j", b"1")
        wb.delete(b"j")
        wb.put(b"j", b"2")
    assert (kv.get(b"k"), kv.get(b"j")) == (None, b"2")


def test_scans_are_ordered_half_open_ranges(kv: KV) -> None:
    fill(kv, list(reversed(KEYS)))
    assert [k for k, _ in kv.scan()] == KEYS
    assert [k for k, _ in kv.scan(reverse=True)] == KEYS[::-1]
    assert [k for k, _ in kv.scan(b"a\x00", b"b")] == [b"a\x00", b"ab", b"a\xff"]
    assert [k for k, _ in kv.scan(b"a\x00", b"b", reverse=True)] == [b"a\xff", b"ab", b"a\x00"]
    assert [k for k, _ in kv.scan(b"aa")] == [b"ab", b"a\xff", b"b", b"b\x00\x01", b"c"]
    assert [k for k, _ in kv.scan(stop=b"ab", reverse=True)] == [b"a\x00", b"a"]
    # The highest key in range is the start itself (plyvel on its own would yield nothing).
    assert [k for k, _ in kv.scan(b"c", reverse=True)] == [b"c"]
    assert [k for k, _ in kv.scan(b"b", b"b\x00", reverse=True)] == [b"b"]
    assert list(kv.scan(b"b", b"b")) == []
    assert list(kv.scan(b"c", b"a")) == []
    assert dict(kv.scan()) == {k: b"v" + k for k in KEYS}


def test_a_scan_sees_the_data_as_it_began(kv: KV) -> None:
    fill(kv, [b"a", b"b", b"c"])
    scan = kv.scan()
    first = next(scan)
    with kv.batch() as wb:
        wb.delete(b"b")
        wb.put(b"bb", b"new")
    assert [first, *scan] == [(b"a", b"va"), (b"b", b"vb"), (b"c", b"vc")]


def test_a_batch_that_raises_applies_nothing(kv: KV) -> None:
    fill(kv, [b"keep"])
    with pytest.raises(RuntimeError, match="half way"):
        with kv.batch(sync=True) as wb:
            wb.put(b"new", b"1")
            wb.delete(b"keep")
            raise RuntimeError("half way")
    assert (kv.get(b"new"), kv.get(b"keep")) == (None, b"vkeep")
    assert list(kv.scan()) == [(b"keep", b"vkeep")]


def test_keys_and_values_must_be_bytes(kv: KV) -> None:
    with pytest.raises(TypeError), kv.batch() as wb:
        wb.put("text", b"1")  # type: ignore[arg-type]
    with pytest.raises(TypeError), kv.batch() as wb:
        wb.put(b"k", "text")  # type: ignore[arg-type]
    assert list(kv.scan()) == []


def test_leveldb_persists_and_refuses_a_locked_database(tmp_path: Path) -> None:
    db = LevelDBKV(tmp_path / "db")
    fill(db, [b"x"])
    with pytest.raises(StoreCorrupted, match="cannot open the database"):
        LevelDBKV(tmp_path / "db")  # LevelDB's lock: one process, one opener
    db.close()
    again = LevelDBKV(tmp_path / "db")
    assert again.get(b"x") == b"vx"
    again.close()


# -- MemoryKV and LevelDBKV agree on any sequence of batches and scans ---------------------------

small_keys = st.binary(min_size=0, max_size=3).map(lambda b: b"k" + b) | st.sampled_from([b"", b"\x00", b"\xff\xff"])
op = st.one_of(
    st.tuples(st.just("put"), small_keys, st.binary(max_size=4)),
    st.tuples(st.just("delete"), small_keys, st.just(b"")),
)
batch = st.tuples(st.lists(op, max_size=8), st.booleans())  # (ops, whether the batch raises before it ends)
bound = st.none() | small_keys
scan = st.tuples(bound, bound, st.booleans())


class Abort(Exception):
    pass


def apply(kv: KV, ops: list[tuple[str, bytes, bytes]], fail: bool) -> None:
    try:
        with kv.batch() as wb:
            for name, key, value in ops:
                if name == "put":
                    wb.put(key, value)
                else:
                    wb.delete(key)
            if fail:
                raise Abort
    except Abort:
        pass


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(batch, st.lists(scan, max_size=3)), max_size=8))
def test_memory_and_leveldb_agree(steps: list) -> None:
    memory = MemoryKV()
    with tempfile.TemporaryDirectory() as tmp:
        level = LevelDBKV(Path(tmp) / "db")
        try:
            for (ops, fail), scans in steps:
                apply(memory, ops, fail)
                apply(level, ops, fail)
                for start, stop, reverse in scans:
                    assert list(memory.scan(start, stop, reverse=reverse)) == list(
                        level.scan(start, stop, reverse=reverse))
                for _, key, _ in ops:
                    assert memory.get(key) == level.get(key)
            assert list(memory.scan()) == list(level.scan())
        finally:
            level.close()
