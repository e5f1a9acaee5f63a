"""A simulated node: the shipped consensus driver, with its effects carried out in the world.

Why it is shaped this way: everything a node decides around the core (what reaches it,
what is logged, synced, signed, said, decided, and the WAL replay after a crash) is
`consensus.driver.handle`, the very code the node's engine runs. This file only does the
IO the effects name: a WAL as a list with a synced prefix (a crash loses the rest), a
double-sign guard keyed on (height, round, step), timers on the world's clock, values and
their validity from the world, and gossip as the p2p layer would do it (status,
re-broadcast of our current round, catch-up for lagging peers, POL with proposals). The
world (network, clock, checks) lives in `simulator.py`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, assert_never

from consensus.driver import (
    CORE,
    BroadcastProposalEffect,
    BroadcastVoteEffect,
    BuildValue,
    CheckValue,
    Core,
    Decide,
    DoubleProposal,
    Driver,
    Effect,
    Equivocation,
    Event,
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
    WalRecord,
    WalStartHeight,
    WalSync,
    handle,
)
from consensus.state_machine import State
from consensus.types import Proposal, ScheduleTimeout, TimeoutParams, Vote, VoteType

if TYPE_CHECKING:
    from tests.consensus.simulator import World

PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT
TP = TimeoutParams()

CoreFns = Core  # the core under test, passed in (never patched) so a broken one can be injected
CORRECT_CORE = CORE


# -- network messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MsgVote:
    vote: Vote


@dataclass(frozen=True, slots=True)
class MsgProposal:
    proposal: Proposal
    pol: tuple[Vote, ...] = ()


@dataclass(frozen=True, slots=True)
class MsgStatus:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class MsgCommit:
    height: int
    round: int
    proposal: Proposal
    precommits: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class MsgBundle:
    msgs: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CommitRecord:
    height: int
    round: int
    proposal: Proposal
    precommits: tuple[Vote, ...]


class _Crashed(Exception):
    """Raised inside a node's processing to model a crash at that exact point."""


def _vote_content(v: Vote) -> tuple[Any, ...]:
    """What a signature covers, as (kind, type, height, round, value...); not the signer."""
    return ("V", int(v.type), v.height, v.round, v.value)


def _proposal_content(p: Proposal) -> tuple[Any, ...]:
    return ("P", 0, p.height, p.round, p.value, p.valid_round)


def sig_of(address: bytes) -> bytes:
    return b"sig:" + address  # signatures are simulated: a tag of the signer


def _verify_vote(v: Vote) -> bool:
    return v.signature == sig_of(v.validator)


def _verify_proposal(p: Proposal) -> bool:
    return p.signature == sig_of(p.proposer)


# -- nodes ----------------------------------------------------------------------------------


class HonestNode:
    honest = True

    def __init__(self, world: World, nid: int, key: int, core: CoreFns) -> None:
        self.world = world
        self.id = nid
        self.key = key
        self.address = world.addresses[key]
        self.params = Params(self.address, TP, _verify_vote, _verify_proposal, core)
        # persistent across crashes
        self.wal: list[WalRecord] = []
        self.wal_synced = 0
        self.chain: list[CommitRecord] = []
        self.last_signed: tuple[tuple[int, int, int], tuple[Any, ...], bytes] | None = None
        # volatile
        self.up = True
        self.epoch = 0
        self.driver = Driver(self.params)
        self.pending: deque[Event] = deque()
        self.processing = False
        self.sent: list[Any] = []  # own messages of the current height, for re-gossip
        # test bookkeeping
        self.torn_armed = False
        self.had_torn_crash = False
        self.effects_to_crash = 0  # > 0: the node dies just before its n-th next effect
        self.refusals = 0
        self.reports = 0

    @property
    def state(self) -> State | None:
        return self.driver.core

    # -- lifecycle ------------------------------------------------------------------------

    def begin_height(self, height: int) -> None:
        self.sent = []
        self.submit(StartHeight(height, self.world.vset(height)))

    def crash(self) -> None:
        self.up = False
        self.epoch += 1
        self.wal = self.wal[: self.wal_synced]  # the unsynced tail is lost
        self.driver, self.pending, self.processing, self.sent = Driver(self.params), deque(), False, []
        self.effects_to_crash = 0

    def restart(self) -> None:
        self.up = True
        self.epoch += 1
        height = len(self.chain) + 1
        self.world.stats["replayed"] += max(0, len(self.wal) - 1)
        self.sent = [self._to_msg(r) for r in self.wal if _own_record(r, self.address)]
        self.submit(StartHeight(height, self.world.vset(height), tuple(self.wal)))
        self.tick()  # the gossip timer died with the old epoch

    # -- the driver loop ------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        self.pending.append(event)
        if self.processing:
            return
        self.processing = True
        try:
            while self.pending:
                self.driver, effects = handle(self.driver, self.pending.popleft())
                for effect in effects:
                    self.execute(effect)
        finally:
            self.processing = False

    def answer_now(self, event: Event) -> None:
        """A signature is logged before the next effect runs, as the engine does: one step
        may ask for two, and the second must not be signed before the first is in the WAL."""
        self.driver, effects = handle(self.driver, event)
        for effect in effects:
            self.execute(effect)

    def execute(self, effect: Effect) -> None:
        if self.effects_to_crash:
            self.effects_to_crash -= 1
            if not self.effects_to_crash:
                raise _Crashed  # between two effects: what was done stays done, the rest never happens
        match effect:
            case WalStartHeight(height=h):
                self.wal, self.wal_synced = [["H", h]], 1
            case WalAppend(record=r):
                self.wal.append(r)
            case WalSync():
                self.wal_synced = len(self.wal)
            case SignVote(vote=v):
                signed = self.sign(_vote_content(v), (v.height, v.round, int(v.type)))
                if signed is not None:
                    self.answer_now(VoteSigned(replace(v, signature=signed)))
            case SignProposal(proposal=p, block=block):
                signed = self.sign(_proposal_content(p), (p.height, p.round, 0))
                if signed is not None:
                    self.answer_now(ProposalSigned(replace(p, signature=signed), block))
            case BroadcastVoteEffect(vote=v):
                self.publish(MsgVote(v))
            case BroadcastProposalEffect(proposal=p):
                self.publish(self._proposal_msg(p))
            case ScheduleTimeout(kind=k, height=h, round=r, duration_ms=ms):
                self.world.at(self.world.now + ms, self, self.submit, TimeoutFired(k, h, r))
            case CheckValue(proposal=p, block=block):
                self.pending.append(ValueChecked(p, block, self.world.is_valid(p.value)))
            case BuildValue(height=h, round=r):
                self.request_value(h, r)
            case Decide(height=h, round=r, value=v, precommits=pcs):
                self.on_decided(h, r, v, pcs)
            case ReportPeer():
                self.reports += 1
            case Equivocation() | DoubleProposal():
                self.world.evidence += 1
            case _:
                assert_never(effect)

    def sign(self, content: tuple[Any, ...], hrs: tuple[int, int, int]) -> bytes | None:
        """The double-sign guard: refuse anything at or below the last signed h/r/step,
        except the very same content, which gets the same signature again. The driver
        syncs the WAL before asking (see consensus/driver.py)."""
        last = self.last_signed
        if last is not None:
            last_hrs, last_content, last_sig = last
            if hrs < last_hrs or (hrs == last_hrs and content != last_content):
                self.refusals += 1
                return None
            if hrs == last_hrs:
                self.world.stats["resigned"] += 1
                return last_sig
        sig = sig_of(self.address)
        self.last_signed = (hrs, content, sig)  # persisted (fsync) before use
        self.world.record_signature(self, content)
        if self.torn_armed:
            raise _Crashed  # the guard wrote, the WAL did not, nothing was sent
        return sig

    def _to_msg(self, record: WalRecord) -> Any:
        if record[0] == "V":
            _, t, h, r, value, validator, sig = record
            return MsgVote(Vote(VoteType(t), h, r, value, validator, sig))
        _, h, r, value, vr, proposer, sig, _block, _valid = record
        return MsgProposal(Proposal(h, r, value, vr, proposer, sig))

    def _proposal_msg(self, p: Proposal) -> MsgProposal:
        pol: tuple[Vote, ...] = ()
        if p.valid_round >= 0 and self.state is not None and self.state.height == p.height:
            pol = self.state.votes.votes_for(p.valid_round, PV, p.value)
        return MsgProposal(p, pol)

    def publish(self, msg: MsgVote | MsgProposal) -> None:
        self.sent.append(msg)
        self.world.broadcast(self, msg)

    def request_value(self, height: int, round: int) -> None:
        value = self.world.new_value(valid=True)
        self.world.at(
            self.world.now + self.world.rng.randint(1, 40), self, self.submit, ValueBuilt(height, round, value, value)
        )

    def on_decided(self, height: int, round: int, value: bytes, precommits: tuple[Vote, ...]) -> None:
        state = self.state
        if state is None or len(self.chain) != height - 1:
            return
        rp = state.proposal_for(round, value)
        if rp is None:
            return
        self.chain.append(CommitRecord(height, round, rp.proposal, precommits))
        self.world.record_decision(self, height, value)
        self.wal_synced = len(self.wal)  # committing fsyncs the store
        self.world.at(self.world.now + self.world.cfg.block_interval_ms, self, self._start_next, height + 1)

    def _start_next(self, height: int) -> None:
        if self.state is not None and self.state.height == height - 1 and len(self.chain) == height - 1:
            self.begin_height(height)

    # -- network --------------------------------------------------------------------------

    def on_message(self, src: int, msg: Any) -> None:
        peer = str(src)
        match msg:
            case MsgVote(vote=v):
                self.submit(PeerVote(v, peer))
            case MsgProposal(proposal=p, pol=pol):
                for v in pol:
                    self.submit(PeerVote(v, peer))
                self.submit(PeerProposal(p, p.value, peer))
            case MsgStatus(height=h, round=r):
                self.on_status(src, h, r)
            case MsgCommit(proposal=p, precommits=pcs):
                self.submit(PeerProposal(p, p.value, peer))
                for v in pcs:
                    self.submit(PeerVote(v, peer))
            case MsgBundle(msgs=msgs):
                for m in msgs:
                    if self.state is None:
                        return
                    self.on_message(src, m)

    def on_status(self, src: int, height: int, round: int) -> None:
        state = self.state
        if state is None:
            return
        if height <= len(self.chain):
            rec = self.chain[height - 1]
            self.world.send(self, src, MsgCommit(rec.height, rec.round, rec.proposal, rec.precommits))
        elif height == state.height and round < state.round:
            msgs: list[Any] = []
            for r in (round, state.round):
                msgs.extend(self._proposal_msg(rp.proposal) for rp in state.proposals_in(r))
                msgs.extend(MsgVote(v) for v in state.votes.votes_in(r, PV) + state.votes.votes_in(r, PC))
            if msgs:
                self.world.send(self, src, MsgBundle(tuple(msgs)))

    def gossip_status(self) -> None:
        if self.state is not None:
            self.world.broadcast(self, MsgStatus(self.state.height, self.state.round))

    def tick(self) -> None:
        state = self.state
        if state is not None:
            self.gossip_status()
            current = [m for m in self.sent if _msg_round(m) == state.round]
            if current:
                self.world.broadcast(self, MsgBundle(tuple(current)))
        self.world.at(self.world.now + self.world.cfg.gossip_ms, self, self.tick)


def _own_record(record: WalRecord, address: bytes) -> bool:
    return record[0] in ("V", "P") and record[5] == address


def _msg_round(m: Any) -> int:
    if isinstance(m, MsgVote):
        return m.vote.round
    if isinstance(m, MsgProposal):
        return m.proposal.round
    return -1
