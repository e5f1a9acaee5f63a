"""swap_quote and lending_preview in process, over a real LevelDB chain with the standard contracts.

The risk block is checked against an independent computation: the price impact from the
reserves with exact fractions, the health factor from the market's raw numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from fractions import Fraction
from typing import Any

import pytest

from devnet.contracts import standard_contracts
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
from vm.values import Address

E18 = 10**18
FAR = 2**40
ADMIN, BOB = key(0), key(1)
A, B = to_checksum_address(ADMIN.address), to_checksum_address(BOB.address)
MARKET = [str(75 * 10**16), str(10**17), str(10**15), str(10**15), str(10**16), str(8 * 10**17), str(E18), str(E18)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("quotes")
    contracts, names = standard_contracts(ADMIN.address)
    genesis = dataclasses.replace(make_genesis(), contracts=contracts)
    chain, mempool = make_chain(tmp, genesis)
    tusd, wgld, oracle, swap, lending = (names[n] for n in ("tusd", "wgld", "oracle", "swap", "lending"))
    nonces = {0: len(contracts), 1: 0}  # the admin deployed the genesis contracts

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [value(x) for x in v]
        if isinstance(v, str) and v.startswith("0x"):
            return Address(bytes.fromhex(v[2:]))
        return int(v) if isinstance(v, str) else v

    def call(sender: int, contract: str, method: str, args: list[Any]) -> Any:
        tx = call_tx(Address(bytes.fromhex(contract[2:])), method, [value(a) for a in args], sender=sender,
                     nonce=nonces[sender], gas_limit=3_000_000)
        nonces[sender] += 1
        return tx

    t = T0 + 1000
    first = advance(chain, [
        call(0, oracle, "report", [tusd, str(E18)]),
        call(0, oracle, "report", [wgld, str(2 * E18)]),
        call(0, tusd, "approve", [swap, str(10**30)]),
        call(0, wgld, "approve", [swap, str(10**30)]),
        call(0, tusd, "approve", [lending, str(10**30)]),
        call(0, wgld, "approve", [lending, str(10**30)]),
        call(0, swap, "add_liquidity", [tusd, wgld, str(2_000_000 * E18), str(1_000_000 * E18), "0", "0", A, FAR]),
        call(0, lending, "list_market", [tusd, *MARKET]),
        call(0, lending, "list_market", [wgld, *MARKET]),
        call(0, lending, "supply", [tusd, str(500_000 * E18)]),
        call(0, wgld, "transfer", [B, str(1_000 * E18)]),
    ], t)
    second = advance(chain, [
        call(1, wgld, "approve", [lending, str(10**30)]),
        call(1, lending, "supply", [wgld, str(1_000 * E18)]),
        call(1, lending, "borrow", [tusd, str(1_000 * E18)]),
    ], t + 1000)
    failed = [(r.error, i) for r in (*first.receipts, *second.receipts) for i in [0] if r.error]
    assert not failed, failed
    engine = Engine(chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # built, never run
    api = NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool), risk_policy=RiskPolicy())
    registry = build_registry(api)
    loop = asyncio.new_event_loop()
    yield registry, loop, names, chain
    loop.close()


def rpc(served: Any, method: str, params: Any) -> dict[str, Any]:
    registry, loop = served[0], served[1]
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return json.loads(loop.run_until_complete(registry.handle(json.dumps(request))) or b"null")


def result(served: Any, method: str, params: Any) -> Any:
    reply = rpc(served, method, params)
    assert "error" not in reply, reply
    return reply["result"]


def view(served: Any, contract: str, method: str, args: list[Any]) -> Any:
    out = result(served, "contract_call", [contract, method, args])
    assert out["status"] == "success", out
    return out["output"]


def independent_impact_bps(amount_in: int, amount_out: int, reserve_in: int, reserve_out: int) -> int:
    mid = Fraction(reserve_out, reserve_in)
    execution = Fraction(amount_out, amount_in)
    impact = max(Fraction(0), 1 - execution / mid)
    return -(-impact * 10_000 // 1)  # up


@pytest.mark.parametrize("amount, tier", [(100, "low"), (30_000, "medium"), (80_000, "high"),
                                          (400_000, "blocked")])
def test_swap_quote_tiers_match_an_independent_impact(served: Any, amount: int, tier: str) -> None:
    names = served[2]
    path = [names["tusd"], names["wgld"]]
    quote = result(served, "swap_quote", {"path": path, "amount_in": str(amount * E18)})
    reserves = [int(x) for x in view(served, names["swap"], "get_reserves", path)]
    out = int(quote["amount_out"])
    assert out == int(view(served, names["swap"], "get_amounts_out", [str(amount * E18), path])[-1])
    risk = quote["risk"]
    assert risk["price_impact_bps"] == independent_impact_bps(amount * E18, out, *reserves)
    assert risk["price_impact_tier"] == tier and risk["tier"] == tier
    assert risk["pool_depth"][0]["reserve_in"] == str(reserves[0])
    assert [o["stale"] for o in risk["oracle"]] == [False, False]
    assert all(o["age_s"] is not None and o["age_s"] >= 0 for o in risk["oracle"])


def test_swap_quote_exact_out_and_bad_input(served: Any) -> None:
    names = served[2]
    path = [names["wgld"], names["tusd"]]
    quote = result(served, "swap_quote", {"path": path, "amount_out": str(1000 * E18)})
    assert int(quote["amount_out"]) == 1000 * E18 and int(quote["amount_in"]) > 500 * E18
    for params in ({"path": path}, {"path": path, "amount_in": "1", "amount_out": "1"},
                   {"path": path[:1], "amount_in": "1"}, {"path": path, "amount_in": "-5"},
                   {"path": path, "amount_in": "0"}, {"path": ["0x12", path[1]], "amount_in": "1"}):
        assert rpc(served, "swap_quote", params)["error"]["code"] == INVALID_PARAMS, params
    missing = rpc(served, "swap_quote", {"path": [names["tusd"], names["fusd"]], "amount_in": "1"})["error"]
    assert missing["code"] == -32060 and missing["data"]["reason"] == "pair does not exist"


def independent_health(served: Any, account: str, extra_debt: int = 0) -> Fraction:
    """As the next block sees it: one more block of interest on the debt (the preview runs there)."""
    names = served[2]
    lending = names["lending"]
    prices = {names["tusd"]: E18, names["wgld"]: 2 * E18}
    collateral = Fraction(0)
    owed = Fraction(0)
    for token, price in prices.items():
        m = view(served, lending, "market", [token])
        supplied = int(view(served, lending, "supply_balance", [token, account]))
        debt = int(view(served, lending, "borrow_balance", [token, account]))
        new = extra_debt if token == names["tusd"] else 0  # borrowed after the block's accrual
        collateral += Fraction(int(m["collateral_factor"]), E18) * supplied * Fraction(price, E18)
        owed += (debt * (1 + Fraction(int(m["borrow_rate"]), E18)) + new) * Fraction(price, E18)
    return collateral / owed


def test_borrow_preview_health_before_and_after(served: Any) -> None:
    names = served[2]
    preview = result(served, "lending_preview", {"action": "borrow", "token": names["tusd"],
                                                 "amount": str(400 * E18), "account": B})
    assert preview["outcome"]["status"] == "success"
    risk = preview["risk"]
    before = Fraction(int(risk["health_factor_before"]), E18)
    after = Fraction(int(risk["health_factor_after"]), E18)
    assert abs(before - independent_health(served, B)) < Fraction(1, 10**6)
    assert abs(after - independent_health(served, B, 400 * E18)) < Fraction(1, 10**6)
    assert after < before
    # 1,000 WGLD at 2 with factor 0.75 against 1,400 TUSD owed: liquidatable once WGLD falls under
    # 1,400/750, or once TUSD rises over 1,500/1,400.
    liq = {p["asset"]: p for p in risk["liquidation_price"]}
    assert liq[names["wgld"]]["direction"] == "below" and liq[names["tusd"]]["direction"] == "above"
    m = view(served, names["lending"], "market", [names["tusd"]])
    debt = int(view(served, names["lending"], "borrow_balance", [names["tusd"], B]))
    owed = Fraction(debt * (1 + Fraction(int(m["borrow_rate"]), E18)) + 400 * E18, E18)
    assert abs(Fraction(int(liq[names["wgld"]]["price"]), E18) - owed / 750) < Fraction(1, 10**9)
    assert abs(Fraction(int(liq[names["tusd"]]["price"]), E18) - 1500 / owed) < Fraction(1, 10**9)
    # 1,500 of borrowing power against about 1,401 owed: under the 1.2 of the default policy.
    assert risk["health_tier"] == "high" and risk["tier"] == "high" and "health_high" in risk["warnings"]
    small = result(served, "lending_preview", {"action": "borrow", "token": names["tusd"],
                                               "amount": str(10 * E18), "account": B})["risk"]
    assert small["health_tier"] == "medium" and small["tier"] == "medium", small
    # Beyond the limit the market refuses, and the preview says blocked.
    over = result(served, "lending_preview", {"action": "borrow", "token": names["tusd"],
                                              "amount": str(1000 * E18), "account": B})
    assert over["outcome"]["status"] == "failed" and over["outcome"]["error"] == "insufficient liquidity"
    assert over["risk"]["tier"] == "blocked" and "would_revert" in over["risk"]["warnings"]
    # Nothing of the previews was kept.
    assert int(view(served, names["lending"], "borrow_balance", [names["tusd"], B])) < 1001 * E18


def test_preview_of_a_supplier_without_debt_and_bad_input(served: Any) -> None:
    names = served[2]
    preview = result(served, "lending_preview", {"action": "redeem", "token": names["tusd"],
                                                 "amount": str(1000 * E18), "account": A})
    assert preview["outcome"]["status"] == "success"
    assert preview["risk"]["health_factor_after"] is None and preview["risk"]["tier"] == "low"
    for params in ({"action": "steal", "token": names["tusd"], "amount": "1", "account": A},
                   {"action": "borrow", "token": names["tusd"], "amount": "0", "account": A},
                   {"action": "borrow", "token": "nope", "amount": "1", "account": A}):
        assert rpc(served, "lending_preview", params)["error"]["code"] == INVALID_PARAMS, params
    unlisted = rpc(served, "lending_preview", {"action": "borrow", "token": names["fusd"], "amount": "1",
                                               "account": A})["error"]
    assert unlisted["code"] == -32060


def test_genesis_contracts_by_name(served: Any) -> None:
    names = served[2]
    assert result(served, "chain_getContracts", []) == names
