"""Lookups that find nothing: one error, -32020 `not_found`, with a message naming what is missing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.types.crypto import to_checksum_address
from tests.node.helpers import key, make_chain

NOT_FOUND = -32020


@pytest.fixture
def rpc(tmp_path):
    chain, mempool = make_chain(tmp_path)
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))

    def call(method: str, *params: Any) -> dict[str, Any]:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = asyncio.run(registry.handle(request))
        assert answer is not None
        return json.loads(answer)

    return call


def test_unknown_blocks_heights_and_contracts_are_not_found(rpc):
    unknown_hash = "0x" + "ab" * 32
    stranger = to_checksum_address(key(3).address)  # a funded account, not a contract
    cases = [
        (("chain_getBlock", 5), "no block at height 5 (the latest is 0)"),
        (("chain_getBlock", unknown_hash), f"no block with hash {unknown_hash}"),
        (("chain_getHeader", 0), "no block at height 0"),  # genesis has a state, not a block
        (("account_get", stranger, 2), "no block at height 2 (the latest is 0)"),
        (("contract_call", stranger, "count"), f"no contract at {stranger}"),
        (("contract_getCode", stranger), f"no contract at {stranger}"),
        (("tx_estimateGas", {"from": stranger, "to": stranger, "method": "count"}), f"no contract at {stranger}"),
    ]
    for call, message in cases:
        answer = rpc(*call)
        assert answer["error"] == {"code": NOT_FOUND, "message": message, "data": {"reason": "not_found"}}, call


def test_what_exists_is_found(rpc):
    # The positive control: the same methods answer for what is there.
    stranger = to_checksum_address(key(3).address)
    assert rpc("account_get", stranger, 0)["result"]["height"] == 0
    assert rpc("account_get", stranger)["result"]["nonce"] == 0
