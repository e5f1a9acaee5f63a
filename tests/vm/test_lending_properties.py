"""Property tests of the Lending contract: random sequences of actions by several users.

After every successful borrow or redeem the account must have no shortfall; a
liquidation may only succeed against an account in shortfall and for at most
close_factor of its debt; the pool stays solvent and its token balance equals its cash.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.vm.lending_world import CLOSE_FACTOR, EXP, MAX_UINT, PRICES, make_world
from vm.values import ZERO_ADDRESS

NAMES = ("A", "B")
N_USERS = 3

users = st.integers(0, N_USERS - 1)
names = st.sampled_from(NAMES)
percents = st.one_of(st.integers(1, 120), st.integers(90, 110))


REDEEM_ERRORS = ("insufficient liquidity", "insufficient ctokens", "insufficient cash", "amount too small")


class LendingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.w = make_world(n_users=N_USERS)
        self.prices = dict(PRICES)
        self.liquidations = 0

    # ---- helpers

    def user(self, i):
        return self.w.users[i]

    def call(self, i, method, args):
        """Runs the call; a failed one must leave the markets and the user untouched."""
        before = self.snapshot(i)
        res = self.w.chain.call(self.user(i), self.w.lending, method, args)
        event(method + ": " + ("ok" if res.ok else res.error))
        if not res.ok:
            assert self.snapshot(i) == before, (method, res.error)
        return res

    def snapshot(self, i):
        w = self.w
        out = [w.q("market", [w.tokens[n]]) for n in NAMES]
        out += [w.q("ctoken_balance", [w.tokens[n], self.user(i)]) for n in NAMES]
        return out

    def no_shortfall(self, i):
        liq = self.w.q("account_liquidity", [self.user(i)])
        assert liq["shortfall"] == 0, liq

    def refresh_prices(self):
        for n in NAMES:
            self.w.set_price(n, self.prices[n])

    # ---- rules

    @initialize(amounts=st.lists(st.integers(10**18, 10**22), min_size=2 * N_USERS, max_size=2 * N_USERS))
    def everyone_supplies(self, amounts):
        # Start with collateral everywhere so that borrows, and then liquidations, happen early.
        for i in range(N_USERS):
            for k, n in enumerate(NAMES):
                assert self.call(i, "supply", [self.w.tokens[n], amounts[2 * i + k]]).ok

    @rule(i=users, n=names, amount=st.integers(1, 10**22))
    def supply(self, i, n, amount):
        res = self.call(i, "supply", [self.w.tokens[n], amount])
        assert res.ok, res.error

    @rule(i=users, n=names, pct=percents)
    def redeem(self, i, n, pct):
        tok = self.w.tokens[n]
        held = self.w.q("ctoken_balance", [tok, self.user(i)])
        res = self.call(i, "redeem", [tok, held * pct // 100])
        if res.ok:
            self.no_shortfall(i)
        else:
            assert res.error in REDEEM_ERRORS, res.error

    @rule(i=users, n=names, pct=percents)
    def redeem_underlying(self, i, n, pct):
        tok = self.w.tokens[n]
        worth = self.w.q("supply_balance", [tok, self.user(i)])
        res = self.call(i, "redeem_underlying", [tok, worth * pct // 100])
        if res.ok:
            self.no_shortfall(i)
        else:
            assert res.error in REDEEM_ERRORS, res.error

    @rule(i=users, n=names, pct=percents)
    def borrow(self, i, n, pct):
        # Aim around the account's limit so that both outcomes happen.
        liquidity = self.w.q("account_liquidity", [self.user(i)])["liquidity"]
        amount = max(1, liquidity * EXP // self.prices[n] * pct // 100)
        res = self.call(i, "borrow", [self.w.tokens[n], amount])
        if res.ok:
            self.no_shortfall(i)
        else:
            assert res.error in ("insufficient liquidity", "insufficient cash"), res.error

    @rule(i=users, n=names, pct=st.one_of(percents, st.just(0)))
    def repay(self, i, n, pct):
        tok = self.w.tokens[n]
        debt = self.w.q("borrow_balance", [tok, self.user(i)])
        amount = MAX_UINT if pct == 0 else debt * pct // 100
        res = self.call(i, "repay", [tok, amount])
        if res.ok:
            paid = debt if pct == 0 else amount
            assert res.output == paid
            assert self.w.q("borrow_balance", [tok, self.user(i)]) == debt - paid
        else:
            assert res.error in ("nothing to repay", "repay exceeds borrow"), res.error

    @rule(liq=users, victim=users, rn=names, cn=names, pct=st.integers(1, 60))
    def liquidate(self, liq, victim, rn, cn, pct):
        w = self.w
        before = w.q("account_liquidity", [self.user(victim)])
        debt = w.q("borrow_balance", [w.tokens[rn], self.user(victim)])
        amount = max(1, debt * pct // 100)
        res = self.call(liq, "liquidate", [self.user(victim), w.tokens[rn], amount, w.tokens[cn]])
        if res.ok:
            self.liquidations += 1
            assert liq != victim
            assert before["shortfall"] > 0, before
            assert amount <= debt * CLOSE_FACTOR // EXP
            assert w.q("borrow_balance", [w.tokens[rn], self.user(victim)]) == debt - amount
        else:
            assert res.error in ("cannot liquidate yourself", "account not in shortfall", "too much repay",
                                 "insufficient collateral"), res.error
            if res.error == "account not in shortfall":
                assert before["shortfall"] == 0

    @rule(liq=users, pct=st.integers(1, 60))
    def liquidate_worst(self, liq, pct):
        """Liquidates the account with the largest shortfall, on its largest debt and collateral."""
        w = self.w
        victim = max(range(N_USERS), key=lambda v: w.q("account_liquidity", [self.user(v)])["shortfall"])
        debts = {n: w.q("borrow_balance", [w.tokens[n], self.user(victim)]) for n in NAMES}
        held = {n: w.q("ctoken_balance", [w.tokens[n], self.user(victim)]) for n in NAMES}
        rn = max(NAMES, key=lambda n: debts[n] * self.prices[n])
        cn = max(NAMES, key=lambda n: held[n] * self.prices[n])
        if liq == victim:
            liq = (liq + 1) % N_USERS
        self.liquidate(liq, victim, rn, cn, pct)

    @rule(n=names, pct=st.integers(20, 150))
    def move_price(self, n, pct):
        self.prices[n] = max(1, PRICES[n] * pct // 100)
        self.w.set_price(n, self.prices[n])

    @rule(blocks=st.integers(1, 30))
    def advance(self, blocks):
        self.w.chain.advance(blocks=blocks, seconds=blocks)
        self.refresh_prices()

    @rule(i=users, n=names, amount=st.integers(1, 10**21))
    def supply_then_redeem(self, i, n, amount):
        tok = self.w.tokens[n]
        res = self.call(i, "supply", [tok, amount])
        if not res.ok:
            assert res.error == "amount too small", res.error
            return
        out = self.call(i, "redeem", [tok, res.output])
        if out.ok:
            assert out.output <= amount, (out.output, amount)
        else:
            assert out.error in ("insufficient liquidity", "insufficient cash", "amount too small"), out.error

    @rule(n=names)
    def accrue(self, n):
        assert self.call(0, "accrue", [self.w.tokens[n]]).ok

    # ---- invariants

    @invariant()
    def solvent(self):
        w = self.w
        for n in NAMES:
            tok = w.tokens[n]
            m = w.q("market", [tok])
            assert m["cash"] + m["borrows"] - m["reserves"] >= 0, m
            assert m["cash"] >= 0 and m["borrows"] >= 0 and m["reserves"] >= 0, m
            assert w.tok_balance(n, w.lending) == m["cash"], (n, m)
            held = sum(w.q("ctoken_balance", [tok, u]) for u in w.users)
            held += w.q("ctoken_balance", [tok, ZERO_ADDRESS])
            assert held == m["total_ctokens"], (n, held, m)


LendingMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLending = LendingMachine.TestCase
