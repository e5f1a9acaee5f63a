"""A receipt at execution's bounds commits and reads back through the RPC; one over them fails.

Before the bounds, a call emitting 1 MiB events made a receipt over the store's 4 MiB record
limit: it committed, and tx_get and account_txs answered Internal error for good.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from node.client.sdk import build_call, build_deploy
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.types import codec
from node.types.block import STATUS_FAILED, STATUS_OK
from node.types.crypto import to_checksum_address
from tests.node.helpers import CHAIN_ID, key, make_chain
from tests.node.test_chain import T0, advance
from vm import contract_address, gas

MIB = 1 << 20

EMITTER = '''
@public
def fill(n: int, size: int, out: int) -> bytes:
    for i in range(n):
        emit("Blob", b"x" * size)
    return b"y" * out
'''

DATA_HEAD = 6  # an event's data [bytes]: fixarray head and bin32 head


def _rpc(tmp_path, chain, mempool):
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))

    def call(method: str, *params: Any) -> dict[str, Any]:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = asyncio.run(registry.handle(request))
        assert answer is not None
        return json.loads(answer)

    return call


def test_receipts_at_the_bound_read_back_and_over_it_fail(tmp_path):
    chain, mempool = make_chain(tmp_path)
    rpc = _rpc(tmp_path, chain, mempool)
    me = key(0)
    c = contract_address(me.address, 0)
    advance(chain, [build_deploy(me, CHAIN_ID, 0, EMITTER, [], gas_limit=5_000_000)], T0 + 1000)
    per_event = gas.MAX_EVENT_BYTES + len("Blob") + gas.EVENT_OVERHEAD
    fits = gas.MAX_TX_EVENT_BYTES // per_event
    size, out = gas.MAX_EVENT_BYTES - DATA_HEAD, gas.MAX_OUTPUT_BYTES - 5
    at_bound = build_call(me, CHAIN_ID, 1, c, "fill", [fits, size, out], gas_limit=60_000_000,
                        max_fee=1, priority_fee=0)
    hostile = build_call(me, CHAIN_ID, 2, c, "fill", [5, MIB, 0], gas_limit=60_000_000,
                        max_fee=1, priority_fee=0)
    b = advance(chain, [at_bound, hostile], T0 + 2000)
    ok, bad = b.receipts
    assert ok.status == STATUS_OK, ok.error
    reason = f"event data over {gas.MAX_EVENT_BYTES} bytes encoded"
    assert (bad.status, bad.error, bad.events) == (STATUS_FAILED, reason, ())
    assert bad.fee == bad.gas_used > 0
    # The record the store keeps is within its decode limit, and the RPC answers read it back.
    record = codec.encode([b.height, 0, ok.to_list()])
    assert 3 * MIB // 2 < len(record) < codec.DEFAULT_MAX_BYTES
    answer = rpc("tx_get", "0x" + at_bound.hash.hex())
    assert "error" not in answer, answer.get("error")
    receipt = answer["result"]["receipt"]
    assert receipt["status"] == "success" and len(receipt["events"]) == fits
    assert receipt["output"] == "0x" + "79" * out
    history = rpc("account_txs", to_checksum_address(me.address), 10)
    assert "error" not in history, history.get("error")
    assert [t["receipt"]["status"] for t in history["result"]["txs"]] == ["failed", "success", "success"]
    chain.store.close()
