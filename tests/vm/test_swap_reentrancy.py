"""The Swap contract under re-entry: a token that calls back into the Swap while it is pulled."""

import pytest

from tests.vm.swap_world import FAR, MAX_UINT, SUPPLY, UNIT, add, bal, ref_out, snapshot

# A test-only token whose transfer_from calls back into a contract once, with the token as the caller.
HOOK_TOKEN = '''
@constructor
def init(supply: int):
    storage["bal", ctx.sender] = supply
@view
def balance_of(owner: address) -> int:
    return storage.get(["bal", owner], 0)
@public
def give(to: address, amount: int):
    move(ctx.sender, to, amount)
@public
def transfer_from(owner: address, to: address, amount: int) -> bool:
    move(owner, to, amount)
    hook = storage.get("hook", None)
    if hook is not None:
        del storage["hook"]
        call(hook[0], hook[1], hook[2])
    return True
@public
def arm(target: address, method: str, args: list):
    storage["hook"] = [target, method, args]
@public
def act(target: address, method: str, args: list):
    return call(target, method, args)
def move(src, dst, amount):
    have = storage.get(["bal", src], 0)
    require(amount >= 0 and have >= amount, "insufficient balance")
    storage["bal", src] = have - amount
    storage["bal", dst] = storage.get(["bal", dst], 0) + amount
'''


@pytest.fixture
def hooked(env):
    alice, bob, _ = env.users
    b = env.tokens[1]
    res = env.chain.deploy(alice, HOOK_TOKEN, [SUPPLY])
    assert res.ok, res.error
    e = res.address
    assert add(env, alice, e, b, 1000 * UNIT, 1000 * UNIT).ok
    env.chain.must(alice, e, "give", [bob, 100 * UNIT])
    env.chain.must(alice, e, "give", [e, 100 * UNIT])
    env.chain.must(alice, b, "transfer", [e, 100 * UNIT])
    env.chain.must(alice, e, "act", [b, "approve", [env.swap, MAX_UINT]])
    return e, b


def test_reentry_into_the_same_method_reverts(env, hooked):
    e, b = hooked
    bob = env.users[1]
    env.chain.must(bob, e, "arm", [env.swap, "swap_exact_tokens_for_tokens", [UNIT, 0, [e, b], e, FAR]])
    before = snapshot(env), env.chain.query(env.swap, "get_reserves", [e, b])
    res = env.chain.call(bob, env.swap, "swap_exact_tokens_for_tokens", [UNIT, 0, [e, b], bob, FAR])
    assert not res.ok
    assert res.error == "reentrant call to swap_exact_tokens_for_tokens"
    assert (snapshot(env), env.chain.query(env.swap, "get_reserves", [e, b])) == before


def test_reentry_into_another_method_keeps_pools_consistent(env, hooked):
    # While the swap pulls its input, the token adds liquidity to the very pool being traded:
    # the swap re-reads the reserves after the pull and its k check holds against the new ones.
    e, b = hooked
    bob = env.users[1]
    env.chain.must(bob, e, "arm", [env.swap, "add_liquidity", [e, b, 50 * UNIT, 50 * UNIT, 0, 0, e, FAR]])
    amount_in = 10 * UNIT
    out = ref_out(amount_in, 1000 * UNIT, 1000 * UNIT)
    got = bal(env, b, bob)
    res = env.chain.call(bob, env.swap, "swap_exact_tokens_for_tokens", [amount_in, 0, [e, b], bob, FAR])
    assert res.ok, res.error
    assert res.output == [amount_in, out]
    assert [x.name for x in res.events if x.name in ("Mint", "Swap")] == ["Mint", "Swap"]
    assert env.chain.query(env.swap, "get_reserves", [e, b]) == [1050 * UNIT + amount_in, 1050 * UNIT - out]
    assert bal(env, b, bob) - got == out
    assert env.chain.query(e, "balance_of", [env.swap]) == 1050 * UNIT + amount_in
    assert bal(env, b, env.swap) == 1050 * UNIT - out
    assert env.chain.query(env.swap, "lp_balance", [e, b, e]) > 0
