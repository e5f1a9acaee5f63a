"""Unit tests of the standard Token contract (vm/contracts/token.py): every method and every revert."""

import pytest

from vm.testing import Chain, load_contract

SUPPLY = 1_000_000 * 10**18
MAX_UINT = 2**256 - 1


@pytest.fixture
def chain():
    return Chain()


@pytest.fixture
def alice(chain):
    return chain.account(balance=10**24)


@pytest.fixture
def bob(chain):
    return chain.account(balance=10**24)


@pytest.fixture
def carol(chain):
    return chain.account(balance=10**24)


@pytest.fixture
def zero(alice):
    return type(alice)(bytes(20))


@pytest.fixture
def tok(chain, alice):
    res = chain.deploy(alice, load_contract("token"), ["Gold", "GLD", 18, SUPPLY])
    assert res.ok, res.error
    return res.address


def events(res, name=None):
    return [(e.name, list(e.data)) for e in res.events if name is None or e.name == name]


def state(chain, tok, accounts):
    """Everything a token call can change, read through the views."""
    return {
        "supply": chain.query(tok, "total_supply", []),
        "paused": chain.query(tok, "paused", []),
        "balances": [chain.query(tok, "balance_of", [a]) for a in accounts],
        "allowances": [chain.query(tok, "allowance", [a, b]) for a in accounts for b in accounts],
        "roles": [chain.query(tok, "has_role", [r, a]) for r in ("admin", "minter", "pauser") for a in accounts],
    }


def fails(chain, sender, tok, method, args, reason, accounts):
    """The call reverts with `reason`, emits nothing and leaves every piece of token state as it was."""
    before = state(chain, tok, accounts)
    res = chain.call(sender, tok, method, args)
    assert not res.ok
    assert res.error == reason
    assert not res.events
    assert state(chain, tok, accounts) == before


# ---- constructor and views ----


def test_constructor_sets_metadata_supply_and_roles(chain, alice, bob, zero):
    res = chain.deploy(alice, load_contract("token"), ["Gold", "GLD", 18, SUPPLY])
    assert res.ok, res.error
    tok = res.address
    assert chain.query(tok, "name", []) == "Gold"
    assert chain.query(tok, "symbol", []) == "GLD"
    assert chain.query(tok, "decimals", []) == 18
    assert chain.query(tok, "total_supply", []) == SUPPLY
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY
    assert chain.query(tok, "balance_of", [bob]) == 0
    assert chain.query(tok, "paused", []) is False
    for role in ("admin", "minter", "pauser"):
        assert chain.query(tok, "has_role", [role, alice]) is True
        assert chain.query(tok, "has_role", [role, bob]) is False
    assert events(res) == [
        ("RoleGranted", ["admin", alice, alice]),
        ("RoleGranted", ["minter", alice, alice]),
        ("RoleGranted", ["pauser", alice, alice]),
        ("Transfer", [zero, alice, SUPPLY]),
    ]
    assert all(e.address == tok for e in res.events)


def test_constructor_accepts_zero_supply(chain, alice):
    res = chain.deploy(alice, load_contract("token"), ["Empty", "E", 0, 0])
    assert res.ok, res.error
    assert chain.query(res.address, "total_supply", []) == 0
    assert chain.query(res.address, "decimals", []) == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["Gold", "GLD", 18, -1], "amount must not be negative"),
        (["Gold", "GLD", -1, 10], "invalid decimals"),
        (["Gold", "GLD", 78, 10], "invalid decimals"),
    ],
)
def test_constructor_rejects_bad_arguments(chain, alice, args, reason):
    res = chain.deploy(alice, load_contract("token"), args)
    assert not res.ok
    assert res.error == reason


def test_allowance_and_role_of_strangers_default_to_empty(chain, tok, bob, carol):
    assert chain.query(tok, "allowance", [bob, carol]) == 0
    assert chain.query(tok, "has_role", ["minter", carol]) is False
    assert chain.query(tok, "has_role", ["no such role", carol]) is False


# ---- transfer ----


def test_transfer_moves_tokens_and_emits(chain, tok, alice, bob):
    res = chain.call(alice, tok, "transfer", [bob, 250])
    assert res.ok, res.error
    assert res.output is True
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY - 250
    assert chain.query(tok, "balance_of", [bob]) == 250
    assert chain.query(tok, "total_supply", []) == SUPPLY
    assert events(res) == [("Transfer", [alice, bob, 250])]
    assert res.events[0].address == tok


def test_transfer_whole_balance_and_zero_amount(chain, tok, alice, bob):
    chain.must(alice, tok, "transfer", [bob, 7])
    res = chain.call(bob, tok, "transfer", [alice, 7])
    assert res.ok, res.error
    assert chain.query(tok, "balance_of", [bob]) == 0
    res = chain.call(bob, tok, "transfer", [alice, 0])
    assert res.ok, res.error
    assert events(res) == [("Transfer", [bob, alice, 0])]
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY


def test_transfer_to_self_keeps_balance(chain, tok, alice):
    res = chain.call(alice, tok, "transfer", [alice, 100])
    assert res.ok, res.error
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY
    assert events(res) == [("Transfer", [alice, alice, 100])]


def test_transfer_reverts(chain, tok, alice, bob, carol, zero):
    accounts = [alice, bob, carol]
    chain.must(alice, tok, "transfer", [bob, 10])
    fails(chain, bob, tok, "transfer", [carol, 11], "insufficient balance", accounts)
    fails(chain, carol, tok, "transfer", [bob, 1], "insufficient balance", accounts)
    fails(chain, bob, tok, "transfer", [carol, -1], "amount must not be negative", accounts)
    fails(chain, bob, tok, "transfer", [zero, 1], "transfer to the zero address", accounts)


# ---- approve and transfer_from ----


def test_approve_sets_and_overwrites_allowance(chain, tok, alice, bob):
    res = chain.call(alice, tok, "approve", [bob, 500])
    assert res.ok, res.error
    assert res.output is True
    assert events(res) == [("Approval", [alice, bob, 500])]
    assert chain.query(tok, "allowance", [alice, bob]) == 500
    assert chain.query(tok, "allowance", [bob, alice]) == 0
    chain.must(alice, tok, "approve", [bob, 3])
    assert chain.query(tok, "allowance", [alice, bob]) == 3
    chain.must(alice, tok, "approve", [bob, 0])
    assert chain.query(tok, "allowance", [alice, bob]) == 0


def test_approve_reverts(chain, tok, alice, bob, carol, zero):
    accounts = [alice, bob, carol]
    fails(chain, alice, tok, "approve", [bob, -5], "amount must not be negative", accounts)
    fails(chain, alice, tok, "approve", [zero, 5], "approve to the zero address", accounts)


def test_transfer_from_spends_allowance(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "approve", [bob, 100])
    res = chain.call(bob, tok, "transfer_from", [alice, carol, 60])
    assert res.ok, res.error
    assert res.output is True
    assert events(res) == [("Transfer", [alice, carol, 60])]
    assert chain.query(tok, "allowance", [alice, bob]) == 40
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY - 60
    assert chain.query(tok, "balance_of", [carol]) == 60
    chain.must(bob, tok, "transfer_from", [alice, bob, 40])
    assert chain.query(tok, "allowance", [alice, bob]) == 0
    assert chain.query(tok, "balance_of", [bob]) == 40


def test_transfer_from_infinite_allowance_is_not_spent(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "approve", [bob, MAX_UINT])
    chain.must(bob, tok, "transfer_from", [alice, carol, 12345])
    chain.must(bob, tok, "transfer_from", [alice, carol, 5])
    assert chain.query(tok, "allowance", [alice, bob]) == MAX_UINT
    assert chain.query(tok, "balance_of", [carol]) == 12350


def test_allowance_one_below_infinite_is_spent(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "approve", [bob, MAX_UINT - 1])
    chain.must(bob, tok, "transfer_from", [alice, carol, 10])
    assert chain.query(tok, "allowance", [alice, bob]) == MAX_UINT - 11


def test_transfer_from_reverts(chain, tok, alice, bob, carol, zero):
    accounts = [alice, bob, carol]
    chain.must(alice, tok, "transfer", [carol, 50])
    chain.must(carol, tok, "approve", [bob, 100])
    # Allowance is checked first, then the owner's balance.
    fails(chain, bob, tok, "transfer_from", [carol, bob, 101], "insufficient allowance", accounts)
    fails(chain, bob, tok, "transfer_from", [carol, bob, 51], "insufficient balance", accounts)
    fails(chain, alice, tok, "transfer_from", [carol, alice, 1], "insufficient allowance", accounts)
    fails(chain, bob, tok, "transfer_from", [carol, bob, -1], "amount must not be negative", accounts)
    fails(chain, bob, tok, "transfer_from", [carol, zero, 1], "transfer to the zero address", accounts)
    # An owner has no implicit allowance over its own tokens.
    fails(chain, carol, tok, "transfer_from", [carol, bob, 1], "insufficient allowance", accounts)


PULLER = '''
"""Pulls tokens from the caller the way the swap and lending contracts do."""


@public
def pull(token: address, amount: int) -> bool:
    return call(token, "transfer_from", [ctx.sender, ctx.this, amount])


@public
def pay(token: address, to: address, amount: int) -> bool:
    return call(token, "transfer", [to, amount])


@view
def held(token: address) -> int:
    return call(token, "balance_of", [ctx.this])
'''


def test_contract_spends_allowance_granted_to_it(chain, tok, alice, bob, carol):
    res = chain.deploy(bob, PULLER, [])
    assert res.ok, res.error
    puller = res.address
    chain.must(alice, tok, "approve", [puller, 1000])
    res = chain.call(alice, puller, "pull", [tok, 600])
    assert res.ok, res.error
    assert res.output is True
    assert chain.query(puller, "held", [tok]) == 600
    assert chain.query(tok, "allowance", [alice, puller]) == 400
    assert [(e.address, e.name, list(e.data)) for e in res.events] == [(tok, "Transfer", [alice, puller, 600])]
    chain.must(carol, puller, "pay", [tok, carol, 100])
    assert chain.query(tok, "balance_of", [carol]) == 100
    # The contract is the spender: bob's own allowance does not help it, and a revert inside the
    # token undoes the whole transaction.
    res = chain.call(alice, puller, "pull", [tok, 401])
    assert not res.ok
    assert res.error == "insufficient allowance"
    assert chain.query(tok, "allowance", [alice, puller]) == 400
    assert chain.query(puller, "held", [tok]) == 500


# ---- mint, burn, burn_from ----


def test_mint_by_minter(chain, tok, alice, bob, zero):
    res = chain.call(alice, tok, "mint", [bob, 77])
    assert res.ok, res.error
    assert events(res) == [("Transfer", [zero, bob, 77])]
    assert chain.query(tok, "balance_of", [bob]) == 77
    assert chain.query(tok, "total_supply", []) == SUPPLY + 77


def test_mint_reverts(chain, tok, alice, bob, carol, zero):
    accounts = [alice, bob, carol]
    fails(chain, bob, tok, "mint", [bob, 1], "missing role minter", accounts)
    fails(chain, alice, tok, "mint", [zero, 1], "transfer to the zero address", accounts)
    fails(chain, alice, tok, "mint", [bob, -1], "amount must not be negative", accounts)
    fails(chain, alice, tok, "mint", [bob, MAX_UINT - SUPPLY + 1], "supply overflow", accounts)


def test_mint_up_to_max_uint(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "mint", [bob, MAX_UINT - SUPPLY])
    assert chain.query(tok, "total_supply", []) == MAX_UINT
    fails(chain, alice, tok, "mint", [bob, 1], "supply overflow", [alice, bob, carol])


def test_granted_minter_can_mint_until_revoked(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "grant_role", ["minter", bob])
    chain.must(bob, tok, "mint", [carol, 5])
    assert chain.query(tok, "balance_of", [carol]) == 5
    chain.must(alice, tok, "revoke_role", ["minter", bob])
    fails(chain, bob, tok, "mint", [carol, 5], "missing role minter", [alice, bob, carol])


def test_burn(chain, tok, alice, bob, zero):
    res = chain.call(alice, tok, "burn", [1000])
    assert res.ok, res.error
    assert events(res) == [("Transfer", [alice, zero, 1000])]
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY - 1000
    assert chain.query(tok, "total_supply", []) == SUPPLY - 1000
    chain.must(alice, tok, "transfer", [bob, 3])
    chain.must(bob, tok, "burn", [3])
    assert chain.query(tok, "balance_of", [bob]) == 0
    assert chain.query(tok, "total_supply", []) == SUPPLY - 1003


def test_burn_reverts(chain, tok, alice, bob, carol):
    accounts = [alice, bob, carol]
    fails(chain, bob, tok, "burn", [1], "insufficient balance", accounts)
    fails(chain, alice, tok, "burn", [SUPPLY + 1], "insufficient balance", accounts)
    fails(chain, alice, tok, "burn", [-1], "amount must not be negative", accounts)


def test_burn_from_spends_allowance(chain, tok, alice, bob, zero):
    chain.must(alice, tok, "approve", [bob, 50])
    res = chain.call(bob, tok, "burn_from", [alice, 20])
    assert res.ok, res.error
    assert events(res) == [("Transfer", [alice, zero, 20])]
    assert chain.query(tok, "allowance", [alice, bob]) == 30
    assert chain.query(tok, "balance_of", [alice]) == SUPPLY - 20
    assert chain.query(tok, "balance_of", [bob]) == 0
    assert chain.query(tok, "total_supply", []) == SUPPLY - 20


def test_burn_from_infinite_allowance(chain, tok, alice, bob):
    chain.must(alice, tok, "approve", [bob, MAX_UINT])
    chain.must(bob, tok, "burn_from", [alice, 20])
    assert chain.query(tok, "allowance", [alice, bob]) == MAX_UINT
    assert chain.query(tok, "total_supply", []) == SUPPLY - 20


def test_burn_from_reverts(chain, tok, alice, bob, carol):
    accounts = [alice, bob, carol]
    chain.must(alice, tok, "transfer", [carol, 10])
    chain.must(carol, tok, "approve", [bob, 20])
    fails(chain, bob, tok, "burn_from", [carol, 21], "insufficient allowance", accounts)
    fails(chain, bob, tok, "burn_from", [carol, 11], "insufficient balance", accounts)
    fails(chain, bob, tok, "burn_from", [carol, -1], "amount must not be negative", accounts)
    fails(chain, alice, tok, "burn_from", [carol, 1], "insufficient allowance", accounts)


# ---- roles ----


def test_grant_and_revoke_role_emit(chain, tok, alice, bob, carol):
    res = chain.call(alice, tok, "grant_role", ["pauser", bob])
    assert res.ok, res.error
    assert events(res) == [("RoleGranted", ["pauser", bob, alice])]
    assert chain.query(tok, "has_role", ["pauser", bob]) is True
    assert chain.query(tok, "has_role", ["minter", bob]) is False
    # Granting again is a no-op.
    res = chain.call(alice, tok, "grant_role", ["pauser", bob])
    assert res.ok, res.error
    assert not res.events
    res = chain.call(alice, tok, "revoke_role", ["pauser", bob])
    assert res.ok, res.error
    assert events(res) == [("RoleRevoked", ["pauser", bob, alice])]
    assert chain.query(tok, "has_role", ["pauser", bob]) is False
    # Revoking a role not held is a no-op.
    res = chain.call(alice, tok, "revoke_role", ["pauser", carol])
    assert res.ok, res.error
    assert not res.events


def test_custom_role_names_are_plain_strings(chain, tok, alice, bob):
    chain.must(alice, tok, "grant_role", ["auditor", bob])
    assert chain.query(tok, "has_role", ["auditor", bob]) is True
    assert chain.query(tok, "has_role", ["Auditor", bob]) is False


def test_role_management_reverts(chain, tok, alice, bob, carol, zero):
    accounts = [alice, bob, carol]
    fails(chain, bob, tok, "grant_role", ["minter", bob], "missing role admin", accounts)
    fails(chain, bob, tok, "revoke_role", ["minter", alice], "missing role admin", accounts)
    fails(chain, alice, tok, "grant_role", ["minter", zero], "role to the zero address", accounts)
    # Minter and pauser do not imply admin.
    chain.must(alice, tok, "grant_role", ["minter", bob])
    chain.must(alice, tok, "grant_role", ["pauser", bob])
    fails(chain, bob, tok, "grant_role", ["admin", bob], "missing role admin", accounts)


def test_second_admin_and_renounce(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "grant_role", ["admin", bob])
    chain.must(bob, tok, "grant_role", ["minter", carol])
    assert chain.query(tok, "has_role", ["minter", carol]) is True
    chain.must(bob, tok, "revoke_role", ["admin", alice])
    fails(chain, alice, tok, "grant_role", ["minter", alice], "missing role admin", [alice, bob, carol])
    # The last admin may renounce: the role set is frozen from then on.
    chain.must(bob, tok, "revoke_role", ["admin", bob])
    fails(chain, bob, tok, "grant_role", ["admin", bob], "missing role admin", [alice, bob, carol])
    # Roles held before stay usable.
    chain.must(alice, tok, "mint", [alice, 1])


# ---- pause ----


def test_pause_blocks_token_movements(chain, tok, alice, bob, carol):
    accounts = [alice, bob, carol]
    chain.must(alice, tok, "transfer", [bob, 100])
    chain.must(bob, tok, "approve", [carol, 50])
    res = chain.call(alice, tok, "pause", [])
    assert res.ok, res.error
    assert events(res) == [("Paused", [alice])]
    assert chain.query(tok, "paused", []) is True
    fails(chain, bob, tok, "transfer", [carol, 1], "paused", accounts)
    fails(chain, carol, tok, "transfer_from", [bob, carol, 1], "paused", accounts)
    fails(chain, alice, tok, "mint", [bob, 1], "paused", accounts)
    fails(chain, bob, tok, "burn", [1], "paused", accounts)
    fails(chain, carol, tok, "burn_from", [bob, 1], "paused", accounts)
    fails(chain, alice, tok, "pause", [], "paused", accounts)
    # Approvals and role changes still work while paused.
    chain.must(bob, tok, "approve", [carol, 10])
    assert chain.query(tok, "allowance", [bob, carol]) == 10
    chain.must(alice, tok, "grant_role", ["minter", carol])
    res = chain.call(alice, tok, "unpause", [])
    assert res.ok, res.error
    assert events(res) == [("Unpaused", [alice])]
    assert chain.query(tok, "paused", []) is False
    chain.must(bob, tok, "transfer", [carol, 1])
    chain.must(carol, tok, "transfer_from", [bob, carol, 10])
    assert chain.query(tok, "balance_of", [carol]) == 11


def test_pause_reverts(chain, tok, alice, bob, carol):
    accounts = [alice, bob, carol]
    fails(chain, bob, tok, "pause", [], "missing role pauser", accounts)
    fails(chain, alice, tok, "unpause", [], "not paused", accounts)
    chain.must(alice, tok, "pause", [])
    fails(chain, bob, tok, "unpause", [], "missing role pauser", accounts)
    chain.must(alice, tok, "grant_role", ["pauser", bob])
    chain.must(bob, tok, "unpause", [])
    assert chain.query(tok, "paused", []) is False


def test_pauser_without_admin_cannot_grant(chain, tok, alice, bob, carol):
    chain.must(alice, tok, "grant_role", ["pauser", bob])
    chain.must(bob, tok, "pause", [])
    fails(chain, bob, tok, "grant_role", ["pauser", carol], "missing role admin", [alice, bob, carol])


# ---- misc ----


def test_methods_refuse_native_value(chain, tok, alice, bob):
    res = chain.call(alice, tok, "transfer", [bob, 1], value=10)
    assert not res.ok
    assert chain.query(tok, "balance_of", [bob]) == 0


def test_independent_tokens_do_not_share_state(chain, tok, alice, bob):
    res = chain.deploy(bob, load_contract("token"), ["Silver", "SLV", 6, 500])
    assert res.ok, res.error
    other = res.address
    assert other != tok
    assert chain.query(other, "balance_of", [bob]) == 500
    assert chain.query(other, "balance_of", [alice]) == 0
    assert chain.query(tok, "balance_of", [bob]) == 0
    assert chain.query(other, "has_role", ["admin", alice]) is False
    assert chain.query(other, "decimals", []) == 6
