"""The payments contract: exact and minimum modes, one and two hops, the same token, every reason code
(each refusal moves nothing), gated pools through the trusted router, travel-rule corridors."""

from __future__ import annotations

import hashlib

from tests.vm.payments_world import UNIT, balances, make_world, pay_args, reserves, verify
from tests.vm.swap_world import ref_in, ref_out

RATE_SCALE = 10**18


def run(w, sender, args):
    return w.chain.call(sender, w.pay, "pay", args)


def refused(w, sender, args, reason):
    before = (balances(w), reserves(w))
    res = run(w, sender, args)
    assert not res.ok
    assert res.error == reason
    assert not res.events
    assert (balances(w), reserves(w)) == before
    return res


def event(res):
    found = [e for e in res.events if e.name == "PathPayment"]
    assert len(found) == 1
    return list(found[0].data)


def test_one_hop_minimum_mode_spends_exactly_send_max_and_reports_everything():
    w = make_world()
    a, b = w.tokens[0], w.tokens[1]
    alice, bob = w.users[0], w.users[1]
    expected = ref_out(10 * UNIT, 1000 * UNIT, 2000 * UNIT)
    before = balances(w)
    res = run(w, alice, pay_args(bob, a, b, 10 * UNIT, deliver_min=expected, memo=b"invoice 7"))
    assert res.ok, res.error
    out = res.output
    assert out["delivered_amount"] == expected
    assert out["spent"] == 10 * UNIT
    assert out["rate"] == expected * RATE_SCALE // (10 * UNIT)
    assert list(out["path"]) == [a, b]
    after = balances(w)
    assert after[(bytes(a), bytes(alice))] == before[(bytes(a), bytes(alice))] - 10 * UNIT
    assert after[(bytes(b), bytes(bob))] == before[(bytes(b), bytes(bob))] + expected
    assert after[(bytes(a), bytes(w.pay))] == 0 and after[(bytes(b), bytes(w.pay))] == 0
    ev = event(res)
    assert ev[0] == alice and ev[1] == bob and ev[2] == a and ev[3] == b
    assert ev[4:7] == [expected, 10 * UNIT, out["rate"]]
    assert list(ev[7]) == [a, b] and ev[8] == b"invoice 7" and ev[9] == b""
    assert w.chain.query(w.pay, "payment_count", []) == 1


def test_two_hop_exact_mode_delivers_exactly_and_spends_what_the_formula_says():
    w = make_world()
    a, b, c = w.tokens[:3]
    alice, bob = w.users[0], w.users[1]
    want = 7 * UNIT
    mid = ref_in(want, 3000 * UNIT, 1500 * UNIT)
    cost = ref_in(mid, 1000 * UNIT, 2000 * UNIT)
    before = balances(w)
    res = run(w, alice, pay_args(bob, a, c, cost, deliver_amount=want, path=[a, b, c]))
    assert res.ok, res.error
    assert res.output["delivered_amount"] == want and res.output["spent"] == cost
    assert list(res.output["amounts"]) == [cost, mid, want]
    after = balances(w)
    assert after[(bytes(c), bytes(bob))] - before[(bytes(c), bytes(bob))] == want
    assert before[(bytes(a), bytes(alice))] - after[(bytes(a), bytes(alice))] == cost
    # one unit less than needed is over the maximum
    refused(w, alice, pay_args(bob, a, c, cost - 1, deliver_amount=want, path=[a, b, c]), "over_send_max")


def test_same_token_is_a_plain_transfer_in_both_modes():
    w = make_world()
    a = w.tokens[0]
    alice, bob = w.users[0], w.users[1]
    before = balances(w)
    res = run(w, alice, pay_args(bob, a, a, 5 * UNIT, deliver_min=5 * UNIT))
    assert res.ok, res.error
    assert res.output["delivered_amount"] == 5 * UNIT and res.output["rate"] == RATE_SCALE
    res = run(w, alice, pay_args(bob, a, a, 9 * UNIT, deliver_amount=3 * UNIT))
    assert res.ok and res.output["spent"] == 3 * UNIT
    after = balances(w)
    assert after[(bytes(a), bytes(bob))] - before[(bytes(a), bytes(bob))] == 8 * UNIT
    refused(w, alice, pay_args(bob, a, a, 2 * UNIT, deliver_amount=3 * UNIT), "over_send_max")
    refused(w, alice, pay_args(bob, a, a, 2 * UNIT, deliver_min=3 * UNIT), "under_deliver_min")


def test_reason_codes_of_bad_input():
    w = make_world()
    a, b, c, usd = w.tokens
    alice, bob = w.users[0], w.users[1]
    h = w.chain.vm.block.height
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1, deadline=h - 1), "expired")
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=10 * UNIT), "under_deliver_min")
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_amount=10 * UNIT), "over_send_max")
    refused(w, alice, pay_args(bob, a, b, 0, deliver_min=1), "bad_amount")
    refused(w, alice, pay_args(bob, a, b, UNIT), "bad_amount")
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1, memo=b"x" * 257), "memo_too_long")
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1, travel_ref=b"short"), "bad_travel_ref")
    refused(w, alice, pay_args(w.pay, a, b, UNIT, deliver_min=1), "bad_recipient")
    refused(w, alice, pay_args(w.swap, a, b, UNIT, deliver_min=1), "bad_recipient")
    refused(w, alice, pay_args(bob, a, c, UNIT, deliver_min=1, path=[a, b, a, c]), "bad_path")
    refused(w, alice, pay_args(bob, a, c, UNIT, deliver_min=1, path=[b, c]), "bad_path")
    refused(w, alice, pay_args(bob, a, c, UNIT, deliver_min=1, path=[a, b, c, usd, a]), "bad_path")
    refused(w, alice, pay_args(bob, b, usd, UNIT, deliver_min=1), "no_path")  # no b/usd pool
    assert w.chain.call(alice, w.pay, "pause", []).error == "not_admin"
    assert w.chain.call(alice, w.pay, "set_corridor", [a, b, 1, True]).error == "not_admin"
    assert w.chain.call(alice, w.pay, "set_encryption_key", [b"\x05" * 33]).error == "bad_key"


def test_paused_contract_paused_coin_and_blacklisted_recipient():
    w = make_world()
    a, usd = w.tokens[0], w.tokens[3]
    alice, bob = w.users[0], w.users[1]
    w.chain.must(w.admin, w.pay, "pause", [])
    refused(w, alice, pay_args(bob, a, usd, UNIT, deliver_min=1), "paused")
    w.chain.must(w.admin, w.pay, "unpause", [])
    w.chain.must(w.admin, usd, "pause", [])
    refused(w, alice, pay_args(bob, a, usd, UNIT, deliver_min=1), "path_paused")
    w.chain.must(w.admin, usd, "unpause", [])
    w.chain.must(w.admin, usd, "blacklist", [bob])
    refused(w, alice, pay_args(bob, a, usd, UNIT, deliver_min=1), "blacklisted")
    refused(w, alice, pay_args(bob, usd, usd, UNIT, deliver_min=1), "blacklisted")
    assert run(w, alice, pay_args(w.users[2], a, usd, UNIT, deliver_min=1)).ok


def test_gated_pool_checks_the_original_sender_and_the_recipient_not_the_router():
    w = make_world()
    a, b = w.tokens[0], w.tokens[1]
    alice, bob = w.users[0], w.users[1]
    w.chain.must(w.admin, w.swap, "set_requirement", [a, b, w.registry, ["kyc.basic"]])
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1), "not_verified")
    verify(w, alice)
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1), "not_verified")  # bob is not
    verify(w, bob)
    assert run(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1)).ok
    # an unverified sender cannot use a verified recipient, nor the other way round
    refused(w, w.users[2], pay_args(bob, a, b, UNIT, deliver_min=1), "not_verified")
    refused(w, alice, pay_args(w.users[2], a, b, UNIT, deliver_min=1), "not_verified")
    # without the router trust the pool would ask about the payments contract itself
    w.chain.must(w.admin, w.swap, "set_router", [w.pay, False])
    refused(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1), "not_verified")
    assert w.chain.call(alice, w.swap, "set_router", [alice, True]).error == "not_admin"


def test_travel_rule_corridor_needs_a_ref_at_or_above_the_threshold():
    w = make_world()
    a, b = w.tokens[0], w.tokens[1]
    alice, bob = w.users[0], w.users[1]
    w.chain.must(w.admin, w.pay, "set_corridor", [a, b, 100 * UNIT, True])
    assert w.chain.query(w.pay, "corridor", [a, b]) == {"threshold": 100 * UNIT, "travel_required": True}
    assert run(w, alice, pay_args(bob, a, b, 99 * UNIT, deliver_min=1)).ok  # under the threshold
    refused(w, alice, pay_args(bob, a, b, 100 * UNIT, deliver_min=1), "travel_rule_required")
    want = 300 * UNIT
    refused(w, alice, pay_args(bob, a, b, 500 * UNIT, deliver_amount=want), "travel_rule_required")
    ref = hashlib.sha256(b"ciphertext").digest()
    res = run(w, alice, pay_args(bob, a, b, 100 * UNIT, deliver_min=1, travel_ref=ref))
    assert res.ok, res.error
    assert event(res)[9] == ref
    # the other direction is a corridor of its own, not gated
    assert run(w, alice, pay_args(bob, b, a, 200 * UNIT, deliver_min=1)).ok
    w.chain.must(w.admin, w.pay, "set_corridor", [a, b, 0, False])
    assert run(w, alice, pay_args(bob, a, b, 100 * UNIT, deliver_min=1)).ok


def test_encryption_keys_are_published_by_their_owner():
    w = make_world()
    alice = w.users[0]
    key = b"\x02" + bytes(range(32))
    w.chain.must(alice, w.pay, "set_encryption_key", [key])
    assert w.chain.query(w.pay, "encryption_key", [alice]) == key
    assert w.chain.query(w.pay, "encryption_key", [w.users[1]]) == b""
    w.chain.must(alice, w.pay, "set_encryption_key", [b""])
    assert w.chain.query(w.pay, "encryption_key", [alice]) == b""


def test_gas_per_payment_is_bounded():
    w = make_world()
    a, b, c = w.tokens[:3]
    alice, bob = w.users[0], w.users[1]
    one = run(w, alice, pay_args(bob, a, b, UNIT, deliver_min=1))
    two = run(w, alice, pay_args(bob, a, c, UNIT, deliver_min=1, path=[a, b, c]))
    same = run(w, alice, pay_args(bob, a, a, UNIT, deliver_min=1))
    assert one.ok and two.ok and same.ok
    assert same.gas_used < one.gas_used < two.gas_used < 2_000_000
