"""The consensus host logic without IO: events in, effects out, in order.

`handle(driver, event) -> (driver, effects)` is everything a node does around the core
(`state_machine.apply`) except the IO itself, after circlefin/malachite's `core-consensus`
effects: which inputs reach the core (only members vote, only the round's proposer
proposes, every distinct proposal of that proposer is kept up to a bound), what is
written to the WAL and when it is synced, what is signed, what is said to peers, which
timeouts run, which blocks are checked or built, what is decided with which commit, and
which peers are reported. The node's engine and the consensus simulator both execute
these effects; nothing in either keeps votes, proposals or commit signatures of its own.

Persist before you speak is the order of the effects: every input that reaches the core
is appended to the WAL first; before anything is signed the WAL is synced (a replay must
lead to the same vote, or the double-sign guard would rightly refuse it and leave the
validator mute); our own signed vote or proposal is appended and synced before it is
broadcast. The answer to a signature (`VoteSigned`, `ProposalSigned`) must be handled before
the effects that follow it: one step may ask for two signatures (a prevote and a
precommit), and if the second were signed before the first's record is in the WAL, a crash
between them would leave a replay asking for the first below what the guard has signed.
After a crash, `StartHeight` with the WAL's records replays them through the
same core without signing or saying anything, then asks again only for what the WAL
shows was never signed (the guard gives the same signature for the same message).

Signatures are checked by functions passed in (`Params.verify_vote`, `verify_proposal`):
they are pure, and the simulator checks its own kind of signature with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
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
    ValidatorSet,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)

MAX_ROUNDS_AHEAD = 100  # votes and proposals further ahead of our round are not taken in (memory)
MAX_PROPOSALS_PER_ROUND = 4  # distinct proposals kept of one proposer in one round: two prove equivocation
MAX_VOTES_PER_STEP = MAX_PROPOSALS_PER_ROUND + 1  # distinct votes of one validator in a (round, type): each
# value it could matter for (a proposal we hold, or nil) once; an equivocator sending more only costs us
MAX_FUTURE = 10_000  # messages for the next height kept while we sit out the commit pause
MAX_FUTURE_PER_VALIDATOR = 64  # of those, signed by one member: no one can crowd out the others

WalRecord = list[Any]
"""["H", height] | ["V", type, h, r, value|None, validator, sig] | ["T", kind, h, r] | ["B", h, r, value, block]
| ["P", h, r, value, valid_round, proposer, sig, block (empty when invalid), valid]"""


class Fault(Enum):
    """What a peer sent that no honest peer sends."""

    NOT_A_VALIDATOR = "not_a_validator"
    NOT_THE_PROPOSER = "not_the_proposer"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class Core:
    """The core the driver runs, passed in so that a deliberately broken one can be tested."""

    start_height: Callable[[int, ValidatorSet, bytes | None, TimeoutParams], tuple[State, list[Output]]]
    apply: Callable[[State, Input], tuple[State, list[Output]]]


CORE = Core(start_height, apply)


@dataclass(frozen=True)
class Params:
    our_address: bytes | None
    timeouts: TimeoutParams
    verify_vote: Callable[[Vote], bool]
    verify_proposal: Callable[[Proposal], bool]
    core: Core = CORE


# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartHeight:
    height: int
    validators: ValidatorSet
    wal: tuple[WalRecord, ...] = ()  # the WAL as found at startup: replayed if it is of this height


@dataclass(frozen=True, slots=True)
class PeerVote:
    vote: Vote
    peer: str


@dataclass(frozen=True, slots=True)
class PeerProposal:
    proposal: Proposal
    block: bytes
    peer: str


@dataclass(frozen=True, slots=True)
class ValueChecked:
    """The host's verdict on the block of a proposal (executed, and hashing to its value)."""

    proposal: Proposal
    block: bytes
    valid: bool


@dataclass(frozen=True, slots=True)
class ValueBuilt:
    height: int
    round: int
    value: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class VoteSigned:
    vote: Vote


@dataclass(frozen=True, slots=True)
class ProposalSigned:
    proposal: Proposal
    block: bytes


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    kind: TimeoutKind
    height: int
    round: int


Event = StartHeight | PeerVote | PeerProposal | ValueChecked | ValueBuilt | VoteSigned | ProposalSigned | TimeoutFired


# -- effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalStartHeight:
    height: int  # empty the WAL and write ["H", height], synced


@dataclass(frozen=True, slots=True)
class WalAppend:
    record: WalRecord


@dataclass(frozen=True, slots=True)
class WalSync:
    pass


@dataclass(frozen=True, slots=True)
class SignVote:
    vote: Vote  # answered with VoteSigned, or nothing if the guard refuses


@dataclass(frozen=True, slots=True)
class SignProposal:
    proposal: Proposal
    block: bytes  # answered with ProposalSigned


@dataclass(frozen=True, slots=True)
class BroadcastVoteEffect:
    vote: Vote


@dataclass(frozen=True, slots=True)
class BroadcastProposalEffect:
    proposal: Proposal
    block: bytes


@dataclass(frozen=True, slots=True)
class CheckValue:
    proposal: Proposal
    block: bytes  # answered with ValueChecked


@dataclass(frozen=True, slots=True)
class BuildValue:
    height: int
    round: int  # answered with ValueBuilt


@dataclass(frozen=True, slots=True)
class Decide:
    height: int
    round: int
    value: bytes
    block: bytes
    precommits: tuple[Vote, ...]  # what the core counted for the value: members, once each
    # block is empty if we decided a value whose block we never held whole: block sync fetches it


@dataclass(frozen=True, slots=True)
class ReportPeer:
    peer: str
    fault: Fault
    detail: str


@dataclass(frozen=True, slots=True)
class Equivocation:
    first: Vote
    second: Vote


@dataclass(frozen=True, slots=True)
class DoubleProposal:
    first: Proposal
    second: Proposal


Effect = (
    WalStartHeight | WalAppend | WalSync | SignVote | SignProposal | BroadcastVoteEffect | BroadcastProposalEffect
    | CheckValue | BuildValue | ScheduleTimeout | Decide | ReportPeer | Equivocation | DoubleProposal
)


# -- the driver -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Driver:
    params: Params
    core: State | None = None
    # value -> block bytes, for the valid values of this height: what we may gossip and decide
    blocks: Mapping[bytes, bytes] = field(default_factory=dict)
    checking: frozenset[tuple[int, bytes, int]] = frozenset()  # (round, value, valid_round) sent to CheckValue
    future: tuple[PeerVote | PeerProposal, ...] = ()

    @property
    def height(self) -> int | None:
        return self.core.height if self.core is not None else None

    def votes(self) -> tuple[Vote, ...]:
        """Every vote the core counted at this height, in arrival order (for gossip)."""
        return self.core.votes.all_votes() if self.core is not None else ()

    def proposals(self) -> list[tuple[Proposal, bytes]]:
        """Every valid proposal the core holds at this height, with its block (for gossip)."""
        if self.core is None:
            return []
        out = []
        for _, by_sender in sorted(self.core.proposals.items()):
            for received in by_sender.values():
                for rp in received:
                    block = self.blocks.get(rp.proposal.value)
                    if rp.valid and block is not None:
                        out.append((rp.proposal, block))
        return out


def new_driver(params: Params) -> Driver:
    return Driver(params)


def handle(d: Driver, event: Event) -> tuple[Driver, list[Effect]]:
    match event:
        case StartHeight():
            return _start_height(d, event)
        case PeerVote(vote=v, peer=peer):
            return _on_peer_vote(d, v, peer, event)
        case PeerProposal(proposal=p, block=block, peer=peer):
            return _on_peer_proposal(d, p, block, peer, event)
        case ValueChecked(proposal=p, block=block, valid=valid):
            return _on_value_checked(d, p, block, valid)
        case ValueBuilt(height=h, round=r, value=value, block=block):
            if d.core is None or h != d.core.height:
                return d, []
            d = replace(d, blocks={**d.blocks, value: block})
            # Logged like any input: a replay must propose this very block, or the guard
            # would refuse the other one a rebuild makes (its time differs) and we stay mute.
            return _feed(d, ValueReady(h, r, value), [WalAppend(["B", h, r, value, block])])
        case VoteSigned(vote=v):
            if d.core is None or v.height != d.core.height:
                return d, []
            effects: list[Effect] = [WalAppend(vote_record(v)), WalSync(), BroadcastVoteEffect(v)]
            return _feed(d, VoteReceived(v), effects)
        case ProposalSigned(proposal=p, block=block):
            if d.core is None or p.height != d.core.height:
                return d, []
            d = replace(d, blocks={**d.blocks, p.value: block})
            effects = [WalAppend(proposal_record(p, block, True)), WalSync(), BroadcastProposalEffect(p, block)]
            return _feed(d, ProposalReceived(p, True), effects)
        case TimeoutFired(kind=k, height=h, round=r):
            if d.core is None or h != d.core.height:
                return d, []
            return _feed(d, TimeoutElapsed(k, h, r), [WalAppend(["T", int(k), h, r])])
        case _:
            assert_never(event)


# -- heights and replay ---------------------------------------------------------------


def _start_height(d: Driver, ev: StartHeight) -> tuple[Driver, list[Effect]]:
    p = d.params
    core, outputs = p.core.start_height(ev.height, ev.validators, p.our_address, p.timeouts)
    future = d.future
    d = replace(d, core=core, blocks={}, checking=frozenset(), future=())
    records = ev.wal
    if records and records[0] == ["H", ev.height]:
        d, effects = _replay(d, outputs, records[1:])
    else:
        d, effects = _translate(d, outputs, [WalStartHeight(ev.height)])
    for item in future:
        if _event_height(item) == ev.height:
            # Buffered messages had their signatures checked when they came in.
            if isinstance(item, PeerVote):
                d, more = _on_peer_vote(d, item.vote, item.peer, item, verified=True)
            else:
                d, more = _on_peer_proposal(d, item.proposal, item.block, item.peer, item, verified=True)
            effects.extend(more)
    return d, effects


def _replay(d: Driver, outputs: list[Output], records: tuple[WalRecord, ...]) -> tuple[Driver, list[Effect]]:
    """Feed the WAL through the core again; then ask only for what was never signed or built."""
    ours = d.params.our_address
    apply_input = d.params.core.apply
    core = d.core
    blocks = dict(d.blocks)
    produced = list(outputs)
    signed_votes: set[tuple[int, int, bytes | None]] = set()
    proposed_rounds: set[int] = set()
    built_rounds: set[int] = set()
    for record in records:
        inp = _record_input(record)
        if inp is None or core is None:
            continue
        match inp:
            case VoteReceived(vote=v) if v.validator == ours:
                signed_votes.add((int(v.type), v.round, v.value))
            case ProposalReceived(proposal=p, valid=True):
                if record[7]:
                    blocks[p.value] = record[7]
                if p.proposer == ours:
                    proposed_rounds.add(p.round)
            case ValueReady(round=r, value=value):
                blocks[value] = record[4]
                built_rounds.add(r)
        core, outs = apply_input(core, inp)
        produced += outs
    d = replace(d, core=core, blocks=blocks)
    last_round = core.round if core is not None else 0
    wanted: list[Output] = []
    for out in produced:
        match out:
            case BroadcastVote(vote=v) if (int(v.type), v.round, v.value) in signed_votes:
                continue
            case BroadcastProposal(proposal=p) if p.round in proposed_rounds:
                continue
            case RequestValue(round=r) if r in proposed_rounds or r in built_rounds or r < last_round:
                continue  # built, proposed, or a round we have left
            case ScheduleTimeout(round=r) if r < last_round:
                continue  # the core ignores the timeouts of rounds it has left
        wanted.append(out)
    return _translate(d, wanted, [])


def _record_input(record: WalRecord) -> Input | None:
    match record:
        case ["V", t, h, r, value, validator, sig]:
            return VoteReceived(Vote(VoteType(t), h, r, value, validator, sig))
        case ["P", h, r, value, vr, proposer, sig, _block, valid]:
            return ProposalReceived(Proposal(h, r, value, vr, proposer, sig), bool(valid))
        case ["T", k, h, r]:
            return TimeoutElapsed(TimeoutKind(k), h, r)
        case ["B", h, r, value, _block]:
            return ValueReady(h, r, value)
    return None  # a record of another version or kind: nothing the core needs


def vote_record(v: Vote) -> WalRecord:
    return ["V", int(v.type), v.height, v.round, v.value, v.validator, v.signature]


def proposal_record(p: Proposal, block: bytes, valid: bool) -> WalRecord:
    return ["P", p.height, p.round, p.value, p.valid_round, p.proposer, p.signature, block if valid else b"", valid]


def _event_height(ev: PeerVote | PeerProposal) -> int:
    return ev.vote.height if isinstance(ev, PeerVote) else ev.proposal.height


def _signer(ev: PeerVote | PeerProposal) -> bytes:
    return ev.vote.validator if isinstance(ev, PeerVote) else ev.proposal.proposer


def _message(ev: PeerVote | PeerProposal) -> Vote | Proposal:
    return ev.vote if isinstance(ev, PeerVote) else ev.proposal


def _buffer(d: Driver, core: State, ev: PeerVote | PeerProposal) -> tuple[Driver, list[Effect]]:
    # A peer may start the next height while we sit out our commit pause. The next height has
    # the same members (only the proposer priorities move), so what no member signed is
    # refused now, and each member gets a bounded share: a flood cannot push out the others.
    signer, msg = _signer(ev), _message(ev)
    kind = "vote" if isinstance(msg, Vote) else "proposal"
    if core.votes.powers.get(signer, 0) <= 0:
        return d, [ReportPeer(ev.peer, Fault.NOT_A_VALIDATOR, f"{kind} from {signer.hex()}")]
    if any(_message(e) == msg for e in d.future):
        return d, []  # a copy relayed by another peer
    if len(d.future) >= MAX_FUTURE or sum(_signer(e) == signer for e in d.future) >= MAX_FUTURE_PER_VALIDATOR:
        return d, []
    ok = d.params.verify_vote(msg) if isinstance(msg, Vote) else d.params.verify_proposal(msg)
    if not ok:
        return d, [ReportPeer(ev.peer, Fault.BAD_SIGNATURE, f"{kind} signed as {signer.hex()}")]
    return replace(d, future=(*d.future, ev)), []


# -- from peers -----------------------------------------------------------------------


def _on_peer_vote(d: Driver, v: Vote, peer: str, ev: PeerVote,
                  verified: bool = False) -> tuple[Driver, list[Effect]]:
    core = d.core
    if core is None:
        return d, []
    if v.height == core.height + 1:
        return _buffer(d, core, ev)
    if v.height != core.height or v.round > core.round + MAX_ROUNDS_AHEAD:
        return d, []
    # Members only, judged before anything is stored, relayed or even verified.
    if core.votes.powers.get(v.validator, 0) <= 0:
        return d, [ReportPeer(peer, Fault.NOT_A_VALIDATOR, f"vote from {v.validator.hex()}")]
    if core.votes.holds(v):
        return d, []  # a copy relayed by another peer (an equivocator's second vote too): checked once already
    if core.votes.distinct_votes(v.round, v.type, v.validator) >= MAX_VOTES_PER_STEP:
        return d, []  # an equivocator: the votes held already prove it
    if not verified and not d.params.verify_vote(v):
        return d, [ReportPeer(peer, Fault.BAD_SIGNATURE, f"vote signed as {v.validator.hex()}")]
    return _feed(d, VoteReceived(v), [WalAppend(vote_record(v))])


def _on_peer_proposal(d: Driver, p: Proposal, block: bytes, peer: str, ev: PeerProposal,
                      verified: bool = False) -> tuple[Driver, list[Effect]]:
    core = d.core
    if core is None:
        return d, []
    if p.height == core.height + 1:
        return _buffer(d, core, ev)
    if p.height != core.height or p.round > core.round + MAX_ROUNDS_AHEAD:
        return d, []
    # Only the round's proposer: anyone else's block is never executed, logged or relayed.
    if p.proposer != core.validators.proposer_for_round(p.round).address:
        return d, [ReportPeer(peer, Fault.NOT_THE_PROPOSER, f"{p.height}/{p.round} from {p.proposer.hex()}")]
    held = core.proposals.get(p.round, {}).get(p.proposer, ())
    key = (p.round, p.value, p.valid_round)
    if key in d.checking or any((rp.proposal.value, rp.proposal.valid_round) == key[1:] for rp in held):
        return d, []  # a copy relayed by another peer
    if len(held) >= MAX_PROPOSALS_PER_ROUND:
        return d, []  # an equivocating proposer: those held already prove it
    if not verified and not d.params.verify_proposal(p):
        return d, [ReportPeer(peer, Fault.BAD_SIGNATURE, f"proposal signed as {p.proposer.hex()}")]
    known = d.blocks.get(p.value)
    if known is not None:  # the same block again (a re-proposal in a later round): judged already
        return _on_value_checked(d, p, known, True)
    return replace(d, checking=d.checking | {key}), [CheckValue(p, block)]


def _on_value_checked(d: Driver, p: Proposal, block: bytes, valid: bool) -> tuple[Driver, list[Effect]]:
    core = d.core
    if core is None or p.height != core.height:
        return d, []
    d = replace(d, checking=d.checking - {(p.round, p.value, p.valid_round)})
    if valid:
        d = replace(d, blocks={**d.blocks, p.value: block})
    return _feed(d, ProposalReceived(p, valid), [WalAppend(proposal_record(p, block, valid))])


# -- the core and what its outputs mean -------------------------------------------------


def _feed(d: Driver, inp: Input, effects: list[Effect]) -> tuple[Driver, list[Effect]]:
    if d.core is None:
        return d, effects
    core, outputs = d.params.core.apply(d.core, inp)
    # A direct constructor: `replace` costs as much as the rest of a vote's handling.
    return _translate(Driver(d.params, core, d.blocks, d.checking, d.future), outputs, effects)


def _translate(d: Driver, outputs: list[Output], effects: list[Effect]) -> tuple[Driver, list[Effect]]:
    """The core's outputs as effects."""
    for out in outputs:
        match out:
            case BroadcastVote(vote=v):
                if d.params.our_address is not None:
                    effects += [WalSync(), SignVote(v)]
            case BroadcastProposal(proposal=p):
                block = d.blocks.get(p.value)
                if block is not None and d.params.our_address is not None:
                    effects += [WalSync(), SignProposal(p, block)]
            case RequestValue(height=h, round=r):
                effects.append(BuildValue(h, r))
            case ScheduleTimeout():
                effects.append(out)
            case Decided(height=h, round=r, value=value):
                core = d.core
                if core is None:
                    continue
                precommits = core.votes.votes_for(r, VoteType.PRECOMMIT, value)
                effects.append(Decide(h, r, value, d.blocks.get(value, b""), precommits))
            case EquivocationFound(first=a, second=b):
                effects.append(Equivocation(a, b))
            case DoubleProposalFound(first=a, second=b):
                effects.append(DoubleProposal(a, b))
            case _:
                assert_never(out)
    return d, effects
