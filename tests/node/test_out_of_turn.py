"""`[testing] propose_out_of_turn` (node/net/out_of_turn.py) on a real chain: at a height it does not own, the
validator broadcasts a signed round-0 proposal of a valid block; at its own height it stays quiet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node.config import ConfigError, NodeConfig
from node.host.engine import CommittedBlock
from node.net.out_of_turn import OutOfTurnProposer, round0_proposer
from node.types.block import PRECOMMIT, Commit, CommitSig, decode_block, proposal_sign_bytes, sign_vote
from node.types.crypto import recover_address
from p2p.messages import Message, ProposalMsg
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis

VALIDATORS = [key(100), key(101)]  # make_genesis(validators=2) uses these keys, power 10 each


def test_proposes_at_every_height_it_does_not_own(tmp_path: Path):
    chain, _ = make_chain(tmp_path, make_genesis(validators=2))
    executed = chain.build_block(VALIDATORS[0].address, [], None, int(time.time() * 1000) - 1000)
    sigs = tuple(CommitSig(k.address, sign_vote(k, CHAIN_ID, PRECOMMIT, 1, 0, executed.hash)) for k in VALIDATORS)
    commit = Commit(1, 0, executed.hash, sigs)
    chain.commit_block(executed, commit)
    owner = round0_proposer(chain, 2)
    sent: dict[bytes, list[Message]] = {}
    for k in VALIDATORS:
        out = sent[k.address] = []

        def broadcast(msg: Message, out: list[Message] = out) -> int:
            out.append(msg)
            return 3  # peers reached, as the switch answers

        OutOfTurnProposer(chain, k, broadcast).on_commit(CommittedBlock(executed, commit))
    assert sent[owner] == []  # its own turn: left to the honest engine
    (other,) = (a for a in sent if a != owner)
    (msg,) = sent[other]
    assert isinstance(msg, ProposalMsg)
    assert (msg.height, msg.round, msg.valid_round, msg.proposer) == (2, 0, -1, other)
    assert recover_address(proposal_sign_bytes(CHAIN_ID, 2, 0, msg.block_hash, -1), msg.signature) == other
    # A valid block with the stored commit of height 1: only "who may propose round 0" can refuse it.
    assert chain.validate_block(msg.block).hash == msg.block_hash
    assert decode_block(msg.block).last_commit == commit


def test_off_by_default_and_only_for_validators(tmp_path: Path):
    chain, _ = make_chain(tmp_path)
    assert OutOfTurnProposer.from_config(NodeConfig(home=tmp_path), chain, VALIDATORS[0], lambda m: 0) is None
    on = NodeConfig(home=tmp_path, propose_out_of_turn=True)
    assert OutOfTurnProposer.from_config(on, chain, VALIDATORS[0], lambda m: 0) is not None
    with pytest.raises(ConfigError, match="needs a validator key"):
        OutOfTurnProposer.from_config(on, chain, None, lambda m: 0)
