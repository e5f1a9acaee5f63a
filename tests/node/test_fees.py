"""The base fee rule, fee settlement through the real chain, and the mempool's fee ranking and quotas."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.mempool.pool import MempoolConfig
from node.state.fees import next_base_fee
from node.types import errors
from node.types.block import Block
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params
from node.types.tx import Transfer, TxBody
from tests.node.helpers import CHAIN_ID, COIN, key, make_chain
from tests.node.test_chain import commit_for

FLOOR = 10**9
BLOCK_GAS = 21_000 * 8  # eight transfers fill a block, four are the target


def fee_genesis(funded: int = 6) -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_700_000_000_000,
        params=Params(max_block_gas=BLOCK_GAS, min_base_fee=FLOOR),
        validators=(GenesisValidator(key(100).address, key(100).public_key, 10, "v0"),),
        accounts=tuple(GenesisAccount(key(i).address, 1000 * COIN) for i in range(funded)),
    )


def transfer(sender: int, nonce: int, max_fee: int, priority_fee: int, to: int = 50, amount: int = 1):
    body = TxBody(CHAIN_ID, nonce, 21_000, max_fee, priority_fee, 0, Transfer(key(to).address, amount))
    return body.sign(key(sender))


# -- the rule ----------------------------------------------------------------------------------

bases = st.integers(1, 10**30)
gas_limits = st.integers(2, 10**10)


@settings(max_examples=200, deadline=None)
@given(base=bases, limit=gas_limits, frac=st.floats(0, 1), floor=st.integers(1, 10**12))
def test_the_base_fee_moves_at_most_an_eighth_and_never_below_the_floor(base, limit, frac, floor):
    used = int(limit * frac)
    new = next_base_fee(base, used, limit, floor)
    assert new >= floor
    if base >= floor:
        assert abs(new - base) <= max(base // 8, 1)
    target = limit // 2
    if used > target:
        assert new > base or new == floor > base
    elif used < target:
        assert new <= max(base, floor)
    else:
        assert new == max(base, floor)


@settings(max_examples=100, deadline=None)
@given(base=st.integers(8, 10**30), limit=gas_limits)
def test_a_full_block_raises_it_by_an_eighth_and_an_empty_one_lowers_it_by_an_eighth(base, limit):
    limit -= limit % 2
    assert next_base_fee(base, limit, limit, 1) == base + base // 8
    assert next_base_fee(base, 0, limit, 1) == base - base // 8
    assert next_base_fee(base, 0, limit, base) == base  # held at the floor


# -- settlement through the production chain ----------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), blocks=st.integers(1, 6))
def test_fees_are_burned_and_tipped_and_supply_is_conserved_over_random_blocks(seed, blocks):
    rng = random.Random(seed)
    genesis = fee_genesis()
    with tempfile.TemporaryDirectory() as tmp:
        chain, _ = make_chain(Path(tmp), genesis)
        proposer = key(100).address
        nonces = [0] * 6
        expected_base = FLOOR
        burned = 0
        for height in range(1, blocks + 1):
            base = chain.next_base_fee()
            assert base == expected_base
            txs = []
            for _ in range(rng.randrange(0, 10)):
                s = rng.randrange(6)
                max_fee = base + rng.randrange(0, 3 * FLOOR)
                txs.append(transfer(s, nonces[s], max_fee, rng.randrange(0, max_fee + 1), amount=rng.randrange(COIN)))
                nonces[s] += 1
            tip_before = chain.get_account(proposer).balance
            last = chain.store.get_commit(chain.height) if chain.height else None
            executed = chain.build_block(proposer, txs, last, genesis.genesis_time_ms + 1000 * height)
            chain.commit_block(executed, commit_for(executed))
            for s in {t.sender for t in txs if t not in executed.txs}:
                nonces[[key(i).address for i in range(6)].index(s)] = chain.get_account(s).nonce
            gas = sum(r.gas_used for r in executed.receipts)
            for tx, r in zip(executed.txs, executed.receipts, strict=True):
                assert r.fee == r.gas_used * min(tx.body.max_fee_per_gas, base + tx.body.max_priority_fee_per_gas)
            record = chain.fee_record()
            assert record is not None and (record.base_fee, record.gas_used) == (base, gas)
            burned += gas * base
            assert record.burned == burned
            tips = sum(r.fee for r in executed.receipts) - gas * base
            assert chain.get_account(proposer).balance - tip_before == tips
            holders = [key(i).address for i in range(6)] + [key(50).address, proposer]
            assert sum(chain.get_account(a).balance for a in holders) + record.burned == genesis.total_supply
            expected_base = next_base_fee(base, gas, BLOCK_GAS, FLOOR)
        chain.store.close()


def test_full_blocks_raise_the_base_fee_and_a_block_under_it_is_invalid(tmp_path):
    genesis = fee_genesis()
    chain, _ = make_chain(tmp_path, genesis)
    proposer = key(100).address
    base = FLOOR
    for height in (1, 2):
        first = 2 * (height - 1)
        txs = [transfer(s, first, 10 * FLOOR, FLOOR) for s in range(4)] + \
              [transfer(s, first + 1, 10 * FLOOR, FLOOR) for s in range(4)]
        last = chain.store.get_commit(chain.height) if chain.height else None
        executed = chain.build_block(proposer, txs, last, genesis.genesis_time_ms + 1000 * height)
        assert len(executed.txs) == 8  # the block is full
        chain.commit_block(executed, commit_for(executed))
        assert chain.next_base_fee() == base + base // 8
        base = chain.next_base_fee()
    # The builder leaves out a transaction under the base fee; a block that carries one is invalid.
    low = transfer(5, 0, FLOOR, 0)
    honest = chain.build_block(proposer, [low], chain.store.get_commit(chain.height), genesis.genesis_time_ms + 5000)
    assert honest.txs == ()
    forged = Block(honest.block.header, (low.raw,), honest.block.last_commit, ())
    with pytest.raises(errors.InvalidBlock, match="below the base fee"):
        chain.validate_block(forged.encode())
    chain.store.close()


# -- the mempool ---------------------------------------------------------------------------------


def fee_pool(tmp_path, **config):
    chain, pool = make_chain(tmp_path, fee_genesis(funded=40), MempoolConfig(**config))
    return chain, pool


def test_ranking_is_by_effective_tip_at_the_base_fee(tmp_path):
    chain, pool = fee_pool(tmp_path)
    capped = transfer(0, 0, FLOOR + 5, FLOOR)  # a large tip, capped by its max fee: tip 5
    modest = transfer(1, 0, 3 * FLOOR, 1000)  # tip 1000
    none = transfer(2, 0, FLOOR, 0)  # tip 0
    for t in (none, capped, modest):
        pool.add(t.raw)
    assert [pool.tip(t) for t in (capped, modest, none)] == [5, 1000, 0]
    assert [t.hash for t in pool.reap(10, 10**7, 10**9)] == [modest.hash, capped.hash, none.hash]
    with pytest.raises(errors.FeeTooLow):
        pool.add(transfer(3, 0, FLOOR - 1, 0).raw)
    chain.store.close()


def test_replacement_needs_both_fees_raised_by_ten_percent(tmp_path):
    chain, pool = fee_pool(tmp_path)
    pool.add(transfer(0, 0, 2 * FLOOR, 1000).raw)
    for max_fee, tip in ((2 * FLOOR * 11 // 10, 1000), (2 * FLOOR, 1100), (2 * FLOOR * 11 // 10 - 1, 1100)):
        with pytest.raises(errors.ReplacementUnderpriced):
            pool.add(transfer(0, 0, max_fee, tip, amount=2).raw)
    better = transfer(0, 0, 2 * FLOOR * 11 // 10, 1100, amount=3)
    pool.add(better.raw)
    assert len(pool) == 1 and pool.get(better.hash) is not None
    chain.store.close()


def test_a_full_pool_evicts_the_worst_tip_for_a_better_one_and_future_ones_first(tmp_path):
    chain, pool = fee_pool(tmp_path, max_txs=4)
    low = [transfer(s, 0, 2 * FLOOR, 10 + s) for s in range(3)]
    future = transfer(3, 5, 2 * FLOOR, 10**9)  # a big tip, but it cannot run
    for t in (*low, future):
        pool.add(t.raw)
    with pytest.raises(errors.MempoolFull):
        pool.add(transfer(4, 2, 2 * FLOOR, 5).raw)  # another future one, with a lower tip than the one held
    ready = transfer(5, 0, 2 * FLOOR, 1)
    pool.add(ready.raw)  # a ready tx outranks any future one
    assert pool.get(future.hash) is None and len(pool) == 4
    with pytest.raises(errors.MempoolFull):
        pool.add(transfer(6, 0, 2 * FLOOR, 1).raw)  # equal to the worst: no churn
    rich = transfer(7, 0, 2 * FLOOR, 500)
    pool.add(rich.raw)
    assert pool.get(ready.hash) is None and pool.get(rich.hash) is not None
    assert all(pool.get(t.hash) is not None for t in low)
    chain.store.close()


def test_future_nonces_have_a_quota_per_sender_and_in_all(tmp_path):
    chain, pool = fee_pool(tmp_path, future_per_sender=2, future_max_txs=3)
    pool.add(transfer(0, 2, 2 * FLOOR, 1).raw)
    pool.add(transfer(0, 3, 2 * FLOOR, 1).raw)
    with pytest.raises(errors.FutureQuotaFull):
        pool.add(transfer(0, 4, 2 * FLOOR, 1).raw)
    pool.add(transfer(1, 1, 2 * FLOOR, 1).raw)
    with pytest.raises(errors.FutureQuotaFull):
        pool.add(transfer(2, 1, 2 * FLOOR, 1).raw)  # the total quota is used
    assert pool.future_txs == 3
    # Filling the gap makes them ready: they leave the quota, and the sender can queue more.
    pool.add(transfer(0, 0, 2 * FLOOR, 1).raw)
    pool.add(transfer(0, 1, 2 * FLOOR, 1).raw)
    assert pool.future_txs == 1
    pool.add(transfer(2, 1, 2 * FLOOR, 1).raw)
    assert pool.future_txs == 2 and len(pool) == 6
    chain.store.close()
