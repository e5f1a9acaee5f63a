"""payment_findPaths in process, over a real LevelDB chain with the devnet's genesis (contracts and
calls: the FX pools at the oracle's price, the payments router, the gated corridors): the best
paths, their exact amounts, the risk block, the travel flag, bad parameters, and a payment sent in a
block delivering exactly the quoted amount."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from devnet.contracts import FX_PRICES, TRAVEL_THRESHOLD, standard_calls, standard_contracts
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.rpc.registry import INVALID_PARAMS
from node.types.crypto import to_checksum_address
from node.types.risk import RiskPolicy
from tests.node.helpers import key, make_chain, make_genesis
from tests.node.test_chain import T0, advance
from tests.node.test_contract_txs import call_tx
from tests.node.test_quotes import result, rpc, view
from vm.values import Address, decode_value

E18 = 10**18
ADMIN, BOB = key(0), key(1)
B = to_checksum_address(BOB.address)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("payments")
    contracts, names = standard_contracts(ADMIN.address)
    calls = standard_calls(ADMIN.address, contracts, names)
    genesis = dataclasses.replace(make_genesis(), contracts=contracts, calls=calls,
                                  genesis_time_ms=T0)
    chain, mempool = make_chain(tmp, genesis)
    engine = Engine(chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # built, never run
    api = NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool), risk_policy=RiskPolicy())
    loop = asyncio.new_event_loop()
    yield build_registry(api), loop, names, chain, len(contracts)
    loop.close()



def test_direct_fx_path_with_exact_amounts_and_risk(served: Any) -> None:
    n = served[2]
    amount = 500 * E18
    found = result(served, "payment_findPaths", {"send_token": n["fusd"], "deliver_token": n["feur"],
                                                 "amount": str(amount)})
    best = found["paths"][0]
    assert best["path"] == [n["fusd"], n["feur"]] and found["mode"] == "send"
    expected = view(served, n["swap"], "get_amounts_out", [str(amount), [n["fusd"], n["feur"]]])
    assert best["amounts"] == [str(a) for a in expected]
    q = view(served, n["swap"], "quote", [str(amount), [n["fusd"], n["feur"]]])
    assert best["price_impact_bps"] == int(q["price_impact_bps"]) == best["risk"]["price_impact_bps"]
    # the pool sits at the oracle's price: 500 FUSD buys a little under 500 / 1.08 FEUR
    assert 0 < int(best["delivered_amount"]) < amount * FX_PRICES["fusd"] // FX_PRICES["feur"]
    assert best["rate"] == str(int(best["delivered_amount"]) * E18 // amount)
    assert best["risk"]["tier"] == "low" and [o["stale"] for o in best["risk"]["oracle"]] == [False, False]
    assert found["corridor"] == {"threshold": str(TRAVEL_THRESHOLD), "travel_required": True}
    assert best["travel_rule"] is False
    big = result(served, "payment_findPaths", {"send_token": n["fusd"], "deliver_token": n["feur"],
                                               "amount": str(TRAVEL_THRESHOLD)})
    assert big["paths"][0]["travel_rule"] is True


def test_two_hop_path_and_deliver_mode(served: Any) -> None:
    n = served[2]
    want = 100 * E18
    found = result(served, "payment_findPaths", {"send_token": n["feur"], "deliver_token": n["tusd"],
                                                 "deliver_amount": str(want)})
    best = found["paths"][0]
    assert best["path"] == [n["feur"], n["fusd"], n["tusd"]] and best["hops"] == 2
    assert best["delivered_amount"] == str(want)
    expected = view(served, n["swap"], "get_amounts_in", [str(want), best["path"]])
    assert best["amounts"] == [str(a) for a in expected]
    assert len(best["risk"]["pool_depth"]) == 2 and "corridor" in found
    one_hop = result(served, "payment_findPaths", {"send_token": n["feur"], "deliver_token": n["tusd"],
                                                   "deliver_amount": str(want), "max_hops": 1})
    assert one_hop["paths"] == []
    same = result(served, "payment_findPaths", {"send_token": n["fusd"], "deliver_token": n["fusd"],
                                                "amount": "5"})
    assert same["paths"][0]["path"] == [n["fusd"]] and same["paths"][0]["rate"] == str(E18)


def test_bad_parameters(served: Any) -> None:
    n = served[2]
    base = {"send_token": n["fusd"], "deliver_token": n["feur"]}
    for params in (base, {**base, "amount": "1", "deliver_amount": "1"}, {**base, "amount": "0"},
                   {**base, "amount": "-1"}, {**base, "amount": "1", "max_hops": 4},
                   {**base, "amount": "1", "limit": 0},
                   {"send_token": "0x12", "deliver_token": n["feur"], "amount": "1"}):
        assert rpc(served, "payment_findPaths", params)["error"]["code"] == INVALID_PARAMS, params


def test_a_payment_delivers_exactly_the_quote(served: Any) -> None:
    n, chain, nonce = served[2], served[3], served[4]
    amount = 250 * E18
    best = result(served, "payment_findPaths", {"send_token": n["fusd"], "deliver_token": n["feur"],
                                                "amount": str(amount)})["paths"][0]

    def addr(text: str) -> Address:
        return Address(bytes.fromhex(text[2:]))

    before = int(view(served, n["feur"], "balance_of", [B]))
    args = [addr(B), addr(n["fusd"]), addr(n["feur"]), amount, int(best["delivered_amount"]), 0,
            [addr(p) for p in best["path"]], 10**6, b"invoice 9", b""]
    block = advance(chain, [call_tx(addr(n["fusd"]), "approve", [addr(n["payments"]), amount], nonce=nonce),
                            call_tx(addr(n["payments"]), "pay", args, nonce=nonce + 1, gas_limit=1_000_000)],
                    T0 + 1000)
    assert [r.error for r in block.receipts] == ["", ""]
    out = decode_value(block.receipts[1].output)
    assert out["delivered_amount"] == int(best["delivered_amount"]) and out["rate"] == int(best["rate"])
    assert int(view(served, n["feur"], "balance_of", [B])) - before == int(best["delivered_amount"])
    event = [e for e in block.receipts[1].events if e.name == "PathPayment"]
    assert len(event) == 1
    print("gas per one-hop payment:", block.receipts[1].gas_used)


def test_payment_preview_gives_the_contracts_verdict_and_keeps_nothing(served: Any) -> None:
    n, chain = served[2], served[3]
    a = to_checksum_address(ADMIN.address)
    base = {"sender": a, "to": B, "send_token": n["fusd"], "deliver_token": n["feur"]}
    before = chain.height
    ok = result(served, "payment_preview", {**base, "send_max": str(10 * E18), "deliver_min": "1",
                                            "memo": "0x" + b"hi".hex()})
    assert ok["outcome"]["status"] == "success" and ok["approve_needed"] is True
    assert int(ok["outcome"]["output"]["delivered_amount"]) > 0 and ok["outcome"]["gas_used"] > 0
    cases = [({"send_max": str(TRAVEL_THRESHOLD), "deliver_min": "1"}, "travel_rule_required"),
             ({"send_max": str(E18), "deliver_min": "1", "deadline": 0}, "expired"),
             ({"send_max": str(E18), "deliver_min": str(10 * E18)}, "under_deliver_min"),
             ({"send_max": str(E18), "deliver_amount": str(10 * E18)}, "over_send_max"),
             ({"send_max": str(E18), "deliver_min": "1", "travel_ref": "0x01"}, "bad_travel_ref")]
    for extra, reason in cases:
        out = result(served, "payment_preview", {**base, **extra})
        assert out["outcome"]["status"] == "failed" and out["outcome"]["error"] == reason, (extra, out)
    ref = "0x" + "ab" * 32
    ok = result(served, "payment_preview", {**base, "send_max": str(TRAVEL_THRESHOLD), "deliver_min": "1",
                                            "travel_ref": ref})
    assert ok["outcome"]["status"] == "success"
    assert chain.height == before
    assert rpc(served, "payment_preview", {**base, "send_max": "1", "memo": "zz"})["error"]["code"] == INVALID_PARAMS
