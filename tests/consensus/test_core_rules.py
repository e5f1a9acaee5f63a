"""One table per upon-rule of Algorithm 1: inputs, the exact outputs, the state after.

Four validators of power 1 (A, B, C, D; proposers A, B, C, D in rounds 0-3). Unless a case
says otherwise we are C, so rounds 0 and 1 are led by someone else."""

from __future__ import annotations

import pytest

from consensus.state_machine import apply, start_height
from consensus.types import (
    Decided,
    DoubleProposalFound,
    EquivocationFound,
    Proposal,
    ProposalReceived,
    Step,
    TimeoutKind,
    Validator,
    ValidatorSet,
    Vote,
    VoteReceived,
    VoteType,
)
from tests.consensus.core_builder import (
    TP,
    VALS,
    A,
    B,
    C,
    Case,
    D,
    H,
    X,
    Y,
    expect,
    given,
    out_precommit,
    out_prevote,
    out_proposal,
    out_request,
    out_timeout,
    pc,
    prop,
    pv,
    run_case,
    timeout,
    value_ready,
)

PROPOSE_T, PREVOTE_T, PRECOMMIT_T = TimeoutKind.PROPOSE, TimeoutKind.PREVOTE, TimeoutKind.PRECOMMIT

# Round 0: C prevotes X, sees a polka for X, locks X and precommits X; nobody decides and
# the precommit timeout takes everyone to round 1 (led by B).
LOCK_X_IN_ROUND_0 = [
    *given(prop(0, X), pv(A, 0, X), pv(B, 0, X), pv(C, 0, X)),
    *given(pc(A, 0, None), pc(B, 0, None), pc(C, 0, X), timeout(PRECOMMIT_T, 0)),
]

CASES: dict[str, Case] = {
    # -- L11-L21 StartRound -----------------------------------------------------------
    "L21 not proposer: schedule propose timeout": Case(C, [], start_outputs=[out_timeout(PROPOSE_T, 0)]),
    "L18 proposer without validValue: ask the host, then propose once": Case(
        A,
        [
            expect(value_ready(0, X), out_proposal(A, 0, X), value_requested=False, step=Step.PROPOSE),
            expect(value_ready(0, Y)),  # a second answer is ignored
        ],
        start_outputs=[out_request(0), out_timeout(PROPOSE_T, 0)],
    ),
    "L18 a value for another round is ignored": Case(A, [expect(value_ready(1, X), value_requested=True)]),
    "L15 proposer with validValue proposes it with validRound": Case(
        B,
        [
            *given(prop(0, X), pv(A, 0, X), pv(B, 0, X), pv(C, 0, X)),
            *given(pc(A, 0, None), pc(B, 0, X), pc(C, 0, None)),
            expect(
                timeout(PRECOMMIT_T, 0),
                out_proposal(B, 1, X, 0),
                out_timeout(PROPOSE_T, 1),
                round=1,
                step=Step.PROPOSE,
                valid_value=X,
                valid_round=0,
            ),
        ],
    ),
    # -- L22 --------------------------------------------------------------------------
    "L22 valid proposal, unlocked: prevote v": Case(
        C, [expect(prop(0, X), out_prevote(C, 0, X), step=Step.PREVOTE)]
    ),
    "L22 invalid proposal: prevote nil": Case(
        C, [expect(prop(0, X, valid=False), out_prevote(C, 0, None), step=Step.PREVOTE)]
    ),
    "L22 proposal from a non-proposer is ignored": Case(C, [expect(prop(0, X, by=B), step=Step.PROPOSE)]),
    "L22 locked on another value: prevote nil": Case(
        C,
        [*LOCK_X_IN_ROUND_0, expect(prop(1, Y), out_prevote(C, 1, None), locked_value=X, locked_round=0)],
    ),
    "L22 locked on the same value: prevote v": Case(
        C, [*LOCK_X_IN_ROUND_0, expect(prop(1, X), out_prevote(C, 1, X), step=Step.PREVOTE)]
    ),
    # -- L28 --------------------------------------------------------------------------
    "L28 waits for the POL of vr, then prevotes v (lockedRound <= vr)": Case(
        C,
        [
            *given(timeout(PROPOSE_T, 0), pc(A, 0, None), pc(B, 0, None), pc(C, 0, None)),
            *given(timeout(PRECOMMIT_T, 0)),
            expect(prop(1, Y, 0), step=Step.PROPOSE),  # no 2f+1 prevotes for Y in round 0 yet
            expect(pv(A, 0, Y)),
            expect(pv(B, 0, Y)),
            expect(pv(D, 0, Y), out_prevote(C, 1, Y), step=Step.PREVOTE),
        ],
    ),
    "L28 locked on another value in a later round than vr: prevote nil": Case(
        C,
        [
            *given(pv(A, 0, Y), pv(B, 0, Y), pv(D, 0, Y)),  # POL for Y in round 0
            *given(timeout(PROPOSE_T, 0), timeout(PREVOTE_T, 0), pc(A, 0, None), pc(B, 0, None)),
            *given(pc(C, 0, None), timeout(PRECOMMIT_T, 0)),  # round 1: lock X
            *given(prop(1, X), pv(A, 1, X), pv(B, 1, X), pv(C, 1, X)),
            *given(pc(A, 1, None), pc(B, 1, None), pc(C, 1, X), timeout(PRECOMMIT_T, 1)),
            expect(prop(2, Y, 0, by=C), out_prevote(C, 2, None), locked_round=1, locked_value=X),
        ],
    ),
    "L28 invalid value: prevote nil": Case(
        C,
        [
            *given(pv(A, 0, Y), pv(B, 0, Y), pv(D, 0, Y), timeout(PROPOSE_T, 0)),
            *given(pc(A, 0, None), pc(B, 0, None), pc(C, 0, None), timeout(PRECOMMIT_T, 0)),
            expect(prop(1, Y, 0, valid=False), out_prevote(C, 1, None)),
        ],
    ),
    # -- L34 --------------------------------------------------------------------------
    "L34 2f+1 prevotes for anything: prevote timeout, once": Case(
        C,
        [
            *given(prop(0, X), pv(A, 0, X)),
            expect(pv(B, 0, None)),
            expect(pv(D, 0, Y), out_timeout(PREVOTE_T, 0), prevote_timeout_scheduled=True),
            expect(pv(C, 0, X)),  # still prevote step, no second timeout
        ],
    ),
    # -- L36 --------------------------------------------------------------------------
    "L36 polka while in prevote: lock, precommit v, validValue": Case(
        C,
        [
            *given(prop(0, X), pv(A, 0, X), pv(B, 0, X)),
            expect(
                pv(C, 0, X),
                out_precommit(C, 0, X),
                step=Step.PRECOMMIT,
                locked_value=X,
                locked_round=0,
                valid_value=X,
                valid_round=0,
            ),
            expect(pv(D, 0, X)),  # "for the first time"
        ],
    ),
    "L36 late polka in precommit step updates validValue, not the lock": Case(
        C,
        [
            *given(prop(0, X), timeout(PROPOSE_T, 0), pv(A, 0, X), pv(B, 0, X)),
            expect(pv(C, 0, None), out_timeout(PREVOTE_T, 0)),
            expect(timeout(PREVOTE_T, 0), out_precommit(C, 0, None), step=Step.PRECOMMIT),
            expect(pv(D, 0, X), valid_value=X, valid_round=0, locked_value=None, locked_round=-1),
        ],
    ),
    "L36 invalid value: no lock": Case(
        C,
        [
            *given(prop(0, X, valid=False), pv(A, 0, X), pv(B, 0, X)),
            expect(pv(D, 0, X), out_timeout(PREVOTE_T, 0), locked_round=-1, valid_round=-1),
        ],
    ),
    # -- L44 --------------------------------------------------------------------------
    "L44 2f+1 nil prevotes: precommit nil": Case(
        C,
        [
            *given(timeout(PROPOSE_T, 0), pv(A, 0, None)),
            expect(pv(B, 0, None)),
            expect(pv(D, 0, None), out_precommit(C, 0, None), step=Step.PRECOMMIT),
        ],
    ),
    # -- L47 --------------------------------------------------------------------------
    "L47 2f+1 precommits for anything: precommit timeout, once": Case(
        C,
        [
            expect(pc(A, 0, X)),
            expect(pc(B, 0, None)),
            expect(pc(D, 0, Y), out_timeout(PRECOMMIT_T, 0), step=Step.PROPOSE),
            expect(pc(C, 0, None)),
        ],
    ),
    # -- L49 --------------------------------------------------------------------------
    "L49 proposal then 2f+1 precommits: decide": Case(
        C,
        [
            *given(prop(0, X), pc(A, 0, X), pc(B, 0, X)),
            expect(pc(D, 0, X), Decided(H, 0, X), step=Step.COMMIT, decision=X),
            expect(pc(C, 0, X)),  # after the decision only the keeper is fed
            expect(timeout(PROPOSE_T, 0)),
        ],
    ),
    "L49 precommits before the proposal: decide on the proposal": Case(
        C,
        [
            *given(pc(A, 0, X), pc(B, 0, X), pc(D, 0, X)),
            expect(prop(0, X), Decided(H, 0, X), step=Step.COMMIT),
        ],
    ),
    "L49 invalid value is never decided": Case(
        C,
        [
            *given(prop(0, X, valid=False), pc(A, 0, X), pc(B, 0, X)),
            expect(pc(D, 0, X), out_timeout(PRECOMMIT_T, 0), decision=None),  # only L47
        ],
    ),
    "L49 decides for an earlier round than round_p": Case(
        C,
        [
            *given(prop(0, X), timeout(PRECOMMIT_T, 0)),
            expect(pc(A, 0, X), round=1),
            expect(pc(B, 0, X)),
            expect(pc(D, 0, X), Decided(H, 0, X), round=1, step=Step.COMMIT),
        ],
    ),
    # -- L55 --------------------------------------------------------------------------
    "L55 f+1 votes of a higher round: start that round": Case(
        C,
        [
            expect(pv(A, 3, Y), round=0),
            expect(pc(A, 3, None), round=0),  # same validator again: still 1 of 4
            expect(pv(B, 3, Y), out_timeout(PROPOSE_T, 3), round=3, step=Step.PROPOSE),
        ],
    ),
    "L55 the skipped-to round's proposal is already there": Case(
        C,
        [
            *given(prop(3, X)),
            expect(pv(A, 3, X)),
            expect(pv(B, 3, X), out_timeout(PROPOSE_T, 3), out_prevote(C, 3, X), round=3, step=Step.PREVOTE),
        ],
    ),
    "L55 skip into a round where we are proposer": Case(
        D,
        [expect(pv(A, 3, None)), expect(pv(B, 3, None), out_request(3), out_timeout(PROPOSE_T, 3), round=3)],
    ),
    # -- L57, L61, L65 ----------------------------------------------------------------
    "L57 propose timeout: prevote nil": Case(
        C,
        [
            expect(timeout(PROPOSE_T, 1)),  # not the current round
            expect(timeout(PROPOSE_T, 0), out_prevote(C, 0, None), step=Step.PREVOTE),
            expect(timeout(PROPOSE_T, 0)),  # no longer in the propose step
        ],
    ),
    "L61 prevote timeout: precommit nil": Case(
        C,
        [
            expect(timeout(PREVOTE_T, 0)),  # still in propose
            *given(prop(0, X)),
            expect(timeout(PREVOTE_T, 0), out_precommit(C, 0, None), step=Step.PRECOMMIT),
        ],
    ),
    "L65 precommit timeout: next round (from any step)": Case(
        C,
        [
            expect(timeout(PRECOMMIT_T, 1)),
            expect(timeout(PRECOMMIT_T, 0), out_timeout(PROPOSE_T, 1), round=1, step=Step.PROPOSE),
            expect(timeout(PRECOMMIT_T, 1), out_request(2), out_timeout(PROPOSE_T, 2), round=2),
        ],
    ),
    # -- evidence, non-validators, other heights --------------------------------------
    "equivocating vote is reported, counted for its value only": Case(
        C,
        [
            *given(prop(0, X), pv(A, 0, X)),
            expect(
                pv(A, 0, Y),
                EquivocationFound(pv(A, 0, X).vote, pv(A, 0, Y).vote),
            ),
            expect(pv(A, 0, X)),  # duplicate
            expect(pv(B, 0, Y)),
            expect(pv(D, 0, Y), out_timeout(PREVOTE_T, 0)),  # A counted once: 3 prevotes any
        ],
    ),
    "double proposal is reported; the first one drives L22": Case(
        C,
        [
            expect(prop(0, X), out_prevote(C, 0, X)),
            expect(prop(0, Y), DoubleProposalFound(prop(0, X).proposal, prop(0, Y).proposal)),
            expect(prop(0, X)),
            expect(prop(0, Y)),
        ],
    ),
    "L36 and L49 also see the proposer's second proposal": Case(
        C,
        [
            *given(prop(0, X), prop(0, Y), pv(A, 0, Y), pv(B, 0, Y)),
            # We prevoted X (the first), but the polka is for the proposer's Y: L36 locks Y.
            expect(pv(D, 0, Y), out_precommit(C, 0, Y), valid_value=Y, locked_value=Y),
            *given(pc(A, 0, Y), pc(B, 0, Y)),
            expect(pc(D, 0, Y), Decided(H, 0, Y)),
        ],
    ),
    "a non-validator follows and decides but never speaks": Case(
        None,
        [
            expect(prop(0, X), step=Step.PREVOTE),
            *given(pv(A, 0, X), pv(B, 0, X)),
            expect(pv(D, 0, X), step=Step.PRECOMMIT, locked_value=X),
            *given(pc(A, 0, X), pc(B, 0, X)),
            expect(pc(D, 0, X), Decided(H, 0, X)),
        ],
        start_outputs=[out_timeout(PROPOSE_T, 0)],
    ),
    "votes from non-validators are ignored": Case(
        C,
        [expect(pv(b"Z", 3, X)), expect(pv(b"Q", 3, X)), expect(pv(b"R", 3, X), round=0)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule(name: str) -> None:
    run_case(CASES[name])


def test_other_heights_are_ignored() -> None:
    state, _ = start_height(H, VALS, C, TP)
    for inp in (
        ProposalReceived(Proposal(H + 1, 0, X, -1, A), True),
        VoteReceived(Vote(VoteType.PREVOTE, H + 1, 5, X, A)),
        VoteReceived(Vote(VoteType.PREVOTE, H - 1, 5, X, B)),
    ):
        new, outs = apply(state, inp)
        assert outs == [] and new is state


def test_unequal_power_thresholds_drive_rules() -> None:
    """One validator with 2/3+ of the power decides alone; f+1 is one validator's 1/3+."""
    vals = ValidatorSet.new([Validator(A, 7), Validator(B, 1), Validator(C, 1), Validator(D, 1)])
    state, _ = start_height(H, vals, C, TP)
    state, outs = apply(state, prop(0, X))
    assert outs == [out_prevote(C, 0, X)]
    state, outs = apply(state, pc(A, 0, X))
    assert outs == [Decided(H, 0, X)]
    state, _ = start_height(H, vals, C, TP)
    state, outs = apply(state, pv(A, 4, None))  # 7 of 10 > 1/3: skip to round 4
    assert state.round == 4


def test_old_state_is_unaffected_by_later_inputs() -> None:
    """Branching from an old State must see only its own votes (vote keeper views)."""
    s0, _ = start_height(H, VALS, C, TP)
    s1, _ = apply(s0, prop(0, X))
    s2, _ = apply(s1, pv(A, 0, X))
    s3, _ = apply(s2, pv(B, 0, X))
    branch, _ = apply(s1, pv(D, 0, Y))  # from a stale view
    assert s1.votes.power_for(0, VoteType.PREVOTE, X) == 0
    assert s2.votes.power_for(0, VoteType.PREVOTE, X) == 1
    assert s3.votes.power_for(0, VoteType.PREVOTE, X) == 2
    assert branch.votes.power_for(0, VoteType.PREVOTE, X) == 0
    assert branch.votes.power_for(0, VoteType.PREVOTE, Y) == 1
    s4, outs = apply(s3, pv(C, 0, X))  # the linear path still works after the branch
    assert outs == [out_precommit(C, 0, X)] and s4.votes.power_any(0, VoteType.PREVOTE) == 3
    # and the branch can keep growing on its own copy
    b2, _ = apply(branch, pv(B, 0, Y))
    assert b2.votes.power_for(0, VoteType.PREVOTE, Y) == 2 and s4.votes.power_for(0, VoteType.PREVOTE, Y) == 0


def test_start_height_proposer_outputs() -> None:
    state, outs = start_height(H, VALS, A, TP)
    assert outs == [out_request(0), out_timeout(PROPOSE_T, 0)]
    assert state.value_requested and state.round_proposer == A
    state, outs = apply(state, value_ready(0, X))
    assert outs == [out_proposal(A, 0, X)]
    # the host feeds our own signed proposal back: we prevote it like anyone else's
    state, outs = apply(state, ProposalReceived(Proposal(H, 0, X, -1, A, b"sig-a"), True))
    assert outs == [out_prevote(A, 0, X)]


def test_equivocator_counts_once_for_any_and_for_each_of_its_values() -> None:
    state, _ = start_height(H, VALS, C, TP)
    for inp in (pv(A, 0, X), pv(A, 0, Y), pv(B, 0, Y)):
        state, _ = apply(state, inp)
    assert state.votes.power_for(0, VoteType.PREVOTE, X) == 1
    assert state.votes.power_for(0, VoteType.PREVOTE, Y) == 2
    assert state.votes.power_any(0, VoteType.PREVOTE) == 2
    # a POL for Y that relies on A's second vote is recognized (liveness, see vote_keeper)
    state, _ = apply(state, pv(D, 0, Y))
    assert state.votes.has_quorum_for(0, VoteType.PREVOTE, Y)
