"""LevelDB (plyvel) storage of blocks, commits, receipts, indexes and state.

Key layout (one prefix byte each):
  M<name>                      meta: latest height, genesis hash
  B<height:8>                  block bytes            H<block hash>    -> height
  C<height:8>                  the commit we saw for that height (block h+1 carries the canonical one)
  R<height:8>                  state root after that height
  T<tx hash>                   [height, index, receipt]
  X<address><height:8><idx:4>  tx hash: history of an address (sender or recipient), newest last
  S<state key>                 latest state value (fast reads; the trie holds every height)
  N<node hash>                 Merkle trie node
  Mvalset                      [height, proposer priorities] of the next height (written by the chain)
  e<evidence hash>             height it was committed at   E<height:8><idx:2>  the evidence bytes
  K<fingerprint><code hash>    compiled contract code (a cache, not state: safe to delete)
Everything a block changes is written in one write batch: a crash leaves the block
fully applied or absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import plyvel

from node import codec
from node.block import Block, Commit, Receipt, decode_block
from node.codec import DecodeError
from node.errors import StoreCorrupted

META_HEIGHT = b"Mheight"
META_GENESIS = b"Mgenesis"


class CompiledCode:
    """The VM's store of compiled contracts (vm.compiler.CodeStore), under the K prefix."""

    def __init__(self, db: plyvel.DB) -> None:
        self._db = db

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(b"K" + key)

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(b"K" + key, value)


def _h(height: int) -> bytes:
    return height.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class TxLocation:
    height: int
    index: int
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """Everything one committed block adds to the store."""

    block: Block
    block_raw: bytes
    block_hash: bytes
    commit: Commit
    receipts: tuple[Receipt, ...]
    tx_parties: tuple[tuple[bytes, ...], ...]  # per tx: the addresses whose history it joins
    state_changes: Mapping[bytes, bytes | None]
    trie_nodes: Mapping[bytes, bytes]
    state_root: bytes
    extra: Mapping[bytes, bytes] = field(default_factory=dict)


class Store:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            # Trie nodes are keyed by hash, so reads land on random blocks: a bloom filter
            # skips most misses and a block cache keeps the upper levels in memory.
            self.db = plyvel.DB(str(path), create_if_missing=True, paranoid_checks=True,
                                bloom_filter_bits=10, lru_cache_size=64 * 1024 * 1024)
        except plyvel.Error as exc:
            raise StoreCorrupted(f"cannot open the database at {path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    # -- meta -------------------------------------------------------------------------

    def latest_height(self) -> int:
        raw = self.db.get(META_HEIGHT)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def genesis_hash(self) -> bytes | None:
        return self.db.get(META_GENESIS)

    def init_genesis(
        self,
        genesis_hash: bytes,
        state: Mapping[bytes, bytes],
        trie_nodes: Mapping[bytes, bytes],
        state_root: bytes,
        extra: Mapping[bytes, bytes],
    ) -> None:
        with self.db.write_batch(transaction=True, sync=True) as wb:
            for key, value in state.items():
                wb.put(b"S" + key, value)
            for node_hash, node in trie_nodes.items():
                wb.put(b"N" + node_hash, node)
            for key, value in extra.items():
                wb.put(key, value)
            wb.put(b"R" + _h(0), state_root)
            wb.put(META_HEIGHT, _h(0))
            wb.put(META_GENESIS, genesis_hash)

    # -- reads ------------------------------------------------------------------------

    def get_raw(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def get_state(self, key: bytes) -> bytes | None:
        return self.db.get(b"S" + key)

    @property
    def code_cache(self) -> CompiledCode:
        return CompiledCode(self.db)

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.db.get(b"N" + node_hash)

    def state_root(self, height: int) -> bytes | None:
        return self.db.get(b"R" + _h(height))

    def get_block_raw(self, height: int) -> bytes | None:
        return self.db.get(b"B" + _h(height))

    def get_block(self, height: int) -> Block | None:
        raw = self.get_block_raw(height)
        if raw is None:
            return None
        try:
            return decode_block(raw)
        except DecodeError as exc:
            raise StoreCorrupted(f"block {height} in the database does not decode: {exc}") from exc

    def height_of_block(self, block_hash: bytes) -> int | None:
        raw = self.db.get(b"H" + block_hash)
        return None if raw is None else int.from_bytes(raw, "big")

    def get_commit(self, height: int) -> Commit | None:
        raw = self.db.get(b"C" + _h(height))
        if raw is None:
            return None
        return Commit.from_list(codec.decode(raw))

    def get_tx(self, tx_hash: bytes) -> TxLocation | None:
        raw = self.db.get(b"T" + tx_hash)
        if raw is None:
            return None
        height, index, receipt = codec.decode(raw)
        return TxLocation(height, index, Receipt.from_list(receipt))

    def address_history(
        self, address: bytes, limit: int, before: tuple[int, int] | None = None
    ) -> list[tuple[int, int, bytes]]:
        """Up to `limit` (height, index, tx hash) of `address`, newest first, strictly before `before`."""
        prefix = b"X" + address
        stop = prefix + (_h(before[0]) + before[1].to_bytes(4, "big") if before else b"\xff" * 12)
        out: list[tuple[int, int, bytes]] = []
        for key, value in self.db.iterator(start=prefix, stop=stop, reverse=True):
            out.append((int.from_bytes(key[21:29], "big"), int.from_bytes(key[29:33], "big"), value))
            if len(out) >= limit:
                break
        return out

    def is_evidence_committed(self, ev_hash: bytes) -> bool:
        return self.db.get(b"e" + ev_hash) is not None

    def committed_evidence(self, from_height: int, limit: int) -> list[tuple[int, bytes]]:
        """(height, raw evidence) committed at or above `from_height`, oldest first."""
        out = []
        for key, value in self.db.iterator(start=b"E" + _h(from_height), stop=b"F"):
            out.append((int.from_bytes(key[1:9], "big"), value))
            if len(out) >= limit:
                break
        return out

    # -- the one write per block ------------------------------------------------------

    def commit_block(self, w: BlockWrite) -> None:
        height = w.block.height
        hb = _h(height)
        with self.db.write_batch(transaction=True, sync=True) as wb:
            wb.put(b"B" + hb, w.block_raw)
            wb.put(b"H" + w.block_hash, hb)
            wb.put(b"C" + hb, w.commit.encode())
            wb.put(b"R" + hb, w.state_root)
            for index, (receipt, parties) in enumerate(zip(w.receipts, w.tx_parties, strict=True)):
                wb.put(b"T" + receipt.tx_hash, codec.encode([height, index, receipt.to_list()]))
                suffix = hb + index.to_bytes(4, "big")
                for address in parties:
                    wb.put(b"X" + address + suffix, receipt.tx_hash)
            for key, value in w.state_changes.items():
                if value is None:
                    wb.delete(b"S" + key)
                else:
                    wb.put(b"S" + key, value)
            for node_hash, node in w.trie_nodes.items():
                wb.put(b"N" + node_hash, node)
            for key, value in w.extra.items():
                wb.put(key, value)
            wb.put(META_HEIGHT, hb)
