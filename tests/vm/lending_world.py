"""The lending test world: tokens, an oracle and the Lending contract, and a reference model of its arithmetic."""

from __future__ import annotations

from dataclasses import dataclass, field

from vm.testing import Chain, load_contract

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
