"""The chain, transaction and account methods of the node's JSON-RPC (`NodeApi`).

What may cost much (decoding a block's transactions, a large receipt, a page of history)
runs in the read pool's threads, not on the event loop that runs consensus, and is encoded
to JSON there too. A thread reads only what a commit never changes: blocks, receipts,
history rows and state by its trie root at a fixed height; it decodes transactions
without the mempool's shared cache (which the loop writes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.host.engine import Engine, TxsAvailable
from node.mempool.pool import Mempool
from node.mempool.recovery import RecoveryPool
from node.reader import ChainReader
from node.rpc.limits import ReadPool
from node.rpc.params import (
    STALL_AFTER_S,
    VERSION,
    address_param,
    bytes_param,
    height_text,
    invalid_params,
    parse_cursor,
    rpc_error,
)
from node.rpc.registry import RawJson, RpcError, encode_json
from node.rpc.views import block_json, evidence_json, header_json, hx, iso_ms, receipt_json, tx_json
from node.types import errors
from node.types.block import Block
from node.types.crypto import to_checksum_address
from node.types.envelopes import TxDecoder
from node.types.evidence import decode_evidence
from node.types.risk import RiskPolicy
from node.types.tx import SignedTx

MAX_RECEIPTS_PAGE = 20_000  # a whole block of max_block_txs fits one page when its answer is small enough

DEFAULT_READ_THREADS = 2


@dataclass
class NodeInfo:
    node_id: str
    moniker: str
    validator: bytes | None
    peers: Callable[[], list[Any]]
    catching_up: Callable[[], bool]
    sync_status: Callable[[], dict[str, Any]] = dict
    consensus_peers: Callable[[], list[dict[str, Any]]] = list
    banned: Callable[[], dict[str, float]] = dict  # node id -> seconds left of its ban


class NodeApi:
    def __init__(
        self,
        chain: ChainReader,
        mempool: Mempool,
        engine: Engine,
        info: NodeInfo,
        on_tx_admitted: Callable[[bytes], None] = lambda raw: None,
        pool: ReadPool | None = None,
        risk_policy: RiskPolicy | None = None,
        recovery: RecoveryPool | None = None,
    ) -> None:
        self.recovery = recovery
        self.risk_policy = risk_policy if risk_policy is not None else RiskPolicy()
        self.pool = pool if pool is not None else ReadPool(DEFAULT_READ_THREADS)
        self.on_tx_admitted = on_tx_admitted
        self.chain = chain
        self._decode_tx = TxDecoder.for_genesis(chain.genesis)  # committed txs, either envelope
        self.mempool = mempool
        self.engine = engine
        self.info = info

    def _decode_all(self, block: Block) -> list[SignedTx]:
        # In a thread: the mempool's verifier cache is the loop's; committed txs decode anyway.
        return [self._decode_tx(raw) for raw in block.txs]

    def _height_of(self, block: int | str) -> int:
        tip = self.chain.height
        if block == "latest":
            return tip
        if isinstance(block, int):
            if block < 0 or block > tip:
                raise errors.NotFound(f"no block at height {block} (the latest is {tip})")
            return block
        digits = height_text(block)
        if digits is not None:
            return self._height_of(digits)
        h = self.chain.height_of_block(bytes_param(block, "block", 32))
        if h is None:
            raise errors.NotFound(f"no block with hash {block}")
        return h

    # -- methods ----------------------------------------------------------------------

    async def node_status(self) -> dict[str, Any]:
        chain = self.chain
        state = self.engine.snapshot().state
        return {
            "chain_id": chain.chain_id,
            "genesis_hash": hx(chain.genesis_hash),
            "node_id": self.info.node_id,
            "moniker": self.info.moniker,
            "version": VERSION,
            "validator": to_checksum_address(self.info.validator) if self.info.validator else None,
            "height": chain.height,
            "latest_block_hash": hx(chain.tip_hash),
            "latest_block_time_ms": chain.tip_time_ms,
            "latest_block_time": iso_ms(chain.tip_time_ms),
            "state_root": hx(chain.state_root),
            "catching_up": self.info.catching_up(),
            "peers": len(self.info.peers()),
            "sync": self.info.sync_status(),
            "consensus": {
                "height": state.height if state else None,
                "round": state.round if state else None,
                "step": state.step.name.lower() if state else None,
            },
            "mempool_size": len(self.mempool),
        }

    def _block_at(self, height: int) -> Block:
        found = self.chain.get_block(height) if height > 0 else None
        if found is None:
            raise errors.NotFound(f"no block at height {height}")
        return found

    async def chain_getBlock(self, block: int | str = "latest", full: bool = False) -> RawJson:
        height = self._height_of(block)

        def read() -> RawJson:
            found = self._block_at(height)
            txs = self._decode_all(found) if full else None
            return encode_json(block_json(found, txs, self.chain.fee_record(height)))

        return await self.pool.run(read)

    async def chain_getBlockReceipts(self, block: int | str = "latest", offset: int = 0,
                                     limit: int | None = None) -> RawJson:
        """The transactions of a block with their receipts, in order: what an indexer reads per block.

        `offset`/`limit` page a block too large for one answer; `next` is the offset of the next
        page, null after the last."""
        if type(offset) is not int or offset < 0:
            raise invalid_params("offset: an integer >= 0")
        if limit is not None and (type(limit) is not int or not 1 <= limit <= MAX_RECEIPTS_PAGE):
            raise invalid_params(f"limit: between 1 and {MAX_RECEIPTS_PAGE}")
        height = self._height_of(block)

        def read() -> RawJson:
            found = self._block_at(height)
            end = len(found.txs) if limit is None else min(len(found.txs), offset + limit)
            txs = []
            for raw in found.txs[offset:end]:
                tx = self._decode_tx(raw)
                loc = self.chain.get_tx(tx.hash)
                if loc is None:
                    raise RpcError(errors.StoreCorrupted.code, "a committed transaction is not indexed",
                                   {"reason": "store_corrupted"})
                txs.append({"tx": tx_json(tx), "receipt": receipt_json(loc.receipt)})
            return encode_json({"height": height, "hash": hx(found.hash()), "time_ms": found.header.time_ms,
                                "tx_count": len(found.txs), "next": end if end < len(found.txs) else None,
                                "txs": txs})

        return await self.pool.run(read)

    async def chain_getHeader(self, block: int | str = "latest") -> RawJson:
        height = self._height_of(block)
        return await self.pool.run(lambda: encode_json(header_json(self._block_at(height).header)))

    def admit(self, data: bytes, sender: bytes | None = None) -> SignedTx:
        """Into the mempool, then to consensus and gossip; InvalidTransaction when refused."""
        tx = self.mempool.add(data, sender)
        self.engine.submit(TxsAvailable())
        self.on_tx_admitted(data)
        return tx

    async def submit(self, data: bytes) -> SignedTx:
        """admit(), with the signer recovered in a worker process when the node runs them."""
        sender = None
        if self.recovery is not None:
            sender = await self.recovery.signer(data, self.mempool.needs_recovery(data))
        return self.admit(data, sender)

    async def tx_send(self, raw: str) -> str:
        try:
            tx = await self.submit(bytes_param(raw, "raw"))
        except errors.InvalidTransaction as exc:
            raise rpc_error(exc) from exc
        return hx(tx.hash)

    def _committed_tx(self, tx_hash: bytes, hash: str) -> RawJson | None:
        loc = self.chain.get_tx(tx_hash)
        if loc is None:
            return None
        block = self.chain.get_block(loc.height)
        if block is None:
            raise RpcError(errors.StoreCorrupted.code, "indexed block is missing", {"reason": "store_corrupted"})
        tx = self._decode_tx(block.txs[loc.index])
        return encode_json({
            "hash": hash.lower(),
            "status": "committed",
            "height": loc.height,
            "index": loc.index,
            "block_hash": hx(block.hash()),
            "tx": tx_json(tx),
            "receipt": receipt_json(loc.receipt),
        })

    async def tx_get(self, hash: str) -> dict[str, Any] | RawJson:
        tx_hash = bytes_param(hash, "hash", 32)
        committed = await self.pool.run(lambda: self._committed_tx(tx_hash, hash))
        if committed is not None:
            return committed
        pending = self.mempool.get(tx_hash)
        if pending is not None:
            return {"hash": hash.lower(), "status": "pending", "height": None, "index": None, "block_hash": None,
                    "tx": tx_json(pending), "receipt": None}
        return {"hash": hash.lower(), "status": "unknown", "height": None, "index": None, "block_hash": None,
                "tx": None, "receipt": None}

    async def account_get(self, address: str, block: int | str = "latest") -> dict[str, Any]:
        addr = address_param(address)
        height = self._height_of(block)
        account = self.chain.get_account(addr, height)
        out: dict[str, Any] = {
            "address": to_checksum_address(addr),
            "balance": str(account.balance),
            "nonce": account.nonce,
            "height": height,
        }
        if height == self.chain.height:
            pending = self.mempool.pending_nonce(addr)
            out["pending_nonce"] = account.nonce if pending is None else pending
        return out

    async def account_txs(self, address: str, limit: int = 20, cursor: str | None = None) -> RawJson:
        addr = address_param(address)
        if not 1 <= limit <= 1000:
            raise invalid_params("limit: between 1 and 1000")
        before = None if cursor is None else parse_cursor(cursor)
        return await self.pool.run(lambda: self._history(addr, limit, before))

    def _history(self, addr: bytes, limit: int, before: tuple[int, int] | None) -> RawJson:
        # One row more than asked says whether another page exists: next_cursor is null on the last one.
        rows = self.chain.address_history(addr, limit + 1, before)
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for height, index, tx_hash in rows:
            loc = self.chain.get_tx(tx_hash)
            block = self.chain.get_block(height)
            if loc is None or block is None:
                continue
            items.append({
                "height": height,
                "index": index,
                "tx": tx_json(self._decode_tx(block.txs[index])),
                "receipt": receipt_json(loc.receipt),
            })
        next_cursor = f"{rows[-1][0]}:{rows[-1][1]}" if more else None
        return encode_json({"address": to_checksum_address(addr), "txs": items, "next_cursor": next_cursor})

    async def chain_getEvidence(self, from_height: int = 1, limit: int = 100) -> dict[str, Any]:
        # Heights are 64-bit in the store's keys: a bigger one would not encode.
        if not 0 <= from_height < 2**64 or not 1 <= limit <= 1000:
            raise invalid_params("from_height >= 0 and limit between 1 and 1000")
        committed = await self.pool.run(lambda: [evidence_json(decode_evidence(raw), h)
                                                 for h, raw in self.chain.committed_evidence(from_height, limit)])
        pending = [evidence_json(ev, None) for ev in self.engine.pending_evidence(limit)]
        return {"committed": committed, "pending": pending}

    async def chain_feeInfo(self) -> dict[str, Any]:
        """The next block's base fee and what to offer above it (node/client/sdk.py pick_fees uses it)."""
        chain = self.chain
        floor = chain.genesis.params.min_base_fee
        base = chain.exec_params(chain.height + 1).base_fee
        last = chain.fee_record(chain.height) if chain.height else None
        priority = self.mempool.suggested_tip(max(1, floor // 10))
        return {
            "height": chain.height + 1,
            "base_fee_per_gas": str(base),
            "suggested_priority_fee": str(priority),
            # Twice the base fee stays above it through six full blocks (1.125^6 < 2).
            "suggested_max_fee": str(2 * base + priority),
            "min_base_fee": str(floor),
            "last_block": {"height": chain.height, "base_fee_per_gas": str(last.base_fee) if last else None,
                           "gas_used": last.gas_used if last else 0,
                           "gas_target": chain.genesis.params.max_block_gas // 2},
            "burned_total": str(last.burned if last else 0),
        }

    async def net_peers(self) -> dict[str, Any]:
        """The connected peers with their misbehaviour scores, and the peers banned now."""
        peers = [{"node_id": p.node_id, "moniker": p.moniker, "address": p.address, "outbound": p.outbound,
                  "persistent": p.persistent, "score": round(p.score, 1)} for p in self.info.peers()]
        banned = [{"node_id": pid, "seconds_left": left} for pid, left in sorted(self.info.banned().items())]
        return {"peers": peers, "banned": banned}

    async def mempool_status(self) -> dict[str, Any]:
        cfg = self.mempool.config
        return {"size": len(self.mempool), "bytes": self.mempool.total_bytes, "max_txs": cfg.max_txs,
                "max_bytes": cfg.max_bytes, "future_txs": self.mempool.future_txs}

    async def health(self) -> dict[str, Any]:
        age = time.time() - self.chain.tip_time_ms / 1000
        # With empty blocks on, a quiet minute means consensus is stuck (or we are cut off).
        stalled = self.engine.snapshot().create_empty_blocks and age > STALL_AFTER_S
        return {"status": "stalled" if stalled else "ok", "height": self.chain.height,
                "last_block_age_s": round(age, 3), "catching_up": self.info.catching_up()}
