"""Unit tests of the Lending standard contract (vm/contracts/lending.py).

Expected numbers come from a small Python model of the same fixed-point rules, so a
change of rounding direction or of the rate model shows up as a wrong value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vm.testing import Chain, load_contract
from vm.values import ZERO_ADDRESS

EXP = 10**18
MAX_UINT = 2**256 - 1
MAX_AGE = 3600
CLOSE_FACTOR = 5 * 10**17
INCENTIVE = 108 * 10**16
SEED = 10**12
INITIAL_RATE = 2 * 10**17

# Per-block rates large enough that a few blocks move the numbers.
RATE_MODEL = {"base": 2 * 10**14, "mult": 10**15, "jump": 2 * 10**16, "kink": 8 * 10**17}
PRICES = {"A": 10**18, "B": 2 * 10**18}
CFS = {"A": 75 * 10**16, "B": 5 * 10**17}
RF = 10**17


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass
class World:
    chain: Chain
    admin: bytes
    users: list
    tokens: dict
    oracle: bytes
    lending: bytes
    gas: dict = field(default_factory=dict)

    def approve_all(self, user):
        for tok in self.tokens.values():
            self.chain.must(user, tok, "approve", [self.lending, MAX_UINT])

    def q(self, method, args):
        return self.chain.query(self.lending, method, args)

    def do(self, user, method, args):
        res = self.chain.call(user, self.lending, method, args)
        assert res.ok, res.error
        self.gas.setdefault(method, res.gas_used)
        return res

    def fails(self, user, method, args, reason):
        res = self.chain.call(user, self.lending, method, args)
        assert not res.ok, f"{method} succeeded"
        assert res.error == reason
        return res

    def set_price(self, name, price):
        self.chain.must(self.admin, self.oracle, "report", [self.tokens[name], price])

    def tok_balance(self, name, owner):
        return self.chain.query(self.tokens[name], "balance_of", [owner])


def make_world(n_users: int = 3, list_b: bool = True) -> World:
    chain = Chain()
    admin = chain.account(balance=10**24)
    users = [chain.account(balance=10**24) for _ in range(n_users)]
    token_src = load_contract("token")
    tokens = {}
    for name in ("A", "B"):
        res = chain.deploy(admin, token_src, ["Token " + name, name, 18, 10**30])
        assert res.ok, res.error
        tokens[name] = res.address
    res = chain.deploy(admin, load_contract("oracle"), [[admin], MAX_AGE])
    assert res.ok, res.error
    oracle = res.address
    res = chain.deploy(admin, load_contract("lending"), [oracle, CLOSE_FACTOR, INCENTIVE])
    assert res.ok, res.error
    w = World(chain, admin, users, tokens, oracle, res.address)
    for name, price in PRICES.items():
        w.set_price(name, price)
    w.approve_all(admin)
    for u in users:
        w.approve_all(u)
        for tok in tokens.values():
            chain.must(admin, tok, "transfer", [u, 10**26])
    for name in ("A", "B") if list_b else ("A",):
        w.do(admin, "list_market", list_args(tokens[name], CFS[name]))
    return w


def list_args(token, cf, rf=RF, model=None, rate=INITIAL_RATE, seed=SEED):
    m = model or RATE_MODEL
    return [token, cf, rf, m["base"], m["mult"], m["jump"], m["kink"], rate, seed]


@pytest.fixture
def w() -> World:
    return make_world()


# ---- a Python model of the market arithmetic ---------------------------------------------


def ref_util(cash, borrows, reserves):
    if borrows == 0:
        return 0
    return ceil_div(borrows * EXP, cash + borrows - reserves)


def ref_borrow_rate(cash, borrows, reserves, model=RATE_MODEL):
    u = ref_util(cash, borrows, reserves)
    if u <= model["kink"]:
        return model["base"] + ceil_div(u * model["mult"], EXP)
    return (model["base"] + ceil_div(model["kink"] * model["mult"], EXP)
            + ceil_div((u - model["kink"]) * model["jump"], EXP))


def ref_accrue(m: dict, blocks: int, rf=RF, model=RATE_MODEL) -> dict:
    """m has cash, borrows, reserves, borrow_index; returns the state after `blocks` blocks."""
    if blocks == 0:
        return dict(m)
    factor = ref_borrow_rate(m["cash"], m["borrows"], m["reserves"], model) * blocks
    interest = ceil_div(m["borrows"] * factor, EXP)
    return {
        "cash": m["cash"],
        "borrows": m["borrows"] + interest,
        "reserves": m["reserves"] + ceil_div(interest * rf, EXP),
        "borrow_index": ceil_div(m["borrow_index"] * (EXP + factor), EXP),
    }


def ref_rate(m: dict) -> int:
    return (m["cash"] + m["borrows"] - m["reserves"]) * EXP // m["total_ctokens"]


# ---- listing and administration -------------------------------------------------------------


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
        collateral += held * m["exchange_rate"] // EXP * price // EXP * m["collateral_factor"] // EXP
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
