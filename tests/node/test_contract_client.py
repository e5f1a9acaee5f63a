"""Contracts through the SDK and the `finchain contract` CLI, against a real `finchain node` process.

One node serves the whole module (each test signs with its own key, so nonces never
collide); the tests without a node check what is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from node.cli.main import main
from node.client.contracts import (
    ContractError,
    EstimateFailed,
    constructor_values,
    method_values,
    parse_abi_type,
)
from node.client.sdk import AsyncClient, RpcCallError, build_call
from node.types.crypto import to_checksum_address
from tests.node.helpers import key
from tests.node.nodes import make_node_home
from vm import Address

COUNTER = '''
"""A counter anyone can bump."""

LIMIT = 1_000


@constructor
def init(start: int, owner: address):
    storage["owner"] = owner
    storage["count"] = start


@public
def bump(by: int) -> int:
    require(by > 0, "by must be positive")
    count = storage["count"] + by
    require(count <= LIMIT, "limit reached")
    storage["count"] = count
    emit("Bumped", ctx.sender, count)
    return count


@public
def add_all(parts: list[int], labels: dict[str, address]) -> int:
    count = storage["count"] + sum(parts)
    require(count <= LIMIT, "limit reached")
    storage["count"] = count
    storage["labels"] = labels
    return count


@view
def count() -> int:
    return storage["count"]


@view
def label(name: str) -> address:
    return storage["labels"][name]


@view
def whoami() -> address:
    return ctx.sender
'''

REJECTED = '''
@view
def f() -> int:
    return 1


import os
'''
UNUSED_RPC = "http://127.0.0.1:9"  # nothing listens: a test that reached the network would fail differently


def addr(i: int) -> str:
    return to_checksum_address(key(i).address)


def cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node", "contract", *argv], capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract-node")
    proc = make_node_home(tmp, funded=6)
    proc.start()
    try:
        proc.wait_ready()
        proc.keys = tmp  # key{i}.json files, for the CLI
        yield proc
    finally:
        proc.stop()


# -- without a node: conversion and what is refused before sending --------------------------


def test_abi_type_strings_parse_into_the_form_from_json_takes():
    assert parse_abi_type("int") == "int"
    assert parse_abi_type("list[address]") == ("list", "address")
    assert parse_abi_type("dict[str, int]") == ("dict", "str", "int")
    assert parse_abi_type("dict[address, list[dict[int, bytes]]]") == (
        "dict", "address", ("list", ("dict", "int", "bytes")))
    for bad in ("list[int", "dict[int]", "list[]", "set[int]", "list[int]]", "", "list[int,]"):
        with pytest.raises(ContractError):
            parse_abi_type(bad)


def test_args_are_converted_by_the_declared_types():
    values = constructor_values(COUNTER, ["5", addr(0).lower()])
    assert values == [5, Address(key(0).address)]
    assert type(values[1]) is Address
    # contract values are accepted where JSON is expected
    assert constructor_values(COUNTER, [5, Address(key(0).address)]) == values
    interface = [{"name": "add_all", "kind": "public", "payable": False, "nonreentrant": False,
                  "params": [{"name": "parts", "type": "list[int]"}, {"name": "labels", "type": "dict[str, address]"}],
                  "returns": "int"}]
    assert method_values(interface, "add_all", [[1, "2"], {"a": addr(1)}]) == [[1, 2], {"a": Address(key(1).address)}]
    with pytest.raises(ContractError, match=r"argument 0 \(parts\)\[1\].*not a decimal integer"):
        method_values(interface, "add_all", [[1, "x"], {}])
    with pytest.raises(ContractError, match="no public method 'nope'"):
        method_values(interface, "nope", [])
    with pytest.raises(ContractError, match="takes 2 arguments, got 1"):
        constructor_values(COUNTER, [5])


def test_a_rejected_source_reports_its_line_before_anything_is_sent(tmp_path, capsys):
    with pytest.raises(ContractError, match="line 7: import is not allowed") as info:
        constructor_values(REJECTED, [])
    assert info.value.line == 7
    src = tmp_path / "bad.py"
    src.write_text(REJECTED)
    cases = [
        (["deploy", str(src), "--key-file", "x.json"], "bad.py: contract rejected: line 7: import is not allowed"),
        (["deploy", str(tmp_path / "missing.py"), "--key-file", "x.json"], "cannot read"),
        (["deploy", str(src), "--args", "[1,"], "--args: not valid JSON"),
        (["deploy", str(src), "--args", '{"a": 1}'], "--args: expected a JSON array"),
        (["call", addr(0), "bump", "--args", "[1.5]"], "contracts have no floats"),
        (["call", "0x1234", "bump"], "address: an address is 0x"),
    ]
    for argv, message in cases:
        assert main(["contract", *argv, "--rpc", UNUSED_RPC]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, (argv, err)


# -- against a real node --------------------------------------------------------------------


@pytest.mark.slow
def test_sdk_deploys_calls_queries_and_estimates(node):
    client = node.client
    deployer = key(0)
    estimate = client.estimate_gas({"from": addr(0), "source": COUNTER, "args": [5, addr(0)]})
    assert estimate["status"] == "success" and estimate["gas"] > estimate["gas_used"] > 0
    deployed = client.deploy(deployer, COUNTER, [5, addr(0)])
    assert deployed["receipt"]["status"] == "success", deployed
    contract = deployed["contract_address"]
    assert contract == estimate["contract_address"]
    assert deployed["receipt"]["gas_used"] <= deployed["tx"]["gas_limit"] == estimate["gas"]

    code = client.get_code(contract)
    assert code["address"] == contract and code["source"] == COUNTER
    methods = {m["name"]: m for m in code["interface"]}
    assert methods["init"]["kind"] == "constructor" and methods["count"]["kind"] == "view"
    assert methods["bump"]["kind"] == "public" and methods["bump"]["returns"] == "int"
    assert [p["type"] for p in methods["add_all"]["params"]] == ["list[int]", "dict[str, address]"]

    assert client.contract_call(contract, "count")["output"] == "5"
    assert client.contract_call(contract, "whoami")["output"] == "0x" + "00" * 20
    assert client.contract_call(contract, "whoami", sender=addr(4))["output"] == addr(4)

    call_estimate = client.estimate_gas({"from": addr(0), "to": contract, "method": "bump", "args": ["3"]})
    assert call_estimate["status"] == "success" and call_estimate["output"] == "8"
    bumped = client.call_contract(deployer, contract, "bump", [3])
    receipt = bumped["receipt"]
    assert receipt["status"] == "success" and receipt["output"] == "8" and receipt["error"] is None
    assert receipt["events"] == [{"address": contract, "name": "Bumped", "data": [addr(0), "8"]}]
    assert receipt["gas_used"] <= bumped["tx"]["gas_limit"]

    added = client.call_contract(deployer, contract, "add_all", [[1, "2"], {"bob": addr(1).lower()}])
    assert added["receipt"]["output"] == "11"
    assert client.contract_call(contract, "label", ["bob"])["output"] == addr(1)
    # reads at a height see the state of that height
    assert client.contract_call(contract, "count", block=deployed["height"])["output"] == "5"
    assert client.contract_call(contract, "count", block=bumped["height"])["output"] == "8"

    failed = client.contract_call(contract, "bump", [0])
    assert failed["status"] == "failed" and failed["error"] == "by must be positive" and failed["output"] is None
    with pytest.raises(RpcCallError) as info:
        client.contract_call(contract, "nope")
    assert "no public method" in info.value.message


@pytest.mark.slow
def test_sdk_reverted_call_and_rejected_source(node):
    client = node.client
    deployed = client.deploy(key(3), COUNTER, [1, addr(3)])
    contract = deployed["contract_address"]
    nonce = client.next_nonce(addr(3))

    with pytest.raises(EstimateFailed, match="by must be positive") as info:
        client.call_contract(key(3), contract, "bump", [0])
    assert info.value.estimate["status"] == "failed"
    with pytest.raises(ContractError, match="line 7: import is not allowed"):
        client.deploy(key(3), REJECTED)
    with pytest.raises(ContractError, match="constructor init takes 2 arguments"):
        client.deploy(key(3), COUNTER, [1])
    assert client.next_nonce(addr(3)) == nonce  # nothing was sent

    reverted = client.call_contract(key(3), contract, "bump", [0], gas_limit=60_000)  # sent anyway
    receipt = reverted["receipt"]
    assert receipt["status"] == "failed" and receipt["error"] == "by must be positive"
    assert receipt["output"] is None and receipt["events"] == [] and int(receipt["fee"]) > 0
    assert client.contract_call(contract, "count")["output"] == "1"

    intrinsic = 21_000 + 16 * (len(COUNTER.encode()) + 40)
    failed_deploy = client.deploy(key(3), COUNTER, [2000, addr(3)], gas_limit=intrinsic + 1_000)  # out of gas
    assert failed_deploy["receipt"]["error"] == "out of gas"
    assert failed_deploy["receipt"]["status"] == "failed" and failed_deploy["contract_address"] is None

    pending = client.call_contract(key(3), contract, "bump", [2], wait=False)
    assert client.wait_for_tx(pending)["receipt"]["output"] == "3"


@pytest.mark.slow
async def test_async_client_matches_the_sync_one(node):
    async with AsyncClient(node.rpc_url) as client:
        deployed = await client.deploy(key(2), COUNTER, ["40", addr(2)])
        contract = deployed["contract_address"]
        assert deployed["receipt"]["status"] == "success"
        assert [m["name"] for m in (await client.get_code(contract))["interface"]][-1] == "init"
        bumped = await client.call_contract(key(2), contract, "bump", [2])
        assert bumped["receipt"]["output"] == "42"
        assert (await client.contract_call(contract, "count"))["output"] == "42"
        estimate = await client.estimate_gas({"from": addr(2), "to": contract, "method": "bump", "args": [1]})
        assert estimate["output"] == "43"
        with pytest.raises(EstimateFailed):
            await client.call_contract(key(2), contract, "bump", ["0"])


@pytest.mark.slow
def test_cli_deploy_call_query_code_and_failures(node, tmp_path):
    rpc = ("--rpc", node.rpc_url)
    signer = ("--key-file", str(node.keys / "key1.json"))
    src = tmp_path / "counter.py"
    src.write_text(COUNTER)

    out = cli("deploy", str(src), "--args", json.dumps([7, addr(1)]), *signer, *rpc)
    assert out.returncode == 0, out.stderr
    deployed = json.loads(out.stdout)
    assert deployed["status"] == "success" and deployed["error"] is None
    contract = deployed["contract_address"]
    assert node.client.get_code(contract)["source"] == COUNTER

    out = cli("call", contract, "bump", "--args", '["5"]', *signer, *rpc)
    assert out.returncode == 0, out.stderr
    called = json.loads(out.stdout)
    assert called["status"] == "success" and called["output"] == "12"
    assert called["events"][0]["name"] == "Bumped"

    out = cli("query", contract, "count", *rpc)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["output"] == "12"
    out = cli("query", contract, "whoami", "--from", addr(5).lower(), "--block", str(called["height"]), *rpc)
    assert json.loads(out.stdout)["output"] == addr(5)

    out = cli("code", contract, "--interface", *rpc)
    assert out.returncode == 0, out.stderr
    assert {m["name"] for m in json.loads(out.stdout)} == {"init", "bump", "add_all", "count", "label", "whoami"}

    nonce = node.client.next_nonce(addr(1))
    line = one_error_line(cli("call", contract, "bump", "--args", "[0]", *signer, *rpc))
    assert "by must be positive" in line and "nothing was sent" in line
    bad = tmp_path / "bad.py"
    bad.write_text(REJECTED)
    line = one_error_line(cli("deploy", str(bad), *signer, *rpc))
    assert line == f"error: {bad}: contract rejected: line 7: import is not allowed"
    assert node.client.next_nonce(addr(1)) == nonce

    out = cli("call", contract, "bump", "--args", "[0]", "--gas", "60000", *signer, *rpc)
    line = one_error_line(out)
    assert line.endswith("failed: by must be positive")
    assert json.loads(out.stdout)["status"] == "failed"
    assert node.client.next_nonce(addr(1)) == nonce + 1

    out = cli("query", contract, "bump", "--args", "[0]", *rpc)
    assert one_error_line(out) == "error: bump failed: by must be positive"
    assert "no contract" in one_error_line(cli("query", "0x" + "00" * 19 + "01", "count", *rpc))


@pytest.mark.slow
def test_rpc_errors_name_the_bad_input(node):
    client = node.client
    deployed = client.deploy(key(5), COUNTER, [1, addr(5)])
    contract = deployed["contract_address"]

    def error(method, *params):
        with pytest.raises(RpcCallError) as info:
            client.call(method, *params)
        return info.value.code, info.value.message

    assert error("contract_call", addr(3), "count")[0] == -32020  # an account, not a contract
    assert error("contract_getCode", addr(3))[0] == -32020
    code, message = error("contract_call", contract, "bump", ["x"])
    assert code == -32602 and "args[0] (by)" in message
    code, message = error("contract_call", contract, "bump", [1, 2])
    assert code == -32602 and "takes 1 argument, got 2" in message
    assert error("contract_call", "0x1234", "count")[0] == -32602
    assert error("contract_call", contract, "count", [], "latest", None, 10**9)[0] == -32602  # gas over the cap
    assert error("contract_call", contract, "count", [], 10**6)[0] == -32020  # a height not reached
    assert error("tx_estimateGas", {"from": addr(0), "source": COUNTER, "nonsense": 1})[0] == -32602
    rejected = client.estimate_gas({"from": addr(0), "source": REJECTED})
    assert rejected["status"] == "failed" and "line 7: import is not allowed" in rejected["error"]
    assert rejected["gas_used"] > 21_000  # the source's bytes are part of the intrinsic gas
    transfer = client.estimate_gas({"from": addr(0), "to": addr(1), "value": "5"})
    assert (transfer["status"], transfer["gas"], transfer["gas_used"]) == ("success", 21_000, 21_000)
    # A dry run can carry value, which a method that is not payable refuses.
    sent = client.call("contract_call", contract, "count", [], "latest", addr(2), None, "7")
    assert (sent["status"], sent["error"]) == ("failed", "count is not payable: it cannot receive value")
    # Raw transactions with bad contract arguments are malformed.
    good = build_call(key(5), client.chain_id, 0, contract, "bump", [1])
    bad = good.raw.replace(bytes.fromhex("c402" "9101"), bytes.fromhex("c402" "91c1"))
    assert bad != good.raw
    assert error("tx_send", "0x" + bad.hex())[0] == -32001


@pytest.mark.slow
async def test_event_subscription_carries_contract_event_data(node):
    client = node.client
    contract = client.deploy(key(4), COUNTER, [0, addr(4)])["contract_address"]
    async with aiohttp.ClientSession() as session, session.ws_connect(node.rpc_url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                            "params": ["events", {"address": contract.lower(), "name": "Bumped"}]})
        assert "result" in (await ws.receive_json(timeout=10))
        tx_hash = client.call_contract(key(4), contract, "bump", [9], wait=False)
        note = await asyncio.wait_for(ws.receive_json(), timeout=30)
    event = note["params"]["result"]
    assert event["tx_hash"] == tx_hash and event["address"] == contract
    assert (event["name"], event["data"]) == ("Bumped", [addr(4), "9"])


async def test_subscription_filters_are_checked(node):
    contract = node.client.deploy(key(5), COUNTER, [0, addr(5)])["contract_address"]
    bad_checksum = contract[:2] + "".join(c.swapcase() if c.isalpha() else c for c in contract[2:])
    refused = [
        ["events", {"address": "0x12"}],
        ["events", {"address": "hello"}],
        ["events", {"address": bad_checksum}],
        ["events", {"adress": contract}],  # a misspelt key must not become a match-all filter
        ["events", {"name": 5}],
        ["tx", {"hash": "0x" + "zz" * 32}],
        ["tx", {"hash": "0x" + "00" * 32, "extra": 1}],
    ]
    async with aiohttp.ClientSession() as session, session.ws_connect(node.rpc_url + "/ws") as ws:
        for i, params in enumerate(refused):
            await ws.send_json({"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": params})
            answer = await ws.receive_json(timeout=10)
            assert answer["id"] == i and answer["error"]["code"] == -32602, (params, answer)
        for i, params in enumerate([["events", {"address": contract.lower()}], ["events", {"address": contract}],
                                    ["events", {}]], start=100):
            await ws.send_json({"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": params})
            answer = await ws.receive_json(timeout=10)
            assert answer["id"] == i and answer["result"].startswith("0x"), (params, answer)
