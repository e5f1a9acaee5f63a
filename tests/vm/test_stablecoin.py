"""The regulated stablecoin: minting against deposits to verified holders, redemption and settlement,
blacklist, pause and roles, each refusal with its reason code; properties over random operations;
and identity requirements of lending markets and swap pools."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.contracts import stablecoin_args
from vm.contracts import source
from vm.testing import Chain

E18 = 10**18
FAR = 2**40  # a deadline (seconds) far ahead


def ref(n: int) -> bytes:
    return hashlib.sha256(b"ref" + n.to_bytes(8, "big")).digest()


class World:
    def __init__(self, verified_transfers: bool = False) -> None:
        c = self.chain = Chain()
        self.owner, self.issuer, self.custodian = c.account(), c.account(), c.account()
        self.users = [c.account() for _ in range(4)]
        self.registry = c.deploy(self.owner, source("identity"), [[self.issuer], ["kyc.basic"]]).address
        args = stablecoin_args("Finchain USD", "FUSD", self.registry, self.custodian, self.owner)
        args[5], args[7], args[9] = verified_transfers, 10**6 * E18, 0
        res = c.deploy(self.owner, source("stablecoin"), args)
        assert res.ok, res.error
        self.coin = res.address
        self.n = 0

    def verify(self, user, life: int = 1000) -> None:
        self.n += 1
        expiry = self.chain.vm.block.height + life
        self.chain.must(self.issuer, self.registry, "attest",
                        [user, "kyc.basic", "verified", bytes(32), expiry, ref(10**6 + self.n)])

    def mint(self, to, amount, n):
        return self.chain.call(self.custodian, self.coin, "mint", [to, amount, ref(n)])

    def balance(self, who) -> int:
        return self.chain.query(self.coin, "balance_of", [who])


def test_mint_needs_a_verified_holder_a_fresh_deposit_ref_and_allowance():
    w = World()
    alice = w.users[0]
    assert (w.mint(alice, E18, 1).error) == "not_verified"
    w.verify(alice)
    res = w.mint(alice, E18, 1)
    assert res.ok, res.error
    assert [e.name for e in res.events] == ["Transfer", "Mint"]
    assert w.mint(alice, E18, 1).error == "deposit_ref_used"
    assert w.mint(alice, 10**7 * E18, 2).error == "mint_over_allowance"
    assert w.chain.query(w.coin, "minter_allowance", [w.custodian]) == 10**6 * E18 - E18
    assert w.chain.call(w.users[1], w.coin, "mint", [alice, 1, ref(3)]).error == "not_minter"
    assert w.chain.call(w.owner, w.coin, "mint", [alice, 1, ref(3), ]).error == "not_minter"
    assert w.chain.call(alice, w.coin, "configure_minter", [alice, 5]).error == "not_master_minter"
    w.chain.must(w.owner, w.coin, "configure_minter", [w.users[1], 5])
    assert w.chain.call(w.users[1], w.coin, "mint", [alice, 6, ref(4)]).error == "mint_over_allowance"
    assert w.chain.call(w.users[1], w.coin, "mint", [alice, 5, ref(4)]).ok


def test_redemption_burns_and_the_custodian_settles_once():
    w = World()
    alice = w.users[0]
    w.verify(alice)
    assert w.mint(alice, 10 * E18, 1).ok
    assert w.chain.call(alice, w.coin, "redeem", [11 * E18, ref(9)]).error == "insufficient_balance"
    rid = w.chain.must(alice, w.coin, "redeem", [4 * E18, ref(9)])
    assert (rid, w.balance(alice), w.chain.query(w.coin, "total_supply")) == (0, 6 * E18, 6 * E18)
    record = w.chain.query(w.coin, "redemption", [0])
    assert (record["holder"], record["amount"], record["settled"]) == (alice, 4 * E18, False)
    assert w.chain.call(alice, w.coin, "settle", [0, b"bank-1"]).error == "not_minter"
    w.chain.must(w.custodian, w.coin, "settle", [0, b"bank-1"])
    assert w.chain.call(w.custodian, w.coin, "settle", [0, b"bank-1"]).error == "already_settled"
    assert w.chain.call(w.custodian, w.coin, "settle", [5, b"bank-1"]).error == "unknown_redemption"
    assert w.chain.query(w.coin, "redemption_count") == 1


def test_blacklist_pause_and_verified_transfers():
    w = World(verified_transfers=True)
    alice, bob, carol = w.users[:3]
    w.verify(alice)
    assert w.mint(alice, 10 * E18, 1).ok
    assert w.chain.call(alice, w.coin, "transfer", [bob, E18]).error == "not_verified"
    w.verify(bob)
    assert w.chain.call(alice, w.coin, "transfer", [bob, E18]).ok
    assert w.chain.call(alice, w.coin, "blacklist", [bob]).error == "not_blacklister"
    w.chain.must(w.owner, w.coin, "blacklist", [bob])
    assert w.chain.call(alice, w.coin, "transfer", [bob, E18]).error == "blacklisted"
    assert w.chain.call(bob, w.coin, "transfer", [alice, E18]).error == "blacklisted"
    assert w.mint(bob, E18, 2).error == "blacklisted"
    assert w.chain.call(bob, w.coin, "redeem", [E18, ref(3)]).error == "blacklisted"
    assert w.chain.call(alice, w.coin, "approve", [bob, E18]).error == "blacklisted"
    w.chain.must(w.owner, w.coin, "unblacklist", [bob])
    w.chain.must(w.owner, w.coin, "pause")
    for method, args in [("transfer", [bob, 1]), ("redeem", [1, ref(4)]), ("approve", [bob, 1])]:
        assert w.chain.call(alice, w.coin, method, args).error == "paused", method
    assert w.mint(alice, 1, 5).error == "paused"
    w.chain.must(w.owner, w.coin, "unpause")
    # A contract the owner exempts holds the coin without a claim; nobody else may exempt.
    pool = carol
    assert w.chain.call(alice, w.coin, "transfer", [pool, E18]).error == "not_verified"
    assert w.chain.call(alice, w.coin, "set_exempt", [pool, True]).error == "not_owner"
    w.chain.must(w.owner, w.coin, "set_exempt", [pool, True])
    assert w.chain.call(alice, w.coin, "transfer", [pool, E18]).ok


OPS = st.lists(st.one_of(
    st.tuples(st.just("mint"), st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 6)),
    st.tuples(st.just("transfer"), st.integers(0, 3), st.integers(0, 3), st.integers(0, 10**6)),
    st.tuples(st.just("approve"), st.integers(0, 3), st.integers(0, 3), st.integers(0, 10**6)),
    st.tuples(st.just("transfer_from"), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
              st.integers(0, 10**6)),
    st.tuples(st.just("redeem"), st.integers(0, 3), st.integers(0, 10**6)),
    st.tuples(st.just("blacklist"), st.integers(0, 3)),
    st.tuples(st.just("unblacklist"), st.integers(0, 3)),
), max_size=30)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_supply_is_the_sum_of_balances_and_a_blacklisted_address_never_gains(ops):
    w = World()
    for u in w.users[:3]:
        w.verify(u)
    black: set[int] = set()
    for op in ops:
        before = [w.balance(u) for u in w.users]
        if op[0] == "mint":
            minted = w.mint(w.users[op[1]], op[2], op[3])
            assert not (minted.ok and op[1] == 3), "minted to a holder never verified"
        elif op[0] == "transfer":
            w.chain.call(w.users[op[1]], w.coin, "transfer", [w.users[op[2]], op[3]])
        elif op[0] == "approve":
            w.chain.call(w.users[op[1]], w.coin, "approve", [w.users[op[2]], op[3]])
        elif op[0] == "transfer_from":
            w.chain.call(w.users[op[1]], w.coin, "transfer_from", [w.users[op[2]], w.users[op[3]], op[4]])
        elif op[0] == "redeem":
            w.chain.call(w.users[op[1]], w.coin, "redeem", [op[2], ref(77)])
        elif op[0] == "blacklist":
            w.chain.must(w.owner, w.coin, "blacklist", [w.users[op[1]]])
            black.add(op[1])
        else:
            if w.chain.call(w.owner, w.coin, "unblacklist", [w.users[op[1]]]).ok:
                black.discard(op[1])
        after = [w.balance(u) for u in w.users]
        for i in black:
            assert after[i] <= before[i], (op, i)
        for i in range(4):
            for j in range(4):
                assert w.chain.query(w.coin, "allowance", [w.users[i], w.users[j]]) >= 0
        assert sum(after) == w.chain.query(w.coin, "total_supply")


@pytest.fixture
def market_world():
    w = World()
    c = w.chain
    oracle = c.deploy(w.owner, source("oracle"), [[w.owner], 3600]).address
    lending = c.deploy(w.owner, source("lending"), [oracle, 5 * 10**17, 108 * 10**16]).address
    swap = c.deploy(w.owner, source("swap"), []).address
    args = stablecoin_args("Finchain EUR", "FEUR", w.registry, w.custodian, w.owner)
    args[7], args[9] = int(str(args[7])), int(str(args[9]))  # the genesis passes them as JSON strings
    res = c.deploy(w.owner, source("stablecoin"), args)
    assert res.ok, res.error
    feur = res.address
    return w, oracle, lending, swap, feur


def test_a_gated_market_and_pool_refuse_the_unverified_with_the_registry_reason(market_world):
    w, oracle, lending, swap, feur = market_world
    c, owner = w.chain, w.owner
    alice, mallory = w.users[0], w.users[1]
    w.verify(alice)
    w.verify(owner)
    assert w.mint(alice, 1000 * E18, 1).ok
    assert w.mint(owner, 10**5 * E18, 2).ok
    c.must(owner, oracle, "report", [w.coin, E18])
    c.must(owner, w.coin, "approve", [lending, 10**30])
    c.must(owner, lending, "list_market", [w.coin, 75 * 10**16, 10**17, 0, 10**9, 10**10, 8 * 10**17, E18, E18])
    assert c.call(alice, lending, "set_requirement", [w.coin, w.registry, ["kyc.basic"]]).error == "only the admin"
    c.must(owner, lending, "set_requirement", [w.coin, w.registry, ["kyc.basic"]])
    assert c.query(lending, "requirement", [w.coin])["topics"] == ["kyc.basic"]
    for who in (alice, mallory):
        c.must(who, w.coin, "approve", [lending, 10**30])
    c.must(alice, w.coin, "transfer", [mallory, 10 * E18])  # the coin's transfers are open
    assert c.call(alice, lending, "supply", [w.coin, 100 * E18]).ok
    assert c.call(mallory, lending, "supply", [w.coin, E18]).error == "not_verified"
    # A verified user whose claim is revoked may still leave the market.
    c.must(w.issuer, w.registry, "revoke", [alice, "kyc.basic", "review"])
    assert c.call(alice, lending, "supply", [w.coin, E18]).error == "claim_revoked"
    assert c.call(alice, lending, "redeem_underlying", [w.coin, 10 * E18]).ok
    # The FX pool: only verified traders, providers and recipients.
    w.verify(alice)
    c.must(owner, feur, "approve", [swap, 10**30])
    c.must(owner, w.coin, "approve", [swap, 10**30])
    c.must(owner, swap, "add_liquidity", [w.coin, feur, 10**4 * E18, 9 * 10**3 * E18, 0, 0, owner, FAR])
    c.must(owner, swap, "set_requirement", [w.coin, feur, w.registry, ["kyc.basic"]])
    for who in (alice, mallory):
        c.must(who, w.coin, "approve", [swap, 10**30])
    args = lambda who, to: [10 * E18, 0, [w.coin, feur], to, FAR]  # noqa: E731
    assert c.call(alice, swap, "swap_exact_tokens_for_tokens", args(alice, alice)).ok
    assert c.call(mallory, swap, "swap_exact_tokens_for_tokens", args(mallory, mallory)).error == "not_verified"
    assert c.call(alice, swap, "swap_exact_tokens_for_tokens", args(alice, mallory)).error == "not_verified"
    res = c.call(mallory, swap, "add_liquidity", [w.coin, feur, E18, E18, 0, 0, mallory, FAR])
    assert res.error == "not_verified"
    c.must(owner, swap, "set_requirement", [w.coin, feur, w.registry, []])  # lifted
    assert c.call(mallory, swap, "swap_exact_tokens_for_tokens", args(mallory, mallory)).ok
