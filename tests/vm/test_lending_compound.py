"""Collateral is valued in Compound v2's order, checked against the Comptroller's formula.

Compound (Comptroller.getHypotheticalAccountLiquidityInternal) first computes
`tokensToDenom = collateralFactor x exchangeRate x oraclePrice`, each product of mantissas
truncated (`mul_(Exp, Exp)`), then adds `truncate(tokensToDenom x cTokenBalance)`. Valuing the
balance first, `((cTokens x rate) x price) x factor`, rounds differently in about 40% of
random cases, and so decides borrows and liquidations at the boundary differently.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vm.lending_world import EXP, World, list_args, make_world


def compound_collateral(rows: list[tuple[int, int, int, int]]) -> int:
    """Compound v2's sumCollateral over (cToken balance, exchange rate, price, collateral factor)."""
    total = 0
    for ctokens, rate, price, factor in rows:
        tokens_to_denom = factor * rate // EXP * price // EXP  # mul_(mul_(cf, rate), price)
        total += tokens_to_denom * ctokens // EXP  # mul_ScalarTruncateAddUInt
    return total


def balance_first(ctokens: int, rate: int, price: int, factor: int) -> int:
    """The order the contract used before: the cTokens' underlying, its value, then the factor."""
    return ctokens * rate // EXP * price // EXP * factor // EXP


def _world(cf: int, rate: int, seed: int, price: int) -> World:
    w = make_world(n_users=1, list_b=False)
    w.do(w.admin, "list_market", list_args(w.tokens["B"], cf, rate=rate, seed=seed))
    w.set_price("B", price)
    w.do(w.admin, "supply", [w.tokens["A"], 10**28])  # cash to borrow; A's price is 1.0
    return w


def _row(w: World, account) -> tuple[int, int, int, int]:
    b = w.tokens["B"]
    m = w.q("market", [b])
    price = w.chain.query(w.oracle, "price", [b])
    return w.q("ctoken_balance", [b, account]), m["exchange_rate"], price, m["collateral_factor"]


def _check_boundary(w: World, expected: int) -> None:
    """The account may borrow exactly `expected` of A (price 1.0), and not one unit more."""
    alice, a = w.users[0], w.tokens["A"]
    assert w.q("account_liquidity", [alice]) == {"liquidity": expected, "shortfall": 0}
    if expected == 0:
        return
    w.fails(alice, "borrow", [a, expected + 1], "insufficient liquidity")
    w.do(alice, "borrow", [a, expected])
    assert w.q("account_liquidity", [alice]) == {"liquidity": 0, "shortfall": 0}
    # A lower collateral price: the shortfall, which decides whether it can be liquidated, is
    # the debt over Compound's value at the new price.
    b = w.tokens["B"]
    w.set_price("B", w.chain.query(w.oracle, "price", [b]) * 9 // 10)
    after = compound_collateral([_row(w, alice)])
    assert w.q("account_liquidity", [alice]) == {"liquidity": 0, "shortfall": expected - after}

def test_a_boundary_case_where_the_orders_differ():
    w = _world(cf=5 * 10**17 + 1, rate=333333333333333337, seed=10**12, price=7 * 10**17 + 9)
    w.do(w.users[0], "supply", [w.tokens["B"], 10**18 + 7])
    row = _row(w, w.users[0])
    expected = compound_collateral([row])
    assert balance_first(*row) != expected  # the old order would decide this borrow differently
    _check_boundary(w, expected)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cf=st.integers(1, 9 * 10**17),
    rate=st.integers(10**15, 10**19),
    price=st.integers(1, 10**22),
    amount=st.integers(10**6, 10**24),
)
def test_collateral_matches_compound(cf, rate, price, amount):
    w = _world(cf=cf, rate=rate, seed=10**14, price=price)
    w.do(w.users[0], "supply", [w.tokens["B"], amount])
    _check_boundary(w, compound_collateral([_row(w, w.users[0])]))
