"""The node's records over a KV (node/storage/kv.py): blocks, commits, receipts, indexes and state.

The key layout is node/storage/schema.py. Everything a block changes, with the next height's
proposer priorities and the evidence it carries, is written in one synced write batch: a
crash leaves the block fully applied or absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.storage import schema
from node.storage.kv import KV
from node.types import codec
from node.types.block import Block, Commit, Receipt, decode_block
from node.types.codec import DecodeError
from node.types.errors import StoreCorrupted


class CompiledCode:
    """The VM's store of compiled contracts (vm.compiler.CodeStore), a cache beside the state."""

    def __init__(self, kv: KV) -> None:
        self._kv = kv

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(schema.compiled_code_key(key))

    def put(self, key: bytes, value: bytes) -> None:
        # Not synced: a lost entry is compiled again.
        with self._kv.batch() as wb:
            wb.put(schema.compiled_code_key(key), value)


@dataclass(frozen=True, slots=True)
class TxLocation:
    height: int
    index: int
    receipt: Receipt


TX_KINDS = ("transfer", "deploy", "call")  # their index is the kind stored in a tx summary


@dataclass(frozen=True, slots=True)
class TxSummary:
    """A committed transaction in brief: who sent it, to what, and whether it succeeded."""

    height: int
    status: int
    kind: str  # one of TX_KINDS
    sender: bytes
    to: bytes  # the recipient, the contract called, or the contract a deploy made

    def encode(self) -> bytes:
        return codec.encode_unchecked([self.height, self.status, TX_KINDS.index(self.kind), self.sender, self.to])

    @staticmethod
    def decode(raw: bytes) -> TxSummary:
        try:
            f = codec.expect_list(codec.decode(raw), 5, "tx summary")
            kind = codec.expect_uint(f[2], "kind")
            if kind >= len(TX_KINDS):
                raise DecodeError(f"tx summary kind {kind} is unknown")
            return TxSummary(codec.expect_uint(f[0], "height"), codec.expect_uint(f[1], "status"), TX_KINDS[kind],
                             codec.expect_bytes(f[3], "sender", 20), codec.expect_bytes(f[4], "to", 20))
        except DecodeError as exc:
            raise StoreCorrupted(f"a tx summary does not decode: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ProposerPriorities:
    """The proposer priorities a commit left for the height after it."""

    height: int
    priorities: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """Everything one committed block adds to the store."""

    block: Block
    block_raw: bytes
    block_hash: bytes
    commit: Commit
    receipts: tuple[Receipt, ...]
    tx_parties: tuple[tuple[bytes, ...], ...]  # per tx: the addresses whose history it joins
    tx_heads: tuple[tuple[str, bytes, bytes], ...]  # per tx: (kind, sender, to) of its TxSummary
    state_changes: Mapping[bytes, bytes | None]
    trie_nodes: Mapping[bytes, bytes]
    state_root: bytes
    next_priorities: tuple[int, ...]  # of the validator set that runs the height after this block
    evidence_hashes: tuple[bytes, ...] = ()  # of block.evidence, in its order
    # The movement index (node/state/movements.py): (address, tx index, encoded record) and the
    # (address, token) pairs whose token balance the block moved.
    movements: tuple[tuple[bytes, int, bytes], ...] = ()
    asset_touches: tuple[tuple[bytes, bytes], ...] = ()


class Store:
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.code_cache = CompiledCode(kv)

    def close(self) -> None:
        self.kv.close()

    # -- meta -------------------------------------------------------------------------

    def latest_height(self) -> int:
        raw = self.kv.get(schema.META_HEIGHT)
        return 0 if raw is None else schema.decode_height(raw)

    def genesis_hash(self) -> bytes | None:
        return self.kv.get(schema.META_GENESIS)

    def init_genesis(
        self,
        genesis_hash: bytes,
        state: Mapping[bytes, bytes],
        trie_nodes: Mapping[bytes, bytes],
        state_root: bytes,
    ) -> None:
        with self.kv.batch(sync=True) as wb:
            for key, value in state.items():
                wb.put(schema.state_key(key), value)
            for node_hash, node in trie_nodes.items():
                wb.put(schema.trie_node_key(node_hash), node)
            wb.put(schema.state_root_key(0), state_root)
            wb.put(schema.META_HEIGHT, schema.encode_height(0))
            wb.put(schema.META_GENESIS, genesis_hash)
            wb.put(schema.META_MOVEMENTS, schema.encode_height(1))

    def proposer_priorities(self) -> ProposerPriorities | None:
        """What the last commit wrote for the next height; None in a store from before the record."""
        raw = self.kv.get(schema.META_VALSET)
        if raw is None:
            return None
        try:
            height, priorities = codec.expect_list(codec.decode(raw), 2, "proposer priorities")
            if not isinstance(priorities, list) or not all(type(p) is int for p in priorities):
                raise DecodeError("priorities must be a list of integers")
            return ProposerPriorities(codec.expect_uint(height, "height"), tuple(priorities))
        except DecodeError as exc:
            raise StoreCorrupted(f"the stored proposer priorities do not decode: {exc}") from exc

    # -- reads ------------------------------------------------------------------------

    def get_state(self, key: bytes) -> bytes | None:
        return self.kv.get(schema.state_key(key))

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.kv.get(schema.trie_node_key(node_hash))

    def state_root(self, height: int) -> bytes | None:
        return self.kv.get(schema.state_root_key(height))

    def get_block_raw(self, height: int) -> bytes | None:
        return self.kv.get(schema.block_key(height))

    def get_block(self, height: int) -> Block | None:
        raw = self.get_block_raw(height)
        if raw is None:
            return None
        try:
            return decode_block(raw)
        except DecodeError as exc:
            raise StoreCorrupted(f"block {height} in the database does not decode: {exc}") from exc

    def height_of_block(self, block_hash: bytes) -> int | None:
        raw = self.kv.get(schema.block_height_key(block_hash))
        return None if raw is None else schema.decode_height(raw)

    def get_commit(self, height: int) -> Commit | None:
        raw = self.kv.get(schema.commit_key(height))
        if raw is None:
            return None
        return Commit.from_list(codec.decode(raw))

    def get_tx(self, tx_hash: bytes) -> TxLocation | None:
        raw = self.kv.get(schema.tx_key(tx_hash))
        if raw is None:
            return None
        height, index, receipt = codec.decode(raw)
        return TxLocation(height, index, Receipt.from_list(receipt))

    def get_tx_summary(self, tx_hash: bytes) -> TxSummary | None:
        """The summary commit_block wrote; None for an unknown hash, or one committed before summaries were."""
        raw = self.kv.get(schema.tx_summary_key(tx_hash))
        return None if raw is None else TxSummary.decode(raw)

    def address_history(
        self, address: bytes, limit: int, before: tuple[int, int] | None = None
    ) -> list[tuple[int, int, bytes]]:
        """Up to `limit` (height, index, tx hash) of `address`, newest first, strictly before `before`."""
        start, stop = schema.history_range(address, before)
        out: list[tuple[int, int, bytes]] = []
        for key, value in self.kv.scan(start, stop, reverse=True):
            out.append((*schema.parse_history_key(key), value))
            if len(out) >= limit:
                break
        return out

    def movements_from(self) -> int | None:
        """The first height whose movements are indexed; None before the chain first wrote it."""
        raw = self.kv.get(schema.META_MOVEMENTS)
        return None if raw is None else schema.decode_height(raw)

    def set_movements_from(self, height: int) -> None:
        with self.kv.batch(sync=True) as wb:
            wb.put(schema.META_MOVEMENTS, schema.encode_height(height))

    def movements(self, address: bytes, from_height: int, to_height: int, after: tuple[int, int] | None,
                  limit: int) -> list[tuple[int, int, bytes]]:
        """Up to `limit` (height, index, record) of `address` in [from, to], oldest first, after `after`."""
        out: list[tuple[int, int, bytes]] = []
        if limit <= 0:
            return out
        for key, value in self.kv.scan(*schema.movement_range(address, from_height, to_height, after)):
            out.append((*schema.parse_movement_key(key), value))
            if len(out) >= limit:
                break
        return out

    def touched_tokens(self, address: bytes, limit: int) -> list[bytes]:
        """Up to `limit` tokens whose balance of `address` some block moved, in address order.

        One seek per token: past each token found, the scan starts again at the next one."""
        base = schema.ASSET_TOUCH + address
        stop = schema.prefix_end(base)
        out: list[bytes] = []
        start: bytes | None = base
        while start is not None and len(out) < limit:
            first = next(iter(self.kv.scan(start, stop)), None)
            if first is None:
                break
            token, _ = schema.parse_asset_touch_key(first[0])
            out.append(token)
            start = schema.prefix_end(base + token)
        return out

    def token_touched(self, address: bytes, token: bytes, from_height: int, to_height: int) -> bool:
        """Whether a block in [from, to] moved the balance of `token` of `address`."""
        start = schema.asset_touch_key(address, token, from_height)
        return next(iter(self.kv.scan(start, schema.asset_touch_key(address, token, to_height + 1))), None) is not None

    def is_evidence_committed(self, ev_hash: bytes) -> bool:
        return self.kv.get(schema.evidence_height_key(ev_hash)) is not None

    def committed_evidence(self, from_height: int, limit: int) -> list[tuple[int, bytes]]:
        """(height, raw evidence) committed at or above `from_height`, oldest first."""
        out = []
        for key, value in self.kv.scan(*schema.evidence_range(from_height)):
            out.append((schema.parse_evidence_key(key), value))
            if len(out) >= limit:
                break
        return out

    # -- the one write per block ------------------------------------------------------

    def commit_block(self, w: BlockWrite) -> None:
        height = w.block.height
        hb = schema.encode_height(height)
        with self.kv.batch(sync=True) as wb:
            wb.put(schema.block_key(height), w.block_raw)
            wb.put(schema.block_height_key(w.block_hash), hb)
            wb.put(schema.commit_key(height), w.commit.encode())
            wb.put(schema.state_root_key(height), w.state_root)
            # Unchecked: each receipt was encoded canonically for the block's results root.
            for index, (receipt, parties, (kind, sender, to)) in enumerate(
                    zip(w.receipts, w.tx_parties, w.tx_heads, strict=True)):
                wb.put(schema.tx_key(receipt.tx_hash), codec.encode_unchecked([height, index, receipt.to_list()]))
                wb.put(schema.tx_summary_key(receipt.tx_hash),
                       TxSummary(height, receipt.status, kind, sender, to).encode())
                for address in parties:
                    wb.put(schema.history_key(address, height, index), receipt.tx_hash)
            for address, index, record in w.movements:
                wb.put(schema.movement_key(address, height, index), record)
            for address, token in w.asset_touches:
                wb.put(schema.asset_touch_key(address, token, height), b"")
            for key, value in w.state_changes.items():
                if value is None:
                    wb.delete(schema.state_key(key))
                else:
                    wb.put(schema.state_key(key), value)
            for node_hash, node in w.trie_nodes.items():
                wb.put(schema.trie_node_key(node_hash), node)
            for index, (ev_hash, raw) in enumerate(zip(w.evidence_hashes, w.block.evidence, strict=True)):
                wb.put(schema.evidence_height_key(ev_hash), hb)
                wb.put(schema.evidence_key(height, index), raw)
            wb.put(schema.META_VALSET, codec.encode([height + 1, list(w.next_priorities)]))
            wb.put(schema.META_HEIGHT, hb)
