"""The mempool: admission checks, per-sender nonce order, replace-by-fee, bounds.

Transactions rank by their effective tip at the next block's base fee
(`min(max_priority, max_fee - base_fee)`): block building takes the best first, and a full
pool evicts the worst for a better one. A transaction whose nonce is not next in its sender's
queue (a "future" one, which cannot run yet and so pays nothing while it waits) is held only
within a small quota per sender and in total, and is the first to go when the pool is full.

A transaction's signature is checked once per node: `verified` remembers the decoded
form of every raw transaction seen recently, and block validation asks it before
decoding again. Rejections are remembered too, so a flood of the same bad bytes
costs one check.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from node.mempool.verifier import LRU, TxVerifier
from node.state.execution import Account, ExecParams, validate_tx_limits
from node.types.errors import (
    AlreadyKnown,
    BadSignature,
    Expired,
    FutureQuotaFull,
    GasLimitTooLow,
    InsufficientFunds,
    InvalidTransaction,
    MalformedTransaction,
    MempoolFull,
    NonceTooHigh,
    NonceTooLow,
    PriorityFeeAboveMax,
    ReplacementUnderpriced,
    TooLarge,
    WrongChain,
)
from node.types.tx import SignedTx, TxBody

PERMANENT_REJECTIONS = (
    MalformedTransaction, BadSignature, WrongChain, TooLarge, GasLimitTooLow, NonceTooLow, Expired, PriorityFeeAboveMax,
)


@dataclass(frozen=True, slots=True)
class MempoolConfig:
    max_txs: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    max_tx_bytes: int = 128 * 1024
    nonce_gap: int = 64  # how far above the account nonce a tx may be queued
    future_per_sender: int = 8  # queued behind a nonce gap, per sender
    future_max_txs: int = 1024  # queued behind a nonce gap, in all
    future_max_bytes: int = 8 * 1024 * 1024
    ttl_seconds: float = 600.0
    # Pending transactions are found by id; this remembers the ones that left the pool
    # (committed by others, evicted) for the blocks that still carry them.
    rejected_cache: int = 100_000


# What admission needs to know of the chain, for the next height; refreshed after each block.
ChainView = ExecParams


@dataclass(slots=True)
class _Entry:
    tx: SignedTx
    added_at: float
    seq: int
    cost: int  # the most the sender pays for it (max fee + amount): summed over its queue per admission


def _bumped(new: TxBody, old: TxBody) -> bool:
    return (new.max_fee_per_gas * 10 >= old.max_fee_per_gas * 11
            and new.max_priority_fee_per_gas * 10 >= old.max_priority_fee_per_gas * 11)


def _run_end(txs: dict[int, _Entry], nonce: int) -> int:
    """The first nonce from `nonce` on that `txs` lacks: what follows it waits behind a gap."""
    while nonce in txs:
        nonce += 1
    return nonce


class AccountReader(Protocol):
    def get_account(self, address: bytes) -> Account: ...


class Mempool:
    def __init__(
        self,
        config: MempoolConfig,
        chain: ChainView,
        accounts: AccountReader,
        verifier: TxVerifier,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.chain = chain
        self._get_account = accounts.get_account
        self._verifier = verifier
        self._clock = clock
        self._by_hash: dict[bytes, _Entry] = {}
        self._by_sender: dict[bytes, dict[int, _Entry]] = {}
        self._bytes = 0
        self._future: dict[bytes, tuple[int, int]] = {}  # sender -> (count, bytes) queued behind a gap
        self._future_txs = 0
        self._future_bytes = 0
        self._worst: tuple[tuple[int, int, int], _Entry] | None = None  # cached eviction candidate
        self._worst_valid = False
        self._tip_hint: int | None = None  # cached suggested_tip, cleared by every change
        self._seq = itertools.count()
        self._rejected = LRU(config.rejected_cache)  # sha256(raw) -> InvalidTransaction
        # tx hash -> expiry height, for the few that carry one: a block's sweep need not visit all.
        self._expiring: dict[bytes, int] = {}
        # sender -> its account nonce, for the senders with pending transactions. Only a sender's own
        # transactions move its nonce, and update() reads again every sender a block carried: a
        # proposal's reap and an eviction then cost no state read per sender (with 30,000 senders
        # pending, reading them took the whole build budget and blocks carried 63 transactions).
        self._nonces: dict[bytes, int] = {}

    # -- queries ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> SignedTx | None:
        entry = self._by_hash.get(tx_hash)
        return entry.tx if entry else None

    def holds(self, raw: bytes) -> bool:
        """Whether these exact bytes are pending: a dictionary lookup, for the copies of each
        transaction that gossip brings from every peer (the full refusal cost ten times more)."""
        tx = self._verifier.recent(raw)
        return tx is not None and tx.hash in self._by_hash

    def pending_nonce(self, sender: bytes) -> int | None:
        """The next nonce after the sender's contiguous pending chain, or None if it has none."""
        txs = self._by_sender.get(sender)
        if not txs:
            return None
        nonce = self._nonce_of(sender)
        while nonce in txs:
            nonce += 1
        return nonce

    @property
    def future_txs(self) -> int:
        return self._future_txs

    def tip(self, tx: SignedTx) -> int:
        """What `tx` offers the proposer per gas at the next block's base fee (negative: below it)."""
        body = tx.body
        return min(body.max_priority_fee_per_gas, body.max_fee_per_gas - self.chain.base_fee)

    def suggested_tip(self, default: int) -> int:
        """A tip that gets into the next block: `default` while the ready queue fits in half a
        block, else 10% above the tip at which half a block's gas is taken."""
        if self._tip_hint is None:
            ready = sorted((self.tip(e.tx), e.tx.body.gas_limit) for e in self._ready_entries())
            half = self.chain.max_block_gas // 2
            gas = 0
            hint = default
            for tip, limit in reversed(ready):
                gas += limit
                if gas > half:
                    hint = max(default, tip + tip // 10 + 1)
                    break
            self._tip_hint = hint
        return self._tip_hint

    def _ready_entries(self) -> Iterable[_Entry]:
        for sender, txs in self._by_sender.items():
            nonce = self._nonce_of(sender)
            while nonce in txs:
                yield txs[nonce]
                nonce += 1

    def decode_verified(self, raw: bytes) -> SignedTx:
        """Decode a raw transaction through the shared verifier (its signature checked once per node)."""
        return self._verifier.decode(raw)

    # -- admission --------------------------------------------------------------------

    def needs_recovery(self, raw: bytes) -> bool:
        """Whether admitting `raw` would recover its signature: not refused before, not decoded lately."""
        return not self._verifier.knows(raw) and hashlib.sha256(raw).digest() not in self._rejected

    def add(self, raw: bytes, sender: bytes | None = None) -> SignedTx:
        """Admit a raw transaction or raise the InvalidTransaction that says why not.

        `sender`: what `signer_of(raw)` found, when a worker process recovered it."""
        if len(raw) > self.config.max_tx_bytes:
            raise TooLarge(f"transaction is {len(raw)} bytes, the limit is {self.config.max_tx_bytes}")
        digest = hashlib.sha256(raw).digest()
        previous = self._rejected.get(digest)
        if isinstance(previous, InvalidTransaction):
            raise type(previous)(*previous.args)  # a fresh one: the kept one must never carry a traceback
        tx = None
        try:
            tx = self._verifier.decode(raw, sender)
            self._admit(tx)
        except InvalidTransaction as exc:
            if tx is not None and not isinstance(exc, AlreadyKnown):
                # Refused, for now or for good: its decoded copy must not stay in the verifier's
                # cache, or a flood of refused transactions fills our memory.
                self._verifier.forget(raw)
            if isinstance(exc, PERMANENT_REJECTIONS):
                # These bytes can never be admitted: answer again without checking again. Kept
                # as a copy without traceback: the traceback's frames hold the raw bytes
                # (2,000 malformed 128 KiB transactions kept 500 MB that way).
                self._rejected.remember(digest, type(exc)(*exc.args))
            raise
        return tx

    def _admit(self, tx: SignedTx) -> None:
        if tx.hash in self._by_hash:
            raise AlreadyKnown(f"transaction {tx.hash.hex()} is already in the mempool")
        body = tx.body
        validate_tx_limits(body, self.chain)
        account = self._get_account(tx.sender)
        if body.nonce < account.nonce:
            raise NonceTooLow(f"nonce {body.nonce} is below the account nonce {account.nonce}")
        if body.nonce >= account.nonce + self.config.nonce_gap:
            raise NonceTooHigh(
                f"nonce {body.nonce} is too far above the account nonce {account.nonce} "
                f"(at most {self.config.nonce_gap - 1} ahead)"
            )
        mine = self._by_sender.get(tx.sender, {})
        replaced = mine.get(body.nonce)
        future = replaced is None and body.nonce > _run_end(mine, account.nonce)
        if future:
            count = self._future.get(tx.sender, (0, 0))[0]
            if count >= self.config.future_per_sender:
                raise FutureQuotaFull(
                    f"{count} transactions of this sender already wait behind a nonce gap "
                    f"(at most {self.config.future_per_sender}); send nonce {_run_end(mine, account.nonce)} first"
                )
            if (self._future_txs >= self.config.future_max_txs
                    or self._future_bytes + tx.size > self.config.future_max_bytes):
                raise FutureQuotaFull("the mempool holds as many transactions behind nonce gaps as it takes")
        if replaced is not None and not _bumped(body, replaced.tx.body):
            old = replaced.tx.body
            raise ReplacementUnderpriced(
                f"a transaction with nonce {body.nonce} is pending at max fee {old.max_fee_per_gas} and priority fee "
                f"{old.max_priority_fee_per_gas}; a replacement must raise both by at least 10%"
            )
        # Everything the sender has queued up to this nonce must be payable together.
        committed = sum([e.cost for n, e in mine.items() if n < body.nonce])
        cost = body.max_fee + body.value
        if committed + cost > account.balance:
            raise InsufficientFunds(
                f"balance {account.balance} does not cover this transaction's maximum cost {cost} "
                f"(gas limit x max fee per gas + amount) after {committed} already pending"
            )
        if replaced is None:
            self._make_room(tx, future)
        else:
            self._remove(replaced)
        entry = _Entry(tx, self._clock(), next(self._seq), cost)
        self._by_hash[tx.hash] = entry
        if body.expiry_height:
            self._expiring[tx.hash] = body.expiry_height
        self._verifier.hold(tx)
        self._by_sender.setdefault(tx.sender, {})[body.nonce] = entry
        self._nonces[tx.sender] = account.nonce  # fresh: just read
        self._bytes += tx.size
        self._changed(tx.sender, account.nonce)

    def _make_room(self, tx: SignedTx, future: bool) -> None:
        mine = (0 if future else 1, self.tip(tx), 0)
        while len(self._by_hash) >= self.config.max_txs or self._bytes + tx.size > self.config.max_bytes:
            worst = self._cheapest_evictable()
            # Equal rank does not evict: a flood of equal offers must not churn the pool.
            if worst is None or worst[0][:2] >= mine[:2]:
                raise MempoolFull("the mempool is full and this transaction does not offer a higher tip "
                                  "than the lowest one pending")
            self._remove(worst[1])

    def _cheapest_evictable(self) -> tuple[tuple[int, int, int], _Entry] | None:
        """The worst tail: future ones first, then the lowest tip, then the newest."""
        if not self._worst_valid:
            worst = None
            # Only the last tx of each sender's queue may go, so no queue gets a gap.
            for sender, txs in self._by_sender.items():
                entry = txs[max(txs)]
                ready = entry.tx.body.nonce < _run_end(txs, self._nonce_of(sender))
                rank = (1 if ready else 0, self.tip(entry.tx), -entry.seq)
                if worst is None or rank < worst[0]:
                    worst = (rank, entry)
            self._worst, self._worst_valid = worst, True
        return self._worst

    def _changed(self, sender: bytes, account_nonce: int | None = None) -> None:
        """Keep the future-nonce counts of `sender` and the cached rankings current."""
        self._worst_valid = False
        self._tip_hint = None
        old_count, old_bytes = self._future.pop(sender, (0, 0))
        txs = self._by_sender.get(sender)
        count = size = 0
        if txs:
            end = _run_end(txs, self._nonce_of(sender) if account_nonce is None else account_nonce)
            for nonce, entry in txs.items():
                if nonce > end:
                    count += 1
                    size += entry.tx.size
            if count:
                self._future[sender] = (count, size)
        self._future_txs += count - old_count
        self._future_bytes += size - old_bytes

    def _nonce_of(self, sender: bytes) -> int:
        nonce = self._nonces.get(sender)
        if nonce is None:
            nonce = self._nonces[sender] = self._get_account(sender).nonce
        return nonce

    def _remove(self, entry: _Entry) -> None:
        tx = entry.tx
        del self._by_hash[tx.hash]
        self._expiring.pop(tx.hash, None)
        self._verifier.release(tx.hash)
        txs = self._by_sender[tx.sender]
        del txs[tx.body.nonce]
        if not txs:
            del self._by_sender[tx.sender]
            self._nonces.pop(tx.sender, None)
        self._bytes -= tx.size
        self._changed(tx.sender)

    # -- block production and maintenance ---------------------------------------------

    def reap(self, max_txs: int, max_bytes: int, max_gas: int) -> Iterator[SignedTx]:
        """Ready transactions, best tip at the next base fee first, each sender's in nonce order.

        Lazily: a block builder that runs out of time stops taking, and the rest is never sorted.
        The pool must not change while the iterator is in use."""
        heap: list[tuple[int, int, bytes, int]] = []
        for sender, txs in self._by_sender.items():
            nonce = self._nonce_of(sender)
            head = txs.get(nonce)
            if head is not None and self.tip(head.tx) >= 0:
                heap.append((-self.tip(head.tx), head.seq, sender, nonce))
        heapq.heapify(heap)
        taken = size = gas = 0
        while heap and taken < max_txs:
            _, _, sender, nonce = heapq.heappop(heap)
            tx = self._by_sender[sender][nonce].tx
            if size + tx.size > max_bytes or gas + tx.body.gas_limit > max_gas:
                continue  # this sender's next nonces cannot follow either
            yield tx
            taken += 1
            size += tx.size
            gas += tx.body.gas_limit
            nxt = self._by_sender[sender].get(nonce + 1)
            if nxt is not None and self.tip(nxt.tx) >= 0:
                heapq.heappush(heap, (-self.tip(nxt.tx), nxt.seq, sender, nonce + 1))

    def update(self, chain: ChainView, committed: Iterable[SignedTx]) -> int:
        """After a block: drop committed, stale, expired and unpayable transactions. Returns how many went."""
        self.chain = chain
        self._worst_valid = False
        self._tip_hint = None
        before = len(self._by_hash)
        touched = set()
        for tx in committed:
            entry = self._by_hash.get(tx.hash)
            if entry is not None:
                self._remove(entry)
            touched.add(tx.sender)
        gone = [self._by_hash[h] for h, expiry in self._expiring.items() if expiry < chain.height]
        # Entries are in admission order and the clock is monotonic: the expired ones lead.
        oldest = self._clock() - self.config.ttl_seconds
        for entry in self._by_hash.values():
            if entry.added_at >= oldest:
                break
            gone.append(entry)
        for entry in gone:
            if entry.tx.hash in self._by_hash:  # expired both ways: listed twice
                self._remove(entry)
                touched.add(entry.tx.sender)
        for sender in touched:
            self._recheck_sender(sender)
            self._changed(sender)
        return before - len(self._by_hash)

    def _recheck_sender(self, sender: bytes) -> None:
        txs = self._by_sender.get(sender)
        if not txs:
            return
        account = self._get_account(sender)
        self._nonces[sender] = account.nonce
        spent = 0
        broken = False
        for nonce in sorted(txs):
            entry = txs[nonce]
            if nonce < account.nonce:
                self._remove(entry)
                continue
            spent += entry.cost
            if broken or spent > account.balance:
                broken = True  # everything above an unpayable nonce would wait forever
                self._remove(entry)
            if sender not in self._by_sender:
                return

    def remove(self, tx_hashes: Iterable[bytes]) -> None:
        for tx_hash in tx_hashes:
            entry = self._by_hash.get(tx_hash)
            if entry is not None:
                self._remove(entry)
