"""The consensus engine: the asyncio adapter that carries out the driver's effects.

What to do with every vote, proposal and timeout is decided by `consensus.driver` (pure,
and the same code the simulator proves); this task only does the IO its effects name, in
their order: WAL writes and fsyncs, signing through the double-sign guard, broadcasts,
timers, checking and building blocks, committing. One task owns the driver; the rest of
the node talks to it through `submit(event)` and reads it through `snapshot()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, assert_never

from consensus.driver import (
    BroadcastProposalEffect,
    BroadcastVoteEffect,
    BuildValue,
    CheckValue,
    Decide,
    DoubleProposal,
    Driver,
    Effect,
    Equivocation,
    Event,
    Fault,
    Params,
    PeerProposal,
    PeerVote,
    ProposalSigned,
    ReportPeer,
    SignProposal,
    SignVote,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueChecked,
    VoteSigned,
    WalAppend,
    WalStartHeight,
    WalSync,
    handle,
)
from consensus.state_machine import State
from consensus.types import Proposal, ScheduleTimeout, TimeoutParams, Vote
from node.chain import Chain, ExecutedBlock
from node.host.signer import DoubleSignRefused, Signer
from node.host.wal import WAL
from node.mempool.pool import Mempool
from node.metrics.instruments import EngineMetrics, NoEngineMetrics
from node.types.block import Commit, CommitSig, decode_block_hash, proposal_sign_bytes, vote_sign_bytes
from node.types.codec import DecodeError
from node.types.crypto import SignatureError, recover_address
from node.types.errors import InvalidBlock
from node.types.evidence import DuplicateVoteEvidence, EvidencePool, InvalidEvidence, SignedVote, decode_evidence
from node.types.faults import FaultKind, PeerFault

log = logging.getLogger("finchain.engine")

_FAULTS = {
    Fault.NOT_A_VALIDATOR: FaultKind.NOT_A_VALIDATOR,
    Fault.NOT_THE_PROPOSER: FaultKind.NOT_THE_PROPOSER,
    Fault.BAD_SIGNATURE: FaultKind.BAD_SIGNATURE,
}


@dataclass(frozen=True, slots=True)
class EngineConfig:
    create_empty_blocks: bool = True
    empty_block_interval_s: float = 30.0  # with create_empty_blocks off: still one block this often
    max_block_txs: int = 20_000
    # Building a proposal stops adding transactions after this long (capped at a third of the
    # propose timeout): the peers must still receive and re-execute the block within that timeout.
    build_budget_s: float = 0.3
    # The input queue: what peers sent, waiting for the engine. Each peer may hold a share of
    # it and all peers together the total; a peer message beyond either is dropped (the caller
    # charges the peer). Our own events (timeouts, the next height, our transactions) are never
    # dropped: they are few and losing one would stall a height.
    max_queue_per_peer: int = 2_000
    max_queue_total: int = 10_000


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time as the engine sees it: monotonic seconds, wall milliseconds, and timers."""

    def monotonic(self) -> float: ...

    def wall_ms(self) -> int: ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopClock:
    """The real clock: the running event loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay_s, callback)


@dataclass(frozen=True, slots=True)
class SyncedBlock:
    """A committed block fetched by block sync, with the commit that finalized it."""

    block_raw: bytes
    commit: Commit
    peer: str


@dataclass(frozen=True, slots=True)
class PeerEvidence:
    """Evidence bytes from a peer, to check and relay."""

    raw: bytes
    peer: str


@dataclass(frozen=True, slots=True)
class EvidenceOut:
    """Evidence to relay to every peer but the one it came from (empty: found here)."""

    raw: bytes
    origin: str = ""


@dataclass(frozen=True, slots=True)
class TxsAvailable:
    """New transactions: starts a height that waits for them (create_empty_blocks off)."""


@dataclass(frozen=True, slots=True)
class _StartNext:
    height: int


EngineEvent = Event | SyncedBlock | PeerEvidence | TxsAvailable | _StartNext
# Events that carry what a peer sent: a peer can multiply these, so only these are bounded. A
# synced block is not: block sync feeds one at a time and waits for its answer.
PeerEvent = PeerVote | PeerProposal | PeerEvidence
Outgoing = BroadcastVoteEffect | BroadcastProposalEffect | EvidenceOut


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    executed: ExecutedBlock
    commit: Commit


@dataclass(frozen=True, slots=True)
class BadPeer:
    peer: str
    fault: PeerFault


EngineOutput = Outgoing | CommittedBlock | BadPeer


class Outbox:
    """What the engine tells the rest of the node, in order: messages for peers, committed
    blocks, peers to penalise. The engine is built before those who listen, so it only
    puts; the node's dispatcher takes (`get`), or a test reads `drain()`."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[EngineOutput] = asyncio.Queue()

    def put(self, item: EngineOutput) -> None:
        self._queue.put_nowait(item)

    async def get(self) -> EngineOutput:
        return await self._queue.get()

    def drain(self) -> list[EngineOutput]:
        out = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """A read-only view of the engine; every part is immutable."""

    driver: Driver
    height_started_at: float  # monotonic seconds
    create_empty_blocks: bool

    @property
    def state(self) -> State | None:
        return self.driver.core


def timeouts_of(chain: Chain) -> TimeoutParams:
    t = chain.genesis.params.timeouts
    return TimeoutParams(t.propose, t.propose_delta, t.prevote, t.prevote_delta, t.precommit, t.precommit_delta)


def driver_params(chain: Chain, our_address: bytes | None) -> Params:
    chain_id = chain.chain_id

    def verify_vote(v: Vote) -> bool:
        digest = vote_sign_bytes(chain_id, int(v.type), v.height, v.round, v.value)
        try:
            return recover_address(digest, v.signature) == v.validator
        except SignatureError:
            return False

    def verify_proposal(p: Proposal) -> bool:
        digest = proposal_sign_bytes(chain_id, p.height, p.round, p.value, p.valid_round)
        try:
            return recover_address(digest, p.signature) == p.proposer
        except SignatureError:
            return False

    return Params(our_address, timeouts_of(chain), verify_vote, verify_proposal)


class Engine:
    def __init__(
        self,
        chain: Chain,
        mempool: Mempool,
        signer: Signer | None,
        wal: WAL,
        config: EngineConfig,
        outbox: Outbox,
        clock: Clock | None = None,
        metrics: EngineMetrics | None = None,
    ) -> None:
        self._chain = chain
        self._metrics = metrics or NoEngineMetrics()
        self._mempool = mempool
        self._signer = signer
        self._wal = wal
        self._config = config
        self._outbox = outbox
        self._clock = clock or LoopClock()
        self._queue: deque[EngineEvent] = deque()
        self._queued_by_peer: dict[str, int] = {}  # peer -> its events in _queue
        self._queued_from_peers = 0
        self._ready = asyncio.Event()
        self.dropped = 0  # peer events refused because the queue was full (for status and tests)
        self._driver = Driver(driver_params(chain, signer.address if signer else None))
        self._executed: dict[bytes, ExecutedBlock] = {}  # by real block hash, this height only
        self._invalid: set[bytes] = set()  # SHA-256 of block bytes found invalid at this height
        self._timers: list[TimerHandle] = []
        self._waiting_for_txs = False
        self._evidence = EvidencePool()
        self._height_started_at = self._clock.monotonic()

    # -- the interface ----------------------------------------------------------------

    def submit(self, event: EngineEvent) -> bool:
        """Queue an event; False (nothing queued) when it is a peer's and that peer's share or
        the total for peers is used up. Our own events are always queued."""
        if isinstance(event, PeerEvent):
            peer = event.peer
            held = self._queued_by_peer.get(peer, 0)
            if held >= self._config.max_queue_per_peer or self._queued_from_peers >= self._config.max_queue_total:
                self.dropped += 1
                return False
            self._queued_by_peer[peer] = held + 1
            self._queued_from_peers += 1
        self._queue.append(event)
        self._ready.set()
        return True

    def is_member(self, address: bytes) -> bool | None:
        """Is `address` a validator of the current height (None before the first height starts)?
        Members are the same at every height (only proposer priorities move), so the network
        drops a non-member's message before it costs a queue slot or a signature check."""
        core = self._driver.core
        return None if core is None else core.votes.powers.get(address, 0) > 0

    def queued(self, peer: str | None = None) -> int:
        """Events waiting: all of them, or those of one peer."""
        return len(self._queue) if peer is None else self._queued_by_peer.get(peer, 0)

    async def _next(self) -> EngineEvent:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        event = self._queue.popleft()
        if isinstance(event, PeerEvent):
            left = self._queued_by_peer[event.peer] - 1
            if left:
                self._queued_by_peer[event.peer] = left
            else:
                del self._queued_by_peer[event.peer]  # bounded: only peers with events waiting
            self._queued_from_peers -= 1
        return event

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(self._driver, self._height_started_at, self._config.create_empty_blocks)

    def pending_evidence(self, limit: int) -> list[DuplicateVoteEvidence]:
        """Evidence not yet in a block, oldest first (not in the snapshot: gossip takes one every tick)."""
        return self._evidence.take(limit)

    async def run(self) -> None:
        try:
            self._start(self._chain.height + 1, replay=True)
            while True:
                self._process(await self._next())
        finally:
            for t in self._timers:
                t.cancel()

    # -- events -----------------------------------------------------------------------

    def _process(self, first: EngineEvent) -> None:
        # Answers to effects (signed, checked, built) are handled before the next input.
        pending: deque[EngineEvent] = deque([first])
        while pending:
            item = pending.popleft()
            match item:
                case SyncedBlock():
                    self._on_synced_block(item)
                case PeerEvidence(raw=raw, peer=peer):
                    self._on_peer_evidence(raw, peer)
                case TxsAvailable():
                    if self._waiting_for_txs:
                        self._waiting_for_txs = False
                        self._start(self._chain.height + 1, replay=False)
                case _StartNext(height=h):
                    if h == self._chain.height + 1 and (self._driver.height or 0) < h:
                        self._start_or_wait(h)
                case _:
                    self._drive(item, pending)

    def _drive(self, event: Event, pending: deque[EngineEvent]) -> None:
        before = self._driver.core.round if self._driver.core is not None else None
        self._driver, effects = handle(self._driver, event)
        core = self._driver.core
        if core is not None and before is not None and core.round != before:
            # Rounds past 0 mean a proposer was missing or slow, or votes did not meet: operators want to see it.
            why = "timeout" if isinstance(event, TimeoutFired) else "peers are ahead"
            log.info("height %d: round %d (%s), proposer %s", core.height, core.round, why,
                     core.round_proposer.hex()[:8])
        for effect in effects:
            answer = self._execute(effect)
            if isinstance(answer, VoteSigned | ProposalSigned):
                # A signature is logged before the next effect runs: one step may ask for two
                # (a prevote and a precommit), and a crash between them must not leave the
                # second signed while the first's WAL record is missing (the replay would ask
                # again for the first, below what the guard has signed, and be refused).
                self._drive(answer, pending)
            elif answer is not None:
                pending.append(answer)

    def _execute(self, effect: Effect) -> Event | None:
        match effect:
            case WalStartHeight(height=h):
                self._wal.start_height(h)
            case WalAppend(record=record):
                self._wal.append(record)
            case WalSync():
                started = self._clock.monotonic()
                self._wal.sync()
                self._metrics.observe_wal_fsync(self._clock.monotonic() - started)
            case SignVote(vote=v):
                return self._sign_vote(v)
            case SignProposal(proposal=p, block=block):
                return self._sign_proposal(p, block)
            case BroadcastVoteEffect() | BroadcastProposalEffect():
                self._outbox.put(effect)
            case ScheduleTimeout(kind=k, height=h, round=r, duration_ms=ms):
                fired = TimeoutFired(k, h, r)
                self._timers.append(self._clock.call_later(ms / 1000, lambda: self.submit(fired)))
            case CheckValue(proposal=p, block=block):
                return ValueChecked(p, block, self._check(p, block))
            case BuildValue(height=h, round=r):
                return self._build(h, r)
            case Decide():
                self._decide(effect)
            case ReportPeer(peer=peer, fault=fault, detail=detail):
                self._fault(peer, _FAULTS[fault], detail)
            case Equivocation(first=a, second=b):
                log.warning("equivocation by %s at %d/%d", a.validator.hex(), a.height, a.round)
                self._add_evidence(DuplicateVoteEvidence.of(_signed(a), _signed(b)), "")
            case DoubleProposal(first=a):
                # Proposals carry no vote: nothing to slash on chain, but operators should know.
                log.warning("double proposal by %s at %d/%d", a.proposer.hex(), a.height, a.round)
            case _:
                assert_never(effect)
        return None

    # -- heights ----------------------------------------------------------------------

    def _start_or_wait(self, height: int) -> None:
        if self._config.create_empty_blocks or len(self._mempool):
            self._start(height, replay=False)
            return
        self._waiting_for_txs = True
        self._timers.append(self._clock.call_later(self._config.empty_block_interval_s,
                                                   lambda: self.submit(TxsAvailable())))

    def _start(self, height: int, replay: bool) -> None:
        for t in self._timers:
            t.cancel()
        self._timers = []
        self._executed.clear()
        self._invalid.clear()
        self._waiting_for_txs = False
        self._height_started_at = self._clock.monotonic()
        records = tuple(self._wal.records) if replay else ()
        if records and records[0] == ["H", height]:
            log.info("replaying %d WAL records of height %d", len(records) - 1, height)
        self._process(StartHeight(height, self._chain.validator_set(height), records))

    # -- effects ----------------------------------------------------------------------

    def _sign_vote(self, v: Vote) -> Event | None:
        if self._signer is None:
            return None
        try:
            sig = self._signer.sign_vote(int(v.type), v.height, v.round, v.value)
        except DoubleSignRefused as exc:
            log.error("refused to sign a vote: %s", exc)
            return None
        return VoteSigned(Vote(v.type, v.height, v.round, v.value, v.validator, sig))

    def _sign_proposal(self, p: Proposal, block: bytes) -> Event | None:
        if self._signer is None:
            return None
        try:
            sig = self._signer.sign_proposal(p.height, p.round, p.value, p.valid_round)
        except DoubleSignRefused as exc:
            log.error("refused to sign a proposal: %s", exc)
            return None
        return ProposalSigned(Proposal(p.height, p.round, p.value, p.valid_round, p.proposer, sig), block)

    def _check(self, p: Proposal, block: bytes) -> bool:
        """Is `block` the valid next block that `p` names? A refusal is kept by the digest of
        the bytes, never by the hash a sender claims for them; a block is decoded once."""
        known = self._executed.get(p.value)
        if known is not None and known.raw == block:
            return True
        digest = hashlib.sha256(block).digest()
        if digest in self._invalid:
            return False
        started = self._clock.monotonic()
        try:
            executed = self._chain.validate_block(block, now_ms=self._clock.wall_ms())
        except InvalidBlock as exc:
            log.warning("proposed block for %s is invalid: %s", p.value.hex()[:16], exc)
            self._invalid.add(digest)
            return False
        self._metrics.observe_execution(self._clock.monotonic() - started)
        self._executed[executed.hash] = executed
        if executed.hash != p.value:
            log.warning("proposal names block %s but carries block %s", p.value.hex()[:16], executed.hash.hex()[:16])
            return False
        return True

    def _build(self, height: int, round_: int) -> Event | None:
        if self._signer is None or height != self._chain.height + 1:
            return None
        params = self._chain.genesis.params
        started = self._clock.monotonic()
        deadline = started + min(self._config.build_budget_s, params.timeouts.propose / 3000)
        candidates = self._mempool.reap(min(self._config.max_block_txs, params.max_block_txs),
                                        params.max_block_bytes, params.max_block_gas)
        executed = self._chain.build_block(self._signer.address, candidates, self._chain.last_commit(),
                                           self._clock.wall_ms(), self._evidence.take(),
                                           out_of_time=lambda: self._clock.monotonic() > deadline)
        self._metrics.observe_execution(self._clock.monotonic() - started)
        self._executed[executed.hash] = executed
        return ValueBuilt(height, round_, executed.hash, executed.raw)

    def _fault(self, peer: str, kind: FaultKind, detail: str) -> None:
        if peer:  # our own messages and WAL replays have no peer to blame
            self._outbox.put(BadPeer(peer, PeerFault(kind, detail)))

    # -- evidence ---------------------------------------------------------------------

    def _add_evidence(self, ev: DuplicateVoteEvidence, peer: str) -> None:
        try:
            self._chain.validate_evidence(ev)
        except InvalidEvidence as exc:
            self._fault(peer, FaultKind.INVALID_EVIDENCE, str(exc))
            return
        if self._evidence.add(ev):
            log.warning("evidence %s against %s at height %d", ev.hash().hex()[:16], ev.validator.hex(), ev.height)
            self._outbox.put(EvidenceOut(ev.encode(), peer))

    def _on_peer_evidence(self, raw: bytes, peer: str) -> None:
        try:
            ev = decode_evidence(raw)
        except InvalidEvidence as exc:
            self._fault(peer, FaultKind.INVALID_EVIDENCE, str(exc))
            return
        self._add_evidence(ev, peer)

    def _evidence_still_valid(self, ev: DuplicateVoteEvidence) -> bool:
        try:
            self._chain.validate_evidence(ev)
        except InvalidEvidence:
            return False
        return True

    # -- block sync and commit --------------------------------------------------------

    def _on_synced_block(self, item: SyncedBlock) -> None:
        height = self._chain.height + 1
        if item.commit.height != height:
            return  # already committed by consensus, or not next yet
        try:
            block_hash = decode_block_hash(item.block_raw)
            self._chain.verify_commit(item.commit, height, block_hash)
            executed = self._chain.validate_block(item.block_raw)
        except (InvalidBlock, DecodeError) as exc:
            log.warning("synced block %d from %s is invalid: %s", height, item.peer[:12], exc)
            self._fault(item.peer, FaultKind.INVALID_SYNCED_BLOCK, str(exc))
            return
        self._commit(executed, item.commit)
        self._start(height + 1, replay=False)

    def _decide(self, d: Decide) -> None:
        if d.height != self._chain.height + 1:
            return
        executed = self._executed.get(d.value)
        if executed is None and d.block:
            # Decided during a WAL replay: the block was judged before the crash, but not executed since.
            try:
                executed = self._chain.validate_block(d.block)
            except InvalidBlock as exc:
                log.error("decided block %s no longer validates: %s", d.value.hex()[:16], exc)
                return
        if executed is None or executed.hash != d.value:
            # Decided on a block we never received whole: block sync fetches it.
            log.error("decided block %s at height %d is not known locally", d.value.hex()[:16], d.height)
            return
        # The commit is what the core counted: members' precommits for this value, once each.
        sigs = sorted((CommitSig(v.validator, v.signature) for v in d.precommits), key=lambda s: s.validator)
        self._commit(executed, Commit(d.height, d.round, d.value, tuple(sigs)))
        # The commit timeout paces heights: the next one starts `commit` ms after this one
        # started, or at once when consensus itself took longer (big blocks).
        spent = self._clock.monotonic() - self._height_started_at
        delay = max(0.0, self._chain.genesis.params.timeouts.commit / 1000 - spent)
        nxt = _StartNext(d.height + 1)
        self._timers.append(self._clock.call_later(delay, lambda: self.submit(nxt)))

    def _commit(self, executed: ExecutedBlock, commit: Commit) -> None:
        chain = self._chain
        started = self._clock.monotonic()
        chain.commit_block(executed, commit)
        written = self._clock.monotonic()
        self._evidence.prune(self._evidence_still_valid)
        self._mempool.update(chain.next_view(), executed.txs)
        self._metrics.on_commit(commit.round, len(executed.txs), len(executed.raw), executed.block.header.time_ms,
                                written - started, self._clock.monotonic() - written)
        log.info("committed height %d: %d txs, round %d, %.0f ms", executed.height, len(executed.txs), commit.round,
                 (self._clock.monotonic() - self._height_started_at) * 1000)
        self._outbox.put(CommittedBlock(executed, commit))


def _signed(v: Vote) -> SignedVote:
    return SignedVote(int(v.type), v.height, v.round, v.value or b"", v.validator, v.signature)
