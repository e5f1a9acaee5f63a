"""The Swap contract's test world: a chain with a Swap and tokens, Python reference formulas, helpers."""

import math
from fractions import Fraction
from types import SimpleNamespace

from vm.testing import Chain, load_contract
from vm.values import ZERO_ADDRESS

MAX_UINT = 2**256 - 1
UNIT = 10**18
SUPPLY = 10**9 * UNIT
FAR = 10**12  # a deadline that never expires in these tests


# ---- Python reference ----------------------------------------------------------------------


def ref_out(amount_in, r_in, r_out):
    return amount_in * 997 * r_out // (r_in * 1000 + amount_in * 997)


def ref_in(amount_out, r_in, r_out):
    return r_in * amount_out * 1000 // ((r_out - amount_out) * 997) + 1


def ref_impact_bps(amount_in, amount_out, reserves):
    """Exact price impact, rounded up: 1 - execution price / mid price; reserves = [(r_in, r_out), ...]."""
    mid = Fraction(1)
    for r_in, r_out in reserves:
        mid *= Fraction(r_out, r_in)
    return math.ceil((1 - Fraction(amount_out, amount_in) / mid) * 10_000)


# ---- fixtures and helpers ------------------------------------------------------------------


def setup_env(users=3, tokens=3):
    """A chain with a Swap, `tokens` tokens sorted by address and `users` funded, approving users."""
    chain = Chain()
    admin = chain.account(balance=10**24)
    res = chain.deploy(admin, load_contract("swap"), [])
    assert res.ok, res.error
    swap = res.address
    toks = []
    for i in range(tokens):
        r = chain.deploy(admin, load_contract("token"), ["T" + str(i), "T" + str(i), 18, SUPPLY])
        assert r.ok, r.error
        toks.append(r.address)
    toks.sort(key=bytes)
    people = [chain.account(balance=10**24) for _ in range(users)]
    for person in people:
        for tok in toks:
            chain.must(admin, tok, "transfer", [person, SUPPLY // (users + 1)])
            chain.must(person, tok, "approve", [swap, MAX_UINT])
    return SimpleNamespace(chain=chain, swap=swap, tokens=toks, users=people, admin=admin)


def bal(env, tok, who):
    return env.chain.query(tok, "balance_of", [who])


def events(res, name):
    return [list(e.data) for e in res.events if e.name == name]


def add(env, user, a, b, amount_a, amount_b, min_a=0, min_b=0, to=None, deadline=FAR):
    return env.chain.call(
        user, env.swap, "add_liquidity", [a, b, amount_a, amount_b, min_a, min_b, to or user, deadline]
    )


def pool(env, a, b):
    return env.chain.query(env.swap, "get_pair", [a, b])


def snapshot(env):
    """Everything a Swap call can change, read through views."""
    c = env.chain
    holders = [*env.users, env.swap]
    pools = {}
    for p in c.query(env.swap, "pairs", []):
        info = c.query(env.swap, "get_pair", p)
        lps = [c.query(env.swap, "lp_balance", [p[0], p[1], h]) for h in [*holders, ZERO_ADDRESS]]
        pools[bytes(p[0]) + bytes(p[1])] = (info["reserve0"], info["reserve1"], info["total_supply"], lps)
    balances = [bal(env, t, h) for t in env.tokens for h in holders]
    return pools, balances


def fails(env, user, method, args, reason):
    before = snapshot(env)
    res = env.chain.call(user, env.swap, method, args)
    assert not res.ok
    assert res.error == reason
    assert not res.events
    assert snapshot(env) == before
    return res


def seeded(env, ra=1000 * UNIT, rb=4000 * UNIT, rc=2000 * UNIT):
    """Pools A/B (ra:rb) and B/C (rb:rc) provided by user 0."""
    a, b, c = env.tokens
    user = env.users[0]
    assert add(env, user, a, b, ra, rb).ok
    assert add(env, user, b, c, rb, rc).ok
    return a, b, c
