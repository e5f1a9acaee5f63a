"""Unit tests of the Lending standard contract (vm/contracts/lending.py): listing, supply, redeem, borrow, repay.

Expected numbers come from a small Python model of the same fixed-point rules, so a
change of rounding direction or of the rate model shows up as a wrong value.
"""

from __future__ import annotations

import pytest

from tests.vm.lending_world import (
    CFS,
    CLOSE_FACTOR,
    EXP,
    INCENTIVE,
    INITIAL_RATE,
    MAX_UINT,
    RATE_MODEL,
    RF,
    SEED,
    World,
    ceil_div,
    list_args,
    make_world,
)
from vm.testing import load_contract
from vm.values import ZERO_ADDRESS


def test_listing_seeds_the_market(w):
    a, b = w.tokens["A"], w.tokens["B"]
    assert w.q("markets", []) == [a, b]
    locked = SEED * EXP // INITIAL_RATE
    assert w.q("market", [a]) == {
        "cash": SEED, "borrows": 0, "reserves": 0, "total_ctokens": locked, "borrow_index": EXP,
        "exchange_rate": INITIAL_RATE, "collateral_factor": CFS["A"], "reserve_factor": RF, "utilization": 0,
        "borrow_rate": RATE_MODEL["base"], "supply_rate": 0, "accrual_height": w.chain.vm.block.height,
    }
    assert w.q("ctoken_balance", [a, ZERO_ADDRESS]) == locked
    assert w.tok_balance("A", w.lending) == SEED
    assert w.q("admin", []) == w.admin
    assert w.q("close_factor", []) == CLOSE_FACTOR
    assert w.q("liquidation_incentive", []) == INCENTIVE


def test_listing_reverts():
    w = make_world(list_b=False)
    b = w.tokens["B"]
    w.fails(w.users[0], "list_market", list_args(b, CFS["B"]), "only the admin")
    w.fails(w.admin, "list_market", list_args(w.tokens["A"], CFS["A"]), "market already listed")
    w.fails(w.admin, "list_market", list_args(b, CFS["B"], seed=0), "seed must be positive")
    w.fails(w.admin, "list_market", list_args(b, 91 * 10**16), "collateral factor too high")
    w.fails(w.admin, "list_market", list_args(b, CFS["B"], rf=EXP + 1), "reserve factor too high")
    w.fails(w.admin, "list_market", list_args(b, CFS["B"], rate=0), "bad exchange rate")
    w.fails(w.admin, "list_market", list_args(b, CFS["B"], rate=10 * EXP, seed=5), "seed too small")
    w.chain.must(w.admin, b, "approve", [w.lending, 0])
    w.fails(w.admin, "list_market", list_args(b, CFS["B"]), "insufficient allowance")
    assert w.q("markets", []) == [w.tokens["A"]]
    w.chain.must(w.admin, b, "approve", [w.lending, SEED])
    res = w.do(w.admin, "list_market", list_args(b, CFS["B"]))
    listed = [e for e in res.events if e.name == "MarketListed"]
    assert [(e.address, e.data) for e in listed] == [(w.lending, [b, CFS["B"], RF, INITIAL_RATE, SEED])]


def test_constructor_checks(w):
    src = load_contract("lending")
    assert w.chain.deploy(w.admin, src, [w.oracle, 0, INCENTIVE]).error == "bad close factor"
    assert w.chain.deploy(w.admin, src, [w.oracle, EXP + 1, INCENTIVE]).error == "bad close factor"
    assert w.chain.deploy(w.admin, src, [w.oracle, CLOSE_FACTOR, EXP - 1]).error == "bad liquidation incentive"


def test_admin_setters(w):
    a = w.tokens["A"]
    user = w.users[0]
    w.fails(user, "set_collateral_factor", [a, 10**17], "only the admin")
    w.fails(user, "set_reserve_factor", [a, 10**17], "only the admin")
    w.fails(user, "set_oracle", [user], "only the admin")
    w.fails(user, "reduce_reserves", [a, 1, user], "only the admin")
    w.fails(w.admin, "set_collateral_factor", [a, 95 * 10**16], "collateral factor too high")
    w.fails(w.admin, "set_reserve_factor", [a, EXP + 1], "reserve factor too high")
    w.fails(w.admin, "set_collateral_factor", [user, 10**17], "market not listed")
    res = w.do(w.admin, "set_collateral_factor", [a, 6 * 10**17])
    assert [(e.name, e.data) for e in res.events] == [("CollateralFactorSet", [a, 6 * 10**17])]
    res = w.do(w.admin, "set_reserve_factor", [a, 2 * 10**17])
    assert [(e.name, e.data) for e in res.events] == [("ReserveFactorSet", [a, 2 * 10**17])]
    m = w.q("market", [a])
    assert m["collateral_factor"] == 6 * 10**17
    assert m["reserve_factor"] == 2 * 10**17
    res = w.do(w.admin, "set_oracle", [user])
    assert [(e.name, e.data) for e in res.events] == [("OracleSet", [user])]
    assert w.q("oracle", []) == user


def test_unlisted_market_reverts(w):
    stranger = w.users[2]
    for method, args in [
        ("supply", [stranger, 10]),
        ("borrow", [stranger, 10]),
        ("redeem", [stranger, 10]),
        ("repay", [stranger, 10]),
        ("accrue", [stranger]),
    ]:
        w.fails(w.users[0], method, args, "market not listed")
    with pytest.raises(AssertionError):
        w.q("market", [stranger])


# ---- supply and redeem -------------------------------------------------------------------


def test_supply_mints_ctokens(w):
    a = w.tokens["A"]
    alice = w.users[0]
    amount = 10**21 + 3
    before = w.tok_balance("A", alice)
    res = w.do(alice, "supply", [a, amount])
    minted = amount * EXP // INITIAL_RATE
    assert res.output == minted
    assert w.q("ctoken_balance", [a, alice]) == minted
    assert w.tok_balance("A", alice) == before - amount
    assert w.tok_balance("A", w.lending) == SEED + amount
    m = w.q("market", [a])
    assert m["cash"] == SEED + amount
    assert m["total_ctokens"] == SEED * EXP // INITIAL_RATE + minted
    # Rounded down: the pool may hold a unit more than the cTokens are worth, never less.
    assert w.q("supply_balance", [a, alice]) <= amount
    assert [e.data for e in res.events if e.name == "Supply"] == [[alice, a, amount, minted]]
    assert w.q("assets_of", [alice]) == [a]


def test_supply_reverts(w):
    a = w.tokens["A"]
    alice = w.users[0]
    w.fails(alice, "supply", [a, 0], "amount must be positive")
    w.fails(alice, "supply", [a, -5], "amount must be positive")
    w.fails(alice, "supply", [a, 10**27], "insufficient balance")
    w.chain.must(alice, a, "approve", [w.lending, 0])
    w.fails(alice, "supply", [a, 10], "insufficient allowance")


def test_supply_too_small_for_one_ctoken():
    w = make_world(list_b=False)
    b = w.tokens["B"]
    # One cToken is worth 10 units here, so 9 units would mint nothing.
    w.do(w.admin, "list_market", list_args(b, CFS["B"], rate=10 * EXP, seed=100))
    w.fails(w.users[0], "supply", [b, 9], "amount too small")
    assert w.do(w.users[0], "supply", [b, 19]).output == 1


def test_redeem_round_trip(w):
    a = w.tokens["A"]
    alice = w.users[0]
    before = w.tok_balance("A", alice)
    minted = w.do(alice, "supply", [a, 777_777]).output
    res = w.do(alice, "redeem", [a, minted])
    assert res.output == minted * INITIAL_RATE // EXP
    assert res.output <= 777_777
    assert w.tok_balance("A", alice) == before - 777_777 + res.output
    assert w.q("ctoken_balance", [a, alice]) == 0
    assert [e.data for e in res.events if e.name == "Redeem"] == [[alice, a, res.output, minted]]
    assert w.q("market", [a])["cash"] == w.tok_balance("A", w.lending)
    minted = w.do(alice, "supply", [a, 10**20]).output
    assert w.do(alice, "redeem", [a, MAX_UINT]).output == minted * INITIAL_RATE // EXP
    assert w.q("ctoken_balance", [a, alice]) == 0


def test_redeem_underlying_burns_rounded_up(w):
    a = w.tokens["A"]
    alice = w.users[0]
    minted = w.do(alice, "supply", [a, 10**20]).output
    # Push the exchange rate off a round number with interest.
    w.do(w.users[1], "supply", [w.tokens["B"], 10**22])
    w.do(w.users[1], "borrow", [a, 5 * 10**19])
    w.chain.advance(blocks=7, seconds=7)
    w.do(alice, "accrue", [a])
    m = w.q("market", [a])
    rate = m["exchange_rate"]
    assert rate > INITIAL_RATE
    amount = 12_345_678_901
    res = w.do(alice, "redeem_underlying", [a, amount])
    assert res.output == ceil_div(amount * EXP, rate)
    assert w.q("ctoken_balance", [a, alice]) == minted - res.output
    # The burnt cTokens are worth at least what was paid out.
    assert res.output * rate >= amount * EXP > (res.output - 1) * rate


def test_redeem_reverts(w):
    a = w.tokens["A"]
    alice, bob = w.users[0], w.users[1]
    minted = w.do(alice, "supply", [a, 10**20]).output
    w.fails(alice, "redeem", [a, minted + 1], "insufficient ctokens")
    w.fails(alice, "redeem", [a, 0], "amount too small")
    w.fails(alice, "redeem", [a, -1], "amount must not be negative")
    w.fails(alice, "redeem", [a, 4], "amount too small")  # 4 cTokens are worth 0.8 units
    w.fails(alice, "redeem_underlying", [a, 10**20 + 1], "insufficient ctokens")
    w.fails(bob, "redeem", [a, 10], "insufficient ctokens")
    # Bob borrows nearly all the cash: Alice's cTokens stay, but there is nothing to pay them with.
    w.do(bob, "supply", [w.tokens["B"], 10**23])
    w.do(bob, "borrow", [a, 10**20])
    w.fails(alice, "redeem", [a, minted], "insufficient cash")


# ---- borrow, liquidity and repay ---------------------------------------------------------


def liquidity_model(w: World, account) -> tuple[int, int]:
    """(collateral value * cf, debt value) with the contract's roundings, from its views."""
    collateral = owed = 0
    for tok in w.tokens.values():
        m = w.q("market", [tok])
        price = w.chain.query(w.oracle, "price", [tok])
        held = w.q("ctoken_balance", [tok, account])
        debt = w.q("borrow_balance", [tok, account])
        collateral += m["collateral_factor"] * m["exchange_rate"] // EXP * price // EXP * held // EXP
        owed += ceil_div(debt * price, EXP)
    return collateral, owed


def test_borrow_up_to_the_limit(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice = w.users[0]
    w.do(w.users[1], "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**21])
    collateral, owed = liquidity_model(w, alice)
    assert owed == 0
    assert w.q("account_liquidity", [alice]) == {"liquidity": collateral, "shortfall": 0}
    # 10**21 B at price 2 with cf 0.5 supports 10**21 quote units, that is 10**21 A.
    assert collateral == 10**21
    w.fails(alice, "borrow", [a, collateral + 1], "insufficient liquidity")
    before = w.tok_balance("A", alice)
    res = w.do(alice, "borrow", [a, collateral])
    assert res.output == collateral
    assert w.tok_balance("A", alice) == before + collateral
    assert w.q("borrow_balance", [a, alice]) == collateral
    assert w.q("account_liquidity", [alice]) == {"liquidity": 0, "shortfall": 0}
    assert w.q("health_factor", [alice]) == EXP
    assert [e.data for e in res.events if e.name == "Borrow"] == [[alice, a, collateral, collateral, collateral]]
    assert w.q("assets_of", [alice]) == [b, a]
    w.fails(alice, "borrow", [a, 1], "insufficient liquidity")
    # Any redeem of collateral would now leave a shortfall.
    w.fails(alice, "redeem", [b, 10], "insufficient liquidity")


def test_borrow_reverts(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice = w.users[0]
    w.fails(alice, "borrow", [a, 10], "insufficient liquidity")
    w.do(alice, "supply", [b, 10**24])
    # With a collateral factor of 0 the supply counts for nothing.
    w.do(w.admin, "set_collateral_factor", [b, 0])
    assert w.q("account_liquidity", [alice]) == {"liquidity": 0, "shortfall": 0}
    w.fails(alice, "borrow", [a, 1], "insufficient liquidity")
    w.do(w.admin, "set_collateral_factor", [b, CFS["B"]])
    w.fails(alice, "borrow", [a, 0], "amount must be positive")
    w.fails(alice, "borrow", [a, SEED + 1], "insufficient cash")
    assert w.do(alice, "borrow", [a, SEED]).ok


def test_repay_partial_full_and_behalf(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**22])
    w.do(alice, "borrow", [a, 10**21])
    w.fails(alice, "repay", [a, 10**21 + 1], "repay exceeds borrow")
    w.fails(alice, "repay", [a, 0], "nothing to repay")
    res = w.do(alice, "repay", [a, 4 * 10**20])
    assert res.output == 4 * 10**20
    assert w.q("borrow_balance", [a, alice]) == 6 * 10**20
    assert [e.data for e in res.events if e.name == "Repay"] == [[alice, alice, a, 4 * 10**20, 6 * 10**20, 6 * 10**20]]
    bob_before = w.tok_balance("A", bob)
    res = w.do(bob, "repay_behalf", [alice, a, 10**20])
    assert res.output == 10**20
    assert w.tok_balance("A", bob) == bob_before - 10**20
    assert w.q("borrow_balance", [a, alice]) == 5 * 10**20
    res = w.do(alice, "repay", [a, MAX_UINT])
    assert res.output == 5 * 10**20
    assert w.q("borrow_balance", [a, alice]) == 0
    assert w.q("market", [a])["borrows"] == 0
    w.fails(alice, "repay", [a, MAX_UINT], "nothing to repay")
    w.fails(bob, "repay_behalf", [alice, a, 1], "nothing to repay")
    assert w.q("health_factor", [alice]) == MAX_UINT



def test_liquidity_rounds_against_the_account(w):
    a, b = w.tokens["A"], w.tokens["B"]
    alice, bob = w.users[0], w.users[1]
    p_a, p_b = 333_333_333_333_333_333, 1_999_999_999_999_999_999
    w.set_price("A", p_a)
    w.set_price("B", p_b)
    w.do(bob, "supply", [a, 10**22])
    w.do(alice, "supply", [b, 10**21 + 12_345])
    debt = 10**20 + 1
    w.do(alice, "borrow", [a, debt])
    collateral, owed = liquidity_model(w, alice)
    assert owed == ceil_div(debt * p_a, EXP) and owed * EXP != debt * p_a
    assert w.q("account_liquidity", [alice]) == {"liquidity": collateral - owed, "shortfall": 0}
    assert w.q("health_factor", [alice]) == collateral * EXP // owed
    # The largest total debt whose value, rounded up, stays within the collateral.
    room = collateral * EXP // p_a - debt
    w.fails(alice, "borrow", [a, room + 1], "insufficient liquidity")
    w.do(alice, "borrow", [a, room])
    assert w.q("account_liquidity", [alice])["shortfall"] == 0

# ---- interest --------------------------------------------------------------------------------
