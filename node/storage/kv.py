"""The storage the node runs on, behind a protocol: ordered byte keys, point reads, range
scans and atomic write batches.

`LevelDBKV` is what a node uses. `MemoryKV` keeps the same contract in a dict, for unit
tests of code that needs nothing of LevelDB; tests/node/test_kv.py holds both to it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import takewhile
from pathlib import Path
from typing import Protocol

import plyvel

from node.types.errors import StoreCorrupted


class WriteBatch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class KV(Protocol):
    """Byte keys in byte order.

    `scan` yields the pairs with start <= key < stop (a None bound is open), in key order or
    reversed, as they were when the scan began. `batch` is a context: its puts and deletes
    apply together when the block ends, later ones winning on the same key, and none of them
    apply if it raises. `sync=True` returns only once the batch is on disk."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(
        self, start: bytes | None = None, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def batch(self, *, sync: bool = False) -> AbstractContextManager[WriteBatch]: ...

    def close(self) -> None: ...


def _check_bytes(*items: bytes) -> None:
    # LevelDB refuses anything but bytes; a dict would take a str and hide the bug until deployment.
    for item in items:
        if not isinstance(item, bytes):
            raise TypeError(f"keys and values are bytes, not {type(item).__name__}")


class _MemoryBatch:
    def __init__(self) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        _check_bytes(key, value)
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        _check_bytes(key)
        self.ops.append((key, None))


class MemoryKV:
    """A dict and its keys in sorted order."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def scan(
        self, start: bytes | None = None, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        lo = 0 if start is None else bisect_left(self._keys, start)
        hi = len(self._keys) if stop is None else max(lo, bisect_left(self._keys, stop))
        # Copied up front: a batch applied while the caller iterates must not show through,
        # as LevelDB iterators read from a snapshot.
        pairs = [(k, self._data[k]) for k in self._keys[lo:hi]]
        if reverse:
            pairs.reverse()
        return iter(pairs)

    @contextmanager
    def _batch(self) -> Iterator[WriteBatch]:
        wb = _MemoryBatch()
        yield wb
        for key, value in wb.ops:
            if value is None:
                if self._data.pop(key, None) is not None:
                    del self._keys[bisect_left(self._keys, key)]
            else:
                if key not in self._data:
                    insort(self._keys, key)
                self._data[key] = value

    def batch(self, *, sync: bool = False) -> AbstractContextManager[WriteBatch]:
        return self._batch()  # nothing to flush: sync changes nothing in memory

    def close(self) -> None:
        pass


class LevelDBKV:
    """A LevelDB database (plyvel) at a folder, created if missing."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            # Trie nodes are keyed by hash, so reads land on random blocks: a bloom filter
            # skips most misses and a block cache keeps the upper levels in memory.
            self._db = plyvel.DB(str(path), create_if_missing=True, paranoid_checks=True,
                                 bloom_filter_bits=10, lru_cache_size=64 * 1024 * 1024)
        except plyvel.Error as exc:
            raise StoreCorrupted(f"cannot open the database at {path}: {exc}") from exc

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def scan(
        self, start: bytes | None = None, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        if reverse and start is not None:
            # plyvel 1.5 yields nothing from a reverse scan whose highest key in range equals
            # `start` (it compares that first key to start with >=): bound the low end here.
            return takewhile(lambda pair: pair[0] >= start, self._db.iterator(stop=stop, reverse=True))
        return self._db.iterator(start=start, stop=stop, reverse=reverse)

    @contextmanager
    def _batch(self, sync: bool) -> Iterator[WriteBatch]:
        # transaction=True: an exception inside the block discards the batch instead of writing half of it.
        with self._db.write_batch(transaction=True, sync=sync) as wb:
            yield wb

    def batch(self, *, sync: bool = False) -> AbstractContextManager[WriteBatch]:
        return self._batch(sync)

    def close(self) -> None:
        self._db.close()
