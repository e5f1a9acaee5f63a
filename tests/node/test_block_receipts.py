"""chain_getBlockReceipts pages a large block (offset/limit/next/tx_count), and the SDK's
blocks_receipts joins the pages of many blocks through a real RPC server on 127.0.0.1.

A bench block of 18,000 transfers answered over the 16 MiB response limit in one piece, so
neither the bench nor the AML monitor could read it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from node.client.sdk import AsyncClient, RpcCallError, build_transfer
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import MAX_RECEIPTS_PAGE, NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.rpc.registry import INVALID_PARAMS, Registry
from node.rpc.server import RpcServer
from tests.node.helpers import CHAIN_ID, key, make_chain
from tests.node.test_chain import T0, advance

TXS = 11


@pytest.fixture
def world(tmp_path) -> tuple[Registry, list[str]]:
    chain, mempool = make_chain(tmp_path)
    txs = [build_transfer(key(i % 4), CHAIN_ID, i // 4, key(5).address, i + 1, max_fee=2, priority_fee=1)
           for i in range(TXS)]
    advance(chain, txs, T0 + 1000)  # block 1: TXS transfers
    advance(chain, txs[:0], T0 + 2000)  # block 2: empty
    advance(chain, [build_transfer(key(0), CHAIN_ID, 3, key(5).address, 99, max_fee=2, priority_fee=1)],
            T0 + 3000)  # block 3: one
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))
    return registry, ["0x" + t.hash.hex() for t in txs]


def call(registry: Registry, method: str, *params: Any) -> dict[str, Any]:
    answer = asyncio.run(registry.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                                     "params": list(params)})))
    assert answer is not None
    return json.loads(answer)


def test_pages_join_to_the_whole_block(world):
    registry, hashes = world
    whole = call(registry, "chain_getBlockReceipts", 1)["result"]
    assert whole["tx_count"] == TXS and whole["next"] is None
    assert [t["tx"]["hash"] for t in whole["txs"]] == hashes
    for limit in (1, 3, 4, TXS, TXS + 5):
        offset, joined = 0, []
        while offset is not None:
            page = call(registry, "chain_getBlockReceipts", 1, offset, limit)["result"]
            assert page["tx_count"] == TXS and page["hash"] == whole["hash"]
            assert len(page["txs"]) == min(limit, TXS - offset)
            joined += page["txs"]
            offset = page["next"]
        assert joined == whole["txs"], limit
    past = call(registry, "chain_getBlockReceipts", 1, TXS + 3, 2)["result"]
    assert (past["txs"], past["next"], past["tx_count"]) == ([], None, TXS)
    empty = call(registry, "chain_getBlockReceipts", 2, 0, 5)["result"]
    assert (empty["txs"], empty["next"], empty["tx_count"]) == ([], None, 0)


def test_bad_offsets_and_limits_are_invalid_params(world):
    registry, _ = world
    for params in ((1, -1), (1, 0, 0), (1, 0, MAX_RECEIPTS_PAGE + 1), (1, 0, -3), (1, 1.5), (1, 0, True)):
        error = call(registry, "chain_getBlockReceipts", *params)["error"]
        assert error["code"] == INVALID_PARAMS, (params, error)
        assert "offset" in error["message"] or "limit" in error["message"], error


async def test_sdk_joins_pages_of_many_blocks(world):
    registry, hashes = world
    server = RpcServer(registry, host="127.0.0.1", port=0, shutdown_timeout=2.0)
    async with asyncio.timeout(10):
        await server.start()
    try:
        async with AsyncClient(f"http://127.0.0.1:{server.port}", timeout=10) as client:
            blocks = await client.blocks_receipts([1, 2, 3, 1], page=2, per_batch=3)
            assert [b["height"] for b in blocks] == [1, 2, 3, 1]
            assert [t["tx"]["hash"] for t in blocks[0]["txs"]] == hashes
            assert blocks[3]["txs"] == blocks[0]["txs"] and blocks[0]["next"] is None
            assert [len(b["txs"]) for b in blocks] == [TXS, 0, 1, TXS]
            with pytest.raises(RpcCallError):
                await client.blocks_receipts([1, 9])  # no block 9
    finally:
        await server.stop()
