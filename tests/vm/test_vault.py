"""The ERC-4626 vault over the lending market: every method, every reason code, interest, gifts,
liquidity limits, third-party owners and the identity requirement."""

from __future__ import annotations

import hashlib

import pytest

from tests.vm.lending_world import make_world
from tests.vm.vault_world import EXP, MAX_UINT, VIRTUAL, ceil_div, deploy_vault, make_vault_world
from vm.contracts import source
from vm.values import ZERO_ADDRESS

E18 = 10**18
MAX_AMOUNT = 2**128 - 1


@pytest.fixture
def vw():
    return make_vault_world()


def names(res) -> list[str]:
    return [e.name for e in res.events]


def test_the_vault_describes_itself_and_starts_empty(vw):
    assert vw.q("asset") == vw.asset and vw.q("lending") == vw.w.lending
    assert (vw.q("name"), vw.q("symbol"), vw.q("decimals")) == ("Vault A", "vA", 18 + 6)
    assert vw.q("total_assets") == 0 and vw.q("total_supply") == 0
    assert vw.q("share_price") == EXP
    # Empty: one asset unit is worth the virtual shares, 10**offset of them.
    assert vw.q("convert_to_shares", [5]) == 5 * VIRTUAL and vw.q("convert_to_assets", [5 * VIRTUAL]) == 5
    assert vw.q("admin") == vw.w.admin and vw.q("requirement") == {}
    assert vw.q("max_deposit", [vw.users[0]]) == MAX_AMOUNT == vw.q("max_mint", [vw.users[0]])
    assert vw.q("max_withdraw", [vw.users[0]]) == 0 == vw.q("max_redeem", [vw.users[0]])
    # The vault approved the market once, for good.
    assert vw.chain.query(vw.asset, "allowance", [vw.vault, vw.w.lending]) == MAX_UINT


def test_the_offset_is_bounded():
    w = make_world(n_users=1)
    assert deploy_vault(w, w.tokens["A"], 19).error == "bad_offset"
    assert deploy_vault(w, w.tokens["A"], -1).error == "bad_offset"


def test_deposit_supplies_the_market_and_mints_the_previewed_shares(vw):
    alice, bob = vw.users[:2]
    before = vw.assets_of(alice)
    shares = vw.q("preview_deposit", [1000 * E18])
    res = vw.call(alice, "deposit", [1000 * E18, bob])
    assert res.ok and res.output == shares == 1000 * E18 * VIRTUAL
    assert names(res)[:2] == ["Transfer", "Deposit"] and "Supply" in names(res)
    dep = res.events[1]
    assert list(dep.data) == [alice, bob, 1000 * E18, shares]
    assert vw.shares_of(bob) == shares and vw.shares_of(alice) == 0
    assert vw.assets_of(alice) == before - 1000 * E18 and vw.assets_of(vw.vault) == 0
    assert vw.w.q("supply_balance", [vw.asset, vw.vault]) == 1000 * E18 == vw.q("total_assets")
    info = vw.q("info")
    assert info["supplied"] == 1000 * E18 and info["idle"] == 0 and info["total_supply"] == shares


def test_mint_charges_the_previewed_assets_for_exact_shares(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [10 * E18, alice])
    vw.borrow(5 * E18)
    vw.chain.advance(20)
    shares = 3 * E18 * VIRTUAL + 7
    cost = vw.q("preview_mint", [shares])
    # Up: the cost is never below what the shares are worth.
    assert cost >= ceil_div(shares * (vw.q("total_assets") + 1), vw.q("total_supply") + VIRTUAL)
    before = vw.assets_of(alice)
    res = vw.call(alice, "mint", [shares, alice])
    assert res.ok and res.output == cost and vw.assets_of(alice) == before - cost
    assert vw.shares_of(alice) == 10 * E18 * VIRTUAL + shares


def test_withdraw_pays_exact_assets_and_burns_the_previewed_shares(vw):
    alice, carol = vw.users[0], vw.users[2]
    vw.do(alice, "deposit", [100 * E18, alice])
    vw.borrow(40 * E18)
    vw.chain.advance(10)
    burn = vw.q("preview_withdraw", [30 * E18])
    held = vw.shares_of(alice)
    before = vw.assets_of(carol)
    res = vw.call(alice, "withdraw", [30 * E18, carol, alice])
    assert res.ok and res.output == burn
    assert names(res)[:2] == ["Transfer", "Withdraw"]
    assert list(res.events[1].data) == [alice, carol, alice, 30 * E18, burn]
    assert vw.assets_of(carol) == before + 30 * E18 and vw.shares_of(alice) == held - burn
    # Interest made each share worth more: fewer shares than at par.
    assert burn < 30 * E18 * VIRTUAL


def test_redeem_burns_exact_shares_and_pays_the_previewed_assets(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [100 * E18, alice])
    vw.borrow(50 * E18)
    vw.chain.advance(50)
    vw.w.do(vw.borrower, "repay", [vw.asset, MAX_UINT])  # the market has the cash again, with interest
    held = vw.shares_of(alice)
    pay = vw.q("preview_redeem", [held])
    assert pay <= vw.q("convert_to_assets", [held])
    before = vw.assets_of(alice)
    res = vw.call(alice, "redeem", [held, alice, alice])
    assert res.ok and res.output == pay and vw.assets_of(alice) == before + pay
    assert pay > 100 * E18  # interest earned
    assert vw.q("total_supply") == 0 and vw.shares_of(alice) == 0


def test_interest_raises_the_share_price_and_total_assets(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [100 * E18, alice])
    vw.borrow(60 * E18)
    p0, t0 = vw.q("share_price"), vw.q("total_assets")
    vw.chain.advance(100)
    assert vw.q("total_assets") > t0 and vw.q("share_price") > p0
    # The views bring interest to now without a transaction; the stored market did not move.
    assert vw.w.q("market", [vw.asset])["borrows"] == 60 * E18


def test_a_gift_to_the_vault_is_idle_cash_that_withdrawals_use_first(vw):
    alice, bob = vw.users[:2]
    vw.do(alice, "deposit", [100 * E18, alice])
    vw.chain.must(bob, vw.asset, "transfer", [vw.vault, 10 * E18])
    assert vw.q("total_assets") == 110 * E18 and vw.q("info")["idle"] == 10 * E18
    ctokens = vw.w.q("ctoken_balance", [vw.asset, vw.vault])
    res = vw.call(alice, "withdraw", [4 * E18, alice, alice])
    assert res.ok and "Redeem" not in names(res)
    assert vw.w.q("ctoken_balance", [vw.asset, vw.vault]) == ctokens
    res = vw.call(alice, "withdraw", [10 * E18, alice, alice])
    assert res.ok and "Redeem" in names(res) and vw.q("info")["idle"] == 0


def test_amount_and_recipient_checks(vw):
    alice = vw.users[0]
    for method, args in (("deposit", [0, alice]), ("deposit", [MAX_AMOUNT + 1, alice]), ("mint", [0, alice]),
                         ("withdraw", [0, alice, alice]), ("redeem", [0, alice, alice])):
        vw.fails(alice, method, args, "bad_amount")
    for method in ("preview_deposit", "preview_mint", "preview_withdraw", "preview_redeem"):
        assert vw.chain.vm.query(vw.vault, method, [0], 10**7).error == "bad_amount"
    for method, args in (("deposit", [E18, ZERO_ADDRESS]), ("mint", [E18, ZERO_ADDRESS]),
                         ("withdraw", [1, ZERO_ADDRESS, alice]), ("redeem", [1, ZERO_ADDRESS, alice]),
                         ("transfer", [ZERO_ADDRESS, 0]), ("approve", [ZERO_ADDRESS, 1])):
        vw.fails(alice, method, args, "bad_recipient")
    vw.fails(alice, "approve", [vw.users[1], -1], "bad_amount")
    vw.fails(alice, "transfer", [vw.users[1], -1], "bad_amount")


def test_a_depositor_without_assets_or_approval_gets_the_asset_reason(vw):
    stranger = vw.chain.account()
    vw.fails(stranger, "deposit", [E18, stranger], "insufficient allowance")
    vw.chain.must(stranger, vw.asset, "approve", [vw.vault, MAX_UINT])
    vw.fails(stranger, "deposit", [E18, stranger], "insufficient balance")


def test_shares_beyond_the_balance_and_allowance_are_refused(vw):
    alice, bob = vw.users[:2]
    vw.do(alice, "deposit", [10 * E18, alice])
    vw.fails(alice, "withdraw", [11 * E18, alice, alice], "insufficient_shares")
    vw.fails(alice, "redeem", [vw.shares_of(alice) + 1, alice, alice], "insufficient_shares")
    vw.fails(bob, "withdraw", [E18, bob, alice], "insufficient_share_allowance")
    vw.fails(bob, "redeem", [1, bob, alice], "insufficient_share_allowance")
    assert vw.chain.vm.query(vw.vault, "preview_withdraw", [11 * E18], 10**7).error == "insufficient_shares"


def test_a_third_party_withdraws_and_redeems_with_a_share_allowance(vw):
    alice, bob = vw.users[:2]
    vw.do(alice, "deposit", [10 * E18, alice])
    need = vw.q("preview_withdraw", [E18])
    vw.do(alice, "approve", [bob, need + 5])
    res = vw.call(bob, "withdraw", [E18, bob, alice])
    assert res.ok and list(res.events[1].data) == [bob, bob, alice, E18, need]
    assert vw.q("allowance", [alice, bob]) == 5
    vw.fails(bob, "redeem", [6, bob, alice], "insufficient_share_allowance")
    vw.do(alice, "approve", [bob, MAX_UINT])
    vw.do(bob, "redeem", [E18 * VIRTUAL, bob, alice])
    assert vw.q("allowance", [alice, bob]) == MAX_UINT  # infinite stays infinite


def test_the_market_lacking_cash_refuses_with_insufficient_liquidity(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [100 * E18, alice])
    cash = vw.market()["cash"]
    vw.borrow(cash - 20 * E18)  # the market keeps 20 coins
    assert vw.q("max_withdraw", [alice]) == 20 * E18
    vw.fails(alice, "withdraw", [21 * E18, alice, alice], "insufficient_liquidity")
    vw.fails(alice, "redeem", [vw.shares_of(alice), alice, alice], "insufficient_liquidity")
    most = vw.q("max_redeem", [alice])
    assert 0 < most < vw.shares_of(alice)
    assert vw.q("preview_redeem", [most]) <= 20 * E18
    vw.do(alice, "redeem", [most, alice, alice])
    assert vw.q("max_withdraw", [alice]) <= vw.market()["cash"]
    # Once the loan is repaid, the rest comes out.
    vw.w.do(vw.borrower, "repay", [vw.asset, MAX_UINT])
    assert vw.q("max_redeem", [alice]) == vw.shares_of(alice)
    vw.do(alice, "withdraw", [vw.q("max_withdraw", [alice]), alice, alice])


def test_a_vault_over_an_unlisted_market_refuses_until_the_admin_lists_it():
    w = make_world(n_users=1, list_b=False)
    res = deploy_vault(w, w.tokens["B"])
    assert res.ok, res.error
    vault, user = res.address, w.users[0]
    w.chain.must(user, w.tokens["B"], "approve", [vault, MAX_UINT])
    res = w.chain.call(user, vault, "deposit", [E18, user])
    assert res.error == "market_not_listed"
    assert w.chain.vm.query(vault, "mint", [E18, user], 10**7).error == "market_not_listed"
    # The views still answer: nothing is in the market, only gifts count.
    assert w.chain.query(vault, "max_deposit", [user]) == 0 == w.chain.query(vault, "max_withdraw", [user])
    w.chain.must(user, w.tokens["B"], "transfer", [vault, 5])
    info = w.chain.query(vault, "info")
    assert w.chain.query(vault, "total_assets") == 5 and info["market_cash"] == 0 and info["listed"] is False
    from tests.vm.lending_world import CFS, list_args

    w.do(w.admin, "list_market", list_args(w.tokens["B"], CFS["B"]))
    assert w.chain.call(user, vault, "deposit", [E18, user]).ok


def test_a_dust_deposit_rounding_to_zero_shares_is_refused():
    # Offset 0 and a gift: one share is worth more than the deposit.
    vw = make_vault_world(offset=0)
    alice, bob = vw.users[:2]
    vw.do(alice, "deposit", [1, alice])
    vw.chain.must(alice, vw.asset, "transfer", [vw.vault, 10 * E18])
    vw.fails(bob, "deposit", [E18, bob], "zero_shares")
    assert vw.q("preview_deposit", [E18]) == 0


def test_redeeming_dust_that_pays_nothing_is_refused(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [E18, alice])
    assert vw.q("preview_redeem", [1]) == 0
    vw.fails(alice, "redeem", [1, alice, alice], "zero_assets")


def test_share_transfers_are_erc20(vw):
    alice, bob, carol = vw.users
    vw.do(alice, "deposit", [E18, alice])
    res = vw.call(alice, "transfer", [bob, 400])
    assert res.ok and res.output is True and names(res) == ["Transfer"]
    assert list(res.events[0].data) == [alice, bob, 400]
    vw.fails(bob, "transfer", [carol, 401], "insufficient_shares")
    res = vw.call(bob, "approve", [carol, 300])
    assert names(res) == ["Approval"] and vw.q("allowance", [bob, carol]) == 300
    vw.fails(carol, "transfer_from", [bob, carol, 301], "insufficient_share_allowance")
    vw.fails(bob, "transfer_from", [bob, carol, 1], "insufficient_share_allowance")  # ERC-20: even one's own
    vw.do(carol, "transfer_from", [bob, carol, 300])
    assert (vw.shares_of(bob), vw.shares_of(carol), vw.q("allowance", [bob, carol])) == (100, 300, 0)
    vw.do(alice, "transfer", [alice, 5])  # to oneself: unchanged
    assert vw.shares_of(alice) == E18 * VIRTUAL - 400


def test_only_the_admin_sets_the_requirement_and_hands_over(vw):
    alice = vw.users[0]
    vw.fails(alice, "set_requirement", [vw.w.admin, ["kyc.basic"]], "not_admin")
    vw.fails(vw.w.admin, "set_requirement", [vw.w.admin, ["t"] * 9], "bad_topics")
    vw.fails(alice, "transfer_admin", [alice], "not_admin")
    vw.fails(vw.w.admin, "transfer_admin", [ZERO_ADDRESS], "bad_recipient")
    res = vw.call(vw.w.admin, "transfer_admin", [alice])
    assert res.ok and names(res) == ["AdminChanged"] and vw.q("admin") == alice


def _ref(n: int) -> bytes:
    return hashlib.sha256(b"vault-ref" + n.to_bytes(4, "big")).digest()


def test_the_identity_requirement_gates_entry_and_receipt_never_exit(vw):
    c = vw.chain
    alice, bob, carol = vw.users
    issuer = c.account()
    registry = c.deploy(vw.w.admin, source("identity"), [[issuer], ["kyc.basic"]]).address
    for n, who in enumerate((alice, carol)):
        c.must(issuer, registry, "attest", [who, "kyc.basic", "verified", bytes(32), 10**6, _ref(n)])
    res = vw.call(vw.w.admin, "set_requirement", [registry, ["kyc.basic"]])
    assert res.ok and names(res) == ["RequirementSet"]
    assert vw.q("requirement") == {"registry": registry, "topics": ["kyc.basic"]}
    vw.fails(bob, "deposit", [E18, bob], "not_verified")
    vw.fails(bob, "deposit", [E18, alice], "not_verified")  # the sender too
    vw.fails(alice, "deposit", [E18, bob], "not_verified")  # and the receiver
    vw.fails(bob, "mint", [E18, bob], "not_verified")
    assert vw.q("max_deposit", [bob]) == 0 and vw.q("max_mint", [alice]) == MAX_AMOUNT
    vw.do(alice, "deposit", [10 * E18, alice])
    vw.fails(alice, "transfer", [bob, 1], "not_verified")
    vw.do(alice, "transfer", [carol, 10])
    # A revoked claim never locks anyone in: leaving needs nothing, to any receiver.
    c.must(issuer, registry, "revoke", [alice, "kyc.basic", "review"])
    vw.fails(alice, "deposit", [E18, alice], "claim_revoked")
    vw.do(alice, "withdraw", [E18, bob, alice])
    vw.do(alice, "redeem", [vw.shares_of(alice), alice, alice])
    vw.do(vw.w.admin, "set_requirement", [registry, []])  # lifted
    assert vw.q("requirement") == {}
    vw.do(bob, "deposit", [E18, bob])


def test_max_views_match_what_goes_through(vw):
    alice, bob = vw.users[:2]
    vw.do(alice, "deposit", [50 * E18, alice])
    vw.do(bob, "deposit", [30 * E18, bob])
    vw.borrow(20 * E18)
    vw.chain.advance(30)
    most = vw.q("max_withdraw", [alice])
    assert most == vw.q("preview_redeem", [vw.shares_of(alice)])
    vw.fails(alice, "withdraw", [most + 1, alice, alice], "insufficient_shares")
    assert vw.q("max_redeem", [alice]) == vw.shares_of(alice)
    vw.do(alice, "withdraw", [most, alice, alice])
    # What is left is dust: the market's rounding of the burn, worth at most a unit or two.
    assert vw.q("convert_to_assets", [vw.shares_of(alice)]) <= 2


def test_gas_of_a_deposit_and_a_redeem(vw):
    alice = vw.users[0]
    vw.do(alice, "deposit", [E18, alice])
    vw.do(alice, "deposit", [E18, alice])
    vw.do(alice, "redeem", [E18, alice, alice])
    # Bounded so that a change in cost shows up here (README Numbers has the measured values).
    assert vw.gas["deposit"] < 250_000 and vw.gas["redeem"] < 250_000


def test_the_markets_rounding_never_lowers_the_share_price(vw):
    """At an odd exchange rate the market's mints round down and its burns up, so deposits add a
    little less than their amount and withdrawals take a little more: the vault prices on that."""
    alice = vw.users[0]
    vw.do(alice, "deposit", [10**22, alice])
    vw.borrow(5 * 10**21 + 123_456_789)
    vw.chain.advance(37)
    assert vw.market()["exchange_rate"] % 10**6 != 0  # odd
    dearer = cheaper = 0
    num, den = vw.price()
    for k in range(30):
        total = vw.q("total_assets")
        amount = 10**17 + k * 7_919_000_000_007
        method = "withdraw" if k % 2 else "deposit"
        vw.do(alice, method, [amount, alice, alice] if k % 2 else [amount, alice])
        change = abs(vw.q("total_assets") - total)
        dearer += method == "withdraw" and change > amount
        cheaper += method == "deposit" and change < amount
        n, d = vw.price()
        assert n * den >= num * d, (k, method)
        num, den = n, d
    assert dearer > 0 and cheaper > 0  # the cases this test is about did occur
