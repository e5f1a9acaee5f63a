"""The shared transaction verifier: a signature is recovered once per node.

The mempool admits transactions through it and the chain decodes the transactions of every
block through it, so a transaction seen in the mempool, or in an earlier proposal of the
same block, costs no second recovery (about a quarter of a transfer's cost per node).
"""

from __future__ import annotations

from collections import OrderedDict

from node.types.crypto import TAG_TX_ID, tagged_hash
from node.types.tx import SignedTx, decode_tx


class LRU(OrderedDict[bytes, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: bytes, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class TxVerifier:
    def __init__(self, max_tx_bytes: int, cache_size: int = 200_000) -> None:
        self.max_tx_bytes = max_tx_bytes
        self._recent = LRU(cache_size)  # raw bytes -> SignedTx
        self._held: dict[bytes, SignedTx] = {}  # tx id -> the transactions the mempool holds, never evicted

    def decode(self, raw: bytes) -> SignedTx:
        """Decode a raw transaction, checking its signature only if this node never did."""
        held = self._held.get(tagged_hash(TAG_TX_ID, raw))
        if held is not None and held.raw == raw:
            return held
        cached = self._recent.get(raw)
        if isinstance(cached, SignedTx):
            return cached
        tx = decode_tx(raw, self.max_tx_bytes)
        self._recent.remember(raw, tx)
        return tx

    def hold(self, tx: SignedTx) -> None:
        self._held[tx.hash] = tx

    def release(self, tx_hash: bytes) -> None:
        self._held.pop(tx_hash, None)
