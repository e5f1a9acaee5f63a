"""A tiny builder for table-driven tests of the core (in the style of malachite's
core-driver tests): a case is a list of steps, each an input with the exact outputs and
the state fields expected after it. Keeping cases as data makes each upon-rule's table
readable next to the paper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consensus.state_machine import State, apply, start_height
from consensus.types import (
    BroadcastProposal,
    BroadcastVote,
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

A, B, C, D = b"A", b"B", b"C", b"D"
H = 1
TP = TimeoutParams()
# Equal powers: proposer(h, r) is A, B, C, D for rounds 0, 1, 2, 3; 2f+1 is 3 votes, f+1 is 2.
VALS = ValidatorSet.new(Validator(a, 1) for a in (A, B, C, D))
X, Y = b"value-x", b"value-y"


def proposer(r: int, vals: ValidatorSet = VALS) -> bytes:
    return vals.proposer_for_round(r).address


def prop(r: int, v: bytes, vr: int = -1, *, valid: bool = True, by: bytes | None = None) -> ProposalReceived:
    return ProposalReceived(Proposal(H, r, v, vr, by if by is not None else proposer(r), b"sig"), valid)


def pv(who: bytes, r: int, v: bytes | None) -> VoteReceived:
    return VoteReceived(Vote(VoteType.PREVOTE, H, r, v, who, b"sig"))


def pc(who: bytes, r: int, v: bytes | None) -> VoteReceived:
    return VoteReceived(Vote(VoteType.PRECOMMIT, H, r, v, who, b"sig"))


def timeout(kind: TimeoutKind, r: int) -> TimeoutElapsed:
    return TimeoutElapsed(kind, H, r)


def value_ready(r: int, v: bytes) -> ValueReady:
    return ValueReady(H, r, v)


# -- expected outputs of a node whose address is `our` ----------------------------------


def out_prevote(our: bytes, r: int, v: bytes | None) -> BroadcastVote:
    return BroadcastVote(Vote(VoteType.PREVOTE, H, r, v, our))


def out_precommit(our: bytes, r: int, v: bytes | None) -> BroadcastVote:
    return BroadcastVote(Vote(VoteType.PRECOMMIT, H, r, v, our))


def out_proposal(our: bytes, r: int, v: bytes, vr: int = -1) -> BroadcastProposal:
    return BroadcastProposal(Proposal(H, r, v, vr, our))


def out_timeout(kind: TimeoutKind, r: int) -> ScheduleTimeout:
    return ScheduleTimeout(kind, H, r, TP.duration_ms(kind, r))


def out_request(r: int) -> RequestValue:
    return RequestValue(H, r)


@dataclass(frozen=True)
class Step:
    """One input; `outputs` None means "setup, do not check"."""

    input: Input
    outputs: list[Output] | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def expect(inp: Input, *outputs: Output, **fields: Any) -> Step:
    return Step(inp, list(outputs), fields)


def given(*inputs: Input) -> list[Step]:
    return [Step(i) for i in inputs]


@dataclass(frozen=True)
class Case:
    our: bytes | None
    steps: list[Step]
    start_outputs: list[Output] | None = None
    vals: ValidatorSet = VALS


def check_fields(state: State, fields: dict[str, Any], where: str) -> None:
    for name, want in fields.items():
        got = getattr(state, name)
        assert got == want, f"{where}: state.{name} = {got!r}, expected {want!r}"


def run_case(case: Case) -> State:
    state, outs = start_height(H, case.vals, case.our, TP)
    if case.start_outputs is not None:
        assert outs == case.start_outputs, f"start_height: got {outs}"
    for i, st in enumerate(case.steps):
        state, outs = apply(state, st.input)
        where = f"step {i} ({st.input})"
        if st.outputs is not None:
            assert outs == st.outputs, f"{where}: outputs {outs}, expected {st.outputs}"
        check_fields(state, st.fields, where)
    return state
