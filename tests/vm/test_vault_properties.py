"""Property tests of the vault: random sequences of deposits, mints, withdrawals, redemptions,
interest (blocks passing with borrows outstanding), gifts and share transfers.

After every step: the total assets cover the shares at the share price, the share price never
went down, and the holders' redemptions together never exceed the total assets. Every action
does exactly what its preview said the moment before, rounded in the vault's favour; a deposit
redeemed at once never pays back more than it put in. Apart, the empty-vault donation
(inflation) attack: the attacker loses, and the victim loses at most the stated bound.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.vm.vault_world import MAX_UINT, VIRTUAL, ceil_div, make_vault_world

N_USERS = 3
users = st.integers(0, N_USERS - 1)
amounts = st.one_of(st.integers(1, 10**6), st.integers(10**15, 10**22))
percents = st.integers(1, 100)


class VaultMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.vw = make_vault_world(n_users=N_USERS)
        self.last_price = self.vw.price()

    def user(self, i):
        return self.vw.users[i]

    def state(self):
        return self.vw.q("total_assets"), self.vw.q("total_supply")

    def act(self, i, method, args):
        res = self.vw.call(self.user(i), method, args)
        event(method + ": " + ("ok" if res.ok else res.error))
        return res

    @initialize(amount=st.integers(10**18, 10**22))
    def first_deposit(self, amount):
        assert self.act(0, "deposit", [amount, self.user(0)]).ok

    @rule(i=users, amount=amounts)
    def deposit(self, i, amount):
        total, supply = self.state()
        preview = self.vw.q("preview_deposit", [amount])
        # Down: never more shares than the assets are worth.
        assert preview * (total + 1) <= amount * (supply + VIRTUAL)
        res = self.act(i, "deposit", [amount, self.user(i)])
        if preview == 0:
            assert res.error == "zero_shares"
        else:
            assert res.ok and res.output == preview

    @rule(i=users, amount=amounts)
    def mint(self, i, amount):
        shares = amount * VIRTUAL // 3 + 1
        total, supply = self.state()
        cost = self.vw.q("preview_mint", [shares])
        assert cost * (supply + VIRTUAL) >= shares * (total + 1)  # up
        before = self.vw.shares_of(self.user(i))
        res = self.act(i, "mint", [shares, self.user(i)])
        assert res.ok and res.output == cost
        assert self.vw.shares_of(self.user(i)) == before + shares

    @rule(i=users, pct=percents, amount=amounts)
    def withdraw(self, i, pct, amount):
        most = self.vw.q("max_withdraw", [self.user(i)])
        amount = min(amount, most * pct // 100)
        if amount == 0:
            return
        total, supply = self.state()
        burn = self.vw.q("preview_withdraw", [amount])
        assert burn * (total + 1) >= amount * (supply + VIRTUAL)  # up
        res = self.act(i, "withdraw", [amount, self.user(i), self.user(i)])
        assert res.ok and res.output == burn
        # The market's rounding of its burn costs the vault more than the amount now and then.
        event("withdraw: costs more than paid" if total - self.state()[0] > amount else "withdraw: costs the amount")

    @rule(i=users, pct=percents)
    def redeem(self, i, pct):
        shares = self.vw.q("max_redeem", [self.user(i)]) * pct // 100
        if shares == 0:
            return
        total, supply = self.state()
        pay = self.vw.q("preview_redeem", [shares])
        assert pay * (supply + VIRTUAL) <= shares * (total + 1)  # down
        before = self.vw.assets_of(self.user(i))
        res = self.act(i, "redeem", [shares, self.user(i), self.user(i)])
        if pay == 0:
            assert res.error == "zero_assets"
        else:
            assert res.ok and res.output == pay and self.vw.assets_of(self.user(i)) == before + pay

    @rule(i=users, amount=amounts)
    def deposit_then_redeem(self, i, amount):
        before = self.vw.assets_of(self.user(i))
        res = self.act(i, "deposit", [amount, self.user(i)])
        if not res.ok:
            return
        back = self.act(i, "redeem", [res.output, self.user(i), self.user(i)])
        if back.ok:
            assert back.output <= amount
        assert self.vw.assets_of(self.user(i)) <= before

    @rule(pct=st.integers(1, 95), odd=st.integers(0, 10**18))
    def borrow(self, pct, odd):
        # An odd amount makes an odd exchange rate, whose roundings are the ones that matter.
        m = self.vw.market()
        amount = m["cash"] * pct // 100 - odd
        if amount > 0 and self.vw.w.chain.call(self.vw.borrower, self.vw.w.lending, "borrow",
                                               [self.vw.asset, amount]).ok:
            event("borrow: ok")

    @rule()
    def repay(self):
        res = self.vw.w.chain.call(self.vw.borrower, self.vw.w.lending, "repay", [self.vw.asset, MAX_UINT])
        event("repay: " + ("ok" if res.ok else res.error))

    @rule(blocks=st.integers(1, 200))
    def interest(self, blocks):
        if self.vw.market()["borrows"] == 0:
            self.borrow(50, 123456789012345)
        self.vw.chain.advance(blocks)

    @rule(i=users, amount=st.integers(1, 10**15))
    def donate(self, i, amount):
        # Small: a large idle balance would pay every withdrawal without the market's rounding.
        self.vw.chain.must(self.user(i), self.vw.asset, "transfer", [self.vw.vault, amount])

    @rule(i=users, j=users, pct=percents)
    def transfer(self, i, j, pct):
        shares = self.vw.shares_of(self.user(i)) * pct // 100
        assert self.act(i, "transfer", [self.user(j), shares]).ok

    @invariant()
    def covered_and_never_cheaper(self):
        total, supply = self.state()
        assert self.vw.q("convert_to_assets", [supply]) <= total
        holders = [self.vw.shares_of(u) for u in self.vw.users]
        assert sum(holders) == supply
        assert sum(self.vw.q("convert_to_assets", [h]) for h in holders) <= total
        num, den = total + 1, supply + VIRTUAL
        old_num, old_den = self.last_price
        assert num * old_den >= old_num * den, "the share price went down"
        self.last_price = (num, den)
        # The vault's books are the market's: its cTokens and its own token balance.
        info = self.vw.q("info")
        assert info["idle"] == self.vw.assets_of(self.vw.vault)
        assert info["supplied"] == self.vw.w.q("supply_balance", [self.vw.asset, self.vw.vault])


VaultMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestVault = VaultMachine.TestCase


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 10**6), gift=st.integers(1, 10**24), victim=st.integers(1, 10**24))
def test_the_empty_vault_donation_attack_fails(seed, gift, victim):
    """The attacker deposits `seed` into the empty vault, sends `gift` straight to it, then the
    victim deposits. The attacker gets back less than seed + gift, and the victim's loss is at
    most one share-rounding, (seed + gift + 1) / ((seed + 1) * 10**offset) + 1, plus the
    market's rounding of the victim's mint and burn (a unit each)."""
    vw = make_vault_world(n_users=2)
    attacker, user = vw.users
    a0, v0 = vw.assets_of(attacker), vw.assets_of(user)
    assert vw.call(attacker, "deposit", [seed, attacker]).ok
    vw.chain.must(attacker, vw.asset, "transfer", [vw.vault, gift])
    res = vw.call(user, "deposit", [victim, user])
    if not res.ok:
        # Refused (zero shares): the victim keeps everything.
        assert res.error == "zero_shares" and vw.assets_of(user) == v0
    elif vw.q("preview_redeem", [vw.shares_of(user)]) > 0:  # else dust, worth less than a unit
        assert vw.call(user, "redeem", [vw.shares_of(user), user, user]).ok
    assert vw.call(attacker, "redeem", [vw.shares_of(attacker), attacker, attacker]).ok
    attacker_profit = vw.assets_of(attacker) - a0
    victim_loss = v0 - vw.assets_of(user)
    bound = ceil_div(seed + gift + 1, (seed + 1) * VIRTUAL) + 3
    assert 0 <= victim_loss <= bound, (victim_loss, bound)
    # The virtual shares keep gift / (seed + 1) of the gift, 10**offset times the victim's worst
    # loss; the attacker wins back at most what the victim lost.
    assert attacker_profit <= victim_loss - gift // (seed + 1) + 1, (attacker_profit, victim_loss)
    assert attacker_profit <= 3
