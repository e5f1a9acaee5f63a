import pytest

from node.types.block import PREVOTE, sign_vote
from node.types.errors import InvalidBlock
from node.types.evidence import (
    MAX_EVIDENCE_AGE,
    DuplicateVoteEvidence,
    InvalidEvidence,
    SignedVote,
    decode_evidence,
    validate_evidence,
)
from tests.node.helpers import CHAIN_ID, key, make_chain
from tests.node.test_chain import T0, VALIDATOR, advance, commit_for

POWERS = {VALIDATOR.address: 10}


def vote(value: bytes, signer=VALIDATOR, height=1, round_=0, validator=None) -> SignedVote:
    sig = sign_vote(signer, CHAIN_ID, PREVOTE, height, round_, value or None)
    return SignedVote(PREVOTE, height, round_, value, validator or signer.address, sig)


def equivocation(height=1, signer=VALIDATOR) -> DuplicateVoteEvidence:
    return DuplicateVoteEvidence.of(vote(b"\x01" * 32, signer, height), vote(b"\x02" * 32, signer, height))


def check(ev, current=1, committed=lambda h: False):
    validate_evidence(ev, CHAIN_ID, POWERS, current, committed)


def test_valid_equivocation_round_trips():
    ev = equivocation()
    check(ev)
    assert decode_evidence(ev.encode()) == ev
    assert DuplicateVoteEvidence.of(ev.second, ev.first).hash() == ev.hash()


@pytest.mark.parametrize(
    "build, current, message",
    [
        (lambda: DuplicateVoteEvidence(vote(b"\x01" * 32), vote(b"\x01" * 32)), 1, "agree"),
        (lambda: DuplicateVoteEvidence(vote(b"\x01" * 32), vote(b"\x02" * 32, round_=1)), 1, "same validator"),
        (lambda: equivocation(signer=key(5)), 1, "not in the validator set"),
        (lambda: DuplicateVoteEvidence(vote(b"\x01" * 32),
                                       vote(b"\x02" * 32, signer=key(5), validator=VALIDATOR.address)), 1, "signature"),
        (lambda: equivocation(height=1), MAX_EVIDENCE_AGE + 5, "too old"),
        (lambda: equivocation(height=50), 3, "beyond the chain"),
    ],
)
def test_invalid_evidence_rejected(build, current, message):
    with pytest.raises(InvalidEvidence, match=message):
        check(build(), current)


def test_decoding_rejects_unordered_and_garbage():
    ev = equivocation()
    from node.types import codec

    swapped = codec.encode([ev.second.to_list(), ev.first.to_list()])
    with pytest.raises(InvalidEvidence, match="ordered"):
        decode_evidence(swapped)
    with pytest.raises(InvalidEvidence, match="decode"):
        decode_evidence(b"\x92\x01")


def test_evidence_goes_into_a_block_once(tmp_path):
    proposer, _ = make_chain(tmp_path / "a")
    follower, _ = make_chain(tmp_path / "b")
    ev = equivocation()
    b1 = proposer.build_block(VALIDATOR.address, [], None, T0 + 1000, [ev])
    assert b1.block.evidence == (ev.encode(),)
    checked = follower.validate_block(b1.raw)
    follower.commit_block(checked, commit_for(checked))
    assert follower.store.is_evidence_committed(ev.hash())
    assert follower.store.committed_evidence(0, 10) == [(1, ev.encode())]
    # Once committed it is invalid: the builder leaves it out, a block holding it is refused.
    again = follower.build_block(VALIDATOR.address, [], follower.store.get_commit(1), T0 + 2000, [ev])
    assert again.block.evidence == ()
    proposer.commit_block(b1, commit_for(b1))
    forged = proposer.build_block(VALIDATOR.address, [], proposer.store.get_commit(1), T0 + 2000)
    from node.types.block import Block

    bad = Block(forged.block.header, (), forged.block.last_commit, (ev.encode(),))
    with pytest.raises(InvalidBlock, match="already committed"):
        follower.validate_block(bad.encode())
    advance(proposer, [], T0 + 3000)
    proposer.store.close()
    follower.store.close()


def test_the_pool_keeps_one_item_per_offence_and_a_bounded_number():
    from node.types.evidence import MAX_PENDING_EVIDENCE, DuplicateVoteEvidence, EvidencePool, SignedVote

    def pair(validator: bytes, height: int, a: bytes, b: bytes) -> DuplicateVoteEvidence:
        return DuplicateVoteEvidence.of(SignedVote(1, height, 0, a, validator, b"s" * 65),
                                        SignVote_(validator, height, b))

    def SignVote_(validator: bytes, height: int, value: bytes) -> SignedVote:
        return SignedVote(1, height, 0, value, validator, b"t" * 65)

    pool = EvidencePool()
    assert pool.add(pair(b"v" * 20, 5, b"a" * 32, b"b" * 32))
    assert not pool.add(pair(b"v" * 20, 5, b"a" * 32, b"c" * 32))  # the same offence, another pair
    assert pool.add(pair(b"v" * 20, 6, b"a" * 32, b"c" * 32))
    for h in range(7, 7 + MAX_PENDING_EVIDENCE):
        pool.add(pair(b"w" * 20, h, b"a" * 32, b"b" * 32))
    assert len(pool.pending) == MAX_PENDING_EVIDENCE
    pool.prune(lambda ev: ev.first.height != 5)
    assert pool.add(pair(b"v" * 20, 5, b"a" * 32, b"d" * 32))  # pruned: room again, and the offence is free
