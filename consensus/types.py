"""Value types of the consensus core: validators, messages, inputs and outputs.

Everything here is a frozen, slotted dataclass so that a `State` built from them can be
shared freely between the host, tests and the simulator without defensive copies.
Inputs and outputs are closed unions: the state machine and the host both dispatch on them
with `match` and end with `assert_never`, so adding a variant is a type error until every
consumer handles it.

Proposer selection follows CometBFT `spec/consensus/proposer-selection.md` (and its Go
implementation, where the spec is loose: the scaling ratio is rounded up and divisions
truncate toward zero). One selection run is "scale, center, add power, pick the maximum,
subtract the total from it". `ValidatorSet.priorities` is stored *just after* the pick and
*before* the pending subtraction, so that the current proposer is simply the highest
priority and the whole set, proposer included, is captured by (validators, priorities):
the host can persist the priorities alone. The host keeps one set per height: the set of
height h+1 is `set_h.increment(1)`, and round r of height h is led by
`set_h.proposer_for_round(r)` (= CometBFT's `IncrementProposerPriority(r)` on a copy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

# CometBFT caps the total so that priorities (kept within 2 * total by scaling) never
# overflow an int64; Python ints do not overflow, but the cap keeps us bit-compatible.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8
# spec: "the difference between min and max values is smaller than two times the total".
PRIORITY_WINDOW_SIZE_FACTOR = 2


class ConsensusError(Exception):
    """Base class of every error raised by the consensus core."""


class InvalidValidatorSet(ConsensusError):
    """The validator set is empty, unsorted, has duplicates or non-positive powers."""


class InvalidMessage(ConsensusError):
    """A proposal or vote is structurally impossible (negative height/round, bad valid_round)."""


class InvalidTimeoutParams(ConsensusError):
    """A timeout base or delta is negative."""


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


class Step(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    COMMIT = 4  # decided at this height: only late votes (evidence) are still taken in


class TimeoutKind(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


@dataclass(frozen=True, slots=True)
class Validator:
    address: bytes
    power: int


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division (toward zero); Python's // floors, which differs for a < 0."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    validators: tuple[Validator, ...]
    priorities: tuple[int, ...]
    _walk: list = field(default_factory=list, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        vals = self.validators
        if not vals:
            raise InvalidValidatorSet("empty validator set")
        if len(self.priorities) != len(vals):
            raise InvalidValidatorSet("one priority per validator is required")
        total = 0
        for i, v in enumerate(vals):
            if not isinstance(v.address, bytes) or not v.address:
                raise InvalidValidatorSet(f"validator {i}: address must be non-empty bytes")
            if type(v.power) is not int or v.power <= 0:
                raise InvalidValidatorSet(f"validator {v.address.hex()}: power must be a positive int")
            if i and vals[i - 1].address >= v.address:
                raise InvalidValidatorSet("validators must be sorted by address and unique")
            total += v.power
        if total > MAX_TOTAL_VOTING_POWER:
            raise InvalidValidatorSet(f"total voting power {total} exceeds {MAX_TOTAL_VOTING_POWER}")

    @staticmethod
    def new(validators: Iterable[Validator]) -> ValidatorSet:
        """A genesis set. CometBFT gives every new validator -1.125*P, then centers (all
        become 0), then runs one selection: the stored priorities are therefore the powers
        (the first run's "add power"), and the proposer is the most powerful validator."""
        vals = tuple(sorted(validators, key=lambda v: v.address))
        return ValidatorSet(vals, tuple(v.power for v in vals))

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    @property
    def proposer(self) -> Validator:
        return self.validators[_argmax(self.priorities)]

    def power_of(self, address: bytes) -> int:
        for v in self.validators:
            if v.address == address:
                return v.power
        return 0

    def contains(self, address: bytes) -> bool:
        return self.power_of(address) > 0

    def _prepared(self) -> list[int]:
        """The priorities at the start of an `increment` call: the last run's pending
        "A(prop) -= P", then scaling and centering, which CometBFT does once per call."""
        total = self.total_power
        prio = list(self.priorities)
        prio[_argmax(prio)] -= total
        # Scale once per call, as CometBFT does, so that max - min <= 2 * P.
        diff_max = PRIORITY_WINDOW_SIZE_FACTOR * total
        diff = max(prio) - min(prio)
        if diff > diff_max:
            ratio = (diff + diff_max - 1) // diff_max
            prio = [_trunc_div(p, ratio) for p in prio]
        # Center around zero; Go's big.Int Div is Euclidean, i.e. floor for n > 0.
        avg = sum(prio) // len(prio)
        return [p - avg for p in prio]

    def increment(self, times: int = 1) -> ValidatorSet:
        """Run `times` more proposer selections (CometBFT `IncrementProposerPriority`)."""
        if times < 0:
            raise ValueError("times must be >= 0")
        if times == 0:
            return self
        total = self.total_power
        powers = [v.power for v in self.validators]
        prio = self._prepared()
        n = len(prio)
        for step in range(times):
            for i in range(n):
                prio[i] += powers[i]
            if step != times - 1:
                prio[_argmax(prio)] -= total
        return ValidatorSet(self.validators, tuple(prio))

    def proposer_for_round(self, round: int) -> Validator:
        """`increment(round).proposer`, in O(n) per round not yet asked: the selections of one
        `increment` call form a single sequence, so every round's proposer is a prefix of it,
        remembered in `_walk` (append-only, so no caller can observe it)."""
        if round < 0:
            raise ValueError("round must be >= 0")
        if round == 0:
            return self.proposer
        walk = self._walk
        if not walk:
            walk.extend((self._prepared(), []))
        prio, proposers = walk
        if len(proposers) < round:
            total = self.total_power
            powers = [v.power for v in self.validators]
            n = len(prio)
            while len(proposers) < round:
                if proposers:
                    prio[proposers[-1]] -= total
                for i in range(n):
                    prio[i] += powers[i]
                proposers.append(_argmax(prio))
        return self.validators[proposers[round - 1]]


def _argmax(priorities: tuple[int, ...] | list[int]) -> int:
    # Ties go to the smallest address, which is the first index since validators are sorted.
    best = 0
    for i in range(1, len(priorities)):
        if priorities[i] > priorities[best]:
            best = i
    return best


@dataclass(frozen=True, slots=True)
class TimeoutParams:
    propose_ms: int = 1000
    propose_delta_ms: int = 500
    prevote_ms: int = 500
    prevote_delta_ms: int = 250
    precommit_ms: int = 500
    precommit_delta_ms: int = 250

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 0:
                raise InvalidTimeoutParams(f"{name} must be >= 0")

    def duration_ms(self, kind: TimeoutKind, round: int) -> int:
        # Growing with the round is what makes the algorithm live after GST: eventually
        # a timeout outlasts the (unknown) message delay.
        if kind == TimeoutKind.PROPOSE:
            return self.propose_ms + round * self.propose_delta_ms
        if kind == TimeoutKind.PREVOTE:
            return self.prevote_ms + round * self.prevote_delta_ms
        return self.precommit_ms + round * self.precommit_delta_ms


@dataclass(frozen=True, slots=True)
class Proposal:
    """⟨PROPOSAL, h, r, v, vr⟩. `value` is an opaque id (a block hash); `signature` is
    carried for the host, never checked here (the host verifies before feeding)."""

    height: int
    round: int
    value: bytes
    valid_round: int
    proposer: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        if self.height < 0 or self.round < 0 or self.valid_round < -1:
            raise InvalidMessage(f"impossible proposal {self.height}/{self.round} vr={self.valid_round}")


@dataclass(frozen=True, slots=True)
class Vote:
    """⟨PREVOTE|PRECOMMIT, h, r, id(v)⟩; `value` None is nil."""

    type: VoteType
    height: int
    round: int
    value: bytes | None
    validator: bytes
    signature: bytes = b""

    def __post_init__(self) -> None:
        if self.height < 0 or self.round < 0:
            raise InvalidMessage(f"impossible vote {self.height}/{self.round}")


# -- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    proposal: Proposal
    valid: bool  # the paper's valid(v): the host executed the block and it is valid


@dataclass(frozen=True, slots=True)
class VoteReceived:
    vote: Vote


@dataclass(frozen=True, slots=True)
class TimeoutElapsed:
    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ValueReady:
    """The host's answer to `RequestValue`: the paper's getValue() (L18), made asynchronous."""

    height: int
    round: int
    value: bytes


Input = ProposalReceived | VoteReceived | TimeoutElapsed | ValueReady


# -- outputs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastProposal:
    proposal: Proposal  # unsigned: the host signs, persists, sends, and feeds it back


@dataclass(frozen=True, slots=True)
class BroadcastVote:
    vote: Vote  # unsigned: the host signs, persists, sends, and feeds it back


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    kind: TimeoutKind
    height: int
    round: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RequestValue:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Decided:
    height: int
    round: int
    value: bytes


@dataclass(frozen=True, slots=True)
class EquivocationFound:
    first: Vote  # the vote that was counted
    second: Vote


@dataclass(frozen=True, slots=True)
class DoubleProposalFound:
    first: Proposal  # the proposal that was kept
    second: Proposal


Output = (
    BroadcastProposal
    | BroadcastVote
    | ScheduleTimeout
    | RequestValue
    | Decided
    | EquivocationFound
    | DoubleProposalFound
)
