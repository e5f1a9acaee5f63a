"""A read-only view of the chain, for the JSON-RPC and for serving block sync.

The chain makes one (`Chain.reader`); it follows every commit. It has no way to write the
store: what it hands out reads committed data, and the overlays it builds keep their
changes in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from node.state.execution import Account, ExecParams, StateOverlay
from node.state.fees import FeeRecord, read_fee_record
from node.state.trie import SparseMerkleTree
from node.storage.schema import FEE_KEY
from node.storage.store import CompiledCode, Store, TxLocation
from node.types.block import Block, Commit
from node.types.genesis import Genesis
from vm import SettledTx


class Tip(Protocol):
    """What the reader needs of the chain that made it (node.chain.Chain)."""

    chain_id: str
    genesis: Genesis
    genesis_hash: bytes
    height: int
    state_root: bytes
    tip_hash: bytes
    tip_time_ms: int

    def exec_params(self, height: int, time_ms: int = 0) -> ExecParams: ...

    def get_account(self, address: bytes, height: int | None = None) -> Account: ...

    def settled(self, tx_hash: bytes) -> SettledTx | None: ...


class ReadOnlyCode:
    """The compiled-code cache without its writes.

    Every contract a block ran was compiled (and stored) when it ran, so what a query
    compiles again is kept only in the compiler's memory cache."""

    def __init__(self, code: CompiledCode) -> None:
        self._code = code

    def get(self, key: bytes) -> bytes | None:
        return self._code.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        pass


SNAPSHOT_CACHE_NODES = 4096


class _StoreNodes:
    def __init__(self, store: Store) -> None:
        self.get = store.get_node


class ChainReader:
    def __init__(self, chain: Tip, store: Store) -> None:
        self._chain = chain
        self._store = store
        self.code_cache = ReadOnlyCode(store.code_cache)

    # -- the tip ----------------------------------------------------------------------

    @property
    def chain_id(self) -> str:
        return self._chain.chain_id

    @property
    def genesis(self) -> Genesis:
        return self._chain.genesis

    @property
    def genesis_hash(self) -> bytes:
        return self._chain.genesis_hash

    @property
    def height(self) -> int:
        return self._chain.height

    @property
    def tip_hash(self) -> bytes:
        return self._chain.tip_hash

    @property
    def tip_time_ms(self) -> int:
        return self._chain.tip_time_ms

    @property
    def state_root(self) -> bytes:
        return self._chain.state_root

    # -- blocks, commits, transactions, evidence --------------------------------------

    def get_block(self, height: int) -> Block | None:
        return self._store.get_block(height)

    def get_block_raw(self, height: int) -> bytes | None:
        return self._store.get_block_raw(height)

    def height_of_block(self, block_hash: bytes) -> int | None:
        return self._store.height_of_block(block_hash)

    def get_commit(self, height: int) -> Commit | None:
        return self._store.get_commit(height)

    def get_tx(self, tx_hash: bytes) -> TxLocation | None:
        return self._store.get_tx(tx_hash)

    def settled(self, tx_hash: bytes) -> SettledTx | None:
        """A committed transaction as contracts see it with settled() (at any height: the VM keeps
        only those below the block it runs in, so a snapshot's answer never changes)."""
        return self._chain.settled(tx_hash)

    def address_history(
        self, address: bytes, limit: int, before: tuple[int, int] | None = None
    ) -> list[tuple[int, int, bytes]]:
        return self._store.address_history(address, limit, before)

    def committed_evidence(self, from_height: int, limit: int) -> list[tuple[int, bytes]]:
        return self._store.committed_evidence(from_height, limit)

    # -- state ------------------------------------------------------------------------

    def get_account(self, address: bytes, height: int | None = None) -> Account:
        """The account at `height` (default the latest); KeyError for a height without state."""
        return self._chain.get_account(address, height)

    def state_root_at(self, height: int) -> bytes | None:
        """The state root after `height` (0: the genesis state), None if the store has none."""
        return self._store.state_root(height)

    def state_at(self, height: int) -> Callable[[bytes], bytes | None] | None:
        """A read of the state after `height`, None if the store has no state for it."""
        chain = self._chain
        if height == chain.height:
            return self._store.get_state
        root = self._store.state_root(height)
        if root is None:
            return None
        return lambda key: chain.trie.get(root, key)

    def state_snapshot(self, height: int) -> Callable[[bytes], bytes | None] | None:
        """A read of the state after `height` through its stored trie root, None if none is stored.

        For worker threads: the trie's nodes are immutable and a later commit only adds nodes,
        so the answers never change; the tree is this snapshot's own (a tree's node cache is
        not thread-safe) and small, since a snapshot serves one call."""
        root = self._store.state_root(height)
        if root is None:
            return None
        trie = SparseMerkleTree(_StoreNodes(self._store), cache_size=SNAPSHOT_CACHE_NODES)
        return lambda key: trie.get(root, key)

    def exec_params(self, height: int, time_ms: int = 0) -> ExecParams:
        return self._chain.exec_params(height, time_ms)

    def fee_record(self, height: int) -> FeeRecord | None:
        """The fee record block `height` wrote (its base fee, gas used, burned total); None before block 1."""
        read = self.state_at(height)
        return None if read is None else read_fee_record(read(FEE_KEY))

    def overlay(self) -> StateOverlay:
        """Pending writes over the latest state, for a dry run: nothing reaches the store."""
        state = StateOverlay(self._store.get_state)
        state.code_store = self.code_cache
        state.settled = self._chain.settled
        return state
