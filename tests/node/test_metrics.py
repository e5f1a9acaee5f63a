"""Metrics wiring in one process: two real nodes (LevelDB, sockets), each with its own registry,
scraped over HTTP; the [metrics] options of config.toml; the per-block and per-call arithmetic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from devnet.process import free_port
from node.client.sdk import build_transfer
from node.config import ConfigError, init_home, load_config
from node.daemon import Node
from node.metrics.instruments import ConsensusMetrics, RpcMetrics
from node.types.crypto import to_checksum_address
from node.types.genesis import GenesisAccount, Params, TimeoutsMs
from tests.node.helpers import COIN, key

pytestmark = pytest.mark.timeout(60)


def make_home(tmp: Path, name: str, chain_id: str, metrics: str | None = None) -> Path:
    home = tmp / name
    init_home(home, chain_id=chain_id, moniker=name, rpc_port=free_port(), p2p_port=free_port(),
              accounts=(GenesisAccount(key(0).address, 1000 * COIN),),
              params=Params(timeouts=TimeoutsMs(commit=100)), validator_key=key(100 + len(name)))
    if metrics is not None:
        set_metrics_table(home, metrics)
    return home


def set_metrics_table(home: Path, body: str) -> None:
    """Replace what `init` wrote in [metrics] (its last table) with `body`."""
    cfg = home / "config" / "config.toml"
    text = cfg.read_text()
    cfg.write_text(text[: text.index("\n[metrics]\n")] + "\n[metrics]\n" + body + "\n")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with session.post(url, json=body) as resp:
        return await resp.json()


async def wait_height(session: aiohttp.ClientSession, url: str, height: int, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                if (await rpc(session, url, "node_status"))["result"]["height"] >= height:
                    return
            except aiohttp.ClientConnectionError:  # the node is still starting
                pass
            await asyncio.sleep(0.05)


async def test_two_nodes_in_one_process_keep_their_own_metrics(tmp_path):
    a = Node(load_config(make_home(tmp_path, "a", "chain-a")))
    b = Node(load_config(make_home(tmp_path, "b", "chain-b")))
    assert a.metrics is not None and b.metrics is not None and a.metrics is not b.metrics
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg, aiohttp.ClientSession() as session:
        tg.create_task(a.run(stop))
        tg.create_task(b.run(stop))
        try:
            url_a, url_b = f"http://127.0.0.1:{a.config.rpc_port}/", f"http://127.0.0.1:{b.config.rpc_port}/"
            await wait_height(session, url_a, 1)
            await wait_height(session, url_b, 1)
            tx = build_transfer(key(0), "chain-a", 0, to_checksum_address(key(1).address), 5)
            assert "result" in await rpc(session, url_a, "tx_send", "0x" + tx.raw.hex())
            # A future nonce stays in the mempool (behind its gap) for the gauges below.
            gap = build_transfer(key(0), "chain-a", 5, to_checksum_address(key(1).address), 5)
            assert "result" in await rpc(session, url_a, "tx_send", "0x" + gap.raw.hex())
            assert (await rpc(session, url_a, "no_such_method"))["error"]["code"] == -32601
            assert (await rpc(session, url_a, "also_missing"))["error"]["code"] == -32601
            async with asyncio.timeout(15):
                while (await rpc(session, url_a, "tx_get", "0x" + tx.hash.hex()))["result"]["status"] != "committed":
                    await asyncio.sleep(0.05)
            height_a = (await rpc(session, url_a, "node_status"))["result"]["height"]
            async with session.ws_connect(url_a + "ws") as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": ["newHeads"]})
                assert "result" in await ws.receive_json(timeout=5)
                async with session.get(url_a + "metrics") as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                    sa = samples(await resp.text())
            async with session.get(url_b + "metrics") as resp:
                sb = samples(await resp.text())
        finally:
            stop.set()
    assert sa[("finchain_consensus_height", ())] >= height_a
    assert sa[("finchain_consensus_total_txs", ())] == 1
    assert sa[("finchain_consensus_committed_txs_total", ())] == 1
    assert sb[("finchain_consensus_total_txs", ())] == 0
    assert sa[("finchain_rpc_requests_total", (("method", "tx_send"),))] == 2
    assert ("finchain_rpc_requests_total", (("method", "tx_send"),)) not in sb
    # Two different unknown names share one label value.
    assert sa[("finchain_rpc_requests_total", (("method", "unknown"),))] == 2
    assert not any(k[0] == "finchain_rpc_requests_total" and ("method", "no_such_method") in k[1] for k in sa)
    assert sa[("finchain_rpc_request_duration_seconds_count", (("method", "tx_send"),))] == 2
    assert sa[("finchain_mempool_size", ())] == 1
    assert sa[("finchain_mempool_future_size", ())] == 1
    assert sa[("finchain_mempool_size_bytes", ())] == len(gap.raw)
    assert sa[("finchain_consensus_wal_fsync_seconds_count", ())] > 0
    assert sa[("finchain_consensus_block_execution_seconds_count", ())] >= height_a - 1
    assert sa[("finchain_consensus_block_commit_seconds_count", ())] >= height_a - 1
    assert sa[("finchain_consensus_rounds", ())] == 1
    assert sa[("finchain_p2p_peers", ())] == 0
    assert sa[("finchain_rpc_ws_connections", ())] == 1
    assert sa[("finchain_rpc_ws_subscriptions", (("topic", "newHeads"),))] == 1
    assert sa[("finchain_rpc_ws_subscriptions", (("topic", "tx"),))] == 0
    assert sa[("finchain_rpc_requests_total", (("method", "subscribe"),))] == 1  # WebSocket calls count too
    assert sb[("finchain_rpc_ws_connections", ())] == 0
    assert sa[("finchain_process_resident_memory_bytes", ())] > 1 << 20
    # The directly read registry agrees with the scrape.
    assert a.metrics.get_sample_value("finchain_consensus_total_txs") == 1


async def test_metrics_on_a_port_of_their_own_and_switched_off(tmp_path):
    port = free_port()
    own = Node(load_config(make_home(tmp_path, "own", "chain-o", f'enabled = true\nlisten = "127.0.0.1:{port}"')))
    off = Node(load_config(make_home(tmp_path, "off", "chain-f", "enabled = false")))
    assert off.metrics is None and own.metrics_server is not None
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg, aiohttp.ClientSession() as session:
        tg.create_task(own.run(stop))
        tg.create_task(off.run(stop))
        try:
            await wait_height(session, f"http://127.0.0.1:{own.config.rpc_port}/", 1)
            await wait_height(session, f"http://127.0.0.1:{off.config.rpc_port}/", 1)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
            async with session.get(f"http://127.0.0.1:{own.config.rpc_port}/metrics") as resp:
                assert resp.status == 404
            async with session.get(f"http://127.0.0.1:{off.config.rpc_port}/metrics") as resp:
                assert resp.status == 404
        finally:
            stop.set()
    assert samples(text)[("finchain_consensus_height", ())] >= 1


@pytest.mark.parametrize(("table", "message"), [
    ('enabled = "yes"', "metrics.enabled must be bool"),
    ('listen = "nowhere"', "metrics.listen: expected host:port"),
    ("listen = 9100", "metrics.listen must be str"),
])
def test_bad_metrics_options_are_refused(tmp_path, table, message):
    home = make_home(tmp_path, "n", "chain-n", table)
    with pytest.raises(ConfigError, match=message):
        load_config(home)


def test_metrics_port_must_not_be_the_rpc_port(tmp_path):
    home = make_home(tmp_path, "n", "chain-n")
    set_metrics_table(home, f'listen = "127.0.0.1:{load_config(home).rpc_port}"')
    with pytest.raises(ConfigError, match=r"takes the port of rpc\.listen"):
        load_config(home)


def test_init_writes_the_metrics_defaults(tmp_path):
    home = make_home(tmp_path, "n", "chain-n")
    assert "[metrics]\n" in (home / "config" / "config.toml").read_text()
    config = load_config(home)
    assert (config.metrics_enabled, config.metrics_host, config.metrics_port) == (True, None, None)


def test_block_numbers_of_consecutive_commits():
    registry = CollectorRegistry()
    m = ConsensusMetrics(registry)
    # (decision round, txs, bytes, header time ms)
    for round_, txs, size, time_ms in [(0, 0, 100, 1_000), (2, 50, 200, 2_000), (0, 150, 300, 3_000)]:
        m.on_commit(round_, txs, size, time_ms, 0.01, 0.002)
    v = registry.get_sample_value
    assert v("finchain_consensus_txs_per_second") == 100  # 200 txs in the 2 s since the first block
    assert v("finchain_consensus_block_interval_seconds_count") == 2
    assert v("finchain_consensus_block_interval_seconds_sum") == 2.0
    assert v("finchain_consensus_rounds") == 1
    assert (v("finchain_consensus_height_rounds_sum"), v("finchain_consensus_height_rounds_count")) == (5, 3)
    assert v("finchain_consensus_height_rounds_bucket", {"le": "2.0"}) == 2  # two heights of one round
    assert (v("finchain_consensus_total_txs"), v("finchain_consensus_committed_txs_total")) == (200, 200)
    assert (v("finchain_consensus_num_txs"), v("finchain_consensus_block_size_bytes")) == (150, 300)
    assert v("finchain_consensus_block_commit_seconds_count") == v("finchain_mempool_recheck_seconds_count") == 3
    # Only the last 10 intervals count: 12 more blocks of 10 txs a second later each.
    for i in range(12):
        m.on_commit(0, 10, 100, 4_000 + 1_000 * i, 0.01, 0.002)
    assert v("finchain_consensus_txs_per_second") == 10


def test_rpc_latency_buckets_are_upper_bounds():
    registry = CollectorRegistry()
    m = RpcMetrics(registry)
    m.on_call("tx_send", 0.0005)  # exactly a bound: counted in it (le)
    m.on_call("tx_send", 20.0)  # past the last bound: +Inf only
    m.on_call(None, 0.0)
    v = registry.get_sample_value
    assert v("finchain_rpc_request_duration_seconds_bucket", {"method": "tx_send", "le": "0.0005"}) == 1
    assert v("finchain_rpc_request_duration_seconds_bucket", {"method": "tx_send", "le": "10.0"}) == 1
    assert v("finchain_rpc_request_duration_seconds_bucket", {"method": "tx_send", "le": "+Inf"}) == 2
    assert v("finchain_rpc_request_duration_seconds_sum", {"method": "tx_send"}) == 20.0005
    assert v("finchain_rpc_requests_total", {"method": "unknown"}) == 1
