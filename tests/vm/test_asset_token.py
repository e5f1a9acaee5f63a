"""The tokenized asset: issue and redemption by agents, every refusal of `can_transfer` with its code,
freezes, lock-ups, forced transfers, documents; and, over random operations against an independent
model of the rules, no transfer goes through that `can_transfer` refuses, each refusal is the
model's, and the supply is the sum of the balances."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.contracts import BOND_COUNTRIES, standard_contracts
from vm.contracts import source
from vm.testing import Chain

MAX_HOLDERS, MAX_BALANCE = 3, 1_000
COUNTRIES = ["DE", "SG"]
LIFE = 10_000  # claims outlive every test


def ref(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


class World:
    """An owner who is also an agent, an issuer of claims, five users: 0-2 verified in allowed
    countries, 3 verified in a country the asset refuses, 4 never verified."""

    def __init__(self, max_holders: int = MAX_HOLDERS, max_balance: int = MAX_BALANCE) -> None:
        c = self.chain = Chain()
        self.owner, self.issuer, self.agent = c.account(), c.account(), c.account()
        self.users = [c.account() for _ in range(5)]
        self.registry = c.deploy(self.owner, source("identity"), [[self.issuer], ["kyc.basic", "country"]]).address
        res = c.deploy(self.owner, source("asset_token"),
                       ["Green Bond 2030", "GB30", 0, self.registry, ["kyc.basic"], COUNTRIES, max_holders,
                        max_balance, [self.agent]])
        assert res.ok, res.error
        self.token = res.address
        for u, country in zip(self.users[:4], ["DE", "SG", "DE", "US"], strict=True):
            self.claim(u, "kyc.basic", "verified")
            self.claim(u, "country", country)

    def claim(self, who: bytes, topic: str, value: str) -> None:
        self.chain.must(self.issuer, self.registry, "attest",
                        [who, topic, value, bytes(32), self.chain.vm.block.height + LIFE, ref(who, topic, value)])

    def can(self, frm: bytes, to: bytes, amount: int) -> str:
        code, message = self.chain.query(self.token, "can_transfer", [frm, to, amount])
        assert isinstance(message, str) and message
        return code

    def agent_call(self, method: str, args: list):
        return self.chain.call(self.agent, self.token, method, args)

    def balance(self, who: bytes) -> int:
        return self.chain.query(self.token, "balance_of", [who])


def test_issue_needs_an_agent_and_a_receiver_who_passes_the_rules():
    w = World()
    a, _, _, us, stranger = w.users
    assert w.chain.call(a, w.token, "issue", [a, 10, 0]).error == "not_agent"
    assert w.agent_call("issue", [stranger, 10, 0]).error == "not_verified"
    assert w.agent_call("issue", [us, 10, 0]).error == "country_not_allowed"
    assert w.agent_call("issue", [a, MAX_BALANCE + 1, 0]).error == "holder_max_balance"
    assert w.agent_call("issue", [a, 0, 0]).error == "bad_amount"
    res = w.agent_call("issue", [a, 10, 0])
    assert res.ok, res.error
    assert [e.name for e in res.events] == ["Transfer", "Issued"]
    assert (w.balance(a), w.chain.query(w.token, "total_supply"), w.chain.query(w.token, "holder_count")) == (10, 10, 1)


def test_each_refusal_of_a_transfer_has_its_code_and_the_transfer_reverts_with_it():
    w = World(max_holders=2)
    a, b, c, us, stranger = w.users
    w.agent_call("issue", [a, 100, 0])
    cases = [(stranger, 1, "not_verified"), (us, 1, "country_not_allowed"), (a, 101, "insufficient_balance")]
    for to, amount, code in cases:
        assert w.can(a, to, amount) == code
        assert w.chain.call(a, w.token, "transfer", [to, amount]).error == code
    assert w.can(a, b, MAX_BALANCE + 1) == "insufficient_balance"
    w.agent_call("issue", [b, 990, 0])
    assert w.can(a, b, 11) == "holder_max_balance"
    assert w.can(a, c, 1) == "holder_limit"  # a and b hold: the third holder is one too many
    assert w.can(a, b, 10) == "ok"
    w.agent_call("freeze_partial", [a, 95])
    assert w.can(a, b, 6) == "partially_frozen"
    assert w.chain.call(a, w.token, "transfer", [b, 6]).error == "partially_frozen"
    assert w.chain.call(a, w.token, "transfer", [b, 5]).ok
    w.agent_call("set_frozen", [b, True])
    assert w.can(a, b, 0) == "frozen" and w.can(b, a, 1) == "frozen"
    w.agent_call("set_frozen", [b, False])
    w.agent_call("pause", [])
    assert w.chain.call(b, w.token, "transfer", [a, 1]).error == "paused"
    w.agent_call("unpause", [])
    w.agent_call("set_lockup", [b, w.chain.vm.block.height + 3])
    assert w.chain.call(b, w.token, "transfer", [a, 1]).error == "locked_until"
    w.chain.advance(3)
    assert w.chain.call(b, w.token, "transfer", [a, 1]).ok


def test_a_revoked_claim_or_a_removed_issuer_stops_receiving_but_not_sending():
    w = World()
    a, b = w.users[:2]
    w.agent_call("issue", [a, 10, 0])
    w.agent_call("issue", [b, 10, 0])
    w.chain.must(w.issuer, w.registry, "revoke", [b, "kyc.basic", "document expired"])
    assert w.can(a, b, 1) == "claim_revoked"
    assert w.can(b, a, 1) == "ok"  # ERC-3643: only the receiver's identity is checked
    w.chain.must(w.owner, w.registry, "remove_issuer", [w.issuer])
    assert w.can(b, a, 1) == "issuer_removed"


def test_lock_up_at_issue_and_redemption_takes_frozen_units_last():
    w = World()
    a, b = w.users[:2]
    until = w.chain.vm.block.height + 5
    res = w.agent_call("issue", [a, 100, until])
    assert "LockUp" in [e.name for e in res.events]
    assert w.chain.query(w.token, "locked_until", [a]) == until
    assert w.can(a, b, 1) == "locked_until"
    w.agent_call("freeze_partial", [a, 80])
    assert w.agent_call("freeze_partial", [a, 21]).error == "insufficient_balance"
    assert w.chain.call(a, w.token, "redeem", [a, 1]).error == "not_agent"
    res = w.agent_call("redeem", [a, 30])  # 20 free, then 10 of the frozen ones
    assert res.ok, res.error
    assert (w.balance(a), w.chain.query(w.token, "frozen_balance", [a])) == (70, 70)
    assert w.agent_call("unfreeze_partial", [a, 71]).error == "insufficient_frozen"
    assert w.agent_call("redeem", [a, 71]).error == "insufficient_balance"
    w.agent_call("redeem", [a, 70])
    assert (w.chain.query(w.token, "total_supply"), w.chain.query(w.token, "holder_count")) == (0, 0)


def test_forced_transfer_records_its_legal_reference_and_only_needs_a_verified_receiver():
    w = World()
    a, b, _, us, _ = w.users
    w.agent_call("issue", [a, 50, 0])
    w.agent_call("set_frozen", [a, True])
    w.agent_call("freeze_partial", [a, 40])
    assert w.chain.call(b, w.token, "forced_transfer", [a, b, 1, b"order-1"]).error == "not_agent"
    assert w.agent_call("forced_transfer", [a, b, 1, b""]).error == "bad_ref"
    assert w.agent_call("forced_transfer", [a, us, 1, b"order-1"]).error == "country_not_allowed"
    assert w.agent_call("forced_transfer", [a, b, 51, b"order-1"]).error == "insufficient_balance"
    res = w.agent_call("forced_transfer", [a, b, 30, b"court order 2026/17"])
    assert res.ok, res.error
    forced = [e for e in res.events if e.name == "ForcedTransfer"]
    assert len(forced) == 1 and forced[0].data[-1] == b"court order 2026/17"
    assert (w.balance(a), w.balance(b), w.chain.query(w.token, "frozen_balance", [a])) == (20, 30, 20)


def test_documents_and_roles():
    w = World()
    h = hashlib.sha256(b"prospectus").digest()
    assert w.agent_call("set_document", ["prospectus", "https://issuer.example/p.pdf", h]).error == "not_owner"
    assert w.chain.call(w.owner, w.token, "set_document", ["prospectus", "u", b"short"]).error == "bad_hash"
    w.chain.must(w.owner, w.token, "set_document", ["prospectus", "ipfs://bafy1", h])
    w.chain.must(w.owner, w.token, "set_document", ["prospectus", "ipfs://bafy2", h])  # replaced, listed once
    w.chain.must(w.owner, w.token, "set_document", ["terms", "ipfs://bafy3", h])
    assert w.chain.query(w.token, "documents") == ["prospectus", "terms"]
    doc = w.chain.query(w.token, "get_document", ["prospectus"])
    assert (doc["uri"], doc["content_hash"]) == ("ipfs://bafy2", h)
    w.chain.must(w.owner, w.token, "remove_document", ["prospectus"])
    assert w.chain.call(w.owner, w.token, "remove_document", ["prospectus"]).error == "unknown_document"
    assert w.chain.query(w.token, "get_document", ["prospectus"]) == {}
    assert w.agent_call("add_agent", [w.users[0]]).error == "not_owner"
    w.chain.must(w.owner, w.token, "remove_agent", [w.agent])
    assert w.agent_call("pause", []).error == "not_agent"
    assert w.chain.call(w.owner, w.token, "set_rules", [w.registry, [], [], 0, 0]).ok
    assert w.chain.query(w.token, "rules")["countries"] == []


def test_the_devnet_genesis_issues_a_bond():
    contracts, addresses = standard_contracts(bytes(19) + b"\x01")
    bond = [c for c in contracts if c.name == "bond"]
    assert len(bond) == 1 and "bond" in addresses
    assert bond[0].args_json[5] == BOND_COUNTRIES


# -- properties against a model ---------------------------------------------------------------------


@dataclass
class Model:
    """The rules of the asset, written again from docs/finance.md, over the World's five users."""

    verified: list[bool] = field(default_factory=lambda: [True, True, True, True, False])
    country_ok: list[bool] = field(default_factory=lambda: [True, True, True, False, False])
    revoked: list[bool] = field(default_factory=lambda: [False] * 5)
    bal: list[int] = field(default_factory=lambda: [0] * 5)
    frozen: list[bool] = field(default_factory=lambda: [False] * 5)
    frozen_amt: list[int] = field(default_factory=lambda: [0] * 5)
    lock: list[int] = field(default_factory=lambda: [0] * 5)
    paused: bool = False

    def receive(self, to: int, amount: int) -> str:
        if self.frozen[to]:
            return "frozen"
        if self.revoked[to]:
            return "claim_revoked"
        if not self.verified[to]:
            return "not_verified"
        if not self.country_ok[to]:
            return "country_not_allowed"
        if self.bal[to] == 0 and amount > 0 and sum(b > 0 for b in self.bal) >= PROP_MAX_HOLDERS:
            return "holder_limit"
        if self.bal[to] + amount > PROP_MAX_BALANCE:
            return "holder_max_balance"
        return "ok"

    def transfer(self, frm: int, to: int, amount: int, height: int) -> str:
        if self.paused:
            return "paused"
        if self.frozen[frm] or self.frozen[to]:
            return "frozen"
        if height < self.lock[frm]:
            return "locked_until"
        if self.bal[frm] < amount:
            return "insufficient_balance"
        if self.bal[frm] - self.frozen_amt[frm] < amount:
            return "partially_frozen"
        return "ok" if frm == to else self.receive(to, amount)

    def take(self, frm: int, amount: int) -> None:
        """Units leave `frm` by an agent: frozen ones last."""
        free = self.bal[frm] - self.frozen_amt[frm]
        if amount > free:
            self.frozen_amt[frm] -= amount - free
        self.bal[frm] -= amount


U = st.integers(0, 4)
AMOUNT = st.integers(0, 12)  # small, so that random amounts meet the boundaries
PROP_MAX_BALANCE, PROP_MAX_HOLDERS = 20, 2
OPS = st.lists(st.one_of(
    st.tuples(st.just("issue"), U, AMOUNT, st.sampled_from([0, 0, 0, 3])),
    st.tuples(st.just("transfer"), U, U, AMOUNT),
    st.tuples(st.just("transfer"), st.integers(0, 1), U, AMOUNT),
    st.tuples(st.just("transfer"), st.integers(0, 1), U, AMOUNT),
    st.tuples(st.just("transfer_from"), U, U, AMOUNT),
    st.tuples(st.just("redeem"), U, AMOUNT),
    st.tuples(st.just("forced"), U, U, AMOUNT),
    st.tuples(st.just("freeze"), U, st.booleans()),
    st.tuples(st.just("freeze_partial"), U, AMOUNT),
    st.tuples(st.just("unfreeze_partial"), U, AMOUNT),
    st.tuples(st.just("lockup"), U, st.integers(0, 4)),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("revoke"), U),
    st.tuples(st.just("advance"), st.integers(1, 3)),
), min_size=10, max_size=40)


@settings(max_examples=500, deadline=None)
@given(OPS)
def test_no_transfer_goes_through_that_can_transfer_refuses(ops):
    w, m = World(max_holders=PROP_MAX_HOLDERS, max_balance=PROP_MAX_BALANCE), Model()
    u = w.users
    for i in (0, 1):  # two holders from the start: the limit is reached until one of them empties
        w.chain.must(w.agent, w.token, "issue", [u[i], 10, 0])
        m.bal[i] = 10
    for user in u[:3]:  # everyone who may spend lets user 0 move their units
        w.chain.must(user, w.token, "approve", [u[0], 10**9])
    for op in ops:
        height = w.chain.vm.block.height
        kind = op[0]
        if kind in ("transfer", "transfer_from"):
            frm, to, amount = op[1], op[2], op[3]
            expected = m.transfer(frm, to, amount, height)
            assert w.can(u[frm], u[to], amount) == expected, (op, m)
            if kind == "transfer":
                res = w.chain.call(u[frm], w.token, "transfer", [u[to], amount])
            else:
                res = w.chain.call(u[0], w.token, "transfer_from", [u[frm], u[to], amount])
                if frm > 2 and amount > 0:  # users 3 and 4 never approved user 0
                    expected = "insufficient_allowance"
            assert res.ok == (expected == "ok") and (res.ok or res.error == expected), (op, res.error, m)
            if res.ok and frm != to:
                m.bal[frm] -= amount
                m.bal[to] += amount
        elif kind == "issue":
            to, amount, lock = op[1], op[2], height + op[3]
            res = w.agent_call("issue", [u[to], amount, lock])
            assert res.ok == (amount > 0 and m.receive(to, amount) == "ok"), (op, res.error, m)
            if res.ok:
                m.bal[to] += amount
                m.lock[to] = max(m.lock[to], lock)
        elif kind == "redeem":
            res = w.agent_call("redeem", [u[op[1]], op[2]])
            assert res.ok == (0 < op[2] <= m.bal[op[1]]), (op, res.error)
            if res.ok:
                m.take(op[1], op[2])
        elif kind == "forced":
            frm, to, amount = op[1], op[2], op[3]
            res = w.agent_call("forced_transfer", [u[frm], u[to], amount, b"order"])
            receiver_ok = m.verified[to] and not m.revoked[to] and m.country_ok[to]
            assert res.ok == (0 < amount <= m.bal[frm] and receiver_ok), (op, res.error, m)
            if res.ok:
                m.take(frm, amount)
                m.bal[to] += amount
        elif kind == "freeze":
            w.agent_call("set_frozen", [u[op[1]], op[2]])
            m.frozen[op[1]] = op[2]
        elif kind == "freeze_partial":
            res = w.agent_call("freeze_partial", [u[op[1]], op[2]])
            assert res.ok == (op[2] > 0 and m.frozen_amt[op[1]] + op[2] <= m.bal[op[1]]), (op, res.error)
            if res.ok:
                m.frozen_amt[op[1]] += op[2]
        elif kind == "unfreeze_partial":
            res = w.agent_call("unfreeze_partial", [u[op[1]], op[2]])
            assert res.ok == (0 < op[2] <= m.frozen_amt[op[1]]), (op, res.error)
            if res.ok:
                m.frozen_amt[op[1]] -= op[2]
        elif kind == "lockup":
            w.agent_call("set_lockup", [u[op[1]], height + op[2]])
            m.lock[op[1]] = height + op[2]
        elif kind == "pause":
            w.agent_call("pause" if op[1] else "unpause", [])
            m.paused = op[1]
        elif kind == "revoke":
            if w.chain.call(w.issuer, w.registry, "revoke", [u[op[1]], "kyc.basic", "review"]).ok:
                m.revoked[op[1]] = True
        else:
            w.chain.advance(op[1])
        balances = [w.balance(x) for x in u]
        assert balances == m.bal, (op, m)
        assert sum(balances) == w.chain.query(w.token, "total_supply")
        assert w.chain.query(w.token, "holder_count") == sum(b > 0 for b in balances)
        for i, x in enumerate(u):
            assert 0 <= w.chain.query(w.token, "frozen_balance", [x]) == m.frozen_amt[i] <= m.bal[i]
