"""The honest host of the simulator: a tiny node around the pure core.

Why it is shaped this way: it models exactly the host duties the core leaves out, and
nothing else: a double-sign guard keyed on (height, round, step) that re-issues the same
signature for identical content; a WAL of every input fed to the core, "fsynced" before
signing and before our own messages leave; feeding our own signed votes and proposals back
in; replaying the WAL through the same core after a crash; and gossip as the p2p layer
would do it (status, re-broadcast of our current round, catch-up for lagging peers, POL
with proposals). The world (network, clock, checks) lives in `simulator.py`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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
    TimeoutParams,
    ValidatorSet,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)

if TYPE_CHECKING:
    from tests.consensus.simulator import World

PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT
TP = TimeoutParams()


@dataclass(frozen=True)
class CoreFns:
    """The core under test, passed in (never patched) so a broken one can be injected."""

    start_height: Callable[[int, ValidatorSet, bytes | None, TimeoutParams], tuple[State, list[Output]]]
    apply: Callable[[State, Input], tuple[State, list[Output]]]


CORRECT_CORE = CoreFns(start_height, apply)


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


def input_height(inp: Input) -> int:
    match inp:
        case ProposalReceived(proposal=p):
            return p.height
        case VoteReceived(vote=v):
            return v.height
        case TimeoutElapsed(height=h) | ValueReady(height=h):
            return h
    raise TypeError(inp)


def _vote_content(v: Vote) -> tuple[Any, ...]:
    """What a signature covers, as (kind, type, height, round, value...); not the signer."""
    return ("V", int(v.type), v.height, v.round, v.value)


def _proposal_content(p: Proposal) -> tuple[Any, ...]:
    return ("P", 0, p.height, p.round, p.value, p.valid_round)


def sig_of(address: bytes) -> bytes:
    return b"sig:" + address  # signatures are simulated: a tag of the signer


# -- nodes ----------------------------------------------------------------------------------


class HonestNode:
    honest = True

    def __init__(self, world: World, nid: int, key: int, core: CoreFns) -> None:
        self.world = world
        self.id = nid
        self.key = key
        self.address = world.addresses[key]
        self.core = core
        # persistent across crashes
        self.wal: list[tuple[Input, bool]] = []  # (input, is our own signed message)
        self.wal_synced = 0
        self.chain: list[CommitRecord] = []
        self.last_signed: tuple[tuple[int, int, int], tuple[Any, ...], bytes] | None = None
        # volatile
        self.up = True
        self.epoch = 0
        self.state: State | None = None
        self.pending: deque[tuple[Input, bool]] = deque()
        self.processing = False
        self.future: dict[int, list[Input]] = {}
        self.sent: list[Any] = []  # own messages of the current height, for re-gossip
        self.replaying = False
        self.replay_outputs: list[Output] = []
        # test bookkeeping
        self.torn_armed = False
        self.had_torn_crash = False
        self.refusals = 0

    # -- lifecycle ------------------------------------------------------------------------

    def begin_height(self, height: int) -> None:
        self.wal, self.wal_synced, self.sent = [], 0, []
        self.state, outs = self.core.start_height(height, self.world.vset(height), self.address, TP)
        self.handle(outs)
        self.drain()
        for inp in self.future.pop(height, []):
            self.feed(inp)
        self.future = {h: v for h, v in self.future.items() if h > height}

    def crash(self) -> None:
        self.up = False
        self.epoch += 1
        self.wal = self.wal[: self.wal_synced]  # the unsynced tail is lost
        self.state, self.pending, self.processing, self.future, self.sent = None, deque(), False, {}, []

    def restart(self) -> None:
        self.up = True
        self.epoch += 1
        height = len(self.chain) + 1
        records = [(i, o) for i, o in self.wal if input_height(i) == height]
        self.wal, self.wal_synced, self.sent = [], 0, []
        self.replaying, self.replay_outputs = True, []
        self.state, outs = self.core.start_height(height, self.world.vset(height), self.address, TP)
        self.handle(outs)
        in_wal = {self._content(i) for i, own in records if own}
        answered = {(i.height, i.round) for i, _ in records if isinstance(i, ValueReady)}
        self.world.stats["replayed"] += len(records)
        for inp, own in records:
            self.wal.append((inp, own))
            if own:
                self.sent.append(self._to_msg(inp))
            self.state, outs = self.core.apply(self.state, inp)
            self.handle(outs)
        self.wal_synced = len(self.wal)
        self.replaying = False
        # What the core asked for during replay and never happened before the crash.
        for out in self.replay_outputs:
            match out:
                case BroadcastVote(vote=v) if _vote_content(v) not in in_wal:
                    self.handle([out])
                case BroadcastProposal(proposal=p) if _proposal_content(p) not in in_wal:
                    self.handle([out])
                case RequestValue(height=h, round=r) if (h, r) not in answered:
                    self.handle([out])
        self.drain()
        self.tick()  # the gossip timer died with the old epoch

    # -- the core loop --------------------------------------------------------------------

    def feed(self, inp: Input, own: bool = False) -> None:
        self.pending.append((inp, own))
        self.drain()

    def drain(self) -> None:
        if self.processing:
            return
        self.processing = True
        try:
            while self.pending and self.state is not None:
                inp, own = self.pending.popleft()
                self.wal.append((inp, own))
                if own:
                    self.wal_synced = len(self.wal)  # fsync before send
                    self.publish(inp)
                self.state, outs = self.core.apply(self.state, inp)
                self.handle(outs)
        finally:
            self.processing = False

    def handle(self, outs: list[Output]) -> None:
        for out in outs:
            match out:
                case BroadcastVote(vote=v):
                    if self.replaying:
                        self.replay_outputs.append(out)
                    else:
                        signed = self.sign(_vote_content(v), (v.height, v.round, int(v.type)))
                        if signed is not None:
                            self.pending.append((VoteReceived(replace(v, signature=signed)), True))
                case BroadcastProposal(proposal=p):
                    if self.replaying:
                        self.replay_outputs.append(out)
                    else:
                        signed = self.sign(_proposal_content(p), (p.height, p.round, 0))
                        if signed is not None:
                            self.pending.append((ProposalReceived(replace(p, signature=signed), True), True))
                case ScheduleTimeout(kind=k, height=h, round=r, duration_ms=d):
                    self.world.at(self.world.now + d, self, self.feed, TimeoutElapsed(k, h, r))
                case RequestValue(height=h, round=r):
                    if self.replaying:
                        self.replay_outputs.append(out)
                    else:
                        self.request_value(h, r)
                case Decided(height=h, round=r, value=v):
                    self.on_decided(h, r, v)
                case EquivocationFound() | DoubleProposalFound():
                    self.world.evidence += 1

    def sign(self, content: tuple[Any, ...], hrs: tuple[int, int, int]) -> bytes | None:
        """The double-sign guard: refuse anything at or below the last signed h/r/step,
        except the very same content, which gets the same signature again.

        The WAL is fsynced *before* signing: then a crash between signing and logging our
        vote replays to the very same vote, which the guard signs again, and the node keeps
        voting. Syncing only before sending would lose inputs that led to a signed vote;
        the replayed core may then want a different vote, the guard (rightly) refuses, and
        the node stays mute for that step, which with a silent byzantine key stalls the
        network (the simulator found this: seed 12 of config "four")."""
        self.wal_synced = len(self.wal)
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

    @staticmethod
    def _content(inp: Input) -> tuple[Any, ...]:
        if isinstance(inp, VoteReceived):
            return _vote_content(inp.vote)
        if isinstance(inp, ProposalReceived):
            return _proposal_content(inp.proposal)
        return ()

    def _to_msg(self, inp: Input) -> Any:
        if isinstance(inp, VoteReceived):
            return MsgVote(inp.vote)
        if isinstance(inp, ProposalReceived):
            return self._proposal_msg(inp.proposal)
        raise TypeError(inp)

    def _proposal_msg(self, p: Proposal) -> MsgProposal:
        pol: tuple[Vote, ...] = ()
        if p.valid_round >= 0 and self.state is not None and self.state.height == p.height:
            pol = self.state.votes.votes_for(p.valid_round, PV, p.value)
        return MsgProposal(p, pol)

    def publish(self, inp: Input) -> None:
        msg = self._to_msg(inp)
        self.sent.append(msg)
        self.world.broadcast(self, msg)

    def request_value(self, height: int, round: int) -> None:
        value = self.world.new_value(valid=True)
        self.world.at(
            self.world.now + self.world.rng.randint(1, 40), self, self._value_built, height, round, value
        )

    def _value_built(self, height: int, round: int, value: bytes) -> None:
        if self.state is not None and self.state.height == height:
            self.feed(ValueReady(height, round, value))

    def on_decided(self, height: int, round: int, value: bytes) -> None:
        state = self.state
        if state is None or len(self.chain) != height - 1:
            return
        rp = state.proposal_for(round, value)
        if rp is None:
            return
        precommits = state.votes.votes_for(round, PC, value)
        self.chain.append(CommitRecord(height, round, rp.proposal, precommits))
        self.world.record_decision(self, height, value)
        self.wal_synced = len(self.wal)  # committing fsyncs the store
        self.world.at(self.world.now + self.world.cfg.block_interval_ms, self, self._start_next, height + 1)

    def _start_next(self, height: int) -> None:
        if self.state is not None and self.state.height == height - 1 and len(self.chain) == height - 1:
            self.begin_height(height)

    # -- network --------------------------------------------------------------------------

    def receive(self, inp: Input) -> None:
        state = self.state
        if state is None:
            return
        h = input_height(inp)
        if h == state.height:
            self.feed(inp)
        elif state.height < h <= state.height + 2:
            self.future.setdefault(h, []).append(inp)

    def on_message(self, src: int, msg: Any) -> None:
        match msg:
            case MsgVote(vote=v):
                self.receive(VoteReceived(v))
            case MsgProposal(proposal=p, pol=pol):
                for v in pol:
                    self.receive(VoteReceived(v))
                self.receive(ProposalReceived(p, self.world.is_valid(p.value)))
            case MsgStatus(height=h, round=r):
                self.on_status(src, h, r)
            case MsgCommit(proposal=p, precommits=pcs):
                self.receive(ProposalReceived(p, self.world.is_valid(p.value)))
                for v in pcs:
                    self.receive(VoteReceived(v))
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


def _msg_round(m: Any) -> int:
    if isinstance(m, MsgVote):
        return m.vote.round
    if isinstance(m, MsgProposal):
        return m.proposal.round
    return -1
