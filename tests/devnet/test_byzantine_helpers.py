"""The pure pieces of the byzantine end-to-end tests: commit checks, proposer order, the junk precommit,
and the devnet's `[testing]` options as the node reads them. Fast: no processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus.types import Validator, ValidatorSet
from devnet.checks import last_commit_problems, round0_proposers
from devnet.errors import DevnetError
from devnet.homes import write_testing_options
from devnet.junk_peer import Target, junk_precommit, target_of
from node.config import ConfigError, init_home, load_config
from node.types.block import PRECOMMIT, sign_vote, vote_sign_bytes
from node.types.crypto import PrivateKey, recover_address, to_checksum_address
from p2p.messages import ProposalMsg, VoteMsg, decode_message, encode_message

CHAIN = "finchain-test"
KEYS = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(4)]
POWERS = {k.address: 10 for k in KEYS}


def block(height: int, block_hash: str, commit_of: tuple[int, str] | None, signers: list[PrivateKey],
          round_: int = 0) -> dict:
    commit = None
    if commit_of is not None:
        h, prev = commit_of
        sigs = [{"validator": to_checksum_address(k.address),
                 "signature": "0x" + sign_vote(k, CHAIN, PRECOMMIT, h, round_, bytes.fromhex(prev[2:])).hex()}
                for k in signers]
        commit = {"height": h, "round": round_, "block_hash": prev, "signatures": sigs}
    return {"height": height, "hash": block_hash, "last_commit": commit}


H1, H2, H3 = "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32


def test_last_commit_problems():
    good = [block(1, H1, None, []), block(2, H2, (1, H1), KEYS[:3]), block(3, H3, (2, H2), KEYS, round_=1)]
    assert last_commit_problems(good, CHAIN, POWERS) == []

    junk = PrivateKey.generate()  # a correct signature, but no validator's: the commit must fail
    with_junk = [good[0], block(2, H2, (1, H1), [*KEYS[:3], junk])]
    assert any("is not a validator" in p for p in last_commit_problems(with_junk, CHAIN, POWERS))

    assert any("not more than 2/3" in p
               for p in last_commit_problems([good[0], block(2, H2, (1, H1), KEYS[:2])], CHAIN, POWERS))
    wrong_block = [good[0], block(2, H2, (1, H3), KEYS)]
    assert any("not the previous block" in p for p in last_commit_problems(wrong_block, CHAIN, POWERS))
    forged = block(2, H2, (1, H1), KEYS[:3])
    forged["last_commit"]["signatures"][0]["validator"] = to_checksum_address(KEYS[3].address)
    assert any("is not its precommit" in p for p in last_commit_problems([good[0], forged], CHAIN, POWERS))
    twice = block(2, H2, (1, H1), [KEYS[0], KEYS[0], KEYS[1], KEYS[2]])
    assert any("appears twice" in p for p in last_commit_problems([good[0], twice], CHAIN, POWERS))


def test_round0_proposers_rotate_as_the_engine_derives_them():
    order = round0_proposers(POWERS, 12)
    assert sorted(order[h] for h in range(1, 5)) == sorted(POWERS)  # equal powers: each once per 4 heights
    assert all(order[h] == order[h + 4] for h in range(1, 9))
    uneven = {KEYS[0].address: 1, KEYS[1].address: 2, KEYS[2].address: 3}
    base = ValidatorSet.new(Validator(a, p) for a, p in uneven.items())
    # docs/consensus.md section 2: without a stored set the engine derives genesis.increment(h - 1).
    assert round0_proposers(uneven, 30) == {h: base.increment(h - 1).proposer.address for h in range(1, 31)}


def test_junk_precommit_is_a_correctly_signed_vote_of_a_non_validator():
    key = PrivateKey.generate()
    target = Target(7, 2, b"\xab" * 32)
    vote = junk_precommit(key, CHAIN, target)
    assert decode_message(encode_message(vote)) == vote
    assert (vote.vote_type, vote.height, vote.round, vote.block_hash, vote.validator) == (PRECOMMIT, 7, 2,
                                                                                         b"\xab" * 32, key.address)
    assert recover_address(vote_sign_bytes(CHAIN, PRECOMMIT, 7, 2, b"\xab" * 32), vote.signature) == key.address
    assert target_of(vote) == target
    assert target_of(VoteMsg(1, 7, 2, b"", key.address, vote.signature)) is None  # nil names no block
    assert target_of(ProposalMsg(8, 0, b"\xcd" * 32, -1, key.address, vote.signature, b"x")) == Target(
        8, 0, b"\xcd" * 32)


def test_testing_options_reach_the_node_config(tmp_path: Path):
    home = tmp_path / "node"
    init_home(home)
    assert load_config(home).propose_out_of_turn is False  # off unless asked
    write_testing_options(home, {"propose_out_of_turn": True})
    assert load_config(home).propose_out_of_turn is True
    with pytest.raises(DevnetError, match="already has"):
        write_testing_options(home, {"propose_out_of_turn": False})
    with pytest.raises(DevnetError, match="only booleans"):
        write_testing_options(home, {"x": "text"})  # type: ignore[dict-item]
    cfg = home / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace("propose_out_of_turn = true", 'propose_out_of_turn = "yes"'))
    with pytest.raises(ConfigError, match=r"testing\.propose_out_of_turn must be bool"):
        load_config(home)
