"""The consensus engine: one asyncio task that owns the consensus state.

Everything reaches it through one queue (peer proposals and votes, timeouts, new
transactions); it drives the pure core in `consensus`, and acts on the core's outputs:
sign (through the double-sign guard), persist to the WAL, then speak. Persist before
you speak: our own votes and proposals are fsynced before they leave the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, assert_never

from consensus.state_machine import State, apply, start_height
from consensus.types import (
    BroadcastProposal,
    BroadcastVote,
    Decided,
    DoubleProposalFound,
    EquivocationFound,
    Input,
    Output,
    Proposal,
    ProposalReceived,
    RequestValue,
    ScheduleTimeout,
    TimeoutElapsed,
    TimeoutKind,
    TimeoutParams,
    Validator,
    ValidatorSet,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)
from node import codec
from node.block import Commit, CommitSig, decode_block_hash, proposal_sign_bytes, vote_sign_bytes
from node.chain import Chain, ExecutedBlock
from node.codec import DecodeError
from node.crypto import SignatureError, recover_address
from node.errors import InvalidBlock
from node.evidence import DuplicateVoteEvidence, EvidencePool, InvalidEvidence, SignedVote, decode_evidence
from node.mempool import ChainView, Mempool
from node.signer import DoubleSignRefused, Signer
from node.tx import SignedTx
from node.wal import WAL

log = logging.getLogger("finchain.engine")

VALSET_KEY = b"V"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    create_empty_blocks: bool = True
    empty_block_interval_s: float = 30.0  # with create_empty_blocks off: still one block this often
    max_block_txs: int = 20_000


@dataclass(frozen=True, slots=True)
class PeerProposal:
    proposal: Proposal
    block_raw: bytes


@dataclass(frozen=True, slots=True)
class PeerVote:
    vote: Vote


@dataclass(frozen=True, slots=True)
class SyncedBlock:
    """A committed block fetched by block sync, with the commit that finalized it."""

    block_raw: bytes
    commit: Commit
    peer: str


@dataclass(frozen=True, slots=True)
class PeerEvidence:
    """Evidence bytes: from a peer (to check and relay), or found here (to relay)."""

    raw: bytes
    peer: str = ""


@dataclass(frozen=True, slots=True)
class _Timeout:
    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class _StartNext:
    height: int


@dataclass(frozen=True, slots=True)
class _TxsAvailable:
    pass


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    executed: ExecutedBlock
    commit: Commit


def validator_set_at(chain: Chain, height: int) -> ValidatorSet:
    """The set (with proposer priorities) that runs `height`: stored at each commit, else derived."""
    raw = chain.store.get_raw(VALSET_KEY + height.to_bytes(8, "big"))
    base = ValidatorSet.new(Validator(v.address, v.power) for v in chain.genesis.validators)
    if raw is not None:
        return ValidatorSet(base.validators, tuple(codec.decode(raw)))
    return base.increment(height - 1) if height > 1 else base


def _timeouts(chain: Chain) -> TimeoutParams:
    t = chain.genesis.params.timeouts
    return TimeoutParams(t.propose, t.propose_delta, t.prevote, t.prevote_delta, t.precommit, t.precommit_delta)


def vote_to_record(v: Vote) -> list[Any]:
    return ["V", int(v.type), v.height, v.round, v.value, v.validator, v.signature]


def proposal_to_record(p: Proposal, raw: bytes, valid: bool) -> list[Any]:
    return ["P", p.height, p.round, p.value, p.valid_round, p.proposer, p.signature, raw, valid]


class Engine:
    def __init__(
        self,
        chain: Chain,
        mempool: Mempool,
        signer: Signer | None,
        wal: WAL,
        config: EngineConfig,
        broadcast: Callable[[object], None] = lambda msg: None,
        on_commit: Callable[[CommittedBlock], None] = lambda c: None,
        on_bad_peer: Callable[[str, str], None] = lambda peer, why: None,
    ) -> None:
        self.chain = chain
        self.mempool = mempool
        self.signer = signer
        self.wal = wal
        self.config = config
        self.broadcast = broadcast
        self.on_commit = on_commit
        self.on_bad_peer = on_bad_peer
        # What the network gossips: every vote and proposal of the current height.
        self.votes: dict[tuple[int, int, bytes], Vote] = {}
        self.proposals: dict[int, tuple[Proposal, bytes]] = {}
        self._future: list[object] = []
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.timeouts = _timeouts(chain)
        self.state: State | None = None
        self.valset: ValidatorSet | None = None
        self._blocks: dict[bytes, ExecutedBlock] = {}
        self._invalid: set[bytes] = set()
        self._precommit_sigs: dict[tuple[int, int, bytes], dict[bytes, bytes]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._replaying = False
        self._waiting_for_txs = False
        self.evidence = EvidencePool()
        self.height_started_at = time.monotonic()

    @property
    def our_address(self) -> bytes | None:
        return self.signer.address if self.signer else None

    # -- inputs from the rest of the node ---------------------------------------------

    def txs_available(self) -> None:
        if self._waiting_for_txs:
            self.queue.put_nowait(_TxsAvailable())

    def receive_proposal(self, proposal: Proposal, block_raw: bytes) -> None:
        self.queue.put_nowait(PeerProposal(proposal, block_raw))

    def receive_vote(self, vote: Vote) -> None:
        self.queue.put_nowait(PeerVote(vote))

    def receive_synced_block(self, block: SyncedBlock) -> None:
        self.queue.put_nowait(block)

    # -- the task ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            self._start(self.chain.height + 1, replay=True)
            while True:
                item = await self.queue.get()
                await self._handle(item)
        finally:
            for t in self._timers:
                t.cancel()

    async def _handle(self, item: object) -> None:
        match item:
            case PeerProposal(proposal=p, block_raw=raw):
                self._on_peer_proposal(p, raw)
            case PeerVote(vote=v):
                self._on_peer_vote(v)
            case _Timeout(kind=kind, height=h, round=r):
                self._feed(TimeoutElapsed(kind, h, r))
            case _StartNext(height=h):
                if h == self.chain.height + 1 and self.state is not None and self.state.height < h:
                    self._start_or_wait(h)
            case SyncedBlock():
                self._on_synced_block(item)
            case PeerEvidence(raw=raw, peer=peer):
                self._on_peer_evidence(raw, peer)
            case _TxsAvailable():
                if self._waiting_for_txs:
                    self._waiting_for_txs = False
                    self._start(self.chain.height + 1, replay=False)
            case _:
                log.error("engine: unknown input %r", item)

    # -- heights ----------------------------------------------------------------------

    def _start_or_wait(self, height: int) -> None:
        if self.config.create_empty_blocks or len(self.mempool):
            self._start(height, replay=False)
            return
        self._waiting_for_txs = True
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self.config.empty_block_interval_s, self.queue.put_nowait, _TxsAvailable()))

    def _start(self, height: int, replay: bool) -> None:
        for t in self._timers:
            t.cancel()
        self._timers = []
        self._blocks = {h: b for h, b in self._blocks.items() if b.height >= height}
        self._precommit_sigs = {k: v for k, v in self._precommit_sigs.items() if k[0] >= height}
        self._invalid.clear()
        self.votes = {}
        self.proposals = {}
        self._waiting_for_txs = False
        self.valset = validator_set_at(self.chain, height)
        records = self.wal.records if replay else []
        if not (records and records[0] == ["H", height]):
            records = []
            self.wal.start_height(height)
        self.state, outputs = start_height(height, self.valset, self.our_address, self.timeouts)
        self.height_started_at = time.monotonic()
        if records:
            log.info("replaying %d WAL records of height %d", len(records) - 1, height)
            self._replaying = True
            try:
                self._act(outputs)
                for record in records[1:]:
                    self._replay(record)
            finally:
                self._replaying = False
            # The core may now wait on a value we did not build during replay; the
            # propose timeout moves it on, costing at most a round.
            self._schedule(ScheduleTimeout(TimeoutKind.PROPOSE, height, self.state.round,
                                           self.timeouts.duration_ms(TimeoutKind.PROPOSE, self.state.round)))
        else:
            self._act(outputs)
        future, self._future = self._future, []
        for item in future:
            match item:
                case PeerProposal(proposal=p, block_raw=raw) if p.height == height:
                    self._on_peer_proposal(p, raw)
                case PeerVote(vote=v) if v.height == height:
                    self._on_peer_vote(v)

    def _buffer_future(self, item: object) -> None:
        # A peer may start the next height while we sit out our commit pause.
        if len(self._future) < 10_000:
            self._future.append(item)

    def _replay(self, record: list[Any]) -> None:
        kind = record[0]
        if kind == "V":
            _, t, h, r, value, validator, sig = record
            self._feed(VoteReceived(Vote(VoteType(t), h, r, value, validator, sig)), log_it=False)
        elif kind == "P":
            _, h, r, value, vr, proposer, sig, raw, valid = record
            if valid:
                self._remember_block(raw, value)
            self._feed(ProposalReceived(Proposal(h, r, value, vr, proposer, sig), valid), log_it=False)
        elif kind == "T":
            _, k, h, r = record
            self._feed(TimeoutElapsed(TimeoutKind(k), h, r), log_it=False)

    def _remember_block(self, raw: bytes, value: bytes) -> bool:
        if value in self._blocks:
            return True
        if value in self._invalid:
            return False
        try:
            executed = self.chain.validate_block(raw, now_ms=int(time.time() * 1000))
        except InvalidBlock as exc:
            log.warning("proposed block %s is invalid: %s", value.hex()[:16], exc)
            self._invalid.add(value)
            return False
        if executed.hash != value:
            log.warning("proposal names block %s but carries block %s", value.hex()[:16], executed.hash.hex()[:16])
            self._invalid.add(value)
            return False
        self._blocks[value] = executed
        return True

    # -- feeding the core -------------------------------------------------------------

    def _feed(self, inp: Input, log_it: bool = True) -> None:
        if self.state is None:
            return
        if log_it and not self._replaying:
            match inp:
                case VoteReceived(vote=v):
                    self.wal.append(vote_to_record(v))
                case TimeoutElapsed(kind=k, height=h, round=r):
                    self.wal.append(["T", int(k), h, r])
                case ProposalReceived() | ValueReady():
                    pass  # proposals are logged with their block where they arrive
        match inp:
            case VoteReceived(vote=v):
                self.votes.setdefault((v.round, int(v.type), v.validator), v)
                if v.type == VoteType.PRECOMMIT and v.value is not None:
                    self._precommit_sigs.setdefault((v.height, v.round, v.value), {})[v.validator] = v.signature
            case ProposalReceived(proposal=p, valid=True) if p.value in self._blocks:
                self.proposals.setdefault(p.round, (p, self._blocks[p.value].raw))
        before = self.state.round
        self.state, outputs = apply(self.state, inp)
        if self.state.round != before:
            # Rounds past 0 mean a proposer was missing or slow, or votes did not meet: operators want to see it.
            why = "timeout" if isinstance(inp, TimeoutElapsed) else "peers are ahead"
            log.info("height %d: round %d (%s), proposer %s", self.state.height, self.state.round, why,
                     self.state.round_proposer.hex()[:8])
        self._act(outputs)

    def _act(self, outputs: list[Output]) -> None:
        for out in outputs:
            match out:
                case BroadcastProposal(proposal=p):
                    self._emit_proposal(p)
                case BroadcastVote(vote=v):
                    self._emit_vote(v)
                case ScheduleTimeout():
                    self._schedule(out)
                case RequestValue(height=h, round=r):
                    if not self._replaying:
                        self._build(h, r)
                case Decided(height=h, round=r, value=value):
                    self._decide(h, r, value)
                case EquivocationFound(first=a, second=b):
                    log.warning("equivocation by %s at %d/%d", a.validator.hex(), a.height, a.round)
                    self._add_evidence(DuplicateVoteEvidence.of(_signed(a), _signed(b)), "")
                case DoubleProposalFound(first=a):
                    # Proposals carry no vote: nothing to slash on chain, but operators should know.
                    log.warning("double proposal by %s at %d/%d", a.proposer.hex(), a.height, a.round)
                case _:
                    assert_never(out)

    def _schedule(self, out: ScheduleTimeout) -> None:
        loop = asyncio.get_running_loop()
        item = _Timeout(out.kind, out.height, out.round)
        self._timers.append(loop.call_later(out.duration_ms / 1000, self.queue.put_nowait, item))

    def _build(self, height: int, round_: int) -> None:
        if self.signer is None or height != self.chain.height + 1:
            return
        params = self.chain.genesis.params
        candidates: list[SignedTx] = self.mempool.reap(
            min(self.config.max_block_txs, params.max_block_txs), params.max_block_bytes, params.max_block_gas
        )
        last_commit = self.chain.store.get_commit(self.chain.height) if self.chain.height else None
        executed = self.chain.build_block(self.signer.address, candidates, last_commit, int(time.time() * 1000),
                                          self.evidence.take())
        self._blocks[executed.hash] = executed
        self._feed(ValueReady(height, round_, executed.hash))

    def _emit_proposal(self, p: Proposal) -> None:
        if self.signer is None or self._replaying:
            return
        executed = self._blocks.get(p.value)
        if executed is None:
            log.error("asked to propose unknown block %s", p.value.hex())
            return
        # The inputs that led here must survive a crash, or a replay could lead elsewhere
        # and the guard would then (rightly) refuse to sign: a silent validator.
        self.wal.sync()
        try:
            sig = self.signer.sign_proposal(p.height, p.round, p.value, p.valid_round)
        except DoubleSignRefused as exc:
            log.error("refused to sign a proposal: %s", exc)
            return
        signed = Proposal(p.height, p.round, p.value, p.valid_round, p.proposer, sig)
        self.wal.append(proposal_to_record(signed, executed.raw, True), sync=True)
        self.broadcast(PeerProposal(signed, executed.raw))
        self._feed(ProposalReceived(signed, True), log_it=False)

    def _emit_vote(self, v: Vote) -> None:
        if self.signer is None or self._replaying:
            return
        self.wal.sync()
        try:
            sig = self.signer.sign_vote(int(v.type), v.height, v.round, v.value)
        except DoubleSignRefused as exc:
            log.error("refused to sign a vote: %s", exc)
            return
        signed = Vote(v.type, v.height, v.round, v.value, v.validator, sig)
        self.wal.append(vote_to_record(signed), sync=True)
        self.broadcast(PeerVote(signed))
        self._feed(VoteReceived(signed), log_it=False)

    # -- from peers -------------------------------------------------------------------

    def _on_peer_proposal(self, p: Proposal, raw: bytes) -> None:
        if self.state is None:
            return
        if p.height == self.state.height + 1:
            self._buffer_future(PeerProposal(p, raw))
            return
        if p.height != self.state.height or p.round in self.proposals:
            return
        digest = proposal_sign_bytes(self.chain.chain_id, p.height, p.round, p.value, p.valid_round)
        try:
            if recover_address(digest, p.signature) != p.proposer:
                return
        except SignatureError:
            return
        valid = self._remember_block(raw, p.value)
        self.wal.append(proposal_to_record(p, raw, valid))
        self._feed(ProposalReceived(p, valid), log_it=False)

    def _on_peer_vote(self, v: Vote) -> None:
        if self.state is None:
            return
        if v.height == self.state.height + 1:
            self._buffer_future(PeerVote(v))
            return
        if v.height != self.state.height:
            return
        known = self.votes.get((v.round, int(v.type), v.validator))
        if known is not None and known.value == v.value:
            return  # a copy relayed by another peer: checked once already
        digest = vote_sign_bytes(self.chain.chain_id, int(v.type), v.height, v.round, v.value)
        try:
            if recover_address(digest, v.signature) != v.validator:
                return
        except SignatureError:
            return
        self._feed(VoteReceived(v))

    # -- evidence ---------------------------------------------------------------------

    def _add_evidence(self, ev: DuplicateVoteEvidence, peer: str) -> None:
        try:
            self.chain.validate_evidence(ev)
        except InvalidEvidence as exc:
            if peer:
                self.on_bad_peer(peer, f"invalid evidence: {exc}")
            return
        if self.evidence.add(ev):
            log.warning("evidence %s against %s at height %d", ev.hash().hex()[:16], ev.validator.hex(), ev.height)
            self.broadcast(PeerEvidence(ev.encode(), peer))

    def _on_peer_evidence(self, raw: bytes, peer: str) -> None:
        try:
            ev = decode_evidence(raw)
        except InvalidEvidence as exc:
            self.on_bad_peer(peer, str(exc))
            return
        self._add_evidence(ev, peer)

    # -- block sync ---------------------------------------------------------------------

    def _on_synced_block(self, item: SyncedBlock) -> None:
        height = self.chain.height + 1
        if item.commit.height != height:
            return  # already committed by consensus, or not next yet
        try:
            block_hash = decode_block_hash(item.block_raw)
            self.chain.verify_commit(item.commit, height, block_hash)
            executed = self.chain.validate_block(item.block_raw)
        except (InvalidBlock, DecodeError) as exc:
            log.warning("synced block %d from %s is invalid: %s", height, item.peer[:12], exc)
            self.on_bad_peer(item.peer, f"invalid synced block: {exc}")
            return
        self._commit(executed, item.commit, item.commit.round)
        self._start(height + 1, replay=False)

    # -- commit -----------------------------------------------------------------------

    def _decide(self, height: int, round_: int, value: bytes) -> None:
        if height != self.chain.height + 1:
            return
        executed = self._blocks.get(value)
        if executed is None:
            # Decided on a block we never received whole: block sync fetches it.
            log.error("decided block %s at height %d is not known locally", value.hex()[:16], height)
            return
        sigs = self._precommit_sigs.get((height, round_, value), {})
        commit = Commit(height, round_, value, tuple(CommitSig(a, s) for a, s in sorted(sigs.items())))
        self._commit(executed, commit, round_)
        loop = asyncio.get_running_loop()
        # The commit timeout paces heights: the next one starts `commit` ms after this one
        # started, or at once when consensus itself took longer (big blocks).
        spent = time.monotonic() - self.height_started_at
        delay = max(0.0, self.chain.genesis.params.timeouts.commit / 1000 - spent)
        self._timers.append(loop.call_later(delay, self.queue.put_nowait, _StartNext(height + 1)))

    def _evidence_still_valid(self, ev: DuplicateVoteEvidence) -> bool:
        try:
            self.chain.validate_evidence(ev)
        except InvalidEvidence:
            return False
        return True

    def _commit(self, executed: ExecutedBlock, commit: Commit, round_: int) -> None:
        height = executed.height
        next_set = self.valset.increment(1) if self.valset else None
        extra = {}
        if next_set is not None:
            extra[VALSET_KEY + (height + 1).to_bytes(8, "big")] = codec.encode(list(next_set.priorities))
        self.chain.commit_block(executed, commit, extra)
        self.evidence.prune(lambda ev: self._evidence_still_valid(ev))
        self.mempool.update(
            ChainView(
                self.chain.chain_id,
                self.chain.height + 1,
                self.chain.genesis.params.min_gas_price,
                self.chain.genesis.params.max_block_gas,
            ),
            executed.txs,
        )
        log.info(
            "committed height %d: %d txs, round %d, %.0f ms",
            height,
            len(executed.txs),
            round_,
            (time.monotonic() - self.height_started_at) * 1000,
        )
        self.on_commit(CommittedBlock(executed, commit))


def _signed(v: Vote) -> SignedVote:
    return SignedVote(int(v.type), v.height, v.round, v.value or b"", v.validator, v.signature)
