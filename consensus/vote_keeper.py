"""Voting power per (round, type, value) for one height, with the paper's thresholds.

Why it is shaped this way: `apply` must look functional (a new State per input) yet cost
O(1) per vote at 100 validators and thousands of votes per height, so copying tallies per
vote is out. A `VoteKeeper` is therefore an immutable *view* of a private, append-only
`_Tally`: the view records how many accepted votes it contains (`_size`), and the tally
keeps the accepted votes in order (`log`) plus running sums derived from them.

How an old view is kept from observing later changes: a tally only ever grows by appends,
and only through the view whose `_size` equals the current log length (the newest one).
Every read and write first checks `_size == len(log)`; a stale view (one a newer view was
derived from) rebuilds a private tally from `log[:_size]`, which is exactly its own
content, before answering. So the linear use of the host (each State replaced by the next)
is O(1) per vote, while tests that branch from an old State stay correct at O(n) cost.
Not thread-safe: a keeper belongs to the single task that drives the core.

Equivocation: the first vote of a validator in a (round, type) counts everywhere; a second,
different one is reported (CONFLICTING, the host turns it into evidence) and counts toward
*its own value only*, never toward "any" nor f+1, where each validator counts once. This is
the paper's counting ("2f+1 <PREVOTE, h, r, id(v)>" counts senders of that message) and is
needed for liveness: a POL or commit certificate that contains an equivocator's other vote
must still be recognized, or the equivocator can keep honest nodes with different locks
apart forever (the simulator found exactly that). It stays safe: two 2f+1 sets for different
values would share more than 1/3 of the power, hence an honest double vote. Memory grows
with the distinct values an equivocator sends; the host rate-limits peers that equivocate.

Threshold arithmetic is integer only: quorum (2f+1, "2/3+") is `3 * power > 2 * total`,
f+1 ("more than 1/3") is `3 * power > total`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

from consensus.types import ValidatorSet, Vote, VoteType


class AddResult(IntEnum):
    COUNTED = 1
    DUPLICATE = 2  # same content as the vote already counted (signature may differ)
    CONFLICTING = 3  # a new, different vote for the same (round, type): equivocation
    NOT_A_VALIDATOR = 4
    WRONG_HEIGHT = 5


class _Tally:
    """Mutable running sums; private to `VoteKeeper`, which guards every access."""

    __slots__ = (
        "any_power",
        "by_key",
        "by_round_type",
        "log",
        "round_power",
        "round_voters",
        "seen",
        "step_votes",
        "value_power",
    )

    def __init__(self) -> None:
        self.log: list[Vote] = []
        self.by_key: dict[tuple[int, VoteType, bytes], Vote] = {}
        self.by_round_type: dict[tuple[int, VoteType], list[Vote]] = {}
        self.value_power: dict[tuple[int, VoteType, bytes | None], int] = {}
        self.any_power: dict[tuple[int, VoteType], int] = {}
        self.round_power: dict[int, int] = {}  # distinct validators with any vote in the round (L55)
        self.round_voters: set[tuple[int, bytes]] = set()
        self.seen: set[tuple[int, VoteType, bytes, bytes | None]] = set()  # (round, type, validator, value)
        self.step_votes: dict[tuple[int, VoteType, bytes], int] = {}  # distinct votes of a validator in a step

    def count(self, vote: Vote, power: int) -> None:
        r, t = vote.round, vote.type
        self.log.append(vote)
        self.seen.add((r, t, vote.validator, vote.value))
        rt = (r, t)
        lst = self.by_round_type.get(rt)
        if lst is None:
            self.by_round_type[rt] = [vote]
        else:
            lst.append(vote)
        vk = (r, t, vote.value)
        self.value_power[vk] = self.value_power.get(vk, 0) + power
        key = (r, t, vote.validator)
        self.step_votes[key] = self.step_votes.get(key, 0) + 1
        if key in self.by_key:
            return  # an equivocator's other vote: its value only (see the module docstring)
        self.by_key[key] = vote
        self.any_power[rt] = self.any_power.get(rt, 0) + power
        rv = (r, vote.validator)
        if rv not in self.round_voters:
            # A validator's prevote and precommit in one round count once toward f+1.
            self.round_voters.add(rv)
            self.round_power[r] = self.round_power.get(r, 0) + power


# eq=False: two views with equal sizes may hold different votes (after a branch), so
# keepers compare by identity rather than by a misleading field-wise equality.
@dataclass(frozen=True, slots=True, eq=False)
class VoteKeeper:
    height: int
    total_power: int
    powers: Mapping[bytes, int]  # read-only, shared by every view of this height
    _tally: _Tally = field(repr=False, compare=False)
    _size: int = 0

    @staticmethod
    def new(height: int, validators: ValidatorSet) -> VoteKeeper:
        powers = MappingProxyType({v.address: v.power for v in validators.validators})
        return VoteKeeper(height, validators.total_power, powers, _Tally(), 0)

    def _live(self) -> _Tally:
        tally = self._tally
        if len(tally.log) == self._size:
            return tally
        # Stale view: rebuild our own prefix so we never see votes added after us.
        own = _Tally()
        for v in tally.log[: self._size]:
            own.count(v, self.powers[v.validator])
        return own

    def add(self, vote: Vote) -> tuple[VoteKeeper, AddResult, Vote | None]:
        """Count `vote`. Returns the new keeper (self if nothing changed), what happened,
        and for DUPLICATE/CONFLICTING the validator's first vote in that (round, type).
        A CONFLICTING vote changes the keeper (it counts toward its value only)."""
        if vote.height != self.height:
            return self, AddResult.WRONG_HEIGHT, None
        power = self.powers.get(vote.validator, 0)
        if power <= 0:
            return self, AddResult.NOT_A_VALIDATOR, None
        tally = self._live()
        first = tally.by_key.get((vote.round, vote.type, vote.validator))
        if first is not None and (vote.round, vote.type, vote.validator, vote.value) in tally.seen:
            return self, AddResult.DUPLICATE, first
        tally.count(vote, power)
        new = VoteKeeper(self.height, self.total_power, self.powers, tally, self._size + 1)
        if first is not None:
            return new, AddResult.CONFLICTING, first
        return new, AddResult.COUNTED, None

    # -- raw sums ---------------------------------------------------------------------

    def power_for(self, round: int, type: VoteType, value: bytes | None) -> int:
        return self._live().value_power.get((round, type, value), 0)

    def power_any(self, round: int, type: VoteType) -> int:
        return self._live().any_power.get((round, type), 0)

    def power_in_round(self, round: int) -> int:
        return self._live().round_power.get(round, 0)

    # -- thresholds -------------------------------------------------------------------

    def is_quorum(self, power: int) -> bool:
        return 3 * power > 2 * self.total_power

    def is_f_plus_one(self, power: int) -> bool:
        return 3 * power > self.total_power

    def has_quorum_for(self, round: int, type: VoteType, value: bytes | None) -> bool:
        """2f+1 for `value` (or for nil when value is None)."""
        return self.is_quorum(self.power_for(round, type, value))

    def has_quorum_any(self, round: int, type: VoteType) -> bool:
        return self.is_quorum(self.power_any(round, type))

    def has_f_plus_one(self, round: int) -> bool:
        """f+1 of any votes in `round` (L55), each validator counted once."""
        return self.is_f_plus_one(self.power_in_round(round))

    # -- certificates -----------------------------------------------------------------

    def votes_for(self, round: int, type: VoteType, value: bytes | None) -> tuple[Vote, ...]:
        """The votes for `value`, one per validator: a commit (precommits) or a POL (prevotes)."""
        return tuple(v for v in self._live().by_round_type.get((round, type), ()) if v.value == value)

    def distinct_votes(self, round: int, type: VoteType, validator: bytes) -> int:
        """How many different votes of `validator` this (round, type) holds (more than one: equivocation)."""
        return self._live().step_votes.get((round, type, validator), 0)

    def all_votes(self) -> tuple[Vote, ...]:
        """Every counted vote of the height, in the order counted (what a host gossips)."""
        return tuple(self._live().log)

    def votes_in(self, round: int, type: VoteType) -> tuple[Vote, ...]:
        return tuple(self._live().by_round_type.get((round, type), ()))

    def holds(self, vote: Vote) -> bool:
        """Whether this very vote (round, type, validator, value) is counted already."""
        return (vote.round, vote.type, vote.validator, vote.value) in self._live().seen

    def vote_of(self, round: int, type: VoteType, validator: bytes) -> Vote | None:
        """The validator's first vote in (round, type)."""
        return self._live().by_key.get((round, type, validator))

    @property
    def size(self) -> int:
        """Number of counted votes (not `__len__`: an empty keeper must stay truthy)."""
        return self._size
