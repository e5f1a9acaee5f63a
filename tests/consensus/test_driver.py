"""Table tests of the host driver, after malachite's `TestStep`: each step is an event, the
effects it must produce in order, and the state it must leave."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consensus.driver import (
    BroadcastProposalEffect,
    BroadcastVoteEffect,
    BuildValue,
    CheckValue,
    Decide,
    Driver,
    Effect,
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
    ValueBuilt,
    ValueChecked,
    VoteSigned,
    WalAppend,
    WalStartHeight,
    WalSync,
    handle,
    proposal_record,
    vote_record,
)
from consensus.types import (
    Proposal,
    ScheduleTimeout,
    Step,
    TimeoutKind,
    TimeoutParams,
    Validator,
    ValidatorSet,
    Vote,
    VoteType,
)

A, B, C, D = (bytes([i]) * 20 for i in (1, 2, 3, 4))  # A leads round 0 of height 1 (ties: smallest)
OUTSIDER = b"\x09" * 20
VSET = ValidatorSet.new(Validator(a, 1) for a in (A, B, C, D))
TP = TimeoutParams()
PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT
V1, BLOCK1 = b"v" * 32, b"block-1"


def sig(address: bytes) -> bytes:
    return b"sig" + address


def params(us: bytes | None) -> Params:
    return Params(us, TP, lambda v: v.signature == sig(v.validator), lambda p: p.signature == sig(p.proposer))


def vote(t: VoteType, who: bytes, value: bytes | None, h: int = 1, r: int = 0) -> Vote:
    return Vote(t, h, r, value, who, sig(who))


def proposal(who: bytes, value: bytes = V1, h: int = 1, r: int = 0, vr: int = -1) -> Proposal:
    return Proposal(h, r, value, vr, who, sig(who))


def timeout(kind: TimeoutKind, r: int = 0, h: int = 1) -> ScheduleTimeout:
    return ScheduleTimeout(kind, h, r, TP.duration_ms(kind, r))


@dataclass
class Step_:
    event: Event
    effects: list[Effect]
    state: dict[str, Any] = field(default_factory=dict)  # expected: height, round, step, blocks, checking, future


def _read(driver: Driver, before: Driver, name: str) -> Any:
    core = driver.core
    match name:
        case "height" | "round" | "step":
            return getattr(core, name)
        case "blocks":
            return dict(driver.blocks)
        case "checking":
            return driver.checking
        case "future":
            return len(driver.future)
        case "unchanged":
            return driver is before
        case "votes":
            return len(driver.votes())
    raise KeyError(name)


def run_steps(driver: Driver, steps: list[Step_]) -> Driver:
    for i, st in enumerate(steps):
        before = driver
        driver, effects = handle(driver, st.event)
        assert effects == st.effects, f"step {i} ({type(st.event).__name__}): {effects}"
        for name, want in st.state.items():
            got = _read(driver, before, name)
            assert got == want, f"step {i}: {name} is {got!r}, expected {want!r}"
    return driver


def test_the_proposer_logs_and_syncs_before_it_signs_and_speaks():
    p = proposal(A)
    signed_prevote = vote(PV, A, V1)
    run_steps(Driver(params(A)), [
        Step_(StartHeight(1, VSET), [WalStartHeight(1), BuildValue(1, 0), timeout(TimeoutKind.PROPOSE)],
              {"height": 1, "round": 0, "step": Step.PROPOSE}),
        Step_(ValueBuilt(1, 0, V1, BLOCK1), [WalAppend(["B", 1, 0, V1, BLOCK1]), WalSync(),
                                             SignProposal(Proposal(1, 0, V1, -1, A), BLOCK1)],
              {"blocks": {V1: BLOCK1}}),
        Step_(ProposalSigned(p, BLOCK1), [WalAppend(proposal_record(p, BLOCK1, True)), WalSync(),
                                          BroadcastProposalEffect(p, BLOCK1), WalSync(),
                                          SignVote(Vote(PV, 1, 0, V1, A))],
              {"step": Step.PREVOTE}),
        Step_(VoteSigned(signed_prevote), [WalAppend(vote_record(signed_prevote)), WalSync(),
                                           BroadcastVoteEffect(signed_prevote)], {"votes": 1}),
    ])


def test_what_no_honest_peer_sends_is_refused_before_the_wal_and_reported():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    forged = Vote(PC, 1, 0, V1, C, b"not C's signature")
    run_steps(d, [
        Step_(PeerVote(vote(PC, OUTSIDER, V1), "x"),
              [ReportPeer("x", Fault.NOT_A_VALIDATOR, f"vote from {OUTSIDER.hex()}")], {"unchanged": True}),
        Step_(PeerVote(forged, "y"), [ReportPeer("y", Fault.BAD_SIGNATURE, f"vote signed as {C.hex()}")],
              {"unchanged": True}),
        Step_(PeerProposal(proposal(C), BLOCK1, "z"),
              [ReportPeer("z", Fault.NOT_THE_PROPOSER, f"1/0 from {C.hex()}")], {"unchanged": True}),
        Step_(PeerProposal(Proposal(1, 0, V1, -1, A, b"bad"), BLOCK1, "w"),
              [ReportPeer("w", Fault.BAD_SIGNATURE, f"proposal signed as {A.hex()}")], {"unchanged": True}),
        # far-future rounds and other heights are dropped quietly (memory bound, not a fault)
        Step_(PeerVote(vote(PV, C, V1, r=10_000), "v"), [], {"unchanged": True}),
        Step_(PeerVote(vote(PV, C, V1, h=7), "v"), [], {"unchanged": True}),
    ])


def test_a_proposal_is_checked_once_and_logged_with_its_verdict():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    p = proposal(A)
    run_steps(d, [
        Step_(PeerProposal(p, BLOCK1, "a"), [CheckValue(p, BLOCK1)], {"checking": frozenset({(0, V1, -1)})}),
        Step_(PeerProposal(p, BLOCK1, "b"), [], {"unchanged": True}),  # a relayed copy while checking
        Step_(ValueChecked(p, BLOCK1, True), [WalAppend(proposal_record(p, BLOCK1, True)), WalSync(),
                                              SignVote(Vote(PV, 1, 0, V1, B))],
              {"checking": frozenset(), "blocks": {V1: BLOCK1}, "step": Step.PREVOTE}),
        Step_(PeerProposal(p, BLOCK1, "c"), [], {"unchanged": True}),  # held already
    ])


def test_an_invalid_block_is_logged_without_its_bytes_and_prevoted_nil():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    p = proposal(A)
    run_steps(d, [
        Step_(PeerProposal(p, BLOCK1, "a"), [CheckValue(p, BLOCK1)]),
        Step_(ValueChecked(p, BLOCK1, False), [WalAppend(["P", 1, 0, V1, -1, A, sig(A), b"", False]), WalSync(),
                                               SignVote(Vote(PV, 1, 0, None, B))], {"blocks": {}}),
    ])


def test_the_decision_carries_exactly_the_counted_precommits():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    p = proposal(A)
    d, _ = handle(d, PeerProposal(p, BLOCK1, "a"))
    d, _ = handle(d, ValueChecked(p, BLOCK1, True))
    for who in (A, C, D):
        d, _ = handle(d, PeerVote(vote(PV, who, V1), "a"))
    d, _ = handle(d, PeerVote(vote(PC, OUTSIDER, V1), "junk"))
    d, _ = handle(d, PeerVote(vote(PC, A, V1), "a"))
    d, _ = handle(d, PeerVote(vote(PC, C, V1), "a"))
    d, effects = handle(d, PeerVote(vote(PC, D, V1), "a"))
    decide = [e for e in effects if isinstance(e, Decide)]
    assert decide == [Decide(1, 0, V1, BLOCK1, (vote(PC, A, V1), vote(PC, C, V1), vote(PC, D, V1)))]
    assert effects[0] == WalAppend(vote_record(vote(PC, D, V1)))  # logged before it counts


def test_the_next_heights_messages_wait_for_it():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    early = vote(PV, C, V1, h=2)
    d = run_steps(d, [Step_(PeerVote(early, "c"), [], {"future": 1})])
    run_steps(d, [Step_(StartHeight(2, VSET.increment(1)),
                        [WalStartHeight(2), BuildValue(2, 0), timeout(TimeoutKind.PROPOSE, h=2),
                         WalAppend(vote_record(early))],
                        {"height": 2, "future": 0, "votes": 1})])


def test_a_replay_asks_again_only_for_what_was_never_signed():
    """A proposer crashed after building and signing its proposal (the guard wrote) but
    before the WAL held the proposal: the replay proposes the very block it built."""
    wal = (["H", 1], ["B", 1, 0, V1, BLOCK1])
    run_steps(Driver(params(A)), [
        Step_(StartHeight(1, VSET, wal), [timeout(TimeoutKind.PROPOSE), WalSync(),
                                          SignProposal(Proposal(1, 0, V1, -1, A), BLOCK1)],
              {"blocks": {V1: BLOCK1}, "step": Step.PROPOSE}),
    ])
    # Its own proposal and prevote are in the WAL: nothing is signed again.
    p, pv = proposal(A), vote(PV, A, V1)
    wal = (*wal, proposal_record(p, BLOCK1, True), vote_record(pv))
    run_steps(Driver(params(A)), [
        Step_(StartHeight(1, VSET, wal), [timeout(TimeoutKind.PROPOSE)], {"step": Step.PREVOTE, "votes": 1}),
    ])
    # A WAL of another height is not replayed: it is started afresh.
    run_steps(Driver(params(A)), [
        Step_(StartHeight(2, VSET.increment(1), wal), [WalStartHeight(2), timeout(TimeoutKind.PROPOSE, h=2)],
              {"height": 2, "votes": 0}),
    ])


def test_a_copy_of_an_equivocators_second_vote_is_dropped_before_the_wal():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    d, _ = handle(d, PeerVote(vote(PV, C, V1), "a"))
    d, effects = handle(d, PeerVote(vote(PV, C, None), "a"))
    assert WalAppend(vote_record(vote(PV, C, None))) in effects
    # Relayed again (by anyone, any number of times): checked and logged once only.
    run_steps(d, [Step_(PeerVote(vote(PV, C, None), "b"), [], {"unchanged": True})])


def test_the_next_heights_buffer_holds_only_members_and_a_bounded_share_of_each():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    junk = Vote(PV, 2, 0, None, OUTSIDER, b"junk")
    refused = ReportPeer("x", Fault.NOT_A_VALIDATOR, f"vote from {OUTSIDER.hex()}")
    d = run_steps(d, [Step_(PeerVote(junk, "x"), [refused], {"future": 0})])
    forged = Vote(PV, 2, 0, None, C, b"not C's signature")
    d = run_steps(d, [Step_(PeerVote(forged, "y"), [ReportPeer("y", Fault.BAD_SIGNATURE, f"vote signed as {C.hex()}")],
                            {"future": 0})])
    for r in range(1000):  # a member that floods the next height fills only its own share
        d, _ = handle(d, PeerVote(vote(PV, C, None, h=2, r=r), "c"))
        d, _ = handle(d, PeerProposal(proposal(C, h=2, r=r), b"x" * 1000, "c"))
    assert 0 < len(d.future) <= 2 * 64
    early = vote(PV, D, V1, h=2)
    d = run_steps(d, [Step_(PeerVote(early, "d"), [])])
    assert d.future[-1] == PeerVote(early, "d")  # another member's message still gets in


def test_an_equivocator_gets_at_most_five_votes_per_step_into_the_wal():
    d = run_steps(Driver(params(B)), [Step_(StartHeight(1, VSET), [WalStartHeight(1), timeout(TimeoutKind.PROPOSE)])])
    logged = 0
    for i in range(20):
        d, effects = handle(d, PeerVote(vote(PV, C, bytes([i]) * 32), "c"))
        logged += sum(isinstance(e, WalAppend) for e in effects)
    assert logged == 5
    assert d.core.votes.distinct_votes(0, PV, C) == 5
