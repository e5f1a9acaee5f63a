import pytest

from node.types import errors
from node.types.block import PRECOMMIT, Commit, CommitSig, sign_vote
from node.types.tx import Transfer, TxBody
from tests.node.helpers import CHAIN_ID, COIN, key, make_chain, make_genesis

T0 = 1_700_000_000_000
VALIDATOR = key(100)


def tx(sender=0, nonce=0, amount=1, max_fee=1, priority_fee=0, to=1):
    body = TxBody(CHAIN_ID, nonce, 21_000, max_fee, priority_fee, 0, Transfer(key(to).address, amount))
    return body.sign(key(sender))


def commit_for(executed, round_=0):
    sig = sign_vote(VALIDATOR, CHAIN_ID, PRECOMMIT, executed.height, round_, executed.hash)
    return Commit(executed.height, round_, executed.hash, (CommitSig(VALIDATOR.address, sig),))


def advance(chain, txs, t):
    last = chain.store.get_commit(chain.height) if chain.height else None
    executed = chain.build_block(VALIDATOR.address, txs, last, t)
    chain.commit_block(executed, commit_for(executed))
    return executed


def test_transfers_fees_and_restart(tmp_path):
    chain, _ = make_chain(tmp_path)
    supply = make_genesis().total_supply
    b1 = advance(chain, [tx(nonce=0, amount=7 * COIN, max_fee=2, priority_fee=2), tx(sender=2, nonce=0, amount=3)],
                 T0 + 1000)
    assert [r.status for r in b1.receipts] == [1, 1]
    assert chain.get_account(key(0).address).balance == 1000 * COIN - 7 * COIN - 42_000
    assert chain.get_account(key(1).address).balance == 1007 * COIN + 3
    assert chain.get_account(key(0).address).nonce == 1
    # The base fee (the floor, 1) is burned on all 42,000 gas; the 1 per gas above it goes to the proposer.
    record = chain.fee_record()
    assert record is not None and (record.base_fee, record.gas_used, record.burned) == (1, 42_000, 42_000)
    proposer = chain.get_account(b1.block.header.proposer).balance
    assert proposer == 21_000
    total = sum(chain.get_account(key(i).address).balance for i in range(4))
    assert total + proposer + record.burned == supply
    # An amount above the balance fails but still pays the fee and uses the nonce.
    b2 = advance(chain, [tx(nonce=1, amount=10_000 * COIN)], T0 + 2000)
    assert b2.receipts[0].status == 0 and b2.receipts[0].error == "insufficient_funds"
    assert chain.get_account(key(0).address).nonce == 2
    root, height = chain.state_root, chain.height
    balance_at_1 = chain.get_account(key(0).address, height=1).balance
    chain.store.close()
    chain2, _ = make_chain(tmp_path)
    assert (chain2.state_root, chain2.height) == (root, height)
    assert chain2.get_account(key(0).address, height=1).balance == balance_at_1
    assert [h for h, _, _ in chain2.store.address_history(key(0).address, 10)] == [2, 1]
    chain2.store.close()


def test_builder_skips_txs_that_may_not_be_included(tmp_path):
    chain, _ = make_chain(tmp_path)
    executed = advance(chain, [tx(nonce=5), tx(sender=60), tx(nonce=0)], T0 + 1000)
    assert [t.body.nonce for t in executed.txs] == [0]
    chain.store.close()


def test_validate_block_accepts_honest_and_rejects_tampered(tmp_path):
    proposer_chain, _ = make_chain(tmp_path / "a")
    follower, _ = make_chain(tmp_path / "b")
    executed = proposer_chain.build_block(VALIDATOR.address, [tx()], None, T0 + 1000)
    checked = follower.validate_block(executed.raw)
    assert checked.hash == executed.hash and checked.block.header.state_root == executed.block.header.state_root
    from node.types.block import Block

    h = executed.block.header
    bad_root = Block(
        type(h)(**{**{f: getattr(h, f) for f in h.__slots__}, "state_root": b"\x01" * 32}), executed.block.txs, None
    )
    with pytest.raises(errors.InvalidBlock, match="state_root"):
        follower.validate_block(bad_root.encode())
    with pytest.raises(errors.InvalidBlock, match="decode"):
        follower.validate_block(b"\x01\x02")
    # A block with a transaction the chain may not include (a nonce gap) is invalid as a whole.
    forged = Block(h, (tx(nonce=3).raw,), None)
    with pytest.raises(errors.InvalidBlock, match="may not be included"):
        follower.validate_block(forged.encode())
    proposer_chain.store.close()
    follower.store.close()


def test_commit_verification(tmp_path):
    chain, _ = make_chain(tmp_path)
    b1 = advance(chain, [], T0 + 1000)
    good = commit_for(b1)
    chain.verify_commit(good, 1, b1.hash)
    with pytest.raises(errors.InvalidBlock, match="2/3"):
        chain.verify_commit(Commit(1, 0, b1.hash, ()), 1, b1.hash)
    sig = good.signatures[0].signature
    flipped = sig[:64] + bytes([sig[64] ^ 1])  # recovers another key
    forged = Commit(1, 0, b1.hash, (CommitSig(VALIDATOR.address, flipped),))
    with pytest.raises(errors.InvalidBlock):
        chain.verify_commit(forged, 1, b1.hash)
    chain.store.close()


def test_other_genesis_refused(tmp_path):
    chain, _ = make_chain(tmp_path)
    chain.store.close()
    with pytest.raises(errors.StoreCorrupted, match="another genesis"):
        make_chain(tmp_path, genesis=make_genesis(funded=2))


def test_zero_transfer_to_a_new_address_creates_no_account(tmp_path):
    chain, _ = make_chain(tmp_path)
    root_before = chain.state_root
    executed = advance(chain, [tx(nonce=0, amount=0, to=77)], T0 + 1000)
    assert executed.receipts[0].status == 1
    from node.state.execution import account_key

    assert account_key(key(77).address) not in executed.changes
    assert chain.state_root != root_before  # the sender's nonce and fee still changed it
    chain.store.close()


def test_builder_stops_taking_when_out_of_time_and_the_block_still_validates(tmp_path):
    proposer_chain, _ = make_chain(tmp_path / "a")
    follower, _ = make_chain(tmp_path / "b")
    asked: list[int] = []

    def out_of_time() -> bool:
        asked.append(1)
        return len(asked) >= 2

    txs = [tx(nonce=n) for n in range(300)]
    executed = proposer_chain.build_block(VALIDATOR.address, iter(txs), None, T0 + 1000, out_of_time=out_of_time)
    # Asked every 64 transactions; out of time at the second look, the block is the prefix before it.
    assert len(asked) == 2
    assert [t.body.nonce for t in executed.txs] == list(range(127))
    assert follower.validate_block(executed.raw).hash == executed.hash
    whole = follower.build_block(VALIDATOR.address, txs, None, T0 + 1000, out_of_time=lambda: False)
    assert len(whole.txs) == 300
    proposer_chain.store.close()
    follower.store.close()
