"""The shipped engine against hostile inputs: junk votes, impostor proposals, equivocating
proposers and a store poisoned by an older version."""

from __future__ import annotations

from consensus.types import Validator, ValidatorSet, VoteType
from node.storage import schema
from node.types.block import Commit, CommitSig, vote_sign_bytes
from node.types.faults import FaultKind
from tests.node.engine_world import (
    OUTSIDER,
    EngineWorld,
    four_validator_genesis,
    key_of,
    signed_proposal,
    signed_vote,
)
from tests.node.helpers import CHAIN_ID

PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT


def _world(tmp_path, proposer_at: int) -> EngineWorld:
    """A world whose node is the round-0 proposer of height `proposer_at`."""
    genesis = four_validator_genesis()
    vset = ValidatorSet.new(Validator(v.address, v.power) for v in genesis.validators)
    for _ in range(proposer_at - 1):
        vset = vset.increment(1)
    return EngineWorld(tmp_path, genesis, key_of(vset.proposer.address))


async def test_a_junk_precommit_never_enters_the_stored_commit(tmp_path):
    w = _world(tmp_path, proposer_at=1)
    await w.start()
    try:
        await w.until(lambda: w.our_proposals(1))
        value = w.our_proposals(1)[0].proposal.value
        # The outsider's precommit arrives first, before any validator's.
        w.send_vote(signed_vote(OUTSIDER, PC, 1, 0, value), peer="junk")
        w.send_votes(PV, 1, 0, value)
        w.send_votes(PC, 1, 0, value)
        await w.until(lambda: w.chain.height == 1)
        stored = w.chain.store.get_commit(1)
        w.chain.verify_commit(stored, 1, value)  # raises InvalidBlock on a junk signature
        assert OUTSIDER.address not in {s.validator for s in stored.signatures}
        assert len(stored.signatures) >= 3  # the decision needs 3 of 4; ours may come later
        assert ("junk", FaultKind.NOT_A_VALIDATOR) in [(p, f.kind) for p, f in w.faults]
        assert OUTSIDER.address not in w.wal_signers()
        assert not [m for m in w.sent if getattr(getattr(m, "vote", None), "validator", None) == OUTSIDER.address]
        # The next height's proposal (ours or not) carries a commit the other nodes accept.
        await w.until(lambda: w.state is not None and w.state.height == 2)
    finally:
        await w.stop()


async def test_a_proposal_from_anyone_but_the_rounds_proposer_is_refused_unexecuted(tmp_path):
    w = _world(tmp_path, proposer_at=2)  # not the proposer of height 1
    await w.start()
    try:
        real = w.proposer(1)
        impostor = next(k for k in w.others() if k.address != real.address)
        fake = w.build(impostor)
        w.send_proposal(signed_proposal(impostor, 1, 0, fake.hash), fake.raw, peer="impostor")
        block = w.build(real)
        w.send_proposal(signed_proposal(real, 1, 0, block.hash), block.raw, peer="honest")
        await w.until(lambda: w.our_votes(PV, 1))
        assert [v.value for v in w.our_votes(PV, 1)] == [block.hash]  # not nil: the real one counted
        assert ("impostor", FaultKind.NOT_THE_PROPOSER) in [(p, f.kind) for p, f in w.faults]
        assert impostor.address not in w.wal_signers()
        assert w.state.proposals[0].keys() == {real.address}
    finally:
        await w.stop()


async def test_every_distinct_proposal_of_the_proposer_is_kept(tmp_path):
    """An equivocating proposer shows us A first; the others decide B, which we must follow."""
    w = _world(tmp_path, proposer_at=2)
    await w.start()
    try:
        p = w.proposer(1)
        a, b = w.build(p), w.build(p, time_offset_ms=7)
        assert a.hash != b.hash
        w.send_proposal(signed_proposal(p, 1, 0, a.hash), a.raw)
        await w.until(lambda: w.our_votes(PV, 1))
        w.send_proposal(signed_proposal(p, 1, 0, b.hash), b.raw)
        others = w.others()
        w.send_votes(PV, 1, 0, b.hash, others)
        w.send_votes(PC, 1, 0, b.hash, others)
        await w.until(lambda: w.chain.height == 1)
        assert w.chain.tip_hash == b.hash
        assert len(w.state.proposals.get(0, {}).get(p.address, ())) in (0, 2)  # 0: next height began
    finally:
        await w.stop()


async def test_a_store_poisoned_with_a_junk_commit_heals_in_our_next_proposal(tmp_path):
    w = _world(tmp_path, proposer_at=2)
    await w.start()
    try:
        p = w.proposer(1)
        block = w.build(p)
        w.send_proposal(signed_proposal(p, 1, 0, block.hash), block.raw)
        w.send_votes(PV, 1, 0, block.hash)
        w.send_votes(PC, 1, 0, block.hash)
        await w.until(lambda: w.chain.height == 1)
        await w.stop()
        # What an older version stored: the counted precommits plus an outsider's.
        good = w.chain.store.get_commit(1)
        junk = CommitSig(OUTSIDER.address, OUTSIDER.sign(vote_sign_bytes(CHAIN_ID, int(PC), 1, 0, block.hash)))
        poisoned = Commit(1, 0, block.hash, tuple(sorted((*good.signatures, junk), key=lambda s: s.validator)))
        with w.chain.store.kv.batch() as wb:
            wb.put(schema.commit_key(1), poisoned.encode())
        w.engine = w._new_engine()
        await w.start()
        await w.until(lambda: w.our_proposals(2))
        proposed = w.our_proposals(2)[0]
        w.peer_chain.validate_block(proposed.block)  # raises InvalidBlock on a poisoned last commit
    finally:
        await w.stop()


class _Crash(Exception):
    """The process dies at this point."""


async def test_a_crash_between_two_signatures_of_one_step_leaves_nothing_the_guard_refuses(tmp_path):
    """The proposal comes after the others' prevotes: one core step asks for our prevote and
    our precommit. If both were signed before the prevote's WAL record is written, a crash
    there leaves a replay that wants the prevote again below the guard's precommit: refused,
    and our prevote is lost for good."""
    w = _world(tmp_path, proposer_at=2)
    await w.start()
    p = w.proposer(1)
    block = w.build(p)
    w.send_votes(PV, 1, 0, block.hash, [k for k in w.others()])
    await w.until(lambda: w.state is not None and len(w.state.votes.all_votes()) == 3)
    wal = w.engine._wal
    real_append = wal.append

    def append(record, sync=False):
        if record[0] == "V" and record[5] == w.me.address and record[1] == int(PV):
            raise _Crash  # our prevote is signed, its record never written
        real_append(record, sync)

    wal.append = append
    w.send_proposal(signed_proposal(p, 1, 0, block.hash), block.raw)
    await w.until(lambda: w._task.done())
    assert isinstance(w._task.exception(), _Crash)
    w._task = None
    wal.append = real_append
    await w.restart()
    try:
        await w.until(lambda: w.our_votes(PV, 1) and w.our_votes(PC, 1))
        assert [v.value for v in w.our_votes(PV, 1)] == [block.hash]
    finally:
        await w.stop()
