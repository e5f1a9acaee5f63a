"""The chain: builds, validates, executes and commits blocks over the store.

One `Chain` owns the committed tip. Validation executes a block against the tip's
state and keeps the result, so the commit that follows writes what was validated
without executing again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from consensus.types import ConsensusError, Validator, ValidatorSet
from node.reader import ChainReader
from node.state.contracts import deploy_genesis_contracts, settled_lookup, tx_head
from node.state.execution import (
    Account,
    ExecParams,
    StateOverlay,
    account_key,
    process_transaction,
    tx_parties,
)
from node.state.fees import FeeRecord, base_fee_after, read_fee_record, settle_block
from node.state.movements import CoinFlows, compute_block_movements
from node.state.trie import EMPTY_ROOT, SparseMerkleTree
from node.storage.schema import FEE_KEY
from node.storage.store import BlockWrite, Store
from node.types import codec
from node.types.block import (
    PRECOMMIT,
    ZERO_HASH,
    Block,
    Commit,
    CommitSig,
    Header,
    Receipt,
    decode_block,
    merkle_root,
    vote_sign_bytes,
)
from node.types.codec import DecodeError
from node.types.crypto import SignatureError, recover_address, sha256
from node.types.envelopes import TxDecoder
from node.types.errors import InvalidBlock, InvalidTransaction, StoreCorrupted
from node.types.evidence import (
    MAX_EVIDENCE_PER_BLOCK,
    DuplicateVoteEvidence,
    InvalidEvidence,
    decode_evidence,
    validate_evidence,
)
from node.types.genesis import Genesis
from node.types.tx import SignedTx

MAX_CLOCK_DRIFT_MS = 10_000
BUDGET_CHECK_EVERY = 64  # transactions executed between two looks at the build budget


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    block: Block
    raw: bytes
    hash: bytes
    txs: tuple[SignedTx, ...]
    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    trie_nodes: dict[bytes, bytes]
    coin_flows: Mapping[bytes, CoinFlows] = dataclasses.field(default_factory=dict)  # by tx hash (movements.py)

    @property
    def height(self) -> int:
        return self.block.height


def compute_validators_hash(genesis: Genesis) -> bytes:
    return sha256(codec.encode([[v.address, v.power] for v in genesis.validators]))


class _NodeReader:
    def __init__(self, store: Store) -> None:
        self.get = store.get_node


class Chain:
    def __init__(self, store: Store, genesis: Genesis, decode_tx: Callable[[bytes], SignedTx]) -> None:
        self.store = store
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.genesis_hash = genesis.hash()
        self.trie = SparseMerkleTree(_NodeReader(store))
        self.validators_hash = compute_validators_hash(genesis)
        self.powers = {v.address: v.power for v in genesis.validators}
        self.total_power = sum(self.powers.values())
        self._decode_tx = decode_tx
        # For settled() in contracts, in blocks and in the RPC's reader threads: committed transactions
        # decode with a decoder of their own (the mempool's verifier keeps a cache that is not thread-safe).
        self.settled = settled_lookup(store, TxDecoder.for_genesis(genesis))
        self._accounts: dict[bytes, Account] = {}  # latest-state reads; emptied at every commit
        self._ensure_genesis()
        self._load_tip()
        if store.movements_from() is None:
            # A store from before the movement index: statements can start after its tip only.
            store.set_movements_from(self.height + 1)
        self.next_validators = self._load_next_validators()
        self.reader = ChainReader(self, store)  # what the RPC and block sync may see: no writes

    # -- setup ------------------------------------------------------------------------

    def _ensure_genesis(self) -> None:
        stored = self.store.genesis_hash()
        if stored is not None:
            if stored != self.genesis_hash:
                raise StoreCorrupted(
                    "the database was created from another genesis.json "
                    f"({stored.hex()[:16]}..., this one is {self.genesis_hash.hex()[:16]}...)"
                )
            return
        state = {account_key(a.address): Account(a.balance, 0).encode() for a in self.genesis.accounts}
        if self.genesis.contracts:
            overlay = StateOverlay(state.get)
            overlay.code_store = self.store.code_cache
            deploy_genesis_contracts(overlay, self.genesis.contracts, self.genesis.genesis_time_ms,
                                     self.genesis.calls)
            state.update({k: v for k, v in overlay.changes.items() if v is not None})
        root, nodes = self.trie.update(EMPTY_ROOT, dict(state))
        self.store.init_genesis(self.genesis_hash, state, nodes, root)

    def _load_tip(self) -> None:
        self.height = self.store.latest_height()
        root = self.store.state_root(self.height)
        if root is None:
            raise StoreCorrupted(f"no state root stored for height {self.height}")
        self.state_root = root
        if self.height == 0:
            self.tip_hash = self.genesis_hash
            self.tip_time_ms = self.genesis.genesis_time_ms
        else:
            block = self.store.get_block(self.height)
            if block is None:
                raise StoreCorrupted(f"block {self.height} is missing")
            if block.header.state_root != root:
                raise StoreCorrupted(f"block {self.height} names another state root than the one stored")
            self.tip_hash = block.hash()
            self.tip_time_ms = block.header.time_ms

    def _load_next_validators(self) -> ValidatorSet:
        """The set that runs height `self.height + 1`, a pure function of the committed height.

        The set of height h+1 is the set of h with one more proposer selection, whoever
        committed h (consensus, block sync or a WAL replay): every node names the same
        proposer for every height and round. A database without the record (or with one
        from a node that stored shifted priorities) is derived again from genesis."""
        base = ValidatorSet.new(Validator(v.address, v.power) for v in self.genesis.validators)
        stored = self.store.proposer_priorities()
        if stored is not None and stored.height == self.height + 1:
            try:
                return ValidatorSet(base.validators, stored.priorities)
            except (ValueError, TypeError, ConsensusError) as exc:
                raise StoreCorrupted(f"the stored proposer priorities do not decode: {exc}") from exc
        vset = base
        for _ in range(self.height):
            vset = vset.increment(1)
        return vset

    def validator_set(self, height: int) -> ValidatorSet:
        """The validator set with the proposer priorities of `height`, which must be the next one."""
        if height != self.height + 1:
            raise ValueError(f"the validator set is known for the next height {self.height + 1}, not {height}")
        return self.next_validators

    # -- reads ------------------------------------------------------------------------

    def overlay(self) -> StateOverlay:
        """Pending writes over the latest state, for one block (or one dry run)."""
        state = StateOverlay(self.store.get_state)
        state.code_store = self.store.code_cache
        state.settled = self.settled
        return state

    def exec_params(self, height: int, time_ms: int = 0) -> ExecParams:
        """The parameters of the next block (`height` is the tip's + 1, or a dry run's)."""
        p = self.genesis.params
        return ExecParams(self.chain_id, height, self.next_base_fee(), p.max_block_gas, time_ms)

    def next_view(self) -> ExecParams:
        """What mempool admission checks against: the next height at its base fee."""
        return self.exec_params(self.height + 1)

    def fee_record(self, height: int | None = None) -> FeeRecord | None:
        """The fee record written by block `height` (the tip's by default; None before block 1)."""
        if height is None or height == self.height:
            return read_fee_record(self.store.get_state(FEE_KEY))
        root = self.store.state_root(height)
        if root is None:
            raise KeyError(height)
        return read_fee_record(self.trie.get(root, FEE_KEY))

    def next_base_fee(self) -> int:
        p = self.genesis.params
        return base_fee_after(self.fee_record(), p.max_block_gas, p.min_base_fee)

    def get_account(self, address: bytes, height: int | None = None) -> Account:
        if height is None or height == self.height:
            # Admission reads the same senders again and again between two blocks.
            cached = self._accounts.get(address)
            if cached is not None:
                return cached
            raw = self.store.get_state(account_key(address))
            account = Account() if raw is None else Account.decode(raw)
            if len(self._accounts) < 200_000:
                self._accounts[address] = account
            return account
        else:
            root = self.store.state_root(height)
            if root is None:
                raise KeyError(height)
            raw = self.trie.get(root, account_key(address))
        return Account() if raw is None else Account.decode(raw)

    # -- building and validating ------------------------------------------------------

    def build_block(
        self,
        proposer: bytes,
        candidates: Iterable[SignedTx],
        last_commit: Commit | None,
        time_ms: int,
        evidence: Sequence[DuplicateVoteEvidence] = (),
        out_of_time: Callable[[], bool] | None = None,
    ) -> ExecutedBlock:
        """Execute candidates in order, leaving out any that may not be included now.

        `out_of_time`, asked every few transactions, ends the block early: a block that takes
        longer to build than the round gives its peers to check it makes no height at all."""
        height = self.height + 1
        time_ms = max(time_ms, self.tip_time_ms + 1)
        params = self.exec_params(height, time_ms)
        max_bytes = self.genesis.params.max_block_bytes - 64 * 1024  # room for header and commit
        state = self.overlay()
        txs: list[SignedTx] = []
        receipts: list[Receipt] = []
        size = 0
        gas = 0
        for i, tx in enumerate(candidates):
            if out_of_time is not None and i % BUDGET_CHECK_EVERY == BUDGET_CHECK_EVERY - 1 and out_of_time():
                break
            if size + tx.size > max_bytes or gas + tx.body.gas_limit > params.max_block_gas:
                continue
            snap = state.snapshot()
            try:
                receipt = process_transaction(state, tx, params)
            except InvalidTransaction:
                state.restore(snap)
                continue
            txs.append(tx)
            receipts.append(receipt)
            size += tx.size
            gas += tx.body.gas_limit
        usable = []
        for ev in evidence[:MAX_EVIDENCE_PER_BLOCK]:
            try:
                self.validate_evidence(ev)
            except InvalidEvidence:
                continue
            usable.append(ev)
        settle_block(state, proposer, params.base_fee, receipts)
        return self._seal(height, proposer, txs, receipts, state, last_commit, time_ms, usable)

    def validate_evidence(self, ev: DuplicateVoteEvidence) -> None:
        validate_evidence(ev, self.chain_id, self.powers, self.height, self.store.is_evidence_committed)

    def _seal(
        self,
        height: int,
        proposer: bytes,
        txs: list[SignedTx],
        receipts: list[Receipt],
        state: StateOverlay,
        last_commit: Commit | None,
        time_ms: int,
        evidence: Sequence[DuplicateVoteEvidence] = (),
    ) -> ExecutedBlock:
        root, nodes = self.trie.update(self.state_root, state.changes)
        header = Header(
            chain_id=self.chain_id,
            height=height,
            time_ms=time_ms,
            prev_hash=self.tip_hash,
            tx_root=merkle_root([tx.hash for tx in txs]),
            results_root=merkle_root([r.hash() for r in receipts]),
            state_root=root,
            validators_hash=self.validators_hash,
            proposer=proposer,
            last_commit_hash=last_commit.hash() if last_commit else ZERO_HASH,
            evidence_root=merkle_root([ev.hash() for ev in evidence]),
        )
        block = Block(header, tuple(tx.raw for tx in txs), last_commit, tuple(ev.encode() for ev in evidence))
        raw = block.encode()
        return ExecutedBlock(block, raw, header.hash(), tuple(txs), tuple(receipts), state.changes, nodes,
                             state.coin_flows)

    def validate_block(self, raw: bytes, now_ms: int | None = None) -> ExecutedBlock:
        """Decode, check and execute a block proposed for the next height; InvalidBlock says why not."""
        try:
            block = decode_block(raw, self.genesis.params.max_block_bytes)
        except DecodeError as exc:
            raise InvalidBlock(f"block does not decode: {exc}") from exc
        h = block.header
        height = self.height + 1
        if h.chain_id != self.chain_id:
            raise InvalidBlock(f"block is for chain {h.chain_id!r}")
        if h.height != height:
            raise InvalidBlock(f"block height {h.height}, expected {height}")
        if h.prev_hash != self.tip_hash:
            raise InvalidBlock("block does not extend our tip")
        if h.time_ms <= self.tip_time_ms:
            raise InvalidBlock("block time is not after the previous block's")
        if now_ms is not None and h.time_ms > now_ms + MAX_CLOCK_DRIFT_MS:
            raise InvalidBlock("block time is too far in the future")
        if h.validators_hash != self.validators_hash:
            raise InvalidBlock("validators hash does not match")
        if h.proposer not in self.powers:
            raise InvalidBlock("proposer is not a validator")
        if len(block.txs) > self.genesis.params.max_block_txs:
            raise InvalidBlock("too many transactions")
        evidence = self._check_block_evidence(block.evidence)
        if height == 1:
            if block.last_commit is not None or h.last_commit_hash != ZERO_HASH:
                raise InvalidBlock("the first block carries no last commit")
        else:
            if block.last_commit is None:
                raise InvalidBlock("missing last commit")
            if h.last_commit_hash != block.last_commit.hash():
                raise InvalidBlock("last commit hash does not match")
            self.verify_commit(block.last_commit, self.height, self.tip_hash)
        params = self.exec_params(height, h.time_ms)
        state = self.overlay()
        txs: list[SignedTx] = []
        receipts: list[Receipt] = []
        gas = 0
        for index, tx_raw in enumerate(block.txs):
            try:
                tx = self._decode_tx(tx_raw)
                gas += tx.body.gas_limit
                if gas > params.max_block_gas:
                    raise InvalidBlock("block gas limit exceeded")
                receipts.append(process_transaction(state, tx, params))
            except InvalidTransaction as exc:
                raise InvalidBlock(f"transaction {index} may not be included: {exc}") from exc
            txs.append(tx)
        settle_block(state, h.proposer, params.base_fee, receipts)
        executed = self._seal(height, h.proposer, txs, receipts, state, block.last_commit, h.time_ms, evidence)
        if executed.block.header != h:
            raise InvalidBlock(_header_mismatch(executed.block.header, h))
        # Keep the bytes as received (they are the canonical encoding of what we rebuilt).
        return dataclasses.replace(executed, block=block, raw=bytes(raw))

    def _check_block_evidence(self, raws: Sequence[bytes]) -> list[DuplicateVoteEvidence]:
        if len(raws) > MAX_EVIDENCE_PER_BLOCK:
            raise InvalidBlock("too much evidence in one block")
        out: list[DuplicateVoteEvidence] = []
        seen: set[bytes] = set()
        for index, raw in enumerate(raws):
            try:
                ev = decode_evidence(raw)
                self.validate_evidence(ev)
            except InvalidEvidence as exc:
                raise InvalidBlock(f"evidence {index}: {exc}") from exc
            if ev.hash() in seen:
                raise InvalidBlock("the same evidence twice in one block")
            seen.add(ev.hash())
            out.append(ev)
        return out

    def verify_commit(self, commit: Commit, height: int, block_hash: bytes) -> None:
        if commit.height != height or commit.block_hash != block_hash:
            raise InvalidBlock(f"commit is for another block than {height}")
        seen: set[bytes] = set()
        power = 0
        digest = vote_sign_bytes(self.chain_id, PRECOMMIT, commit.height, commit.round, commit.block_hash)
        for sig in commit.signatures:
            if sig.validator in seen or sig.validator not in self.powers:
                raise InvalidBlock("commit holds a duplicate or unknown validator")
            try:
                signer = recover_address(digest, sig.signature)
            except SignatureError as exc:
                raise InvalidBlock(f"commit signature: {exc}") from exc
            if signer != sig.validator:
                raise InvalidBlock("commit signature does not match its validator")
            seen.add(sig.validator)
            power += self.powers[sig.validator]
        if 3 * power <= 2 * self.total_power:
            raise InvalidBlock("commit does not hold more than 2/3 of the voting power")

    def last_commit(self) -> Commit | None:
        """The commit of the tip to carry in the next block: only signatures that verify.

        A stored commit may hold more than it should (a node that once kept a junk
        precommit); proposing it would get every block of ours rejected, so the
        signatures that do not check out are left out here, which heals such a store."""
        if self.height == 0:
            return None
        stored = self.store.get_commit(self.height)
        if stored is None:
            raise StoreCorrupted(f"no commit stored for height {self.height}")
        try:
            self.verify_commit(stored, self.height, self.tip_hash)
            return stored
        except InvalidBlock:
            pass
        digest = vote_sign_bytes(self.chain_id, PRECOMMIT, stored.height, stored.round, stored.block_hash)
        kept: dict[bytes, CommitSig] = {}
        for sig in stored.signatures:
            if sig.validator not in self.powers or sig.validator in kept:
                continue
            try:
                if recover_address(digest, sig.signature) == sig.validator:
                    kept[sig.validator] = sig
            except SignatureError:
                continue
        commit = Commit(stored.height, stored.round, stored.block_hash, tuple(kept[a] for a in sorted(kept)))
        try:
            self.verify_commit(commit, self.height, self.tip_hash)
        except InvalidBlock as exc:
            raise StoreCorrupted(f"the stored commit of height {self.height} does not verify: {exc}") from exc
        return commit

    # -- committing -------------------------------------------------------------------

    def commit_block(self, executed: ExecutedBlock, commit: Commit) -> None:
        if executed.height != self.height + 1 or executed.block.header.prev_hash != self.tip_hash:
            raise InvalidBlock("block no longer extends the tip")
        header = executed.block.header
        following = self.next_validators.increment(1)
        # The block's fee record is in its changes (settle_block writes one for every block).
        record = read_fee_record(executed.changes.get(FEE_KEY))
        base_fee = record.base_fee if record is not None else self.next_base_fee()
        moved = compute_block_movements(executed.txs, executed.receipts, executed.coin_flows, header.proposer,
                                        base_fee)
        self.store.commit_block(
            BlockWrite(
                block=executed.block,
                block_raw=executed.raw,
                block_hash=executed.hash,
                commit=commit,
                receipts=executed.receipts,
                tx_parties=tuple(_history_parties(tx_parties(tx), moved.parties.get(i, ()))
                                 for i, tx in enumerate(executed.txs)),
                movements=tuple((a, i, raw) for (a, i), raw in moved.records.items()),
                asset_touches=tuple(moved.touched),
                tx_heads=tuple(tx_head(tx) for tx in executed.txs),
                state_changes=executed.changes,
                trie_nodes=executed.trie_nodes,
                state_root=header.state_root,
                next_priorities=following.priorities,
                evidence_hashes=tuple(decode_evidence(raw).hash() for raw in executed.block.evidence),
            )
        )
        self._accounts.clear()
        self.height = header.height
        self.tip_hash = executed.hash
        self.tip_time_ms = header.time_ms
        self.state_root = header.state_root
        self.next_validators = following


def _history_parties(parties: tuple[bytes, ...], moved: Sequence[bytes]) -> tuple[bytes, ...]:
    """The sender and recipient first, then every other address the transaction moved assets of."""
    extra = [a for a in moved if a not in parties]
    return (*parties, *extra) if extra else parties


def _header_mismatch(ours: Header, theirs: Header) -> str:
    names = ("tx_root", "results_root", "state_root", "last_commit_hash", "evidence_root", "time_ms")
    wrong = [n for n in names if getattr(ours, n) != getattr(theirs, n)]
    return "block header does not match its execution: " + (", ".join(wrong) or "fields differ")
