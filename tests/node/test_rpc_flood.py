"""A real one-validator node keeps producing blocks while clients flood its JSON-RPC with the
most expensive calls: contract_call batches at the gas cap, big account_txs pages, fresh
tx_estimateGas deploys, full chain_getBlock batches, and thousands of idle connections."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from node.client.sdk import build_deploy
from node.rpc.contracts import QUERY_GAS_CAP
from node.types.crypto import to_checksum_address
from tests.node.helpers import CHAIN_ID, key
from tests.node.nodes import make_node_home
from vm import contract_address

pytestmark = pytest.mark.slow

SPIN = '''
@view
def spin() -> int:
    n = 0
    while True:
        n += 1
    return n
'''
FLOOD_SECONDS = 20.0
MIN_NEW_HEIGHTS = 5  # with 200 ms commits a healthy node makes far more; a stalled one none


@pytest.fixture
def node(tmp_path):
    proc = make_node_home(tmp_path)
    proc.start()
    proc.wait_ready()
    yield proc
    proc.stop()


def batch(method: str, params: list, n: int = 100) -> list[dict]:
    return [{"jsonrpc": "2.0", "id": i, "method": method, "params": params} for i in range(n)]


async def flood(url: str, payloads: list[list[dict]], deadline: float) -> tuple[int, int]:
    """(members answered with a result, members answered with an error) until the deadline."""
    results = errors = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker(payload: list[dict]) -> None:
            nonlocal results, errors
            while time.monotonic() < deadline:
                try:
                    async with session.post(url, json=payload) as resp:
                        answers = await resp.json() if resp.status == 200 else []
                    results += sum("result" in a for a in answers)
                    errors += sum("error" in a for a in answers)
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(worker(p) for p in payloads))
    return results, errors


async def idle_connections(port: int, n: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(n):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            break
        writers.append(writer)
    return writers


def test_blocks_keep_coming_during_an_rpc_flood(node):
    client = node.client
    deploy = build_deploy(key(0), CHAIN_ID, 0, SPIN, [], gas_limit=5_000_000)
    client.wait_for_tx(client.send_raw(deploy.raw), timeout=60)
    contract = to_checksum_address(contract_address(key(0).address, 0))
    sender = to_checksum_address(key(1).address)
    start_height = client.status()["height"]

    async def run() -> tuple[tuple[int, int], int, int]:
        deadline = time.monotonic() + FLOOD_SECONDS
        payloads = [batch("contract_call", [contract, "spin", [], "latest", None, QUERY_GAS_CAP])] * 4
        payloads += [batch("account_txs", [sender, 1000])] * 2
        payloads += [[{"jsonrpc": "2.0", "id": i, "method": "tx_estimateGas",
                       "params": [{"from": sender, "source": SPIN + f"\n# {i} {time.time()}\n" + "#" * 60_000}]}
                      for i in range(15)]]
        payloads += [batch("chain_getBlock", [1, True])] * 2
        # Idle connections up to below the per-address cap, so the flood itself gets through.
        writers = await idle_connections(int(node.rpc_url.rsplit(":", 1)[1]), 40)
        try:
            counts = await flood(node.rpc_url + "/", payloads, deadline)
        finally:
            for w in writers:
                w.close()
        return counts, len(writers), client.status()["height"]

    (results, errors), idle, end_height = asyncio.run(run())
    produced = end_height - start_height
    print(f"flood: {results} calls answered with a result, {errors} with an error, {idle} idle connections, "
          f"{produced} heights in {FLOOD_SECONDS:.0f} s")
    assert results > 0
    assert produced >= MIN_NEW_HEIGHTS, f"only {produced} new heights during the flood"


def test_thousands_of_idle_connections_do_not_take_the_node_down(node):
    port = int(node.rpc_url.rsplit(":", 1)[1])
    start_height = node.client.status()["height"]

    async def hold() -> int:
        writers = await idle_connections(port, 3000)
        await asyncio.sleep(2)
        for w in writers:
            w.close()
        return len(writers)

    opened = asyncio.run(hold())
    assert node.proc is not None and node.proc.poll() is None, node.log_tail()
    assert node.wait_height(start_height + 3, timeout=60) >= start_height + 3
    print(f"idle: {opened} connections opened and held; node alive, heights advanced")
