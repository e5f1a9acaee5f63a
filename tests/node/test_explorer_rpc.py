"""What the node serves for the explorer page (docs/explorer.md): its files under /explorer/, the
same-origin rule that lets that page call the node (and no DNS-rebound page), and the read
methods chain_getBlockSummaries and chain_getValidators, checked against chain_getBlock."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from node.client.sdk import RpcCallError
from node.rpc.static import is_same_origin
from node.types.crypto import to_checksum_address
from tests.node.helpers import key
from tests.node.nodes import make_node_home


def test_same_origin_only_for_ip_literals_and_localhost():
    assert is_same_origin("http://127.0.0.1:8545", "http", "127.0.0.1:8545")
    assert is_same_origin("http://localhost:8545", "http", "localhost:8545")
    assert is_same_origin("http://[::1]:8545", "http", "[::1]:8545")
    assert is_same_origin("http://10.1.2.3:8545", "http", "10.1.2.3:8545")
    # A DNS name could be rebound to this node by its owner: only cors_origins may allow it.
    assert not is_same_origin("http://evil.test:8545", "http", "evil.test:8545")
    assert not is_same_origin("http://127.0.0.1:3000", "http", "127.0.0.1:8545")  # another port
    assert not is_same_origin("https://127.0.0.1:8545", "http", "127.0.0.1:8545")
    assert not is_same_origin("null", "http", "127.0.0.1:8545")
    assert not is_same_origin("http://127.0.0.1:8545", "http", None)


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def rpc_from(port: int, host: str, origin: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "node_status", "params": []}).encode()
    headers = {"Host": host, "Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    return request(port, "POST", "/", headers, body)[0]


@pytest.mark.slow
def test_explorer_files_origins_and_read_methods(tmp_path):
    node = make_node_home(tmp_path, commit_ms=100)
    port = int(node.rpc_url.rsplit(":", 1)[1])
    node.start()
    try:
        node.wait_ready()
        status, headers, body = request(port, "GET", "/explorer/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert b'src="app.js"' in body and "script-src 'self'" in headers["content-security-policy"]
        status, headers, body = request(port, "GET", "/explorer/app.js")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        assert b"chain_getBlockSummaries" in body
        assert request(port, "GET", "/explorer/explorer.css")[1]["content-type"].startswith("text/css")
        status, headers, _ = request(port, "GET", "/explorer?rpc=http://127.0.0.1:1")
        assert status == 308 and headers["location"] == "/explorer/?rpc=http://127.0.0.1:1"
        for missing in ("/explorer/nope.js", "/explorer/..%2fconfig.toml", "/explorer/%2e%2e/x"):
            assert request(port, "GET", missing)[0] == 404, missing

        host = f"127.0.0.1:{port}"
        assert rpc_from(port, host, f"http://{host}") == 200  # the page the node serves
        assert rpc_from(port, f"localhost:{port}", f"http://localhost:{port}") == 200
        assert rpc_from(port, f"evil.test:{port}", f"http://evil.test:{port}") == 403  # DNS rebinding
        assert rpc_from(port, host, "http://127.0.0.1:3000") == 403  # another local page

        client = node.client
        for i in range(6):
            client.transfer(key(i % 3), to_checksum_address(key(5).address), 10**15, wait=(i == 5))
        check_summaries(client)
        check_validators(client)
    finally:
        node.stop()

    # With the explorer off there are no files, and the page's origin is a stranger again.
    config = node.home / "config" / "config.toml"
    config.write_text(config.read_text().replace("explorer = true", "explorer = false"))
    node.start()
    try:
        node.wait_ready()
        assert request(port, "GET", "/explorer/")[0] == 404
        assert rpc_from(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == 403
    finally:
        node.stop()


def check_summaries(client: Any) -> None:
    tip = client.call("node_status")["height"]
    got = client.call("chain_getBlockSummaries", tip, 10, 2)
    assert got["latest"] >= tip
    assert [b["height"] for b in got["blocks"]] == list(range(tip, max(0, tip - 10), -1))
    for summary in got["blocks"]:
        block = client.call("chain_getBlock", summary["height"], True)
        assert summary["hash"] == block["hash"]
        assert summary["time_ms"] == block["header"]["time_ms"]
        assert summary["proposer"] == block["header"]["proposer"]
        assert summary["tx_count"] == block["tx_count"] and summary["gas_used"] == block["gas_used"]
        assert summary["size"] == block["size"]
        assert [t["hash"] for t in summary["txs"]] == [t["hash"] for t in block["txs"][-2:]]
        for brief, full in zip(summary["txs"], block["txs"][-2:], strict=True):
            assert (brief["from"], brief["to"], brief["type"], brief["amount"]) == (
                full["from"], full["to"], full["type"], full["amount"])
        after = client.call("chain_getBlock", summary["height"] + 1) if summary["height"] < got["latest"] else None
        if after is not None:  # the commit that finalized it travels in the next block
            assert summary["signers"] == len(after["last_commit"]["signatures"])
            assert summary["commit_round"] == after["last_commit"]["round"]
    assert sum(b["tx_count"] for b in client.call("chain_getBlockSummaries", "latest", 200)["blocks"]) >= 6
    assert client.call("chain_getBlockSummaries", 1, 5)["blocks"][0]["height"] == 1  # stops at block 1
    for bad in ((tip, 0), (tip, 201), (tip, 10, 21), (tip, "10"), ("0x" + "00" * 31, 1)):
        with pytest.raises(RpcCallError) as err:
            client.call("chain_getBlockSummaries", *bad)
        assert err.value.code in (-32602, -32020), bad


def check_validators(client: Any) -> None:
    v = client.call("chain_getValidators", 50)
    assert v["total_power"] == sum(x["power"] for x in v["validators"])
    assert len(v["validators"]) == 1
    only = v["validators"][0]
    assert only["address"] == client.call("node_status")["validator"]
    assert only["proposed"] == v["window"]["blocks"]
    assert only["last_proposed_height"] == v["height"]
    # The newest commit is stored with its block; each of the window's blocks was signed by the one validator.
    assert only["last_signed_height"] == v["height"] and only["signed"] == v["window"]["blocks"]
    for bad in (0, 1001, "5"):
        with pytest.raises(RpcCallError):
            client.call("chain_getValidators", bad)
