"""Vote keeper thresholds (integer arithmetic, by power) and its evidence handling."""

from __future__ import annotations

from consensus.types import Validator, ValidatorSet, Vote, VoteType
from consensus.vote_keeper import AddResult, VoteKeeper

PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT
H = 5
# total 10: quorum needs power >= 7 (3p > 20), f+1 needs power >= 4 (3p > 10)
VALS = ValidatorSet.new([Validator(b"a", 4), Validator(b"b", 3), Validator(b"c", 2), Validator(b"d", 1)])


def vote(who: bytes, t: VoteType = PV, r: int = 0, v: bytes | None = b"x", sig: bytes = b"") -> Vote:
    return Vote(t, H, r, v, who, sig)


def keeper(*votes: Vote) -> VoteKeeper:
    k = VoteKeeper.new(H, VALS)
    for v in votes:
        k, _, _ = k.add(v)
    return k


def test_quorum_for_value_is_by_power_not_count() -> None:
    k = keeper(vote(b"b"), vote(b"c"), vote(b"d"))  # 3 of 4 validators but power 6 of 10
    assert k.power_for(0, PV, b"x") == 6
    assert not k.has_quorum_for(0, PV, b"x")
    k = keeper(vote(b"a"), vote(b"b"))  # 2 validators, power 7
    assert k.has_quorum_for(0, PV, b"x")


def test_exact_two_thirds_is_not_a_quorum() -> None:
    vals = ValidatorSet.new([Validator(b"a", 1), Validator(b"b", 1), Validator(b"c", 1)])
    k = VoteKeeper.new(H, vals)
    k, _, _ = k.add(vote(b"a"))
    k, _, _ = k.add(vote(b"b"))
    assert not k.has_quorum_for(0, PV, b"x")  # 2/3 exactly: 3*2 > 2*3 is false
    k, _, _ = k.add(vote(b"c"))
    assert k.has_quorum_for(0, PV, b"x")


def test_nil_and_any() -> None:
    k = keeper(vote(b"a", v=None), vote(b"b", v=None), vote(b"c", v=b"y"))
    assert k.has_quorum_for(0, PV, None)
    assert not k.has_quorum_for(0, PV, b"y")
    k = keeper(vote(b"a", v=None), vote(b"c", v=b"y"), vote(b"d", v=b"z"))  # 7 split three ways
    assert not k.has_quorum_for(0, PV, None) and k.has_quorum_any(0, PV)
    assert not k.has_quorum_any(0, PC) and not k.has_quorum_any(1, PV)


def test_types_and_rounds_are_separate() -> None:
    k = keeper(vote(b"a", PV), vote(b"b", PC))
    assert k.power_for(0, PV, b"x") == 4 and k.power_for(0, PC, b"x") == 3
    k = keeper(vote(b"a", r=0), vote(b"b", r=1))
    assert not k.has_quorum_for(0, PV, b"x") and not k.has_quorum_for(1, PV, b"x")


def test_f_plus_one_counts_each_validator_once_per_round() -> None:
    k = keeper(vote(b"b", PV, r=3), vote(b"b", PC, r=3))
    assert k.power_in_round(3) == 3 and not k.has_f_plus_one(3)  # 9 > 10 is false
    k, _, _ = k.add(vote(b"d", PC, r=3, v=None))
    assert k.power_in_round(3) == 4 and k.has_f_plus_one(3)
    assert not k.has_f_plus_one(2)


def test_duplicates_are_ignored_even_with_another_signature() -> None:
    k = keeper(vote(b"a", sig=b"1"))
    k2, result, first = k.add(vote(b"a", sig=b"2"))
    assert result == AddResult.DUPLICATE and k2 is k and first == vote(b"a", sig=b"1")
    assert k.power_for(0, PV, b"x") == 4


def test_equivocation_is_reported_and_counted_for_its_value_only() -> None:
    k = keeper(vote(b"a"))
    k2, result, first = k.add(vote(b"a", v=b"y"))
    assert result == AddResult.CONFLICTING and first == vote(b"a")
    assert k2.power_for(0, PV, b"y") == 4 and k2.power_for(0, PV, b"x") == 4
    assert k2.power_any(0, PV) == 4 and k2.power_in_round(0) == 4  # "any" and f+1: once
    k3, result, _ = k2.add(vote(b"a", v=b"y", sig=b"again"))
    assert result == AddResult.DUPLICATE and k3 is k2
    _, result, first = k2.add(vote(b"a", v=None))
    assert result == AddResult.CONFLICTING and first == vote(b"a")
    assert k2.vote_of(0, PV, b"a") == vote(b"a")
    assert [v.value for v in k2.votes_for(0, PV, b"y")] == [b"y"]


def test_equivocation_cannot_make_two_quorums() -> None:
    # a (4) equivocates; b+c+d (6) split: x gets a+b (7) = quorum, y gets a+c+d (7) too?
    # Only if an honest validator voted twice; with b on x and c, d on y, y has 4+2+1 = 7.
    # That is why byzantine power must stay below 1/3: here a alone holds 40%.
    k = keeper(vote(b"a"), vote(b"a", v=b"y"), vote(b"b"), vote(b"c", v=b"y"), vote(b"d", v=b"y"))
    assert k.has_quorum_for(0, PV, b"x") and k.has_quorum_for(0, PV, b"y")
    vals = ValidatorSet.new([Validator(b"a", 3), Validator(b"b", 3), Validator(b"c", 2), Validator(b"d", 2)])
    k = VoteKeeper.new(H, vals)  # a holds 30% < 1/3: no split is possible
    for v in (vote(b"a"), vote(b"a", v=b"y"), vote(b"b"), vote(b"c", v=b"y"), vote(b"d", v=b"y")):
        k, _, _ = k.add(v)
    assert k.has_quorum_for(0, PV, b"y") and not k.has_quorum_for(0, PV, b"x")


def test_non_validators_and_other_heights_are_ignored() -> None:
    k = VoteKeeper.new(H, VALS)
    _, result, _ = k.add(vote(b"zz"))
    assert result == AddResult.NOT_A_VALIDATOR
    _, result, _ = k.add(Vote(PV, H + 1, 0, b"x", b"a"))
    assert result == AddResult.WRONG_HEIGHT
    assert k.size == 0


def test_certificates() -> None:
    k = keeper(vote(b"a", PC), vote(b"b", PC, v=None), vote(b"c", PC), vote(b"d", PV))
    assert {v.validator for v in k.votes_for(0, PC, b"x")} == {b"a", b"c"}
    assert len(k.votes_in(0, PC)) == 3
    assert k.vote_of(0, PC, b"b") == vote(b"b", PC, v=None)


def test_stale_views_never_see_later_votes() -> None:
    k0 = VoteKeeper.new(H, VALS)
    k1, _, _ = k0.add(vote(b"a"))
    k2, _, _ = k1.add(vote(b"b"))
    assert (k0.power_any(0, PV), k1.power_any(0, PV), k2.power_any(0, PV)) == (0, 4, 7)
    fork, _, _ = k1.add(vote(b"b", v=b"y"))  # k1 is stale: it forks its own tally
    assert fork.power_for(0, PV, b"y") == 3 and fork.power_for(0, PV, b"x") == 4
    assert k2.power_for(0, PV, b"y") == 0 and k2.power_for(0, PV, b"x") == 7
    k3, _, _ = k2.add(vote(b"c"))
    assert k3.power_any(0, PV) == 9 and fork.power_any(0, PV) == 7
