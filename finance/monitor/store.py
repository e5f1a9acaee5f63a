"""The monitor's own LevelDB: movements with their indexes, alerts, watchlist and rule state.

Everything one block changes is written in one batch with the checkpoint (the last height done),
so a monitor killed at any moment resumes from a block it either finished or never started:
no alert is lost or raised twice. Keys (heights 8 bytes, indexes 4, big-endian, so that scans
run in chain order):

    C                          checkpoint: [height, block hash]
    G                          the genesis hash of the chain it follows
    N                          how many alerts there are
    M h i s                    a movement
    O addr h i s, I addr h i s an address's outgoing and incoming movements (the movement again)
    X tx_hash                  [h, i]: where a transaction's movements are
    L addr                     the last height the address moved value
    P addr                     [hops, watchlisted origin]: how near a watchlisted address it is
    W addr                     a watchlisted address: [source, reason, added_ms]
    S rule 0 subject           the height a rule last fired for a subject (suppression)
    A id                       an alert (JSON)
    a h id, r rule 0 h id, d addr h id   alerts by height, by rule, by address
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import plyvel

from finance.monitor.movements import Movement
from node.types.crypto import parse_address, to_checksum_address

CHECKPOINT = b"C"
GENESIS = b"G"
ALERT_COUNT = b"N"


def h8(height: int) -> bytes:
    return height.to_bytes(8, "big")


def _addr(address: str) -> bytes:
    return parse_address(address)


def movement_key(m: Movement) -> bytes:
    return h8(m.height) + m.index.to_bytes(4, "big") + m.seq.to_bytes(4, "big")


def _encode(m: Movement) -> bytes:
    return msgpack.packb([m.height, m.index, m.seq, bytes.fromhex(m.tx_hash[2:]), m.asset, _addr(m.sender),
                          _addr(m.receiver), str(m.amount)])


@functools.lru_cache(maxsize=1 << 17)
def _checksum(raw: bytes) -> str:
    # EIP-55 costs a Keccak-256 per address: a trace reads the same addresses again and again.
    return to_checksum_address(raw)


def _decode(raw: bytes) -> Movement:
    h, i, s, tx, asset, sender, receiver, amount = msgpack.unpackb(raw)
    return Movement(h, i, s, "0x" + tx.hex(), asset, _checksum(sender), _checksum(receiver), int(amount))


class StoreError(RuntimeError):
    """The monitor's database cannot be opened or read."""


class MonitorStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as exc:
            raise StoreError(f"cannot open the monitor database at {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # -- checkpoint ----------------------------------------------------------------------

    def checkpoint(self) -> tuple[int, str | None]:
        raw = self.db.get(CHECKPOINT)
        if raw is None:
            return 0, None
        height, block_hash = msgpack.unpackb(raw)
        return height, block_hash

    def genesis(self) -> str | None:
        raw = self.db.get(GENESIS)
        return None if raw is None else raw.decode()

    def set_genesis(self, genesis_hash: str) -> None:
        self.db.put(GENESIS, genesis_hash.encode())

    # -- movements -------------------------------------------------------------------------

    def movements_between(self, first: int, last: int) -> Iterator[Movement]:
        for _, raw in self.db.iterator(start=b"M" + h8(max(first, 0)), stop=b"M" + h8(last + 1)):
            yield _decode(raw)

    def address_movements(self, address: str, outgoing: bool, first: int = 0, last: int = 2**63) -> Iterator[
            Movement]:
        prefix = (b"O" if outgoing else b"I") + _addr(address)
        for _, raw in self.db.iterator(start=prefix + h8(first), stop=prefix + h8(last + 1)):
            yield _decode(raw)

    def tx_movements(self, tx_hash: str) -> list[Movement]:
        where = self.db.get(b"X" + bytes.fromhex(tx_hash[2:]))
        if where is None:
            return []
        prefix = b"M" + where
        return [_decode(raw) for _, raw in self.db.iterator(prefix=prefix)]

    def last_active(self, address: str) -> int | None:
        raw = self.db.get(b"L" + _addr(address))
        return None if raw is None else int.from_bytes(raw, "big")

    def proximity(self, address: str) -> tuple[int, str] | None:
        raw = self.db.get(b"P" + _addr(address))
        return None if raw is None else tuple(msgpack.unpackb(raw))  # type: ignore[return-value]

    def last_fired(self, rule: str, subject: str) -> int | None:
        raw = self.db.get(b"S" + rule.encode() + b"\0" + subject.encode())
        return None if raw is None else int.from_bytes(raw, "big")

    # -- watchlist ---------------------------------------------------------------------------

    def watchlist(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, raw in self.db.iterator(prefix=b"W"):
            source, reason, added_ms = msgpack.unpackb(raw)
            out[_checksum(key[1:])] = {"source": source, "reason": reason, "added_ms": added_ms}
        return out

    def watch(self, address: str, source: str, reason: str, added_ms: int) -> None:
        self.db.put(b"W" + _addr(address), msgpack.packb([source, reason, added_ms]))

    def unwatch(self, address: str) -> bool:
        key = b"W" + _addr(address)
        if self.db.get(key) is None:
            return False
        self.db.delete(key)
        return True

    # -- alerts ------------------------------------------------------------------------------

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        raw = self.db.get(b"A" + bytes.fromhex(alert_id[2:]))
        return None if raw is None else json.loads(raw)

    def alert_ids(self, *, rule: str | None = None, address: str | None = None, first: int = 0,
                  last: int = 2**63, after: tuple[int, bytes] | None = None) -> Iterator[tuple[int, bytes]]:
        """(height, id) of alerts in height order, from one index; `after` resumes a page."""
        if address is not None:
            prefix = b"d" + _addr(address)
        elif rule is not None:
            prefix = b"r" + rule.encode() + b"\0"
        else:
            prefix = b"a"
        start = prefix + h8(first) if after is None else prefix + h8(after[0]) + after[1] + b"\0"
        for key in self.db.iterator(start=start, stop=prefix + h8(last + 1), include_value=False):
            yield int.from_bytes(key[len(prefix):len(prefix) + 8], "big"), key[len(prefix) + 8:]

    def alert_count(self) -> int:
        raw = self.db.get(ALERT_COUNT)
        return 0 if raw is None else int.from_bytes(raw, "big")


class BlockBatch:
    """What one block writes, applied atomically with the new checkpoint."""

    def __init__(self, store: MonitorStore) -> None:
        self.batch = store.db.write_batch(transaction=True)
        self.seen_txs: set[str] = set()
        self.alerts = store.alert_count()

    def movement(self, m: Movement) -> None:
        key = movement_key(m)
        raw = _encode(m)  # in the address indexes too: a trace reads an address's movements in one scan
        self.batch.put(b"M" + key, raw)
        self.batch.put(b"O" + _addr(m.sender) + key, raw)
        self.batch.put(b"I" + _addr(m.receiver) + key, raw)
        if m.tx_hash not in self.seen_txs:
            self.seen_txs.add(m.tx_hash)
            self.batch.put(b"X" + bytes.fromhex(m.tx_hash[2:]), key[:12])

    def last_active(self, address: str, height: int) -> None:
        self.batch.put(b"L" + _addr(address), h8(height))

    def proximity(self, address: str, hops: int, origin: str) -> None:
        self.batch.put(b"P" + _addr(address), msgpack.packb([hops, origin]))

    def fired(self, rule: str, subject: str, height: int) -> None:
        self.batch.put(b"S" + rule.encode() + b"\0" + subject.encode(), h8(height))

    def alert(self, alert: dict[str, Any]) -> None:
        aid = bytes.fromhex(alert["id"][2:])
        height = h8(alert["height"])
        self.batch.put(b"A" + aid, json.dumps(alert, separators=(",", ":")).encode())
        self.alerts += 1
        self.batch.put(b"a" + height + aid, b"")
        self.batch.put(b"r" + alert["rule"].encode() + b"\0" + height + aid, b"")
        for address in set(alert["addresses"]):
            self.batch.put(b"d" + _addr(address) + height + aid, b"")

    def commit(self, height: int, block_hash: str) -> None:
        self.batch.put(CHECKPOINT, msgpack.packb([height, block_hash]))
        self.batch.put(ALERT_COUNT, h8(self.alerts))
        self.batch.write()
