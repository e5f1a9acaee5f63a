"""Proposer selection: CometBFT's weighted round robin (spec/consensus/proposer-selection.md)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.types import InvalidValidatorSet, Validator, ValidatorSet


def sequence(vals: ValidatorSet, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        out.append(vals.proposer.address)
        vals = vals.increment(1)
    return out


def test_spec_stable_set_example() -> None:
    # "Stable Set" and "R2" of the spec: p1 VP 1, p2 VP 3 elects p2, p1, p2, p2, repeating;
    # run 2 is a tie (2, 2) that goes to p1, the smaller address.
    vals = ValidatorSet.new([Validator(b"p2", 3), Validator(b"p1", 1)])
    assert sequence(vals, 8) == [b"p2", b"p1", b"p2", b"p2"] * 2


def test_tendermint_spec_examples() -> None:
    # tendermint docs/spec/reactors/consensus/proposer-selection.md
    vals = ValidatorSet.new([Validator(b"p0", 4)] + [Validator(b"p%d" % i, 2) for i in (1, 2, 3)])
    assert sequence(vals, 10) == [b"p0", b"p1", b"p2", b"p3", b"p0"] * 2
    vals = ValidatorSet.new([Validator(b"p0", 3)] + [Validator(b"p%d" % i, 1) for i in range(1, 8)])
    want = b"p0 p1 p2 p3 p0 p4 p5 p6 p7 p0".split()
    assert sequence(vals, 20) == want * 2


def test_genesis_priorities_and_round_proposers() -> None:
    vals = ValidatorSet.new([Validator(b"b", 1), Validator(b"a", 1), Validator(b"c", 5)])
    assert [v.address for v in vals.validators] == [b"a", b"b", b"c"]
    assert vals.proposer.address == b"c"  # most power first
    assert vals.proposer_for_round(0) == vals.proposer
    for r in range(12):
        assert vals.proposer_for_round(r) == vals.increment(r).proposer
    # the set of the next height is one increment: its round 0 is this height's round 1
    assert vals.increment(1).proposer == vals.proposer_for_round(1)
    assert vals.increment(1).proposer_for_round(3) == vals.proposer_for_round(4)


def test_priorities_stay_centered_and_bounded() -> None:
    vals = ValidatorSet.new([Validator(bytes([i]), p) for i, p in enumerate([50, 30, 11, 5, 3, 1], 1)])
    total = vals.total_power
    for _ in range(500):
        vals = vals.increment(1)
        assert max(vals.priorities) - min(vals.priorities) <= 3 * total
        assert abs(sum(vals.priorities)) <= 2 * total


@pytest.mark.parametrize("powers", [[1, 1, 1, 1], [5, 4, 3, 3, 2, 1, 1], [100, 1], [7, 13, 29, 51]])
def test_frequencies_are_proportional_to_power(powers: list[int]) -> None:
    vals = ValidatorSet.new(Validator(bytes([i + 1]), p) for i, p in enumerate(powers))
    total = sum(powers)
    laps = 20
    counts = Counter(sequence(vals, laps * total))
    for i, p in enumerate(powers):
        # With a static set every window of P elections elects each validator VP times,
        # up to the start-up transient.
        assert abs(counts[bytes([i + 1])] - laps * p) <= 2


def test_scaling_recovers_from_far_apart_priorities() -> None:
    # As after the spec's "Proposer Priority Range" example: priorities 45k apart, power 20.
    vals = ValidatorSet((Validator(b"p2", 10), Validator(b"p3", 10)), (22_500, -22_500))
    nxt = vals.increment(1)
    assert max(nxt.priorities) - min(nxt.priorities) <= 2 * 20 + 20
    assert set(sequence(vals, 6)) == {b"p2", b"p3"}


@pytest.mark.parametrize(
    "validators",
    [
        [],
        [Validator(b"a", 0)],
        [Validator(b"a", -1)],
        [Validator(b"a", 1), Validator(b"a", 2)],
        [Validator(b"", 1)],
        [Validator(b"a", 2**62)],
    ],
)
def test_invalid_sets(validators: list[Validator]) -> None:
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet.new(validators)


def test_unsorted_direct_construction_is_rejected() -> None:
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet((Validator(b"b", 1), Validator(b"a", 1)), (0, 0))
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet((Validator(b"a", 1),), (0, 0))


def test_power_lookup() -> None:
    vals = ValidatorSet.new([Validator(b"a", 3), Validator(b"b", 4)])
    assert vals.total_power == 7 and vals.power_of(b"b") == 4 and vals.power_of(b"z") == 0
    assert vals.contains(b"a") and not vals.contains(b"z")


@given(
    st.lists(st.sampled_from([1, 2, 3, 10, 100, 10**6]), min_size=1, max_size=8),
    st.integers(0, 40),
    st.lists(st.integers(0, 150), min_size=1, max_size=10),
)
def test_proposer_for_round_walk_equals_one_increment_call(powers, start, rounds):
    vals = [Validator(bytes([i + 1]) * 20, p) for i, p in enumerate(powers)]
    base = ValidatorSet.new(vals).increment(start)
    fresh = ValidatorSet(base.validators, base.priorities)
    for r in rounds:
        assert fresh.proposer_for_round(r) == base.increment(r).proposer
