"""Unit tests of the Lending standard contract: interest, the kink, reserves, liquidation, prices, gas."""

from __future__ import annotations

import pytest

from tests.vm.lending_world import (
    CFS,
    EXP,
    INCENTIVE,
    INITIAL_RATE,
    MAX_AGE,
    MAX_UINT,
    RATE_MODEL,
    RF,
    SEED,
    World,
    ceil_div,
    ref_accrue,
    ref_borrow_rate,
    ref_rate,
    ref_util,
)


def stored(w, tok) -> dict:
    m = w.q("market", [tok])
    return {k: m[k] for k in ("cash", "borrows", "reserves", "borrow_index")}


def test_interest_accrual_matches_model(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**23])
    w.do(alice, "borrow", [a, 3 * 10**21])
    model = stored(w, a)
    start_height = w.q("market", [a])["accrual_height"]
    height = start_height
    for blocks in (1, 5, 13, 40):
        w.chain.advance(blocks=blocks, seconds=blocks)
        res = w.do(bob, "accrue", [a])
        model_next = ref_accrue(model, blocks)
        got = stored(w, a)
        assert got == model_next, (blocks, got, model_next)
        interest = model_next["borrows"] - model["borrows"]
        assert interest > 0
        assert [e.data for e in res.events if e.name == "AccrueInterest"] == [
            [a, model["cash"], interest, model_next["borrow_index"], model_next["borrows"]]
        ]
        height += blocks
        assert w.q("market", [a])["accrual_height"] == height
        model = model_next
    # Alice's debt is her principal scaled by the index, rounded up.
    assert w.q("borrow_balance", [a, alice]) == ceil_div(3 * 10**21 * model["borrow_index"], EXP)
    # Accruing twice in one block changes nothing and says nothing.
    res = w.do(bob, "accrue", [a])
    assert [e for e in res.events if e.name == "AccrueInterest"] == []
    assert stored(w, a) == model


def test_borrow_balance_rounds_up_between_indexes(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob, carol = w.users
    w.do(bob, "supply", [a, 10**22])
    w.do(carol, "supply", [b, 10**23])
    w.do(alice, "supply", [b, 10**23])
    w.do(carol, "borrow", [a, 4 * 10**21])
    w.chain.advance(blocks=3, seconds=3)
    # Alice borrows at an index that is no longer 1, so her balance is an inexact ratio.
    principal = 10**21 + 7
    w.do(alice, "borrow", [a, principal])
    start = w.q("market", [a])["borrow_index"]
    assert start > EXP
    w.chain.advance(blocks=11, seconds=11)
    now = ref_accrue(stored(w, a), 11)["borrow_index"]
    assert principal * now % start != 0
    assert w.q("borrow_balance", [a, alice]) == ceil_div(principal * now, start)
    w.do(bob, "accrue", [a])
    assert w.q("market", [a])["borrow_index"] == now
    assert w.do(alice, "repay", [a, MAX_UINT]).output == ceil_div(principal * now, start)
    assert w.q("borrow_balance", [a, alice]) == 0
    # Bob earned the interest less the reserves' share.
    assert w.q("market", [a])["reserves"] > 0
    assert w.q("supply_balance", [a, bob]) > 10**22


def test_views_include_pending_interest(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**23])
    w.do(alice, "borrow", [a, 10**21])
    before = w.q("market", [a])
    w.chain.advance(blocks=10, seconds=10)
    model = ref_accrue(stored(w, a), 10)
    # The stored views wait for an accrual; the balances run to the current block.
    assert w.q("market", [a]) == before
    assert w.q("exchange_rate", [a]) == before["exchange_rate"]
    assert w.q("borrow_balance", [a, alice]) == ceil_div(10**21 * model["borrow_index"], EXP)
    rate_now = ref_rate({**model, "total_ctokens": before["total_ctokens"]})
    held = w.q("ctoken_balance", [a, bob])
    assert w.q("supply_balance", [a, bob]) == held * rate_now // EXP
    assert w.q("supply_balance", [a, bob]) > 10**22


def test_kink_and_jump(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    supplied = 10**22
    w.do(bob, "supply", [a, supplied])
    w.do(alice, "supply", [b, 10**24])
    cash0 = SEED + supplied
    kink = RATE_MODEL["kink"]
    # Below the kink: base + u * mult.
    w.do(alice, "borrow", [a, cash0 // 2])
    m = w.q("market", [a])
    u = ref_util(m["cash"], m["borrows"], m["reserves"])
    assert m["utilization"] == u
    assert u < kink
    assert m["borrow_rate"] == RATE_MODEL["base"] + ceil_div(u * RATE_MODEL["mult"], EXP)
    below = m["borrow_rate"]
    # Above the kink the slope is the jump multiplier.
    w.do(alice, "borrow", [a, cash0 * 4 // 10])
    m = w.q("market", [a])
    u = m["utilization"]
    assert u > kink
    expected = (RATE_MODEL["base"] + ceil_div(kink * RATE_MODEL["mult"], EXP)
                + ceil_div((u - kink) * RATE_MODEL["jump"], EXP))
    assert m["borrow_rate"] == expected == ref_borrow_rate(m["cash"], m["borrows"], m["reserves"])
    assert m["borrow_rate"] > below + (u - kink) * RATE_MODEL["jump"] // EXP
    earned = m["borrow_rate"] * (EXP - RF) // EXP
    assert m["supply_rate"] == u * earned // EXP
    # And accrual uses that jump rate.
    model = ref_accrue(stored(w, a), 3)
    w.chain.advance(blocks=3, seconds=3)
    w.do(bob, "accrue", [a])
    assert stored(w, a) == model


def test_reduce_reserves(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob, carol = w.users
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**23])
    w.do(alice, "borrow", [a, 5 * 10**21])
    w.chain.advance(blocks=50, seconds=50)
    w.do(bob, "accrue", [a])
    reserves = w.q("market", [a])["reserves"]
    assert reserves > 0
    w.fails(w.admin, "reduce_reserves", [a, reserves + 1, carol], "insufficient reserves")
    w.fails(w.admin, "reduce_reserves", [a, 0, carol], "amount must be positive")
    before = w.tok_balance("A", carol)
    rate_before = w.q("exchange_rate", [a])
    res = w.do(w.admin, "reduce_reserves", [a, reserves, carol])
    assert w.tok_balance("A", carol) == before + reserves
    assert w.q("market", [a])["reserves"] == 0
    assert w.q("exchange_rate", [a]) == rate_before
    assert [e.data for e in res.events if e.name == "ReservesReduced"] == [[a, reserves, carol, 0]]
    assert w.q("market", [a])["cash"] == w.tok_balance("A", w.lending)


# ---- liquidation ------------------------------------------------------------------------------


def underwater(w: World):
    """Alice borrows A against B up to the limit, then B's price halves."""
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**21])
    w.do(alice, "borrow", [a, 10**21])
    return a, b, alice, bob


def test_liquidation_after_price_drop(w):
    a, b, alice, bob = underwater(w)
    w.fails(bob, "liquidate", [alice, a, 10**20, b], "account not in shortfall")
    w.set_price("B", 10**18)
    liq = w.q("account_liquidity", [alice])
    assert liq["liquidity"] == 0
    assert liq["shortfall"] == 10**21 - 10**21 * CFS["B"] // EXP
    assert w.q("health_factor", [alice]) == CFS["B"]
    w.fails(alice, "liquidate", [alice, a, 10**20, b], "cannot liquidate yourself")
    w.fails(bob, "liquidate", [alice, a, 5 * 10**20 + 1, b], "too much repay")
    w.fails(bob, "liquidate", [alice, a, 0, b], "amount must be positive")
    held = w.q("ctoken_balance", [b, alice])
    rate_b = w.q("exchange_rate", [b])
    repay = 5 * 10**20
    bob_a = w.tok_balance("A", bob)
    res = w.do(bob, "liquidate", [alice, a, repay, b])
    seized = repay * 10**18 * INCENTIVE // (10**18 * rate_b)
    assert res.output == seized
    assert w.q("ctoken_balance", [b, alice]) == held - seized
    assert w.q("ctoken_balance", [b, bob]) == seized
    assert w.q("borrow_balance", [a, alice]) == 10**21 - repay
    assert w.tok_balance("A", bob) == bob_a - repay
    assert [e.data for e in res.events if e.name == "Liquidate"] == [[bob, alice, a, repay, b, seized]]
    assert [e.data for e in res.events if e.name == "Repay"] == [[bob, alice, a, repay, 10**21 - repay, 10**21 - repay]]
    # Bob can take his prize out: 540 B for 500 A at equal prices.
    assert w.do(bob, "redeem", [b, seized]).output == 540 * 10**18


def test_liquidation_insufficient_collateral(w):
    a, b, alice, bob = underwater(w)
    # At a tenth of the price Alice's B cannot cover even half of her debt plus incentive.
    w.set_price("B", 2 * 10**17)
    w.fails(bob, "liquidate", [alice, a, 5 * 10**20, b], "insufficient collateral")
    w.fails(bob, "liquidate", [alice, a, 10**20, a], "insufficient collateral")
    assert w.do(bob, "liquidate", [alice, a, 10**20, b]).ok


def test_liquidation_through_interest(w):
    a, b, alice, bob = underwater(w)
    w.fails(bob, "liquidate", [alice, a, 10**19, b], "account not in shortfall")
    # No price moves: interest alone pushes Alice under water.
    w.chain.advance(blocks=2, seconds=2)
    assert w.q("account_liquidity", [alice])["shortfall"] > 0
    assert w.do(bob, "liquidate", [alice, a, 10**19, b]).ok


# ---- oracle failures ------------------------------------------------------------------------


def test_stale_price(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**21])
    w.chain.advance(blocks=1, seconds=MAX_AGE + 1)
    w.fails(alice, "borrow", [a, 10], "stale price")
    with pytest.raises(AssertionError):
        w.q("account_liquidity", [alice])
    # Without a debt nothing needs a price: suppliers can still come and go.
    assert w.do(bob, "redeem", [a, 10**5]).ok
    assert w.do(bob, "supply", [a, 10**5]).ok
    assert w.q("health_factor", [bob]) == MAX_UINT
    w.set_price("A", 10**18)
    w.set_price("B", 2 * 10**18)
    assert w.do(alice, "borrow", [a, 10]).ok
    w.chain.advance(blocks=1, seconds=MAX_AGE + 1)
    w.fails(alice, "redeem", [b, 10], "stale price")
    w.fails(alice, "set_collateral_factor", [b, 1], "only the admin")
    w.fails(w.admin, "set_collateral_factor", [b, 10**17], "stale price")


ZERO_ORACLE = '''
"""An oracle that reports whatever it is told, zero included."""


@constructor
def init():
    pass


@public
def put(asset: address, p: int):
    storage["p", asset] = p


@view
def price(asset: address) -> int:
    return storage.get(("p", asset), 0)
'''


def test_zero_price(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**21])
    res = w.chain.deploy(w.admin, ZERO_ORACLE, [])
    assert res.ok, res.error
    zero = res.address
    w.chain.must(w.admin, zero, "put", [a, 10**18])
    w.do(w.admin, "set_oracle", [zero])
    w.fails(alice, "borrow", [a, 10], "price is zero")
    w.fails(w.admin, "set_collateral_factor", [b, 10**17], "price is zero")
    w.chain.must(w.admin, zero, "put", [b, 10**18])
    assert w.do(alice, "borrow", [a, 10]).ok


# ---- the seeded market -----------------------------------------------------------------------


def test_donation_cannot_inflate_the_exchange_rate(w):
    a = w.tokens["A"]
    attacker, victim = w.users[0], w.users[1]
    # The classic attack: mint a dust position, donate a fortune, let the victim's mint round to 0.
    dust = w.do(attacker, "supply", [a, 1]).output
    assert dust == EXP // INITIAL_RATE
    rate = w.q("exchange_rate", [a])
    w.chain.must(attacker, a, "transfer", [w.lending, 10**24])
    assert w.q("exchange_rate", [a]) == rate
    assert w.q("market", [a])["cash"] == SEED + 1
    deposit = 10**21
    minted = w.do(victim, "supply", [a, deposit]).output
    assert minted == deposit * EXP // INITIAL_RATE
    assert w.q("supply_balance", [a, victim]) == deposit
    # The attacker's dust is still worth one unit: the donation is simply lost.
    assert w.do(attacker, "redeem", [a, dust]).output == 1
    assert w.do(victim, "redeem", [a, minted]).output == deposit
    # Everyone left, the locked seed remains: the market is never empty again.
    m = w.q("market", [a])
    assert (m["total_ctokens"], m["cash"], m["exchange_rate"]) == (SEED * EXP // INITIAL_RATE, SEED, INITIAL_RATE)


# ---- gas -----------------------------------------------------------------------------------


def test_gas_of_main_calls(w):
    a, b, alice, bob = underwater(w)
    w.chain.advance(blocks=1, seconds=1)
    w.do(bob, "accrue", [a])
    w.do(alice, "repay", [a, 10**20])
    w.do(bob, "redeem", [a, 10**20])
    w.do(bob, "redeem_underlying", [a, 10**18])
    w.do(alice, "borrow", [a, 10**19])
    w.set_price("B", 10**18)
    w.do(bob, "liquidate", [alice, a, 10**20, b])
    for method in ("supply", "borrow", "repay", "redeem", "redeem_underlying", "liquidate", "accrue"):
        # A regression guard: each is well under 0.2 M gas today.
        assert 0 < w.gas[method] < 200_000, (method, w.gas[method])
    print("lending gas:", {k: w.gas[k] for k in sorted(w.gas)})
