"""Property tests of the Swap contract: random sequences of add/remove/swap/transfer by several users.

A Python model of the pools (Uniswap V2 arithmetic, the contract's order of checks) runs beside
the chain. After every step the chain must match the model exactly; on top of that:
- R0*R1 of a pair never decreases on a swap, and the value of one LP share (sqrt(k)/supply) never
  decreases on any operation;
- the contract's balance of each token equals the sum of that token's reserves over all pairs;
- adding then removing liquidity with no swap in between never returns more than was put in;
- a failed call changes nothing (every balance, reserve and LP balance is as before) and emits nothing.
"""

import copy
import math

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.vm.swap_world import FAR, ref_impact_bps, ref_in, ref_out, setup_env
from vm.values import ZERO_ADDRESS

PAIRS = [(0, 1), (1, 2), (0, 2)]
MAX_RESERVE = 2**112 - 1


class ModelRevert(Exception):
    pass


def need(cond, reason):
    if not cond:
        raise ModelRevert(reason)


class Model:
    """Pools, LP balances and token balances as the contract should hold them."""

    def __init__(self, swap):
        self.swap = swap
        self.pools = {}  # (token0, token1) -> [reserve0, reserve1, supply]
        self.lp = {}  # (token0, token1, owner) -> shares
        self.bal = {}  # (token, holder) -> balance
        self.zero = ZERO_ADDRESS

    def clone(self):
        other = copy.copy(self)
        other.pools = {k: list(v) for k, v in self.pools.items()}
        other.lp = dict(self.lp)
        other.bal = dict(self.bal)
        return other

    # -- helpers mirroring the contract's private functions, check for check --

    def sort(self, a, b):
        need(a != b, "identical tokens")
        return (a, b) if bytes(a) < bytes(b) else (b, a)

    def pool(self, t0, t1):
        need((t0, t1) in self.pools, "pair does not exist")
        return self.pools[(t0, t1)]

    def reserves(self, t_in, t_out):
        t0, t1 = self.sort(t_in, t_out)
        p = self.pool(t0, t1)
        return (p[0], p[1]) if t_in == t0 else (p[1], p[0])

    def move(self, tok, src, dst, amount):
        have = self.bal[(tok, src)]
        need(have >= amount, "insufficient balance")
        self.bal[(tok, src)] = have - amount
        self.bal[(tok, dst)] = self.bal[(tok, dst)] + amount

    def amount_out(self, amount, r_in, r_out):
        need(amount > 0, "insufficient input amount")
        need(r_in > 0 and r_out > 0, "insufficient liquidity")
        return ref_out(amount, r_in, r_out)

    def amount_in(self, amount, r_in, r_out):
        need(amount > 0, "insufficient output amount")
        need(r_in > 0 and r_out > amount, "insufficient liquidity")
        return ref_in(amount, r_in, r_out)

    def quote(self, amount, r_a, r_b):
        need(amount > 0, "insufficient amount")
        need(r_a > 0 and r_b > 0, "insufficient liquidity")
        return amount * r_b // r_a

    def amounts_out(self, amount_in, path):
        need(len(path) >= 2, "invalid path")
        amounts = [amount_in]
        for i in range(len(path) - 1):
            r_in, r_out = self.reserves(path[i], path[i + 1])
            amounts.append(self.amount_out(amounts[i], r_in, r_out))
        return amounts

    def amounts_in(self, amount_out, path):
        need(len(path) >= 2, "invalid path")
        amounts = [0] * len(path)
        amounts[-1] = amount_out
        for i in range(len(path) - 1, 0, -1):
            r_in, r_out = self.reserves(path[i - 1], path[i])
            amounts[i - 1] = self.amount_in(amounts[i], r_in, r_out)
        return amounts

    def step(self, t_in, t_out, amount_in, amount_out):
        need(amount_in > 0, "insufficient input amount")
        need(amount_out > 0, "insufficient output amount")
        t0, t1 = self.sort(t_in, t_out)
        p = self.pool(t0, t1)
        in0, in1, out0, out1 = (amount_in, 0, 0, amount_out) if t_in == t0 else (0, amount_in, amount_out, 0)
        need(out0 < p[0] or out0 == 0, "insufficient liquidity")
        need(out1 < p[1] or out1 == 0, "insufficient liquidity")
        b0, b1 = p[0] + in0 - out0, p[1] + in1 - out1
        need((b0 * 1000 - in0 * 3) * (b1 * 1000 - in1 * 3) >= p[0] * p[1] * 1000**2, "k")
        need(b0 <= MAX_RESERVE and b1 <= MAX_RESERVE, "overflow")
        p[0], p[1] = b0, b1

    def run_path(self, amounts, path, to):
        need(to != self.swap, "invalid to")
        for i in range(len(path) - 1):
            self.step(path[i], path[i + 1], amounts[i], amounts[i + 1])
        self.move(path[-1], self.swap, to, amounts[-1])

    # -- public methods: return the output or raise ModelRevert, mutating self --

    def add_liquidity(self, sender, a, b, want_a, want_b, min_a, min_b, to, deadline, now):
        need(now <= deadline, "expired")
        need(want_a >= 0 and want_b >= 0, "negative amount")
        t0, t1 = self.sort(a, b)
        self.pools.setdefault((t0, t1), [0, 0, 0])
        r_a, r_b = self.reserves(a, b)
        if r_a == 0 and r_b == 0:
            amount_a, amount_b = want_a, want_b
        else:
            opt_b = self.quote(want_a, r_a, r_b)
            if opt_b <= want_b:
                amount_a, amount_b = want_a, opt_b
            else:
                amount_a, amount_b = self.quote(want_b, r_b, r_a), want_b
        need(amount_a >= min_a, "insufficient a amount")
        need(amount_b >= min_b, "insufficient b amount")
        self.move(a, sender, self.swap, amount_a)
        self.move(b, sender, self.swap, amount_b)
        a0, a1 = (amount_a, amount_b) if a == t0 else (amount_b, amount_a)
        p = self.pools[(t0, t1)]
        if p[2] == 0:
            liq = math.isqrt(a0 * a1) - 1000
            need(liq > 0, "insufficient liquidity minted")
            self.lp[(t0, t1, self.zero)] = 1000
            p[2] = 1000
        else:
            liq = min(a0 * p[2] // p[0], a1 * p[2] // p[1])
            need(liq > 0, "insufficient liquidity minted")
        need(p[0] + a0 <= MAX_RESERVE and p[1] + a1 <= MAX_RESERVE, "overflow")
        self.lp[(t0, t1, to)] = self.lp.get((t0, t1, to), 0) + liq
        p[0], p[1], p[2] = p[0] + a0, p[1] + a1, p[2] + liq
        return [amount_a, amount_b, liq]

    def remove_liquidity(self, sender, a, b, liq, min_a, min_b, to, deadline, now):
        need(now <= deadline, "expired")
        need(to != self.swap, "invalid to")
        t0, t1 = self.sort(a, b)
        need(liq > 0, "insufficient liquidity burned")
        p = self.pool(t0, t1)
        held = self.lp.get((t0, t1, sender), 0)
        need(held >= liq, "insufficient lp balance")
        a0, a1 = liq * p[0] // p[2], liq * p[1] // p[2]
        need(a0 > 0 and a1 > 0, "insufficient liquidity burned")
        self.lp[(t0, t1, sender)] = held - liq
        p[0], p[1], p[2] = p[0] - a0, p[1] - a1, p[2] - liq
        amount_a, amount_b = (a0, a1) if a == t0 else (a1, a0)
        need(amount_a >= min_a, "insufficient a amount")
        need(amount_b >= min_b, "insufficient b amount")
        self.move(a, self.swap, to, amount_a)
        self.move(b, self.swap, to, amount_b)
        return [amount_a, amount_b]

    def transfer_lp(self, sender, a, b, to, amount):
        need(amount >= 0, "negative amount")
        t0, t1 = self.sort(a, b)
        self.pool(t0, t1)
        held = self.lp.get((t0, t1, sender), 0)
        need(held >= amount, "insufficient lp balance")
        self.lp[(t0, t1, sender)] = held - amount
        self.lp[(t0, t1, to)] = self.lp.get((t0, t1, to), 0) + amount
        return True

    def swap_exact(self, sender, amount_in, min_out, path, to, deadline, now):
        need(now <= deadline, "expired")
        amounts = self.amounts_out(amount_in, path)
        need(amounts[-1] >= min_out, "insufficient output amount")
        self.move(path[0], sender, self.swap, amounts[0])
        self.run_path(amounts, path, to)
        return amounts

    def swap_for_exact(self, sender, amount_out, max_in, path, to, deadline, now):
        need(now <= deadline, "expired")
        amounts = self.amounts_in(amount_out, path)
        need(amounts[0] <= max_in, "excessive input amount")
        self.move(path[0], sender, self.swap, amounts[0])
        self.run_path(amounts, path, to)
        return amounts

    def low_swap(self, sender, t_in, t_out, amount_in, amount_out, to):
        need(to != self.swap, "invalid to")
        need(amount_in > 0, "insufficient input amount")
        self.move(t_in, sender, self.swap, amount_in)
        self.step(t_in, t_out, amount_in, amount_out)
        self.move(t_out, self.swap, to, amount_out)
        return amount_out


amounts = st.one_of(
    st.integers(10**15, 10**22), st.integers(10**15, 10**22), st.integers(0, 3000), st.sampled_from([-1, 1001, 10**18])
)
users = st.integers(0, 2)
# Mostly paths whose consecutive tokens differ (each step moves to another token), sometimes any list.
walks = st.builds(
    lambda start, steps: [(start + sum(steps[:i])) % 3 for i in range(len(steps) + 1)],
    st.integers(0, 2), st.lists(st.integers(1, 2), min_size=1, max_size=3),
)
paths = st.one_of(walks, walks, walks, st.lists(st.integers(0, 2), min_size=0, max_size=4))
deadlines = st.sampled_from([FAR] * 9 + [-1])
reserves = st.integers(10**18, 10**23)
# A trade size in basis points of the reserve it trades against (so most trades are feasible), or a raw amount.
sizes = st.one_of(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 5000), amounts.map(lambda a: ("raw", a)))


class SwapMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.env = setup_env(users=3, tokens=3)
        self.chain, self.swap, self.tokens, self.users = self.env.chain, self.env.swap, self.env.tokens, self.env.users
        self.model = Model(self.swap)
        holders = [*self.users, self.swap]
        for t in self.tokens:
            for h in holders:
                self.model.bal[(t, h)] = self.chain.query(t, "balance_of", [h])
        # Deadlines are FAR or -1, so the model needs no exact clock: any sane chain time lies between.
        self.now = 0

    @initialize(seeds=st.lists(st.tuples(reserves, reserves), min_size=3, max_size=3), skip=st.integers(0, 3))
    def seed_pools(self, seeds, skip):
        # Start most runs with liquidity in place so that swaps have something to trade against.
        for p, (ra, rb) in enumerate(seeds):
            if p == skip:
                continue
            user = self.users[p]
            a, b = self.tokens[PAIRS[p][0]], self.tokens[PAIRS[p][1]]
            args = [a, b, ra, rb, 0, 0, user, FAR]
            assert self.run("add_liquidity", user, args, "add_liquidity", [user, *args, self.now]).ok

    # -- plumbing --

    def chain_state(self):
        c, s = self.chain, self.swap
        pools = {}
        for t0, t1 in c.query(s, "pairs", []):
            info = c.query(s, "get_pair", [t0, t1])
            pools[(t0, t1)] = [info["reserve0"], info["reserve1"], info["total_supply"]]
        lp = {}
        for t0, t1 in pools:
            for h in [*self.users, self.swap, self.model.zero]:
                v = c.query(s, "lp_balance", [t0, t1, h])
                if v:
                    lp[(t0, t1, h)] = v
        bal = {(t, h): c.query(t, "balance_of", [h]) for t in self.tokens for h in [*self.users, self.swap]}
        return pools, lp, bal

    def model_state(self):
        m = self.model
        return m.pools, {k: v for k, v in m.lp.items() if v}, m.bal

    def run(self, method, sender, args, model_fn, model_args):
        """Call the contract and the model; they must agree on the outcome, the output and the state."""
        trial = self.model.clone()
        try:
            expect = getattr(trial, model_fn)(*model_args)
            reason = None
        except ModelRevert as exc:
            expect, reason = None, str(exc)
        before = self.chain_state() if reason is not None else None
        res = self.chain.call(sender, self.swap, method, args)
        if reason is None:
            assert res.ok, (method, args, res.error)
            assert res.output == expect, (method, args)
            self.model = trial
        else:
            assert not res.ok, (method, args, "expected " + reason)
            assert res.error == reason, (method, args)
            assert not res.events
            assert self.chain_state() == before
        return res

    def pools_k(self):
        return {k: (v[0] * v[1], v[2]) for k, v in self.model.pools.items()}

    # -- rules --

    @rule(u=users, i=st.integers(0, 2), j=st.integers(0, 2), want_a=amounts, want_b=amounts,
          mins=st.sampled_from(["none", "exact", "over"]), to=users, deadline=deadlines)
    def add_liquidity(self, u, i, j, want_a, want_b, mins, to, deadline):
        a, b = self.tokens[i], self.tokens[j]
        min_a = min_b = 0
        if mins != "none":
            # the model tells which amounts would be used; ask for exactly those, or one more of one
            try:
                used = self.model.clone().add_liquidity(self.users[u], a, b, want_a, want_b, 0, 0,
                                                        self.users[to], FAR, self.now)
                min_a, min_b = used[0], used[1] + (mins == "over")
            except ModelRevert:
                pass
        args = [a, b, want_a, want_b, min_a, min_b, self.users[to], deadline]
        self.run("add_liquidity", self.users[u], args, "add_liquidity", [self.users[u], *args, self.now])

    @rule(u=users, p=st.integers(0, 2), share=st.integers(0, 101), to=users, deadline=deadlines,
          mins=st.booleans())
    def remove_liquidity(self, u, p, share, to, deadline, mins):
        a, b = self.tokens[PAIRS[p][0]], self.tokens[PAIRS[p][1]]
        key = (a, b, self.users[u])
        held = self.model.lp.get(key, 0)
        liq = held * share // 100 if share <= 100 else held + 1
        min_a = 10**30 if mins else 0
        args = [b, a, liq, min_a, 0, self.users[to], deadline]
        self.run("remove_liquidity", self.users[u], args, "remove_liquidity", [self.users[u], *args, self.now])

    def sized(self, size, t_in, t_out, side):
        if isinstance(size, tuple):
            return size[1]
        try:
            return max(1, self.model.reserves(t_in, t_out)[side] * size // 10_000)
        except ModelRevert:
            return size

    @rule(u=users, path=paths, size=sizes, slack=st.integers(-1, 1), to=users, deadline=deadlines)
    def swap_exact(self, u, path, size, slack, to, deadline):
        path = [self.tokens[i] for i in path]
        amount = self.sized(size, *path[:2], 0) if len(path) >= 2 else 1
        try:
            min_out = self.model.clone().amounts_out(amount, path)[-1] + slack
        except ModelRevert:
            min_out = 0
        k_before = self.pools_k()
        args = [amount, min_out, path, self.users[to], deadline]
        res = self.run("swap_exact_tokens_for_tokens", self.users[u], args, "swap_exact",
                       [self.users[u], *args, self.now])
        self.check_k_grew(k_before, res)

    @rule(u=users, path=paths, size=sizes, slack=st.integers(-1, 1), to=users, deadline=deadlines)
    def swap_for_exact(self, u, path, size, slack, to, deadline):
        path = [self.tokens[i] for i in path]
        amount = self.sized(size, *path[-2:], 1) if len(path) >= 2 else 1
        try:
            max_in = self.model.clone().amounts_in(amount, path)[0] + slack
        except ModelRevert:
            max_in = 10**30
        k_before = self.pools_k()
        args = [amount, max_in, path, self.users[to], deadline]
        res = self.run("swap_tokens_for_exact_tokens", self.users[u], args, "swap_for_exact",
                       [self.users[u], *args, self.now])
        self.check_k_grew(k_before, res)

    @rule(u=users, i=st.integers(0, 2), j=st.integers(0, 2), size=sizes, extra=st.integers(-1, 2), to=users)
    def low_level_swap(self, u, i, j, size, extra, to):
        t_in, t_out = self.tokens[i], self.tokens[j]
        amount = self.sized(size, t_in, t_out, 0) if i != j else 1
        try:
            r_in, r_out = self.model.reserves(t_in, t_out)
            out = ref_out(amount, r_in, r_out) + extra if amount > 0 and r_in > 0 else 1
        except ModelRevert:
            out = 1
        k_before = self.pools_k()
        args = [t_in, t_out, amount, out, self.users[to]]
        res = self.run("swap", self.users[u], args, "low_swap", [self.users[u], *args])
        self.check_k_grew(k_before, res)

    @rule(u=users, p=st.integers(0, 2), to=users, share=st.integers(0, 101))
    def transfer_lp(self, u, p, to, share):
        a, b = self.tokens[PAIRS[p][0]], self.tokens[PAIRS[p][1]]
        held = self.model.lp.get((a, b, self.users[u]), 0)
        amount = held * share // 100 if share <= 100 else held + 1
        args = [a, b, self.users[to], amount]
        self.run("transfer_lp", self.users[u], args, "transfer_lp", [self.users[u], *args])

    @rule(u=users, p=st.integers(0, 2), want_a=amounts, want_b=amounts)
    def add_then_remove(self, u, p, want_a, want_b):
        user = self.users[u]
        a, b = self.tokens[PAIRS[p][0]], self.tokens[PAIRS[p][1]]
        res = self.run("add_liquidity", user, [a, b, want_a, want_b, 0, 0, user, FAR], "add_liquidity",
                       [user, a, b, want_a, want_b, 0, 0, user, FAR, self.now])
        if not res.ok:
            return
        put_a, put_b, liq = res.output
        back = self.run("remove_liquidity", user, [a, b, liq, 0, 0, user, FAR], "remove_liquidity",
                        [user, a, b, liq, 0, 0, user, FAR, self.now])
        if back.ok:
            assert back.output[0] <= put_a
            assert back.output[1] <= put_b

    @rule(seconds=st.integers(1, 100))
    def advance(self, seconds):
        self.chain.advance(blocks=1, seconds=seconds)

    def check_k_grew(self, k_before, res):
        if not res.ok:
            return
        for key, (k, supply) in self.pools_k().items():
            if key in k_before:
                assert k >= k_before[key][0], key
                assert supply == k_before[key][1], key

    # -- invariants --

    @invariant()
    def chain_matches_model(self):
        assert self.chain_state() == self.model_state()

    @invariant()
    def reserves_equal_balances(self):
        for t in self.tokens:
            held = self.chain.query(t, "balance_of", [self.swap])
            reserved = sum(p[0] if k[0] == t else p[1] for k, p in self.model.pools.items() if t in k)
            assert held == reserved

    @invariant()
    def share_value_never_falls(self):
        # k / supply**2 per pool, compared as cross products to stay in integers
        prev = getattr(self, "share_k", {})
        now = {k: (v[0] * v[1], v[2]) for k, v in self.model.pools.items() if v[2]}
        for key, (k, s) in now.items():
            if key in prev:
                pk, ps = prev[key]
                assert k * ps * ps >= pk * s * s, key
            assert k >= s * s, key  # the first mint rounds the supply down (isqrt)
        self.share_k = now


SwapMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestSwapProperties = SwapMachine.TestCase


# ---- pure views against the reference ------------------------------------------------------


@pytest.fixture(scope="module")
def view_env():
    return setup_env(users=0, tokens=0)


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(1, 10**30), r_in=st.integers(1, 10**30), r_out=st.integers(1, 10**30))
def test_get_amount_out_matches_reference(view_env, amount, r_in, r_out):
    got = view_env.chain.query(view_env.swap, "get_amount_out", [amount, r_in, r_out])
    assert got == ref_out(amount, r_in, r_out)
    assert got * r_in < amount * r_out  # strictly worse than the mid price


@settings(max_examples=60, deadline=None)
@given(r_in=st.integers(1, 10**30), r_out=st.integers(2, 10**30), frac=st.integers(1, 10**6 - 1))
def test_get_amount_in_matches_reference(view_env, r_in, r_out, frac):
    amount_out = max(1, r_out * frac // 10**6)
    got = view_env.chain.query(view_env.swap, "get_amount_in", [amount_out, r_in, r_out])
    assert got == ref_in(amount_out, r_in, r_out)
    assert ref_out(got, r_in, r_out) >= amount_out  # rounded up: the input always suffices


def test_amount_views_revert(view_env):
    c, s = view_env.chain, view_env.swap
    for method, args, reason in [
        ("get_amount_out", [0, 10, 10], "insufficient input amount"),
        ("get_amount_out", [1, 0, 10], "insufficient liquidity"),
        ("get_amount_in", [0, 10, 10], "insufficient output amount"),
        ("get_amount_in", [10, 10, 10], "insufficient liquidity"),
    ]:
        with pytest.raises(AssertionError, match=reason):
            c.query(s, method, args)


# ---- quote: price impact against exact fractions -------------------------------------------

RATIO_LIMIT = 2**240  # the contract scales its ratio down past this bound


@settings(max_examples=40, deadline=None)
@given(res=st.lists(st.one_of(st.integers(2000, 2**100), st.integers(2**70, 2**100)), min_size=4, max_size=4),
       amount=st.one_of(st.integers(1, 2**100), st.integers(2**60, 2**100)),
       route=st.sampled_from([[0, 1], [1, 0], [0, 1, 2], [2, 1, 0], [0, 1, 2, 1, 0]]))
def test_quote_price_impact(res, amount, route):
    env = setup_env(users=1, tokens=3)
    user, toks = env.users[0], env.tokens
    for t in toks:
        env.chain.must(env.admin, t, "mint", [user, 2**101])
    env.chain.must(user, env.swap, "add_liquidity", [toks[0], toks[1], res[0], res[1], 0, 0, user, FAR])
    env.chain.must(user, env.swap, "add_liquidity", [toks[1], toks[2], res[2], res[3], 0, 0, user, FAR])
    pools = {(0, 1): (res[0], res[1]), (1, 0): (res[1], res[0]), (1, 2): (res[2], res[3]), (2, 1): (res[3], res[2])}
    hops = [pools[(route[i], route[i + 1])] for i in range(len(route) - 1)]
    amounts = [amount]
    for r_in, r_out in hops:
        amounts.append(ref_out(amounts[-1], r_in, r_out) if amounts[-1] > 0 else 0)
    got = env.chain.vm.query(env.swap, "quote", [amount, [toks[i] for i in route]], 10**7)
    if 0 in amounts[:-1]:
        event("a hop rounds to nothing")
        assert not got.ok
        assert got.error == "insufficient input amount"
        return
    assert got.ok, got.error
    exact = ref_impact_bps(amount, amounts[-1], hops)
    assert got.output["amounts"] == amounts
    assert got.output["amount_out"] == amounts[-1]
    # exact while the telescoped ratio fits in RATIO_LIMIT; past it, never under-reported and off by at most 1
    num, den, fits = amounts[-1], amount, True
    for r_in, r_out in hops:
        fits = fits and num * r_in <= RATIO_LIMIT and den * r_out <= RATIO_LIMIT
        num, den = num * r_in, den * r_out
    event("exact ratio" if fits else "scaled ratio")
    if fits:
        assert got.output["price_impact_bps"] == exact
    else:
        assert exact <= got.output["price_impact_bps"] <= exact + 1
