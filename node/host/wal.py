"""The consensus write-ahead log: every input of the current height, checksummed.

Record: length (4 bytes, big-endian) | CRC32 of the payload (4 bytes) | payload.
A torn or corrupt tail (a crash mid-write, a bad disk block) is cut at the last good
record with a log line; the node never refuses to start over a WAL tail.
The log holds one height: starting a new height rewrites it, since everything before
is committed in the store.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from node.types import codec
from node.types.codec import DecodeError

log = logging.getLogger("finchain.wal")

MAX_RECORD = 64 * 1024 * 1024
_HEAD = struct.Struct(">II")


def read_records(path: Path) -> tuple[list[Any], int]:
    """All good records and the byte offset where the good part ends."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[Any] = []
    pos = 0
    while pos < len(data):
        if pos + _HEAD.size > len(data):
            break
        length, crc = _HEAD.unpack_from(data, pos)
        start = pos + _HEAD.size
        if length > MAX_RECORD or start + length > len(data):
            break
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            break
        try:
            records.append(codec.decode(payload, MAX_RECORD))
        except DecodeError:
            break
        pos = start + length
    if pos < len(data):
        log.warning("WAL %s: cutting %d bytes of torn or corrupt tail at offset %d", path, len(data) - pos, pos)
    return records, pos


class WAL:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.records, good = read_records(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, good)
        os.lseek(self._fd, good, os.SEEK_SET)

    def append(self, record: Any, sync: bool = False) -> None:
        payload = codec.encode(record)
        os.write(self._fd, _HEAD.pack(len(payload), zlib.crc32(payload)) + payload)
        if sync:
            os.fsync(self._fd)

    def sync(self) -> None:
        os.fsync(self._fd)

    def start_height(self, height: int) -> None:
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.records = []
        self.append(["H", height], sync=True)

    def close(self) -> None:
        os.close(self._fd)
