"""The identity registry: issuers, claims and their status, each refusal with its reason code;
and a model check of `check` over random sequences of attest, revoke, issuer changes and time."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.contracts import source
from vm.testing import Chain

TOPICS = ["kyc.basic", "country"]
ROOT = bytes(range(32))


def ref(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


@pytest.fixture
def world():
    chain = Chain()
    admin, issuer, user = chain.account(), chain.account(), chain.account()
    registry = chain.deploy(admin, source("identity"), [[issuer], TOPICS]).address
    return chain, registry, admin, issuer, user


def attest(chain, registry, issuer, user, topic="kyc.basic", expiry=100, n=1, commitment=ROOT, value="verified"):
    return chain.call(issuer, registry, "attest", [user, topic, value, commitment, expiry, ref(n)])


def test_a_genesis_issuer_attests_and_the_claim_counts(world):
    chain, registry, _admin, issuer, user = world
    assert chain.query(registry, "issuer", [issuer]) == {"name": "genesis issuer", "topics": TOPICS, "active": True}
    assert chain.query(registry, "check", [user, ["kyc.basic"]]) == "not_verified"
    res = attest(chain, registry, issuer, user)
    assert res.ok, res.error
    assert [e.name for e in res.events] == ["ClaimAttested"]
    claim = chain.query(registry, "get_claim", [user, "kyc.basic"])
    assert (claim["status"], claim["commitment"], claim["issuer"], claim["expiry_height"]) == ("ok", ROOT, issuer, 100)
    assert chain.query(registry, "is_verified", [user, ["kyc.basic"]]) is True
    assert chain.query(registry, "check", [user, ["kyc.basic", "country"]]) == "not_verified"
    assert chain.query(registry, "claim_by_ref", [issuer, ref(1)])["status"] == "ok"
    assert chain.query(registry, "claim_by_ref", [issuer, ref(2)]) == {}


@pytest.mark.parametrize(("who", "args", "code"), [
    ("stranger", ["kyc.basic", 100, ROOT, 1], "not_issuer"),
    ("issuer", ["accredited", 100, ROOT, 1], "topic_not_allowed"),
    ("issuer", ["kyc.basic", 100, b"\x01" * 31, 1], "bad_commitment"),
    ("issuer", ["kyc.basic", 1, ROOT, 1], "claim_expired"),
])
def test_attest_refusals_have_reason_codes(world, who, args, code):
    chain, registry, _admin, issuer, user = world
    sender = issuer if who == "issuer" else chain.account()
    topic, expiry, commitment, n = args
    res = attest(chain, registry, sender, user, topic, expiry, n, commitment)
    assert (res.ok, res.error) == (False, code)


def test_a_ref_is_used_once_and_a_replaced_claim_still_holds_it(world):
    chain, registry, _admin, issuer, user = world
    assert attest(chain, registry, issuer, user, n=7).ok
    again = attest(chain, registry, issuer, chain.account(), n=7)
    assert (again.ok, again.error) == (False, "ref_used")
    assert attest(chain, registry, issuer, user, n=8).ok  # a new attestation replaces the claim
    assert chain.query(registry, "claim_by_ref", [issuer, ref(7)])["status"] == "replaced"
    assert chain.query(registry, "claim_by_ref", [issuer, ref(8)])["status"] == "ok"


def test_revocation_expiry_and_issuer_removal_end_a_claim(world):
    chain, registry, admin, issuer, user = world
    assert attest(chain, registry, issuer, user, expiry=5).ok
    stranger = chain.account()
    res = chain.call(stranger, registry, "revoke", [user, "kyc.basic", "no"])
    assert (res.ok, res.error) == (False, "not_issuer")
    chain.advance(4)  # height 5: the claim's expiry height
    assert chain.query(registry, "check", [user, ["kyc.basic"]]) == "claim_expired"
    assert attest(chain, registry, issuer, user, expiry=50, n=2).ok
    chain.must(issuer, registry, "revoke", [user, "kyc.basic", "document withdrawn"])
    assert chain.query(registry, "check", [user, ["kyc.basic"]]) == "claim_revoked"
    res = chain.call(issuer, registry, "revoke", [user, "kyc.basic", "again"])
    assert (res.ok, res.error) == (False, "claim_revoked")
    assert attest(chain, registry, issuer, user, expiry=50, n=3).ok
    res = chain.call(issuer, registry, "remove_issuer", [issuer])
    assert (res.ok, res.error) == (False, "not_admin")
    chain.must(admin, registry, "remove_issuer", [issuer])
    assert chain.query(registry, "check", [user, ["kyc.basic"]]) == "issuer_removed"
    assert (attest(chain, registry, issuer, user, n=4).error) == "not_issuer"
    chain.must(admin, registry, "add_issuer", [issuer, "back", ["country"]])  # re-added, without kyc.basic
    assert chain.query(registry, "check", [user, ["kyc.basic"]]) == "topic_not_allowed"


def test_admin_only_methods_and_bad_topics(world):
    chain, registry, admin, issuer, user = world
    for method, args in [("add_issuer", [user, "x", ["kyc.basic"]]), ("remove_issuer", [issuer]),
                         ("transfer_admin", [user])]:
        res = chain.call(user, registry, method, args)
        assert (res.ok, res.error) == (False, "not_admin"), method
    for topics in ([], ["a"] * 33, [""], ["x" * 129]):
        res = chain.call(admin, registry, "add_issuer", [user, "x", topics])
        assert (res.ok, res.error) == (False, "bad_topics")
    chain.must(admin, registry, "transfer_admin", [user])
    assert chain.query(registry, "admin") == user
    assert chain.call(user, registry, "add_issuer", [chain.account(), "new", ["kyc.full"]]).ok


OPS = st.lists(st.one_of(
    st.tuples(st.just("attest"), st.integers(0, 1), st.integers(0, 2), st.sampled_from(TOPICS), st.integers(1, 8)),
    st.tuples(st.just("revoke"), st.integers(0, 1), st.integers(0, 2), st.sampled_from(TOPICS)),
    st.tuples(st.just("remove"), st.integers(0, 1)),
    st.tuples(st.just("add"), st.integers(0, 1), st.sampled_from([TOPICS, ["kyc.basic"], ["country"]])),
    st.tuples(st.just("advance"), st.integers(1, 4)),
), max_size=25)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_check_agrees_with_a_model_of_the_rules(ops):
    chain = Chain()
    admin = chain.account()
    issuers = [chain.account(), chain.account()]
    users = [chain.account() for _ in range(3)]
    registry = chain.deploy(admin, source("identity"), [issuers, TOPICS]).address
    allowed = {i: list(TOPICS) for i in range(2)}
    active = {0: True, 1: True}
    claims: dict[tuple[int, str], dict] = {}  # the model: (user, topic) -> issuer, expiry, revoked
    height, n = 1, 0
    for op in ops:
        if op[0] == "attest":
            _, i, u, topic, life = op
            n += 1
            res = attest(chain, registry, issuers[i], users[u], topic, height + life, n)
            expected_ok = active[i] and topic in allowed[i]
            assert res.ok == expected_ok, (op, res.error)
            if res.ok:
                claims[u, topic] = {"issuer": i, "expiry": height + life, "revoked": False}
        elif op[0] == "revoke":
            _, i, u, topic = op
            res = chain.call(issuers[i], registry, "revoke", [users[u], topic, "r"])
            c = claims.get((u, topic))
            assert res.ok == (c is not None and c["issuer"] == i and not c["revoked"]), (op, res.error)
            if res.ok:
                c["revoked"] = True
        elif op[0] == "remove":
            res = chain.call(admin, registry, "remove_issuer", [issuers[op[1]]])
            assert res.ok == active[op[1]]
            active[op[1]] = False
        elif op[0] == "add":
            chain.must(admin, registry, "add_issuer", [issuers[op[1]], "i", op[2]])
            active[op[1]], allowed[op[1]] = True, list(op[2])
        else:
            chain.advance(op[1])
            height += op[1]
        for u in range(3):
            for topic in TOPICS:
                c = claims.get((u, topic))
                if c is None:
                    want = "not_verified"
                elif c["revoked"]:
                    want = "claim_revoked"
                elif not active[c["issuer"]]:
                    want = "issuer_removed"
                elif topic not in allowed[c["issuer"]]:
                    want = "topic_not_allowed"
                elif c["expiry"] <= height:
                    want = "claim_expired"
                else:
                    want = ""
                assert chain.query(registry, "check", [users[u], [topic]]) == want, (u, topic, c)
