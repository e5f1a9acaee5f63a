"""vault_preview in process, over a real LevelDB chain with the standard contracts (the genesis
vault over FUSD): the preview against the vault's own views, the outcome of the dry run, and the
risk block's liquidity and utilization parts against an independent computation."""

from __future__ import annotations

import asyncio
import dataclasses
from fractions import Fraction
from typing import Any

import pytest

from devnet.contracts import standard_contracts
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.rpc.registry import INVALID_PARAMS
from node.rpc.vault import liquidity_tier, utilization_tier
from node.types.risk import RiskPolicy
from tests.node.helpers import make_chain, make_genesis
from tests.node.test_chain import T0, advance
from tests.node.test_contract_txs import call_tx
from tests.node.test_quotes import ADMIN, E18, MARKET, A, B, result, rpc, view
from vm.values import Address


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("vault")
    contracts, names = standard_contracts(ADMIN.address)
    genesis = dataclasses.replace(make_genesis(), contracts=contracts, eth_chain_id=4242)
    chain, mempool = make_chain(tmp, genesis)
    fusd, wgld, oracle, lending, vault = (names[n] for n in ("fusd", "wgld", "oracle", "lending", "vault"))
    nonces = {0: len(contracts), 1: 0}

    def value(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("0x"):
            return Address(bytes.fromhex(v[2:]))
        return int(v) if isinstance(v, str) else v

    def call(sender: int, contract: str, method: str, args: list[Any]) -> Any:
        tx = call_tx(Address(bytes.fromhex(contract[2:])), method, [value(a) for a in args], sender=sender,
                     nonce=nonces[sender], gas_limit=3_000_000)
        nonces[sender] += 1
        return tx

    first = advance(chain, [
        call(0, oracle, "report", [fusd, str(E18)]),
        call(0, oracle, "report", [wgld, str(2 * E18)]),
        call(0, fusd, "approve", [lending, str(10**30)]),
        call(0, wgld, "approve", [lending, str(10**30)]),
        call(0, lending, "list_market", [fusd, *MARKET]),
        call(0, lending, "list_market", [wgld, *MARKET]),
        call(0, fusd, "approve", [vault, str(10**30)]),
        call(0, vault, "deposit", [str(2_000 * E18), A]),
        call(0, wgld, "transfer", [B, str(1_000 * E18)]),
    ], T0 + 1000)
    second = advance(chain, [
        call(1, wgld, "approve", [lending, str(10**30)]),
        call(1, lending, "supply", [wgld, str(1_000 * E18)]),
        call(1, lending, "borrow", [fusd, str(1_000 * E18)]),
    ], T0 + 2000)
    failed = [r.error for r in (*first.receipts, *second.receipts) if r.error]
    assert not failed, failed
    engine = Engine(chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # built, never run
    api = NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool), risk_policy=RiskPolicy())
    loop = asyncio.new_event_loop()
    yield build_registry(api), loop, names, chain
    loop.close()


def preview(served: Any, action: str, amount: int, account: str = A) -> dict[str, Any]:
    return result(served, "vault_preview", {"action": action, "amount": str(amount), "account": account})


def test_a_deposit_preview_is_the_vaults_and_goes_through(served: Any) -> None:
    names = served[2]
    vault = names["vault"]
    out = preview(served, "deposit", 10 * E18)
    # The preview runs at the next block, one block of interest later than a view at the tip.
    assert int(out["shares"]) == int(out["preview"]) > 0
    assert int(out["shares"]) <= int(view(served, vault, "convert_to_shares", [str(10 * E18)]))
    assert out["outcome"]["status"] == "success" and int(out["outcome"]["output"]) == int(out["shares"])
    assert out["vault"] == vault and out["asset"] == names["fusd"] and out["lending"] == names["lending"]
    assert out["assets"] == str(10 * E18) and int(out["max"]) == 2**128 - 1
    assert int(out["share_price"]) >= E18
    risk = out["risk"]
    assert risk["tier"] == "low" and risk["warnings"] == [] and "assets_out" not in risk
    assert [o["stale"] for o in risk["oracle"]] == [False] and risk["oracle"][0]["asset"] == names["fusd"]
    # Nothing of the dry run was kept.
    assert int(view(served, vault, "balance_of", [A])) == 2_000 * E18 * 10**6


def test_utilization_and_rates_are_the_markets_own(served: Any) -> None:
    names = served[2]
    out = preview(served, "mint", 10**24)
    m = out["market"]
    cash, util, borrows, reserves = (int(m[k]) for k in ("cash", "utilization", "borrows", "reserves"))
    # About 1,000 borrowed (with interest to the next block) of 2,001 FUSD, rounded up by the market.
    assert 1_000 * E18 < borrows < 1_010 * E18
    exact = Fraction(borrows, cash + borrows - reserves)
    assert util == -(-exact * E18 // 1)
    assert out["risk"]["utilization"] == m["utilization"] and out["risk"]["utilization_tier"] == "low"
    assert int(m["borrow_rate"]) > 0 and 0 < int(m["supply_rate"]) < int(m["borrow_rate"])
    assert int(out["assets"]) > E18 and out["outcome"]["status"] == "success"
    assert out["approval"]["amount"] == out["assets"]
    assert out["risk"]["market_cash"] == m["cash"]
    assert out["lending"] == names["lending"]


def test_withdrawals_against_the_markets_cash(served: Any) -> None:
    small = preview(served, "withdraw", 100 * E18)
    available = int(small["risk"]["vault_available"])
    assert 1_000 * E18 < available < 1_002 * E18  # the market's cash: deposits and seed less the loan
    assert small["risk"]["liquidity_tier"] == "low" and small["risk"]["tier"] == "low"
    assert small["outcome"]["status"] == "success" and int(small["shares"]) > 0
    half = preview(served, "withdraw", 600 * E18)
    assert half["risk"]["liquidity_tier"] == "medium" and "liquidity_medium" in half["risk"]["warnings"]
    assert half["risk"]["tier"] == "medium"
    over = preview(served, "withdraw", 1_500 * E18)
    assert over["outcome"]["status"] == "failed" and over["outcome"]["error"] == "insufficient_liquidity"
    assert over["risk"]["tier"] == "blocked" and {"liquidity_blocked", "would_revert"} <= set(over["risk"]["warnings"])
    shares = int(view(served, served[2]["vault"], "balance_of", [A]))
    redeem = preview(served, "redeem", shares)
    assert redeem["risk"]["assets_out"] == redeem["assets"] and redeem["risk"]["tier"] == "blocked"
    assert int(redeem["max"]) < shares  # max_redeem: what the market's cash allows


def test_a_stranger_and_bad_parameters(served: Any) -> None:
    out = preview(served, "redeem", 10**6, account=B)
    assert out["outcome"]["error"] == "insufficient_shares" and out["max"] == "0"
    assert out["risk"]["tier"] == "blocked"
    # B never approved the vault: the dry run goes as if it had, and says to approve first. B holds
    # the 1,000 FUSD it borrowed, not 2,000.
    deposit = preview(served, "deposit", E18, account=B)
    assert deposit["approval"] == {"needed": True, "allowance": "0", "amount": str(E18)}
    assert deposit["outcome"]["status"] == "success"
    assert preview(served, "deposit", 2_000 * E18, account=B)["outcome"]["error"] == "insufficient_balance"
    assert preview(served, "deposit", E18)["approval"]["needed"] is False
    for params in ({"action": "steal", "amount": "1", "account": A}, {"action": "deposit", "amount": "0", "account": A},
                   {"action": "deposit", "amount": "-1", "account": A}, {"action": "deposit", "amount": "1",
                                                                          "account": "nope"}):
        assert rpc(served, "vault_preview", params)["error"]["code"] == INVALID_PARAMS, params
    wrong = rpc(served, "vault_preview", {"action": "deposit", "amount": "1", "account": A,
                                          "vault": served[2]["fusd"]})["error"]
    assert wrong["code"] == -32060  # FUSD has no `info` view


def test_the_tiers_of_the_vault_parts() -> None:
    assert [utilization_tier(u * E18 // 100) for u in (0, 79, 80, 94, 95, 100)] == [
        "low", "low", "medium", "medium", "high", "high"]
    assert [liquidity_tier(out, 100) for out in (0, 50, 51, 100, 101)] == ["low", "low", "medium", "medium",
                                                                           "blocked"]


def test_the_erc20_face_sees_the_shares(served: Any) -> None:
    vault = served[2]["vault"]
    held = int(view(served, vault, "balance_of", [A]))
    balance_of = "0x70a08231" + "00" * 12 + A[2:].lower()
    assert int(result(served, "eth_call", [{"to": vault, "data": balance_of}, "latest"]), 16) == held > 0
    assert int(result(served, "eth_call", [{"to": vault, "data": "0x313ce567"}, "latest"]), 16) == 24  # decimals()
