"""End to end with a real `finchain node` process: transfers by SDK and CLI, restart, same state."""

from __future__ import annotations

import subprocess
import sys

import pytest

from node.client.sdk import RpcCallError, build_transfer
from node.types.crypto import to_checksum_address
from tests.node.helpers import CHAIN_ID, COIN, key
from tests.node.nodes import BALANCE, FUNDED, make_node_home

pytestmark = pytest.mark.slow

SDK_TXS = 180
CLI_TXS = 20


def addr(i: int) -> str:
    return to_checksum_address(key(i).address)


@pytest.fixture
def node(tmp_path):
    proc = make_node_home(tmp_path)
    proc.start()
    proc.wait_ready()
    yield proc
    proc.stop()


def test_transfers_commit_exactly_and_survive_restart(node, tmp_path):
    client = node.client
    expected = {addr(i): BALANCE for i in range(FUNDED)}
    nonces = dict.fromkeys(range(FUNDED), 0)
    hashes = []
    for n in range(SDK_TXS):
        sender, to = n % FUNDED, (n * 7 + 3) % FUNDED
        amount = (n + 1) * 10**15 + n  # odd units: exactness to the unit
        tx = build_transfer(key(sender), CHAIN_ID, nonces[sender], addr(to), amount, max_fee=10**9 * (2 + n % 3),
                            priority_fee=10**8 * (n % 3))
        nonces[sender] += 1
        hashes.append(client.send_raw(tx.raw))
        expected[addr(sender)] -= amount
        expected[addr(to)] += amount
    for n in range(CLI_TXS):
        sender, to = n % FUNDED, (n + 1) % FUNDED
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "node",
                "tx",
                "transfer",
                "--rpc",
                node.rpc_url,
                "--key-file",
                str(tmp_path / f"key{sender}.json"),
                "--to",
                addr(to),
                "--amount",
                "0.25",
                "--wait",
                # The first sets its fee, the others take the node's suggestion.
                *(["--max-fee", str(3 * 10**9), "--priority-fee", str(10**9)] if n == 0 else []),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert '"status": "success"' in out.stdout
        hashes.append(out.stdout.split('"hash": "')[1].split('"')[0])
        expected[addr(sender)] -= COIN // 4
        expected[addr(to)] += COIN // 4
    fees: dict[str, int] = {}
    for h in hashes:
        answer = client.wait_for_tx(h, timeout=60)
        assert answer["receipt"]["status"] == "success", answer
        fees[answer["tx"]["from"]] = fees.get(answer["tx"]["from"], 0) + int(answer["receipt"]["fee"])
    for a, fee in fees.items():
        expected[a] -= fee
    balances = {a: client.balance(a) for a in expected}
    assert balances == expected
    assert sum(balances.values()) + sum(fees.values()) == FUNDED * BALANCE

    status = client.status()
    history = client.call("account_txs", addr(0), 1000)
    assert len(history["txs"]) == sum(1 for h in hashes if client.get_tx(h)["tx"]["from"] == addr(0)) + sum(
        1 for h in hashes if client.get_tx(h)["tx"]["to"] == addr(0)
    )
    heights = [(t["height"], t["index"]) for t in history["txs"]]
    assert heights == sorted(heights, reverse=True)
    assert history["next_cursor"] is None and len(history["txs"]) >= 3
    # Pages of 2 give the same history; the last page says there is no next one.
    pages, cursor = [], None
    while True:
        page = client.call("account_txs", addr(0), 2, cursor)
        pages.append(page["txs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [t for p in pages for t in p] == history["txs"]
    assert all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    for bad in ("-1:0", "1:99999999999", "x", "1:2:3"):
        with pytest.raises(RpcCallError) as err:
            client.call("account_txs", addr(0), 2, bad)
        assert err.value.code == -32602

    assert node.stop() == 0
    node.start()
    node.wait_ready()
    after = node.client.call("chain_getHeader", status["height"])
    assert after["state_root"] == status["state_root"]
    assert {a: node.client.balance(a) for a in expected} == expected
    assert node.client.call("account_txs", addr(0), 1000)["txs"] == history["txs"]
    node.wait_height(status["height"] + 2)


def test_rejections_are_typed(node):
    client = node.client
    cases = [
        (build_transfer(key(0), "other-chain", 0, addr(1), 1).raw, "wrong_chain"),
        (build_transfer(key(0), CHAIN_ID, 99_999, addr(1), 1).raw, "nonce_too_high"),
        (build_transfer(key(50), CHAIN_ID, 0, addr(1), 1).raw, "insufficient_funds"),
        (build_transfer(key(0), CHAIN_ID, 0, addr(1), 1, gas_limit=20_000).raw, "gas_limit_too_low"),
        (b"\x92\x01\x02", "malformed"),
    ]
    for raw, reason in cases:
        with pytest.raises(RpcCallError) as info:
            client.send_raw(raw)
        assert info.value.reason == reason
    # None of them got in, and the node goes on committing blocks.
    assert client.call("mempool_status")["size"] == 0
    sender = client.call("account_get", addr(0))
    assert (sender["nonce"], sender["pending_nonce"]) == (0, 0)
    node.wait_height(client.status()["height"] + 1)  # raises TimeoutError if no block follows


def _post(url: str, body: bytes) -> tuple[int, object]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_rpc_conformance_on_a_live_node(node):
    url = node.rpc_url
    cases = [
        (b'{"jsonrpc": "2.0", "method": "node_status", "id": 1', -32700),
        (b'{"jsonrpc": "2.0", "method": 1, "params": "bar"}', -32600),
        (b'{"jsonrpc": "2.0", "method": "no_such_method", "id": "x"}', -32601),
        (b'{"jsonrpc": "2.0", "method": "account_get", "params": ["0x1234"], "id": 2}', -32602),
        (b'{"jsonrpc": "2.0", "method": "account_get", "params": {"addr": "x"}, "id": 3}', -32602),
        (b"[]", -32600),
    ]
    for body, code in cases:
        status, answer = _post(url, body)
        assert status == 200 and answer["error"]["code"] == code, (body, answer)
    status, answer = _post(url, b'[{"jsonrpc":"2.0","method":"node_status","id":1},'
                                b'{"jsonrpc":"2.0","method":"mempool_status"},'
                                b'{"foo":"boo"},'
                                b'{"jsonrpc":"2.0","method":"nope","id":"5"}]')
    assert status == 200 and len(answer) == 3
    assert answer[0]["result"]["chain_id"] == CHAIN_ID
    assert answer[1]["error"]["code"] == -32600 and answer[1]["id"] is None
    assert answer[2]["error"]["code"] == -32601 and answer[2]["id"] == "5"
    status, answer = _post(url, b'{"jsonrpc":"2.0","method":"mempool_status"}')
    assert status == 204 and answer is None
    status, answer = _post(url, b" " * (10 * 1024 * 1024))
    assert status == 413 and answer["error"]["code"] == -32600
    discover = node.client.call("rpc.discover")
    names = {m["name"] for m in discover["methods"]}
    assert {"node_status", "chain_getBlock", "chain_getHeader", "tx_send", "tx_get", "account_get",
            "account_txs", "mempool_status"} <= names
    node.wait_height(node.client.status()["height"] + 1)


async def test_websocket_new_heads_and_tx(node):
    import asyncio
    import json

    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(node.rpc_url + "/ws") as ws:
        tx = build_transfer(key(3), CHAIN_ID, 0, addr(4), 12345)
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": ["newHeads"]})
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "subscribe",
                            "params": ["tx", {"hash": "0x" + tx.hash.hex()}]})
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "tx_send", "params": ["0x" + tx.raw.hex()]})
        got_head = got_tx = False
        async with asyncio.timeout(20):
            while not (got_head and got_tx):
                msg = json.loads((await ws.receive()).data)
                if msg.get("method") != "subscription":
                    assert "error" not in msg, msg
                    continue
                topic = msg["params"]["topic"]
                got_head |= topic == "newHeads" and msg["params"]["result"]["height"] >= 1
                if topic == "tx":
                    assert msg["params"]["result"]["hash"] == "0x" + tx.hash.hex()
                    assert msg["params"]["result"]["success"] is True
                    got_tx = True


def test_consensus_state_shows_the_height_in_progress(node):
    client = node.client
    node.wait_height(2)
    cs = client.consensus_state()
    validator = client.status()["validator"]
    # The height in progress is the one after the last committed block (or that one, while it is decided).
    assert cs["height"] in (client.status()["height"] + 1, client.status()["height"])
    assert cs["step"] in ("propose", "prevote", "precommit", "commit")
    assert cs["proposer"] == validator and cs["total_power"] > 0
    assert cs["quorum_power"] * 3 > 2 * cs["total_power"] >= (cs["quorum_power"] - 1) * 3
    assert cs["peers"] == []
    for r in cs["rounds"]:  # one validator: every vote held is ours
        for kind in ("prevotes", "precommits"):
            assert all(voters == [validator] for voters in r[kind].values())
            assert r[kind + "_power"] == (cs["total_power"] if r[kind] else 0)
    with pytest.raises(RpcCallError) as err:
        client.call("consensus_state", 1)
    assert err.value.code == -32602
