"""Property test of the Token contract: random sequences of calls by several users, checked
against a Python model after every step.

Every call, failing or not, is predicted by the model (the exact revert reason included);
after each step the whole observable state (supply, every balance and allowance, pause flag)
must equal the model, so a failed call that changed anything is caught, and the invariants
total_supply == sum of balances and no negative balance are checked on the real contract.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vm.testing import Chain, load_contract

MAX_UINT = 2**256 - 1
USERS = 3
INITIAL = 1_000_000
ZERO = -1  # user index that stands for ZERO_ADDRESS

users = st.integers(0, USERS - 1)
targets = st.integers(ZERO, USERS - 1) | users  # the zero address now and then
# An amount is resolved against the model when the rule runs: absolute, a quarter-share of
# the relevant balance (0..125%, so exact-balance and just-over cases come up), or infinite.
amounts = st.one_of(
    st.tuples(st.just("abs"), st.integers(-3, 3)),
    st.tuples(st.just("abs"), st.integers(0, 2 * INITIAL)),
    st.tuples(st.just("share"), st.integers(0, 5)),
    st.tuples(st.just("max"), st.just(0)),
    st.tuples(st.just("share"), st.integers(0, 5)),
)


class TokenMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.chain = Chain()
        self.accounts = [self.chain.account(balance=10**24) for _ in range(USERS)]
        self.zero = type(self.accounts[0])(bytes(20))
        res = self.chain.deploy(self.accounts[0], load_contract("token"), ["Prop", "P", 0, INITIAL])
        assert res.ok, res.error
        self.tok = res.address
        # Everyone starts with some tokens so that transfer_from and burn_from can succeed early.
        for a in self.accounts[1:]:
            self.chain.must(self.accounts[0], self.tok, "transfer", [a, INITIAL // USERS])
        self.bal = [INITIAL - (USERS - 1) * (INITIAL // USERS)] + [INITIAL // USERS] * (USERS - 1)
        self.allow = {}
        self.minters = {0}
        self.paused = False
        self.supply = INITIAL

    # ---- helpers ----

    def addr(self, i):
        return self.zero if i == ZERO else self.accounts[i]

    def amount(self, spec, base):
        kind, v = spec
        if kind == "abs":
            return v
        if kind == "share":
            return base * v // 4
        return MAX_UINT

    def run(self, sender, method, args, expected_error, transfers):
        """Call, compare the outcome with the model's prediction and the Transfer events."""
        res = self.chain.call(self.accounts[sender], self.tok, method, args)
        assert res.ok == (expected_error is None), (method, args, res.error, expected_error)
        if expected_error is not None:
            assert res.error == expected_error
            assert not res.events
            return False
        got = [[*e.data] for e in res.events if e.name == "Transfer"]
        assert got == [[self.addr(a), self.addr(b), n] for a, b, n in transfers]
        return True

    def allowed(self, owner, spender):
        return self.allow.get((owner, spender), 0)

    def spend_error(self, owner, spender, amount):
        a = self.allowed(owner, spender)
        return "insufficient allowance" if a != MAX_UINT and a < amount else None

    def spend(self, owner, spender, amount):
        if self.allowed(owner, spender) != MAX_UINT:
            self.allow[(owner, spender)] = self.allowed(owner, spender) - amount

    def first(self, *checks):
        return next((reason for cond, reason in checks if cond), None)

    # ---- rules ----

    @rule(sender=users, to=targets, spec=amounts)
    def transfer(self, sender, to, spec):
        n = self.amount(spec, self.bal[sender])
        err = self.first(
            (self.paused, "paused"),
            (n < 0, "amount must not be negative"),
            (to == ZERO, "transfer to the zero address"),
            (n > self.bal[sender], "insufficient balance"),
        )
        if self.run(sender, "transfer", [self.addr(to), n], err, [(sender, to, n)]):
            self.bal[sender] -= n
            self.bal[to] += n

    @rule(owner=users, spender=targets, spec=amounts)
    def approve(self, owner, spender, spec):
        n = self.amount(spec, self.bal[owner])
        err = self.first((n < 0, "amount must not be negative"), (spender == ZERO, "approve to the zero address"))
        if self.run(owner, "approve", [self.addr(spender), n], err, []):
            self.allow[(owner, spender)] = n

    @rule(spender=users, owner=users, to=targets, spec=amounts)
    def transfer_from(self, spender, owner, to, spec):
        n = self.amount(spec, min(self.bal[owner], self.allowed(owner, spender)))
        err = self.first(
            (self.paused, "paused"),
            (n < 0, "amount must not be negative"),
            (self.spend_error(owner, spender, n) is not None, "insufficient allowance"),
            (to == ZERO, "transfer to the zero address"),
            (n > self.bal[owner], "insufficient balance"),
        )
        if self.run(spender, "transfer_from", [self.addr(owner), self.addr(to), n], err, [(owner, to, n)]):
            self.spend(owner, spender, n)
            self.bal[owner] -= n
            self.bal[to] += n

    @rule(sender=users, to=targets, spec=amounts)
    def mint(self, sender, to, spec):
        n = self.amount(spec, self.supply)
        err = self.first(
            (sender not in self.minters, "missing role minter"),
            (self.paused, "paused"),
            (n < 0, "amount must not be negative"),
            (to == ZERO, "transfer to the zero address"),
            (n > MAX_UINT - self.supply, "supply overflow"),
        )
        if self.run(sender, "mint", [self.addr(to), n], err, [(ZERO, to, n)]):
            self.bal[to] += n
            self.supply += n

    @rule(sender=users, spec=amounts)
    def burn(self, sender, spec):
        n = self.amount(spec, self.bal[sender])
        err = self.first(
            (self.paused, "paused"),
            (n < 0, "amount must not be negative"),
            (n > self.bal[sender], "insufficient balance"),
        )
        if self.run(sender, "burn", [n], err, [(sender, ZERO, n)]):
            self.bal[sender] -= n
            self.supply -= n

    @rule(spender=users, owner=users, spec=amounts)
    def burn_from(self, spender, owner, spec):
        n = self.amount(spec, min(self.bal[owner], self.allowed(owner, spender)))
        err = self.first(
            (self.paused, "paused"),
            (n < 0, "amount must not be negative"),
            (self.spend_error(owner, spender, n) is not None, "insufficient allowance"),
            (n > self.bal[owner], "insufficient balance"),
        )
        if self.run(spender, "burn_from", [self.addr(owner), n], err, [(owner, ZERO, n)]):
            self.spend(owner, spender, n)
            self.bal[owner] -= n
            self.supply -= n

    @rule(sender=users, on=st.booleans())
    def set_paused(self, sender, on):
        if on:
            err = self.first((sender != 0, "missing role pauser"), (self.paused, "paused"))
        else:
            err = self.first((sender != 0, "missing role pauser"), (not self.paused, "not paused"))
        if self.run(sender, "pause" if on else "unpause", [], err, []):
            self.paused = on

    @rule(sender=users, account=users, grant=st.booleans())
    def set_minter(self, sender, account, grant):
        # User 0 keeps the admin role throughout; it may still drop its own minter role.
        err = "missing role admin" if sender != 0 else None
        method = "grant_role" if grant else "revoke_role"
        if self.run(sender, method, ["minter", self.addr(account)], err, []):
            if grant:
                self.minters.add(account)
            else:
                self.minters.discard(account)

    # ---- invariants ----

    @invariant()
    def supply_is_sum_of_balances(self):
        q = self.chain.query
        balances = [q(self.tok, "balance_of", [a]) for a in self.accounts]
        supply = q(self.tok, "total_supply", [])
        assert q(self.tok, "balance_of", [self.zero]) == 0
        assert all(b >= 0 for b in balances)
        assert supply == sum(balances)
        assert balances == self.bal
        assert supply == self.supply

    @invariant()
    def allowances_roles_and_pause_match_model(self):
        q = self.chain.query
        for i, a in enumerate(self.accounts):
            for j, b in enumerate(self.accounts):
                assert q(self.tok, "allowance", [a, b]) == self.allowed(i, j)
            assert q(self.tok, "has_role", ["minter", a]) == (i in self.minters)
        assert q(self.tok, "paused", []) == self.paused


TokenMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_token_state_machine = TokenMachine.TestCase
