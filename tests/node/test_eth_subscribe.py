"""eth_subscribe's publisher on a real server and chain: a block with thousands of events.

The views of a block's logs (checksums, ABI encoding, the bloom) cost tens of microseconds
each; built and published in one go on the event loop, a block of 80,000 events held the loop
for seconds (measured on a devnet: eth_blockNumber took 2.9 s with one logs subscriber).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from node.client.sdk import build_call, build_deploy
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.eth_api import EthApi
from node.rpc.eth_subscribe import EthSubscriptions
from node.rpc.methods import build_registry
from node.rpc.notify import CommitNotifier, register_topics
from node.rpc.server import RpcServer
from node.types.crypto import to_checksum_address
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis
from tests.node.test_chain import T0, advance
from vm import contract_address

TIMEOUT = 30.0
EVENTS = 3000
SPAM = '''
@constructor
def init():
    storage["n"] = 0

@public
def spam(n: int):
    for i in range(n):
        emit("Tick", i)
'''


@contextlib.asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, NodeApi, RpcServer, EthSubscriptions, bytes]]:
    """A chain whose last block holds EVENTS events of one contract, and a real server over it."""
    genesis = dataclasses.replace(make_genesis(), eth_chain_id=4242)
    chain, mempool = make_chain(tmp_path, genesis)
    deploy = build_deploy(key(0), CHAIN_ID, 0, SPAM, [], gas_limit=5_000_000, max_fee=1, priority_fee=0)
    advance(chain, [deploy], T0 + 1000)
    spam = contract_address(key(0).address, 0)
    call = build_call(key(0), CHAIN_ID, 1, spam, "spam", [EVENTS], gas_limit=50_000_000, max_fee=1, priority_fee=0)
    executed = advance(chain, [call], T0 + 2000)
    assert executed.receipts[0].status and len(executed.receipts[0].events) == EVENTS

    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    api = NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool))
    server = RpcServer(build_registry(api), host="127.0.0.1", port=0, shutdown_timeout=2.0)
    register_topics(server)  # the native topics, as the daemon registers them
    subs = EthSubscriptions(server, EthApi(api))
    async with asyncio.timeout(TIMEOUT):
        await server.start()
    try:
        yield executed, api, server, subs, spam
    finally:
        async with asyncio.timeout(TIMEOUT):
            await server.stop()


async def subscribed(ws: aiohttp.ClientWebSocketResponse, spam: bytes) -> list[str]:
    ids = []
    for i, params in enumerate([["newHeads"], ["logs", {"address": to_checksum_address(spam)}]]):
        await ws.send_json({"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": params})
        ids.append((await ws.receive_json(timeout=TIMEOUT))["result"])
    return ids


async def test_a_block_of_many_events_is_published_without_holding_the_loop(tmp_path: Path) -> None:
    async with served(tmp_path) as (executed, api, server, subs, spam), aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{server.port}/ws", max_msg_size=0) as ws:
        ids = await subscribed(ws, spam)

        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        await subs.publish(executed)
        during = ticks - before
        stop.set()
        await ticking
        # The loop ran other tasks while the block's views were built and its logs published.
        assert during > EVENTS // 256, during

        heads: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        async with asyncio.timeout(TIMEOUT):
            while len(heads) + len(logs) < 1 + EVENTS:
                msg = json.loads((await ws.receive()).data)
                assert msg["method"] == "eth_subscription"
                (heads if msg["params"]["subscription"] == ids[0] else logs).append(msg["params"]["result"])
        assert [h["number"] for h in heads] == [hex(executed.block.height)]
        assert [int(log["logIndex"], 16) for log in logs] == list(range(EVENTS))
        assert {log["blockHash"] for log in logs} == {"0x" + executed.hash.hex()}

        # Slow reads holding every thread of the RPC read pool do not hold back the news.
        release = threading.Event()
        busy = [asyncio.create_task(api.pool.run(lambda: release.wait(TIMEOUT))) for _ in range(8)]
        await asyncio.sleep(0.05)
        try:
            async with asyncio.timeout(5):
                await subs.publish(executed)
                head = json.loads((await ws.receive()).data)["params"]
            assert head["subscription"] == ids[0] and head["result"]["number"] == hex(executed.block.height)
        finally:
            release.set()
            await asyncio.gather(*busy)


async def test_a_failing_publisher_does_not_stop_the_others(tmp_path: Path) -> None:
    # The notifier runs in the daemon's task group: an error escaping it would stop the node.
    failures = 0

    async def broken(executed: Any) -> None:
        nonlocal failures
        failures += 1
        raise RuntimeError("a face's publisher with a bug")

    async with served(tmp_path) as (executed, _api, server, subs, spam), aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{server.port}/ws", max_msg_size=0) as ws:
        ids = await subscribed(ws, spam)
        notifier = CommitNotifier(server, publishers=[broken, subs.publish])
        running = asyncio.create_task(notifier.run())
        try:
            heads = []
            for _ in range(2):
                notifier.on_commit(executed)
                async with asyncio.timeout(TIMEOUT):
                    while True:  # this block's head, past its log notifications
                        params = json.loads((await ws.receive()).data)["params"]
                        if params["subscription"] == ids[0]:
                            heads.append(params["result"]["number"])
                            break
            assert failures == 2 and heads == [hex(executed.block.height)] * 2
            assert not running.done()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
