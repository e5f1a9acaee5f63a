"""The eth_* face in process, over a real LevelDB chain: shapes, tags, bad input and the fuzz.

Every eth_* method called with wrong types, nulls, huge ints and odd objects answers a result or a
client error, never -32603; every malformed or refused raw transaction gets a precise error with
geth's words, and nothing enters the mempool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.eth_api import parse_log_filter
from node.rpc.eth_views import Log, bloom, event_log
from node.rpc.methods import build_registry
from node.rpc.registry import INTERNAL_ERROR, METHOD_NOT_FOUND, Registry
from node.types.block import Event
from node.types.crypto import keccak256, to_checksum_address
from node.types.erc20 import TRANSFER_TOPIC
from tests.node.helpers import key, make_chain, make_genesis
from tests.node.test_chain import T0, advance, tx
from tests.node.test_contract_txs import deploy_tx
from vm import contract_address
from vm.values import Address, encode_value

ETH_CHAIN = 4242
SENDER = Account.from_key(key(0).secret)
CONTRACT = to_checksum_address(contract_address(key(0).address, 0))
TO = to_checksum_address(key(1).address)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("eth")
    genesis = dataclasses.replace(make_genesis(), eth_chain_id=ETH_CHAIN)
    chain, mempool = make_chain(tmp, genesis)
    advance(chain, [deploy_tx(), tx(nonce=1, amount=5)], T0 + 1000)
    engine = Engine(chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))
    loop = asyncio.new_event_loop()
    yield registry, loop, mempool, chain
    loop.close()


def rpc(served: Any, method: str, *params: Any) -> dict[str, Any]:
    registry, loop = served[0], served[1]
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return json.loads(loop.run_until_complete(registry.handle(json.dumps(request))) or b"null")


def result(served: Any, method: str, *params: Any) -> Any:
    reply = rpc(served, method, *params)
    assert "error" not in reply, reply
    return reply["result"]


def test_chain_reads(served: Any) -> None:
    assert result(served, "eth_chainId") == hex(ETH_CHAIN)
    assert result(served, "net_version") == str(ETH_CHAIN)
    assert result(served, "eth_blockNumber") == "0x1"
    balance = int(result(served, "eth_getBalance", to_checksum_address(key(1).address), "latest"), 16)
    assert balance == 1000 * 10**18 + 5
    assert result(served, "eth_getTransactionCount", SENDER.address, "latest") == "0x2"
    assert result(served, "eth_getTransactionCount", SENDER.address, "0x0") == "0x0"
    genesis = result(served, "eth_getBlockByNumber", "earliest", False)
    assert genesis["number"] == "0x0" and genesis["transactions"] == []
    assert result(served, "eth_getBlockByHash", genesis["hash"], False)["number"] == "0x0"
    block = result(served, "eth_getBlockByNumber", "finalized", True)
    assert block["number"] == "0x1" and block["parentHash"] != "0x" + "00" * 32
    assert [t["nonce"] for t in block["transactions"]] == ["0x0", "0x1"]
    deploy, transfer = block["transactions"]
    assert deploy["to"] is None and transfer["to"] == TO and transfer["value"] == "0x5"
    receipt = result(served, "eth_getTransactionReceipt", deploy["hash"])
    assert receipt["contractAddress"] == CONTRACT and receipt["status"] == "0x1"
    second = result(served, "eth_getTransactionReceipt", transfer["hash"])
    assert int(second["cumulativeGasUsed"], 16) == int(receipt["gasUsed"], 16) + 21_000
    assert result(served, "eth_getBlockByNumber", "0x2", False) is None
    assert result(served, "eth_getTransactionByHash", "0x" + "ab" * 32) is None
    assert result(served, "eth_getCode", CONTRACT).startswith("0xfe")
    assert result(served, "eth_getCode", TO) == "0x"
    history = result(served, "eth_feeHistory", "0x2", "latest", [50])
    assert len(history["baseFeePerGas"]) == 3 and len(history["reward"]) == 2


def test_methods_outside_the_list_are_not_found(served: Any) -> None:
    for name in ("eth_sign", "eth_sendTransaction", "eth_newFilter", "debug_traceTransaction"):
        assert rpc(served, name)["error"]["code"] == METHOD_NOT_FOUND


def test_eth_call_to_a_non_token_contract_and_to_an_account(served: Any) -> None:
    data = "0x70a08231" + "00" * 12 + key(1).address.hex()
    reply = rpc(served, "eth_call", {"to": CONTRACT, "data": data}, "latest")
    assert reply["error"]["data"]["reason"] == "not_a_token" and "token face only" in reply["error"]["message"]
    assert result(served, "eth_call", {"to": TO, "data": data}) == "0x"
    reply = rpc(served, "eth_call", {"to": CONTRACT, "data": "0xdeadbeef"})
    assert reply["error"]["data"]["reason"] == "unknown_selector"
    reply = rpc(served, "eth_estimateGas", {"from": TO, "to": CONTRACT})
    assert reply["result"] == hex(21_000)
    reply = rpc(served, "eth_estimateGas", {"to": TO, "value": hex(1)})  # the zero address has nothing
    assert "insufficient funds" in reply["error"]["message"]


def _signed(**over: Any) -> bytes:
    tx_ = {"chainId": ETH_CHAIN, "nonce": 2, "gasPrice": 10, "gas": 21_000, "to": TO, "value": 1, **over}
    return bytes(SENDER.sign_transaction(tx_).raw_transaction)


def _high_s(raw: bytes) -> bytes:
    fields = rlp.decode(raw)
    s = int.from_bytes(fields[8], "big")
    fields[8] = (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - s).to_bytes(32, "big")
    v = int.from_bytes(fields[6], "big")
    v += 1 if (v - 35) % 2 == 0 else -1  # the other parity: the same signer, if high-S were allowed
    fields[6] = v.to_bytes(4, "big").lstrip(b"\0")
    return rlp.encode(fields)


BAD = {
    "another chain id": (_signed(chainId=1), "invalid chain id", "wrong_chain"),
    "pre-EIP-155": (bytes(Account.sign_transaction({"nonce": 2, "gasPrice": 10, "gas": 21_000, "to": TO,
                                                    "value": 1}, SENDER.key).raw_transaction),
                    "only replay-protected", "bad_signature"),
    "high S": (_high_s(_signed()), "high-S", "bad_signature"),
    "malformed RLP": (b"\xf8\x02\x01", "invalid transaction", "malformed"),
    "trailing bytes": (_signed() + b"\x00", "invalid transaction", "malformed"),
    "type 1": (b"\x01" + rlp.encode([ETH_CHAIN, 0, 1, 21_000, b"", 0, b"", [], 0, 1, 1]),
               "transaction type not supported", "unsupported_envelope"),
    "type 3": (b"\x03" + rlp.encode([ETH_CHAIN, 0]), "transaction type not supported", "unsupported_envelope"),
    "unknown selector": (_signed(to=CONTRACT, data=b"\xde\xad\xbe\xef"), "unknown function selector",
                         "unknown_selector"),
    "nonce too low": (_signed(nonce=0), "nonce too low", "nonce_too_low"),
    "fee below base": (_signed(gasPrice=0), "max fee per gas less than block base fee", "fee_too_low"),
    "intrinsic gas": (_signed(gas=20_000), "intrinsic gas too low", "gas_limit_too_low"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_raw_transactions_are_refused_precisely(served: Any, case: str) -> None:
    raw, words, reason = BAD[case]
    mempool = served[2]
    before = len(mempool)
    error = rpc(served, "eth_sendRawTransaction", "0x" + raw.hex())["error"]
    assert error["code"] == -32000 and words in error["message"] and error["data"]["reason"] == reason, error
    assert len(mempool) == before


def test_a_good_one_enters_the_mempool_under_its_keccak_id(served: Any) -> None:
    raw = _signed(nonce=2)
    assert result(served, "eth_sendRawTransaction", "0x" + raw.hex()) == "0x" + keccak256(raw).hex()
    pending = result(served, "eth_getTransactionByHash", "0x" + keccak256(raw).hex())
    assert pending["blockNumber"] is None and pending["from"] == SENDER.address
    assert result(served, "eth_getTransactionCount", SENDER.address, "pending") == "0x3"
    assert result(served, "eth_getTransactionCount", SENDER.address, {"blockNumber": "pending"}) == "0x3"
    again = rpc(served, "eth_sendRawTransaction", "0x" + raw.hex())["error"]
    assert "already known" in again["message"]


def test_logs_of_token_events_have_the_standard_topics() -> None:
    a, b = Address(b"\x11" * 20), Address(b"\x22" * 20)
    log = event_log(Event(b"\x33" * 20, "Transfer", encode_value([a, b, 9])))
    assert log.topics == (TRANSFER_TOPIC, bytes(12) + a, bytes(12) + b) and int.from_bytes(log.data, "big") == 9
    other = event_log(Event(b"\x33" * 20, "Paused", encode_value([a])))
    assert other.topics == (keccak256(b"Paused"),)
    # The Yellow Paper's bloom: three bits per item, each from a pair of bytes of its Keccak-256.
    bits = int.from_bytes(bloom([Log(b"\x33" * 20, (), b"")]), "big")
    h = keccak256(b"\x33" * 20)
    assert bits == sum({1 << (int.from_bytes(h[i:i + 2], "big") & 2047) for i in (0, 2, 4)})


def test_get_logs_bounds(served: Any) -> None:
    assert rpc(served, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(20_000)})["result"] == []
    assert rpc(served, "eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x0"})["error"]["code"] == -32602
    assert rpc(served, "eth_getLogs", {"topics": [["0x12"]]})["error"]["code"] == -32602
    assert rpc(served, "eth_getLogs", {"bogus": 1})["error"]["code"] == -32602



@pytest.mark.parametrize("text", ["0x1_0", "0x 1", "0x1 ", "0x+1", "0x\u0661"])
def test_a_quantity_is_hex_digits_only(served: Any, text: str) -> None:
    # int(..., 16) would read these (as 16, 1, 1, 1 and 1); geth refuses them.
    reply = rpc(served, "eth_getBalance", TO, text)
    assert reply["error"]["code"] == -32602, reply
    assert rpc(served, "eth_getLogs", {"fromBlock": "0x0", "toBlock": text})["error"]["code"] == -32602


def test_get_logs_by_the_genesis_hash_is_an_empty_list(served: Any) -> None:
    genesis = result(served, "eth_getBlockByNumber", "0x0", False)["hash"]
    assert result(served, "eth_getBlockByHash", genesis, False)["number"] == "0x0"
    assert result(served, "eth_getLogs", {"blockHash": genesis}) == []
    assert rpc(served, "eth_getLogs", {"blockHash": "0x" + "00" * 32})["error"]["code"] != INTERNAL_ERROR


def test_a_null_among_topic_alternatives_matches_any_topic() -> None:
    # geth: a null inside a position's list makes that position a wildcard.
    log = Log(b"\x33" * 20, (TRANSFER_TOPIC, b"\x01" * 32), b"")
    wildcard = parse_log_filter({"topics": [[None, "0x" + "00" * 32]], "address": "0x" + "33" * 20})
    assert wildcard.topics == (None,) and wildcard.matches(log)
    assert not parse_log_filter({"topics": [["0x" + "00" * 32]]}).matches(log)


def test_log_and_fee_history_scans_are_bounded_in_time(served: Any) -> None:
    registry: Registry = served[0]
    eth = next(m.handler for m in registry.methods() if m.name == "eth_getLogs").__self__
    saved = eth.query_seconds
    eth.query_seconds = -1.0  # the budget is spent before the first block: what a slow scan meets
    try:
        for method, params in (("eth_getLogs", ({"fromBlock": "0x0"},)),
                               ("eth_feeHistory", ("0x400", "latest", [25, 75]))):
            error = rpc(served, method, *params)["error"]
            assert error["code"] == -32005 and "query timeout exceeded" in error["message"], (method, error)
    finally:
        eth.query_seconds = saved
    assert result(served, "eth_getLogs", {"fromBlock": "0x0"}) == []
    assert result(served, "eth_feeHistory", "0x2", "latest", [50])["oldestBlock"] == "0x0"


NASTY = st.sampled_from([None, True, 1.5, -1, 2**64, 2**300, "", "0x", "0x0", "0xzz", "latest", "pending",
                         "earliest", "0x" + "00" * 32, "0x" + "ff" * 20, TO, CONTRACT, [], {}, [[]],
                         {"blockHash": "0x12"}, {"blockNumber": "0x1"}, {"blockHash": None}])
FIELDS = st.sampled_from(["from", "to", "value", "data", "input", "gas", "fromBlock", "toBlock", "address",
                          "topics", "blockHash", "nonce"])
OBJECTS = st.dictionaries(FIELDS, NASTY | st.lists(NASTY, max_size=3), max_size=5)


def test_no_eth_parameter_shape_is_an_internal_error(served: Any) -> None:
    registry: Registry = served[0]
    names = sorted(m.name for m in registry.methods() if m.name.startswith(("eth_", "net_", "web3_")))
    assert len(names) >= 21
    failures: dict[str, str] = {}

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(names), st.lists(NASTY | OBJECTS, max_size=4))
    def one(name: str, params: list[Any]) -> None:
        reply = rpc(served, name, *params)
        if reply.get("error", {}).get("code") == INTERNAL_ERROR:
            failures.setdefault(name, json.dumps(params)[:200])

    one()
    assert not failures, failures
