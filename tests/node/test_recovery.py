"""Signature recovery in worker processes: what a worker finds is what decoding would have found,
answers keep the order asked, a dead worker costs nothing but time, and a node that runs the
workers answers a JSON-RPC batch exactly as one that does not. Real spawned processes throughout."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.client.eth_sign import build_eth_tx
from node.client.sdk import build_transfer
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.mempool.recovery import RecoveryPool
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.types.envelopes import TxDecoder
from node.types.errors import InvalidTransaction
from node.types.tx import decode_tx, signer_of
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis

ETH_CHAIN_ID = 7
DECODER = TxDecoder(1 << 17, CHAIN_ID, ETH_CHAIN_ID)


def transfer(sender: int, nonce: int, amount: int = 1) -> bytes:
    return build_transfer(key(sender), CHAIN_ID, nonce, key(9).address, amount, max_fee=2, priority_fee=1).raw


def eth_transfer(sender: int, nonce: int, amount: int = 1) -> bytes:
    return build_eth_tx(key(sender), ETH_CHAIN_ID, nonce, key(9).address, amount, max_fee=2, priority_fee=1)


SAMPLE = transfer(0, 3, 12345)
ETH_SAMPLE = eth_transfer(1, 2, 777)


def outcome(raw: bytes, sender: bytes | None = None) -> Any:
    try:
        return DECODER(raw, sender)
    except InvalidTransaction as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([SAMPLE, ETH_SAMPLE]), st.integers(0, 200), st.binary(max_size=3), st.integers(0, 3))
def test_a_workers_answer_changes_no_decoding(sample, at, insert, cut):
    """For any bytes of either envelope: decoding with the worker's answer ends as decoding without it."""
    at %= len(sample)
    raw = sample[:at] + insert + sample[at + cut :]
    found = DECODER.signer(raw)
    alone = outcome(raw)
    assert outcome(raw, found) == alone
    if not isinstance(alone, type):
        assert found == alone.sender


def test_the_signer_of_each_key():
    for i in range(4):
        assert signer_of(transfer(i, 0)) == key(i).address == DECODER.signer(transfer(i, 0))
        assert DECODER.signer(eth_transfer(i, 0)) == key(i).address
    assert TxDecoder(1 << 17, CHAIN_ID, 0).signer(ETH_SAMPLE) is None  # a chain without the Ethereum face
    assert decode_tx(SAMPLE, sender=signer_of(SAMPLE)) == decode_tx(SAMPLE)
    assert signer_of(b"") is None and signer_of(b"\x92" + bytes(80)) is None
    assert signer_of(SAMPLE[:-65] + bytes(65)) is None  # a signature that recovers no key


async def test_answers_in_the_order_asked():
    pool = RecoveryPool(2, DECODER.signer)  # two workers: a later, smaller group finishes first
    try:
        raws = [transfer(i % 4, i // 4) for i in range(40)] + [ETH_SAMPLE, b"junk", SAMPLE[:-1] + b"\x00"]
        waves = [[SAMPLE] * 400, raws, [transfer(3, 9)]]
        futures: list[asyncio.Future[bytes | None]] = []
        for wave in waves:
            futures += [pool.signer(raw) for raw in wave]
            futures.append(pool.signer(b"ignored", recover=False))  # waits its turn behind them
            await asyncio.sleep(0)  # this wave leaves as a group of its own
        order: list[int] = []
        for i, f in enumerate(futures):
            f.add_done_callback(lambda _, i=i: order.append(i))
        async with asyncio.timeout(60):
            answers = await asyncio.gather(*futures)
        expected = [a for wave in waves for a in [*(DECODER.signer(raw) for raw in wave), None]]
        assert answers == expected
        assert answers[400] is None and answers[401] == key(0).address and answers[441] == key(1).address
        assert order == list(range(len(futures)))
        assert pool.found == sum(a is not None for a in expected) >= 441
        # Nothing in flight: a submission that needs no recovery is answered at once.
        assert pool.signer(b"x", recover=False).done()
    finally:
        pool.close()


async def test_a_killed_worker_is_replaced_and_the_loop_recovers_its_group():
    pool = RecoveryPool(1, DECODER.signer)
    try:
        async with asyncio.timeout(60):
            assert await pool.signer(SAMPLE) == key(0).address
            executor = pool._executor
            for pid in list(executor._processes):  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
            first = await asyncio.gather(*[pool.signer(transfer(1, n)) for n in range(5)])
            assert first == [None] * 5  # the loop recovers these itself
            assert pool._executor is not executor and not pool.closed
            assert await pool.signer(transfer(2, 0)) == key(2).address
    finally:
        pool.close()
    assert pool.signer(SAMPLE).result() is None  # closed: the loop recovers everything


async def test_closing_with_groups_in_flight_answers_every_one():
    pool = RecoveryPool(1, DECODER.signer)
    futures: list[asyncio.Future[bytes | None]] = []
    for _ in range(8):
        futures += [pool.signer(SAMPLE) for _ in range(200)]
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    pool.close()
    async with asyncio.timeout(10):
        answers = await asyncio.gather(*futures)
    assert set(answers) <= {None, key(0).address} and None in answers
    assert pool._unanswered == 0


def batch(registry, raws: list[bytes]) -> list[dict[str, Any]]:
    doc = [{"jsonrpc": "2.0", "id": i, "method": "tx_send", "params": ["0x" + raw.hex()]} for i, raw in enumerate(raws)]
    return json.loads(asyncio.run(registry.handle(json.dumps(doc))))


def test_a_node_with_workers_answers_a_batch_as_one_without(tmp_path):
    raws = [transfer(i % 4, i // 4) for i in range(60)]
    # A bad signature, a duplicate, one behind a nonce gap, garbage, an unfunded sender, one more,
    # and Ethereum-signed ones: next in line, the same again, and one for another chain.
    raws += [SAMPLE[:-65] + bytes(65), raws[5], transfer(0, 40), b"\x92\x01", transfer(7, 0), transfer(3, 15, 2),
             eth_transfer(1, 15), eth_transfer(1, 15), build_eth_tx(key(2), 8, 15, key(9).address, 1, max_fee=2,
                                                                  priority_fee=1)]
    genesis = dataclasses.replace(make_genesis(), eth_chain_id=ETH_CHAIN_ID)
    answers, pools, sizes, admitted = [], [], [], []
    for name, recovery in (("alone", None), ("workers", RecoveryPool(1, TxDecoder.for_genesis(genesis).signer))):
        chain, mempool = make_chain(tmp_path / name, genesis)
        engine = Engine(chain, mempool, None, WAL(tmp_path / name / "wal"), EngineConfig(), Outbox())
        api = NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool), recovery=recovery)
        try:
            answers.append(batch(build_registry(api), raws))
        finally:
            if recovery is not None:
                recovery.close()
                # Every signed one for this chain (the duplicates were not known yet either).
                assert recovery.found == 66
        pools.append(sorted(tx.hash for tx in mempool.reap(1000, 1 << 30, 1 << 60)))
        sizes.append(len(mempool))
        admitted.append(list(mempool._by_hash))  # in the order admitted
    assert answers[0] == answers[1]
    assert admitted[0] == admitted[1]
    assert pools[0] == pools[1] and len(pools[0]) == 62 and sizes == [63, 63]
    assert sum("error" in a for a in answers[0]) == 6
