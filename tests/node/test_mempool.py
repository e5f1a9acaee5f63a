import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.mempool.pool import ChainView, MempoolConfig
from node.mempool.verifier import TxVerifier
from node.types import errors
from node.types.tx import Transfer, TxBody
from tests.node.helpers import CHAIN_ID, COIN, key, make_chain


def tx(sender=0, nonce=0, amount=1, max_fee=1, priority_fee=0, gas_limit=21_000, chain_id=CHAIN_ID, expiry=0, to=1):
    body = TxBody(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry, Transfer(key(to).address, amount))
    return body.sign(key(sender))


@pytest.fixture
def pool(tmp_path):
    chain, mempool = make_chain(tmp_path)
    yield mempool
    chain.store.close()


@pytest.mark.parametrize(
    "build, error",
    [
        (lambda: tx(chain_id="other"), errors.WrongChain),
        (lambda: tx(nonce=1000), errors.NonceTooHigh),
        (lambda: tx(gas_limit=20_999), errors.GasLimitTooLow),
        (lambda: tx(gas_limit=10**12), errors.GasLimitTooHigh),
        (lambda: tx(max_fee=0), errors.FeeTooLow),
        (lambda: tx(amount=2000 * COIN), errors.InsufficientFunds),
        (lambda: tx(sender=50), errors.InsufficientFunds),
    ],
)
def test_admission_rejects_with_typed_error(pool, build, error):
    with pytest.raises(error) as info:
        pool.add(build().raw)
    assert info.value.code == error.code
    assert len(pool) == 0


def test_nonce_too_low_after_commit_and_expired(tmp_path):
    chain, pool = make_chain(tmp_path)
    first = tx(nonce=0)
    pool.add(first.raw)
    executed = chain.build_block(key(100).address, pool.reap(10, 10**7, 10**9), None, 1_700_000_001_000)
    from node.types.block import Commit

    chain.commit_block(executed, Commit(1, 0, executed.hash, ()))
    from node.mempool.pool import ChainView

    pool.update(ChainView(CHAIN_ID, 2, 1, 10**9), executed.txs)
    assert len(pool) == 0
    with pytest.raises(errors.NonceTooLow):
        pool.add(tx(nonce=0, amount=2).raw)
    with pytest.raises(errors.Expired):
        pool.add(tx(nonce=1, expiry=1).raw)
    chain.store.close()


def test_malformed_and_already_known(pool):
    with pytest.raises(errors.MalformedTransaction):
        pool.add(b"\x93\x01\x02")
    t = tx()
    pool.add(t.raw)
    with pytest.raises(errors.AlreadyKnown):
        pool.add(t.raw)


def test_replace_by_fee(pool):
    pool.add(tx(max_fee=10).raw)
    with pytest.raises(errors.ReplacementUnderpriced):
        pool.add(tx(max_fee=10, amount=2).raw)
    with pytest.raises(errors.ReplacementUnderpriced):
        pool.add(tx(max_fee=10 + 0, amount=3).raw)
    better = tx(max_fee=11, amount=4)
    pool.add(better.raw)
    assert len(pool) == 1
    assert pool.get(better.hash) is not None


def test_eviction_of_lowest_paying(tmp_path):
    chain, pool = make_chain(tmp_path, mempool_config=MempoolConfig(max_txs=3))
    cheap = [tx(sender=s, max_fee=1) for s in range(3)]
    for t in cheap:
        pool.add(t.raw)
    with pytest.raises(errors.MempoolFull):
        pool.add(tx(sender=3, max_fee=1).raw)
    rich = tx(sender=3, max_fee=5, priority_fee=4)
    pool.add(rich.raw)
    assert len(pool) == 3
    assert pool.get(rich.hash) is not None
    assert sum(pool.get(t.hash) is None for t in cheap) == 1
    chain.store.close()


def test_cumulative_balance_and_recheck(tmp_path):
    chain, pool = make_chain(tmp_path)
    # 1000 coins: two sends of 400 fit, a third does not.
    pool.add(tx(nonce=0, amount=400 * COIN).raw)
    pool.add(tx(nonce=1, amount=400 * COIN).raw)
    with pytest.raises(errors.InsufficientFunds):
        pool.add(tx(nonce=2, amount=400 * COIN).raw)
    assert pool.pending_nonce(key(0).address) == 2
    chain.store.close()


def test_reap_orders_by_price_and_nonce(pool):
    pool.add(tx(sender=0, nonce=1, max_fee=50, priority_fee=49).raw)
    pool.add(tx(sender=0, nonce=0, max_fee=1).raw)
    pool.add(tx(sender=2, nonce=0, max_fee=10, priority_fee=9).raw)
    reaped = list(pool.reap(10, 10**7, 10**9))
    assert [(t.sender, t.body.nonce) for t in reaped] == [(key(2).address, 0), (key(0).address, 0), (key(0).address, 1)]


def test_ttl_and_rejection_cache(tmp_path):
    clock = [0.0]
    chain, pool = make_chain(tmp_path, mempool_config=MempoolConfig(ttl_seconds=10), clock=clock)
    pool.add(tx().raw)
    clock[0] = 11
    from node.mempool.pool import ChainView

    pool.update(ChainView(CHAIN_ID, 1, 1, 10**9), [])
    assert len(pool) == 0
    bad = tx(chain_id="other").raw
    with pytest.raises(errors.WrongChain):
        pool.add(bad)
    with pytest.raises(errors.WrongChain):
        pool.add(bad)
    chain.store.close()


def test_signature_checked_once(pool):
    t = tx()
    admitted = pool.add(t.raw)
    # The chain decodes a block's transactions through the same verifier: no second recovery.
    assert pool.decode_verified(t.raw) is admitted


def test_held_transactions_outlive_the_verifier_cache():
    verifier = TxVerifier(1 << 20, cache_size=2)
    held = verifier.decode(tx(nonce=0).raw)
    verifier.hold(held)
    others = [verifier.decode(tx(nonce=n).raw) for n in range(1, 5)]  # evicts the held one from the cache
    assert verifier.decode(held.raw) is held
    assert verifier.decode(others[0].raw) is not others[0]  # evicted and not held: decoded again
    verifier.release(held.hash)
    verifier.decode(tx(nonce=7).raw)
    verifier.decode(tx(nonce=8).raw)
    assert verifier.decode(held.raw) is not held


def test_held_ethereum_transactions_outlive_the_verifier_cache():
    # Held by their Keccak-256 id: looked up by the native tagged hash they were never found again.
    from eth_account import Account

    from node.types.envelopes import TxDecoder

    def eth_raw(nonce):
        return bytes(Account.sign_transaction({"type": 2, "chainId": 7, "nonce": nonce, "to": key(1).address,
                                               "value": 1, "gas": 21_000, "maxFeePerGas": 9,
                                               "maxPriorityFeePerGas": 2}, key(0).secret).raw_transaction)

    verifier = TxVerifier(1 << 20, cache_size=2, decoder=TxDecoder(1 << 20, CHAIN_ID, 7))
    held = verifier.decode(eth_raw(0))
    verifier.hold(held)
    others = [verifier.decode(eth_raw(n)) for n in range(1, 5)]  # evicts the held one from the cache
    assert verifier.decode(held.raw) is held
    assert verifier.decode(others[0].raw) is not others[0]


def test_a_dropped_tx_can_be_sent_again(tmp_path):
    clock = [0.0]
    chain, pool = make_chain(tmp_path, mempool_config=MempoolConfig(ttl_seconds=10), clock=clock)
    t = tx()
    pool.add(t.raw)
    with pytest.raises(errors.AlreadyKnown):
        pool.add(t.raw)
    clock[0] = 11
    from node.mempool.pool import ChainView

    pool.update(ChainView(CHAIN_ID, 1, 1, 10**9), [])
    assert pool.get(t.hash) is None
    pool.add(t.raw)  # temporary rejections are not remembered
    assert pool.get(t.hash) is not None
    chain.store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([0, 0, 2, 3, 5]),
                          st.floats(0, 4)), min_size=1, max_size=30),
       st.integers(1, 6))
def test_a_blocks_sweep_drops_exactly_the_expired(tmp_path_factory, adds, height):
    # The sweep visits only the entries with an expiry height and the oldest ones, not the
    # whole pool: it must still drop exactly what a visit of every entry would.
    clock = [0.0]
    chain, pool = make_chain(tmp_path_factory.mktemp("m"), mempool_config=MempoolConfig(ttl_seconds=10), clock=clock)
    for sender, nonce, expiry, wait in adds:
        clock[0] += wait
        with contextlib.suppress(errors.InvalidTransaction):
            pool.add(tx(sender=sender, nonce=nonce, expiry=expiry, max_fee=2).raw)
    clock[0] += 5
    entries = list(pool._by_hash.values())
    expired = {e.tx.hash for e in entries
               if (e.tx.body.expiry_height and e.tx.body.expiry_height < height) or clock[0] - e.added_at > 10}
    pool.update(ChainView(CHAIN_ID, height, 1, 10**9), [])
    left = set(pool._by_hash)
    assert not left & expired
    # What else went was behind an expired nonce of its sender (a gap now), never a survivor's predecessor.
    for e in entries:
        if e.tx.hash not in expired and e.tx.hash not in left:
            assert any(x.tx.sender == e.tx.sender and x.tx.body.nonce < e.tx.body.nonce and x.tx.hash in expired
                       for x in entries), e
    chain.store.close()


def test_holds_answers_for_pending_bytes_only(pool):
    t = tx()
    assert not pool.holds(t.raw)
    pool.add(t.raw)
    assert pool.holds(bytes(t.raw)) and not pool.holds(tx(nonce=1).raw)
    pool.remove([t.hash])
    assert not pool.holds(t.raw)  # still in the verifier's cache, no longer pending: add it again
    pool.add(t.raw)
    assert pool.holds(t.raw)


def test_a_reap_reads_no_account_and_follows_blocks_it_did_not_build(tmp_path):
    # 30,000 pending senders read one by one per proposal took the whole build budget: blocks
    # carried 63 transactions. The pool keeps each pending sender's nonce, and a block carrying a
    # sender's transactions (even ones this pool never held) refreshes it.
    from node.types.block import Commit

    chain, pool = make_chain(tmp_path)
    for sender in range(3):
        for nonce in range(3):
            pool.add(tx(sender=sender, nonce=nonce, max_fee=2).raw)
    reads = []
    real = pool._get_account
    pool._get_account = lambda address: reads.append(address) or real(address)
    assert len(list(pool.reap(100, 10**7, 10**9))) == 9 and reads == []
    # Another proposer's block: sender 0's nonces 0 and 1, and sender 3, whom this pool never saw.
    elsewhere = [tx(sender=0, nonce=0, max_fee=2), tx(sender=0, nonce=1, max_fee=2), tx(sender=3, nonce=0, max_fee=2)]
    executed = chain.build_block(key(100).address, elsewhere, None, 1_700_000_001_000)
    assert len(executed.txs) == 3
    chain.commit_block(executed, Commit(1, 0, executed.hash, ()))
    pool.update(ChainView(CHAIN_ID, 2, 1, 10**9), executed.txs)
    reaped = [(t.sender, t.body.nonce) for t in pool.reap(100, 10**7, 10**9)]
    assert sorted(reaped) == sorted([(key(0).address, 2)] + [(key(s).address, n) for s in (1, 2) for n in range(3)])
    assert pool.pending_nonce(key(0).address) == 3 and pool.pending_nonce(key(3).address) is None
    chain.store.close()
