"""The proposer of every height and round is a pure function of the committed chain."""

from __future__ import annotations

from consensus.types import Validator, ValidatorSet
from node.chain import Chain
from node.storage import schema
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.block import PRECOMMIT, Commit, CommitSig, vote_sign_bytes
from tests.node.engine_world import VALIDATOR_KEYS, four_validator_genesis, key_of
from tests.node.helpers import CHAIN_ID, make_chain


def _commit(height: int, block_hash: bytes) -> Commit:
    digest = vote_sign_bytes(CHAIN_ID, PRECOMMIT, height, 0, block_hash)
    sigs = sorted((CommitSig(k.address, k.sign(digest)) for k in VALIDATOR_KEYS[:3]), key=lambda s: s.validator)
    return Commit(height, 0, block_hash, tuple(sigs))


def _schedule(chain: Chain) -> list[bytes]:
    vset = chain.validator_set(chain.height + 1)
    return [vset.proposer_for_round(r).address for r in range(9)]


def test_every_way_of_reaching_a_height_names_the_same_proposers(tmp_path):
    genesis = four_validator_genesis()
    a, _ = make_chain(tmp_path / "a", genesis)
    synced, _ = make_chain(tmp_path / "b", genesis)
    pure = ValidatorSet.new(Validator(v.address, v.power) for v in genesis.validators)
    for height in range(1, 8):
        assert _schedule(a) == _schedule(synced)
        assert a.validator_set(height).priorities == pure.priorities
        proposer = key_of(a.validator_set(height).proposer.address)
        block = a.build_block(proposer.address, [], a.last_commit(), a.tip_time_ms + 1000)
        a.commit_block(block, _commit(height, block.hash))
        synced.commit_block(synced.validate_block(block.raw), _commit(height, block.hash))
        pure = pure.increment(1)
    expected = _schedule(a)
    assert len(set(expected[:4])) == 4  # equal powers: the rounds rotate through all four
    a.store.close()
    db = tmp_path / "a" / "db"
    reopened = Chain(Store(LevelDBKV(db)), genesis, lambda raw: None)  # type: ignore[arg-type,return-value]
    assert _schedule(reopened) == expected
    with reopened.store.kv.batch() as wb:  # a store from before the record, or one that held shifted priorities
        wb.delete(schema.META_VALSET)
    reopened.store.close()
    derived = Chain(Store(LevelDBKV(db)), genesis, lambda raw: None)  # type: ignore[arg-type,return-value]
    assert _schedule(derived) == expected == _schedule(synced)
    assert derived.validator_set(8).priorities == pure.priorities
