"""The feedback contract: a party to a successful call rates the service once; every refusal has its
code; and over random rate attempts, a model of the rules agrees with the contract."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from vm.contracts import source
from vm.testing import Chain

SERVICE = '''
@public
def use(n: int) -> int:
    require(n >= 0, "negative")
    storage["last"] = n
    return n
'''


@pytest.fixture
def world():
    chain = Chain()
    admin, user, stranger = chain.account(), chain.account(), chain.account()
    feedback = chain.deploy(admin, source("feedback")).address
    service = chain.deploy(admin, SERVICE).address
    return chain, feedback, service, user, stranger


def use(chain, service, user, n=1):
    """A call of the service by `user`, committed in this block; its hash."""
    res = chain.call(user, service, "use", [n])
    assert res.ok is (n >= 0)
    return chain.last_tx


def rate(chain, feedback, rater, tx, score=5, comment="", comment_hash=b""):
    return chain.call(rater, feedback, "rate", [tx, score, comment, comment_hash])


def test_a_party_rates_a_settled_call_and_the_reputation_counts_it(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    res = rate(chain, feedback, user, tx, 4, "quick and cheap")
    assert res.ok, res.error
    digest = hashlib.sha256(b"quick and cheap").digest()
    assert [(e.name, e.data) for e in res.events] == [("Rated", [service, tx, user, 4, digest])]
    record = chain.query(feedback, "rating", [tx])
    assert record == {"service": service, "tx_hash": tx, "rater": user, "score": 4, "comment": "quick and cheap",
                      "comment_hash": digest, "tx_height": 1, "height": 2, "index": 0}
    assert chain.query(feedback, "reputation", [service]) == {
        "service": service, "count": 1, "sum": 4, "average_x100": 400, "distribution": [0, 0, 0, 1, 0]}
    assert chain.query(feedback, "ratings", [service, 0, 10]) == {"ratings": [record], "next": None, "count": 1}


def test_a_comment_hash_is_kept_as_given(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    h = b"\xab" * 32
    res = rate(chain, feedback, user, tx, 3, "", h)
    assert res.ok, res.error
    assert res.events[0].data[4] == h and chain.query(feedback, "rating", [tx])["comment"] == ""


def test_no_comment_at_all(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    res = chain.call(user, feedback, "rate", [tx, 1])
    assert res.ok, res.error
    assert res.events[0].data[4] == b""


def test_a_second_rating_for_the_same_tx_is_refused(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    assert rate(chain, feedback, user, tx, 5).ok
    assert rate(chain, feedback, user, tx, 1).error == "already_rated"
    assert chain.query(feedback, "reputation", [service])["count"] == 1


def test_a_stranger_is_not_a_party(world):
    chain, feedback, service, user, stranger = world
    tx = use(chain, service, user)
    chain.advance()
    assert rate(chain, feedback, stranger, tx).error == "not_a_party"


def test_unknown_and_not_yet_committed_txs_are_not_settled(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    assert rate(chain, feedback, user, tx).error == "not_settled"  # same block: not settled before it
    assert rate(chain, feedback, user, b"\x01" * 32).error == "not_settled"
    assert rate(chain, feedback, user, b"\x01" * 31).error == "not_settled"


def test_a_failed_tx_cannot_be_rated(world):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user, -1)
    chain.advance()
    assert rate(chain, feedback, user, tx).error == "tx_failed"


def test_only_a_contract_call_is_a_service(world):
    chain, feedback, service, user, _stranger = world
    transfer = chain.record(user, service, True, "transfer")
    deploy = chain.record(user, service, True, "deploy")
    first = use(chain, service, user)
    chain.advance()
    assert rate(chain, feedback, user, transfer).error == "not_a_service"
    assert rate(chain, feedback, user, deploy).error == "not_a_service"
    assert rate(chain, feedback, user, first).ok
    chain.advance()
    rating_tx = chain.last_tx  # the rating itself was a call, of the feedback contract
    assert rate(chain, feedback, user, rating_tx).error == "not_a_service"


@pytest.mark.parametrize("score", [0, 6, -1, 2**200])
def test_a_score_is_1_to_5(world, score):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    assert rate(chain, feedback, user, tx, score).error == "bad_score"


@pytest.mark.parametrize(("comment", "comment_hash"), [("x" * 281, b""), ("é" * 141, b""), ("", b"\x01" * 31),
                                                        ("", b"\x01" * 33), ("text", b"\x01" * 32)])
def test_a_comment_is_280_bytes_of_text_or_a_32_byte_hash(world, comment, comment_hash):
    chain, feedback, service, user, _stranger = world
    tx = use(chain, service, user)
    chain.advance()
    assert rate(chain, feedback, user, tx, 3, comment, comment_hash).error == "bad_comment"
    assert rate(chain, feedback, user, tx, 3, "x" * 280).ok  # the limit itself is fine


@pytest.mark.parametrize(("start", "limit"), [(-1, 10), (0, 0), (0, 101)])
def test_bad_pages_are_refused(world, start, limit):
    chain, feedback, service, _user, _stranger = world
    res = chain.vm.query(feedback, "ratings", [service, start, limit], 10_000_000)
    assert res.error == "bad_page"


def test_pages_resume_where_they_stopped(world):
    chain, feedback, service, user, _stranger = world
    txs = [use(chain, service, user, n) for n in range(5)]
    chain.advance()
    for i, tx in enumerate(txs):
        assert rate(chain, feedback, user, tx, i + 1).ok
    page = chain.query(feedback, "ratings", [service, 0, 2])
    assert [r["score"] for r in page["ratings"]] == [1, 2] and page["next"] == 2 and page["count"] == 5
    page = chain.query(feedback, "ratings", [service, 4, 2])
    assert [r["score"] for r in page["ratings"]] == [5] and page["next"] is None
    assert chain.query(feedback, "ratings", [service, 9, 2]) == {"ratings": [], "next": None, "count": 5}
    rep = chain.query(feedback, "reputation", [service])
    assert rep["average_x100"] == 300 and rep["distribution"] == [1, 1, 1, 1, 1]


# -- the model ---------------------------------------------------------------------------------

# An action: (who acts 0..2, what: "use" a service / "fail" a use / "rate" the k-th tx so far,
# which service 0..1, k, a score (mostly 1..5), whether a block passes first).
SCORE = st.one_of(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.sampled_from([-1, 0, 6]))
ACTION = st.tuples(st.integers(0, 2), st.sampled_from(["use", "use", "fail", "rate", "rate", "rate"]),
                   st.integers(0, 1), st.integers(0, 40), SCORE, st.booleans())


@settings(max_examples=100, deadline=None)
@given(st.lists(ACTION, min_size=1, max_size=40))
def test_only_parties_of_successful_txs_rate_once_each_and_reputation_is_the_model(actions):
    chain = Chain()
    admin = chain.account()
    users = [chain.account() for _ in range(3)]
    feedback = chain.deploy(admin, source("feedback")).address
    services = [chain.deploy(admin, SERVICE).address for _ in range(2)]
    txs: list[tuple[bytes, int, bytes, bool, int]] = []  # hash, sender index, service, ok, height
    rated: dict[bytes, int] = {}
    model = {s: [0, 0, 0, 0, 0] for s in services}
    for who, what, which, k, score, advance in actions:
        if advance:
            chain.advance()
        height = chain.vm.block.height
        if what in ("use", "fail"):
            res = chain.call(users[who], services[which], "use", [1 if what == "use" else -1])
            txs.append((chain.last_tx, who, services[which], res.ok, height))
            continue
        if not txs:
            continue
        tx_hash, sender, service, ok, tx_height = txs[k % len(txs)]
        res = rate(chain, feedback, users[who], tx_hash, score)
        if not 1 <= score <= 5:
            expected = "bad_score"
        elif tx_height >= height:
            expected = "not_settled"
        elif who != sender:
            expected = "not_a_party"
        elif not ok:
            expected = "tx_failed"
        elif tx_hash in rated:
            expected = "already_rated"
        else:
            expected = ""
        assert res.error == expected
        event(f"rate: {expected or 'ok'}")
        if res.ok:
            rated[tx_hash] = score
            model[service][score - 1] += 1
    for s in services:
        rep = chain.query(feedback, "reputation", [s])
        dist = model[s]
        count = sum(dist)
        total = sum((i + 1) * n for i, n in enumerate(dist))
        assert rep == {"service": s, "count": count, "sum": total, "distribution": dist,
                       "average_x100": total * 100 // count if count else 0}
        listed = chain.query(feedback, "ratings", [s, 0, 100])["ratings"]
        assert sorted(r["tx_hash"] for r in listed) == sorted(h for h, _w, sv, _ok, _h in txs
                                                               if sv == s and h in rated)
        assert all(r["score"] == rated[r["tx_hash"]] for r in listed)
        # Every rater was the sender of the transaction it rated, and the transaction succeeded.
        senders = {h: (users[w], ok) for h, w, _sv, ok, _h in txs}
        assert all(senders[r["tx_hash"]] == (r["rater"], True) for r in listed)
