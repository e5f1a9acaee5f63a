"""The shared transaction verifier: a signature is recovered once per node.

The mempool admits transactions through it and the chain decodes the transactions of every
block through it, so a transaction seen in the mempool, or in an earlier proposal of the
same block, costs no second recovery (about a quarter of a transfer's cost per node).

The cache of recent transactions is bounded by count and by bytes (a 128 KiB transaction
weighs as much as a thousand transfers), and the mempool drops a transaction from it as soon
as it refuses it: refused transactions are what a flood is made of, and keeping them would
let anyone fill our memory for free (2,000 refused 128 KiB transactions kept 502 MB).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from node.types.envelopes import tx_id
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


class _RecentTxs(OrderedDict[bytes, SignedTx]):
    """Least recently used first, bounded by entries and by the bytes of their raw transactions."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        super().__init__()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0

    def remember(self, raw: bytes, tx: SignedTx) -> None:
        if raw in self:
            self.move_to_end(raw)
            return
        if len(raw) > self.max_bytes:
            return
        self[raw] = tx
        self.bytes += len(raw)
        while len(self) > self.max_entries or self.bytes > self.max_bytes:
            old, _ = self.popitem(last=False)
            self.bytes -= len(old)

    def forget(self, raw: bytes) -> None:
        if self.pop(raw, None) is not None:
            self.bytes -= len(raw)


# What the mempool holds is never evicted (`_held`): this cache only has to bridge a block or two
# of transactions the pool did not take, and each decoded transfer costs about 800 bytes (at
# 200,000 entries it kept 155 MB of committed transactions per node).
DEFAULT_CACHE_ENTRIES = 50_000
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class Decoder(Protocol):
    def __call__(self, raw: bytes, sender: bytes | None = None, /) -> SignedTx: ...


class TxVerifier:
    def __init__(self, max_tx_bytes: int, cache_size: int = DEFAULT_CACHE_ENTRIES,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, decoder: Decoder | None = None) -> None:
        self.max_tx_bytes = max_tx_bytes
        # Both envelopes when given the chain's TxDecoder; native transactions alone otherwise.
        self._decoder: Decoder = decoder or (lambda raw, sender=None: decode_tx(raw, max_tx_bytes, sender))
        self._recent = _RecentTxs(cache_size, cache_bytes)  # raw bytes -> SignedTx
        self._held: dict[bytes, SignedTx] = {}  # tx id -> the transactions the mempool holds, never evicted

    def decode(self, raw: bytes, sender: bytes | None = None) -> SignedTx:
        """Decode a raw transaction, checking its signature only if this node never did.

        `sender`: what the decoder's `signer(raw)` found for these bytes (in a worker process)."""
        # By the id of either envelope (Keccak-256 for an Ethereum one): tagged_hash alone never found those.
        held = self._held.get(tx_id(raw))
        if held is not None and held.raw == raw:
            return held
        cached = self._recent.get(raw)
        if cached is not None:
            return cached
        tx = self._decoder(raw, sender)
        self._recent.remember(raw, tx)
        return tx

    def knows(self, raw: bytes) -> bool:
        """Whether `raw` would decode without a signature check."""
        held = self._held.get(tx_id(raw))
        return (held is not None and held.raw == raw) or raw in self._recent

    def recent(self, raw: bytes) -> SignedTx | None:
        """The decoded `raw` if this node decoded it lately, without decoding (nor reordering the cache)."""
        return self._recent.get(raw)

    def forget(self, raw: bytes) -> None:
        """The mempool refused `raw`: do not keep it (a block that carries it is checked again)."""
        self._recent.forget(raw)

    @property
    def cached_bytes(self) -> int:
        return self._recent.bytes

    def cached(self) -> int:
        return len(self._recent)

    def hold(self, tx: SignedTx) -> None:
        self._held[tx.hash] = tx

    def release(self, tx_hash: bytes) -> None:
        self._held.pop(tx_hash, None)
