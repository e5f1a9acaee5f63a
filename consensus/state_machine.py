"""Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic, 2018).

`apply(state, input) -> (state, outputs)` is pure: no I/O, no clock, no randomness, so the
host can replay its WAL through it after a crash and get the same state back, and tests can
drive it step by step. Line numbers in comments (`# L36`) refer to Algorithm 1.

Shape of one `apply`: the input is recorded (vote keeper or proposal table), then the
upon-rules are evaluated until none fires. Rules that depend on the round the input touched
(L49 decide, L55 round skip) are checked once for that round; rules about the current round
(L22, L28, L36, L44, L34, L47) are re-checked after every state change, since e.g. a round
skip can find the new round's proposal and prevotes already there. Each check is a few dict
lookups, and each firing changes the step or sets a once-per-round flag, so an input costs
O(1) amortized. The order within a pass is fixed (L22, L28, L36, L44, L34, L47) so the
outputs are deterministic; L36/L44 go before L34 so that a polka does not also schedule a
useless prevote timeout.

Mutation: inside one `apply` the rules update a private `_Work` scratchpad that is frozen
into a new `State` at the end; the input `State` is never touched (the vote keeper's own
sharing scheme is explained in `vote_keeper.py`).

Deviations from the paper, all forced by an asynchronous host:
- getValue() (L18) is `RequestValue` answered by `ValueReady`; the proposer therefore also
  schedules the propose timeout (L21), so a host that never answers costs one round.
- L52-L54 (next height) are the host's job: it calls `start_height` after `Decided`.
- L55 counts votes only (each validator once per round); proposals do not add to f+1.
- Every distinct proposal of a round's proposer is kept (and the second one reported as
  `DoubleProposalFound`), as the paper counts messages: if only the first were kept, an
  equivocating proposer could show some nodes a value that the others then decide (L49)
  or lock on (L36) and those nodes could never follow (the simulator found this with twins).
  L22/L28 use the first proposal that enables them; L36/L49 look for the one whose value
  has the 2f+1.
- A non-validator (`our_address` None or not in the set) runs the same rules but never
  emits proposals, votes or value requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

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
    Step,
    TimeoutElapsed,
    TimeoutKind,
    TimeoutParams,
    ValidatorSet,
    ValueReady,
    Vote,
    VoteReceived,
    VoteType,
)
from consensus.vote_keeper import AddResult, VoteKeeper

PREVOTE = VoteType.PREVOTE
PRECOMMIT = VoteType.PRECOMMIT


@dataclass(frozen=True, slots=True)
class State:
    height: int
    round: int
    step: Step
    locked_value: bytes | None
    locked_round: int
    valid_value: bytes | None
    valid_round: int
    validators: ValidatorSet
    our_address: bytes | None
    timeouts: TimeoutParams
    votes: VoteKeeper
    # round -> sender -> the distinct proposals received from that validator in that round,
    # in arrival order. Keyed by sender, not by the round's proposer, so that a proposal for
    # a far round costs nothing to file (computing proposer_for_round(r) is O(r * n)); the
    # rules only ever read the entry of proposer(h, r). Never mutated: copied on write.
    proposals: Mapping[int, Mapping[bytes, tuple[ProposalReceived, ...]]]
    decision: bytes | None
    round_proposer: bytes  # proposer(h_p, round_p), cached for the same reason
    value_requested: bool  # RequestValue emitted in this round, ValueReady not yet taken
    prevote_timeout_scheduled: bool  # L34 "for the first time" in this round
    precommit_timeout_scheduled: bool  # L47 "for the first time" in this round
    polka_handled: bool  # L36 "for the first time" in this round

    @property
    def is_validator(self) -> bool:
        return self.our_address is not None and self.votes.powers.get(self.our_address, 0) > 0

    def proposals_in(self, round: int) -> tuple[ProposalReceived, ...]:
        """The proposals from proposer(h_p, round), in arrival order (more than one only if
        the proposer equivocated)."""
        return _proposals_from_proposer(
            self.proposals, round, self.round, self.round_proposer, self.validators
        )

    def proposal_for(self, round: int, value: bytes) -> ProposalReceived | None:
        """The proposal of `value` from proposer(h_p, round), if received."""
        return _with_value(self.proposals_in(round), value)


def _proposals_from_proposer(
    proposals: Mapping[int, Mapping[bytes, tuple[ProposalReceived, ...]]],
    round: int,
    current_round: int,
    current_proposer: bytes,
    validators: ValidatorSet,
) -> tuple[ProposalReceived, ...]:
    by_sender = proposals.get(round)
    if not by_sender:
        return ()
    proposer = current_proposer if round == current_round else validators.proposer_for_round(round).address
    return by_sender.get(proposer, ())


def _with_value(received: tuple[ProposalReceived, ...], value: bytes) -> ProposalReceived | None:
    for rp in received:
        if rp.proposal.value == value:
            return rp
    return None


class _Work:
    """The mutable scratchpad of one `apply` call; it never escapes it."""

    __slots__ = (
        "decision",
        "height",
        "locked_round",
        "locked_value",
        "our_address",
        "out",
        "polka_handled",
        "precommit_timeout_scheduled",
        "prevote_timeout_scheduled",
        "proposals",
        "round",
        "round_proposer",
        "step",
        "timeouts",
        "valid_round",
        "valid_value",
        "validators",
        "value_requested",
        "votes",
        "we_vote",
    )

    def __init__(self, s: State) -> None:
        self.height = s.height
        self.round = s.round
        self.step = s.step
        self.locked_value = s.locked_value
        self.locked_round = s.locked_round
        self.valid_value = s.valid_value
        self.valid_round = s.valid_round
        self.validators = s.validators
        self.our_address = s.our_address
        self.timeouts = s.timeouts
        self.votes = s.votes
        self.proposals = s.proposals
        self.decision = s.decision
        self.round_proposer = s.round_proposer
        self.value_requested = s.value_requested
        self.prevote_timeout_scheduled = s.prevote_timeout_scheduled
        self.precommit_timeout_scheduled = s.precommit_timeout_scheduled
        self.polka_handled = s.polka_handled
        self.we_vote = s.is_validator
        self.out: list[Output] = []

    def freeze(self) -> State:
        return State(
            self.height,
            self.round,
            self.step,
            self.locked_value,
            self.locked_round,
            self.valid_value,
            self.valid_round,
            self.validators,
            self.our_address,
            self.timeouts,
            self.votes,
            self.proposals,
            self.decision,
            self.round_proposer,
            self.value_requested,
            self.prevote_timeout_scheduled,
            self.precommit_timeout_scheduled,
            self.polka_handled,
        )

    def proposals_in(self, round: int) -> tuple[ProposalReceived, ...]:
        return _proposals_from_proposer(
            self.proposals, round, self.round, self.round_proposer, self.validators
        )

    # -- outputs ----------------------------------------------------------------------

    def vote(self, type: VoteType, value: bytes | None) -> None:
        address = self.our_address
        if self.we_vote and address is not None:
            self.out.append(BroadcastVote(Vote(type, self.height, self.round, value, address)))

    def schedule(self, kind: TimeoutKind) -> None:
        self.out.append(
            ScheduleTimeout(kind, self.height, self.round, self.timeouts.duration_ms(kind, self.round))
        )


def start_height(
    height: int, validators: ValidatorSet, our_address: bytes | None, timeouts: TimeoutParams
) -> tuple[State, list[Output]]:
    """L2-L10: a fresh instance for `height`, then StartRound(0)."""
    state = State(
        height=height,
        round=0,
        step=Step.PROPOSE,
        locked_value=None,  # L6
        locked_round=-1,  # L7
        valid_value=None,  # L8
        valid_round=-1,  # L9
        validators=validators,
        our_address=our_address,
        timeouts=timeouts,
        votes=VoteKeeper.new(height, validators),
        proposals={},
        decision=None,  # L5
        round_proposer=validators.proposer.address,
        value_requested=False,
        prevote_timeout_scheduled=False,
        precommit_timeout_scheduled=False,
        polka_handled=False,
    )
    w = _Work(state)
    _start_round(w, 0)  # L10
    return w.freeze(), w.out


def apply(state: State, inp: Input) -> tuple[State, list[Output]]:
    match inp:
        case ProposalReceived(proposal=p):
            if p.height != state.height:
                return state, []  # the host buffers other heights
            return _on_proposal(state, inp)
        case VoteReceived(vote=v):
            if v.height != state.height:
                return state, []
            return _on_vote(state, v)
        case TimeoutElapsed(kind=kind, height=h, round=r):
            if h != state.height or state.step == Step.COMMIT:
                return state, []
            return _on_timeout(state, kind, r)
        case ValueReady(height=h, round=r, value=value):
            return _on_value_ready(state, h, r, value)
        case _:
            assert_never(inp)


# -- input handlers ---------------------------------------------------------------------


def _on_vote(state: State, vote: Vote) -> tuple[State, list[Output]]:
    votes, result, first = state.votes.add(vote)
    if result != AddResult.COUNTED and result != AddResult.CONFLICTING:
        return state, []  # duplicate, non-validator
    w = _Work(state)
    w.votes = votes
    if result == AddResult.CONFLICTING and first is not None:
        # Evidence first; the vote still counts toward its own value (see vote_keeper).
        w.out.append(EquivocationFound(first, vote))
    if w.step != Step.COMMIT:
        # Only a precommit for a value can complete L49.
        _progress(w, vote.round, vote.value if vote.type == PRECOMMIT else None)
    return w.freeze(), w.out


def _on_proposal(state: State, inp: ProposalReceived) -> tuple[State, list[Output]]:
    p = inp.proposal
    if state.votes.powers.get(p.proposer, 0) <= 0:
        return state, []  # not a validator: cannot be proposer(h, r)
    by_sender = state.proposals.get(p.round, {})
    known = by_sender.get(p.proposer, ())
    for rp in known:
        if rp.proposal.value == p.value and rp.proposal.valid_round == p.valid_round:
            return state, []  # a re-gossiped copy
    proposals = dict(state.proposals)
    proposals[p.round] = {**by_sender, p.proposer: (*known, inp)}
    w = _Work(state)
    w.proposals = proposals
    if known:
        w.out.append(DoubleProposalFound(known[0].proposal, p))
    if w.step != Step.COMMIT:
        _progress(w, p.round, p.value)
    return w.freeze(), w.out


def _on_timeout(state: State, kind: TimeoutKind, round: int) -> tuple[State, list[Output]]:
    if round != state.round:
        return state, []  # L58, L62, L66: only the current round's timeouts act
    w = _Work(state)
    if kind == TimeoutKind.PROPOSE:
        if w.step != Step.PROPOSE:
            return state, []
        w.vote(PREVOTE, None)  # L59
        w.step = Step.PREVOTE  # L60
    elif kind == TimeoutKind.PREVOTE:
        if w.step != Step.PREVOTE:
            return state, []
        w.vote(PRECOMMIT, None)  # L63
        w.step = Step.PRECOMMIT  # L64
    elif kind == TimeoutKind.PRECOMMIT:
        _start_round(w, w.round + 1)  # L67
    else:
        assert_never(kind)
    _current_round_rules(w)
    return w.freeze(), w.out


def _on_value_ready(state: State, height: int, round: int, value: bytes) -> tuple[State, list[Output]]:
    # Late or unsolicited values are dropped: we only propose while still in the propose
    # step of the round we asked for, and at most once.
    if (
        height != state.height
        or round != state.round
        or state.step != Step.PROPOSE
        or not state.value_requested
    ):
        return state, []
    w = _Work(state)
    w.value_requested = False
    _broadcast_proposal(w, value)  # L18-L19
    return w.freeze(), w.out


# -- the algorithm ----------------------------------------------------------------------


def _start_round(w: _Work, round: int) -> None:
    """L11-L21 StartRound(round)."""
    w.round = round  # L12
    w.step = Step.PROPOSE  # L13
    w.prevote_timeout_scheduled = False
    w.precommit_timeout_scheduled = False
    w.polka_handled = False
    w.value_requested = False
    w.round_proposer = w.validators.proposer_for_round(round).address
    if w.we_vote and w.round_proposer == w.our_address:  # L14
        if w.valid_value is not None:  # L15
            _broadcast_proposal(w, w.valid_value)  # L16, L19
        else:
            w.value_requested = True
            w.out.append(RequestValue(w.height, round))  # L18 (asynchronous getValue)
    # L21; also for the proposer, whose value may never come (see the module docstring).
    w.schedule(TimeoutKind.PROPOSE)


def _broadcast_proposal(w: _Work, value: bytes) -> None:
    address = w.our_address
    if w.we_vote and address is not None:
        w.out.append(BroadcastProposal(Proposal(w.height, w.round, value, w.valid_round, address)))


def _progress(w: _Work, round: int, value: bytes | None) -> None:
    """Evaluate the upon-rules after an input that touched `round` (candidate `value`)."""
    if value is not None and _try_decide(w, round, value):
        return
    if round > w.round and w.votes.has_f_plus_one(round):  # L55
        _start_round(w, round)  # L56
    _current_round_rules(w)


def _try_decide(w: _Work, round: int, value: bytes) -> bool:
    """L49-L51: proposal from proposer(h, r) for v and 2f+1 precommits for v in round r."""
    if w.decision is not None or not w.votes.has_quorum_for(round, PRECOMMIT, value):
        return False
    rp = _with_value(w.proposals_in(round), value)
    if rp is None or not rp.valid:  # L50
        return False
    w.decision = value  # L51
    w.step = Step.COMMIT
    w.out.append(Decided(w.height, round, value))
    return True


def _current_round_rules(w: _Work) -> None:
    while w.step != Step.COMMIT and _fire_one(w):
        pass


def _fire_one(w: _Work) -> bool:
    """Fire the first enabled rule about round_p; False when none is enabled."""
    r = w.round
    votes = w.votes
    step = w.step
    if step == Step.PROPOSE:
        for rp in w.proposals_in(r):
            p = rp.proposal
            v = p.value
            vr = p.valid_round
            if vr == -1:  # L22
                if rp.valid and (w.locked_round == -1 or w.locked_value == v):  # L23
                    w.vote(PREVOTE, v)  # L24
                else:
                    w.vote(PREVOTE, None)  # L26
                w.step = Step.PREVOTE  # L27
                return True
            if 0 <= vr < r and votes.has_quorum_for(vr, PREVOTE, v):  # L28
                if rp.valid and (w.locked_round <= vr or w.locked_value == v):  # L29
                    w.vote(PREVOTE, v)  # L30
                else:
                    w.vote(PREVOTE, None)  # L32
                w.step = Step.PREVOTE  # L33
                return True
    if step >= Step.PREVOTE and not w.polka_handled:  # L36
        for rp in w.proposals_in(r):
            if not (rp.valid and votes.has_quorum_for(r, PREVOTE, rp.proposal.value)):
                continue
            v = rp.proposal.value
            w.polka_handled = True
            if step == Step.PREVOTE:  # L37
                w.locked_value = v  # L38
                w.locked_round = r  # L39
                w.vote(PRECOMMIT, v)  # L40
                w.step = Step.PRECOMMIT  # L41
            w.valid_value = v  # L42
            w.valid_round = r  # L43
            return True
    if step == Step.PREVOTE:
        if votes.has_quorum_for(r, PREVOTE, None):  # L44
            w.vote(PRECOMMIT, None)  # L45
            w.step = Step.PRECOMMIT  # L46
            return True
        if not w.prevote_timeout_scheduled and votes.has_quorum_any(r, PREVOTE):  # L34
            w.prevote_timeout_scheduled = True
            w.schedule(TimeoutKind.PREVOTE)  # L35
            return True
    if not w.precommit_timeout_scheduled and votes.has_quorum_any(r, PRECOMMIT):  # L47
        w.precommit_timeout_scheduled = True
        w.schedule(TimeoutKind.PRECOMMIT)  # L48
        return True
    return False
