"""Unit tests of the Swap contract (vm/contracts/swap.py): pairs, liquidity, router swaps, views and reverts.

Every amount is checked against the Python reference formulas in tests/vm/swap_world.py
(Uniswap V2 arithmetic), not against values read back from the contract.
"""

import math

import pytest

from tests.vm.swap_world import (
    FAR,
    MAX_UINT,
    SUPPLY,
    UNIT,
    add,
    bal,
    events,
    fails,
    pool,
    ref_impact_bps,
    ref_in,
    ref_out,
    seeded,
)
from vm.values import ZERO_ADDRESS

# ---- create_pair ---------------------------------------------------------------------------


def test_create_pair_sorts_tokens_and_lists_the_pair(env):
    a, b, _ = env.tokens
    res = env.chain.call(env.users[0], env.swap, "create_pair", [b, a])
    assert res.ok, res.error
    assert res.output == [a, b]
    assert events(res, "PairCreated") == [[a, b]]
    assert pool(env, b, a) == {"token0": a, "token1": b, "reserve0": 0, "reserve1": 0, "total_supply": 0}
    assert env.chain.query(env.swap, "pairs", []) == [[a, b]]
    assert env.chain.query(env.swap, "get_reserves", [b, a]) == [0, 0]


def test_create_pair_reverts(env):
    a, b, _ = env.tokens
    user = env.users[0]
    env.chain.must(user, env.swap, "create_pair", [a, b])
    fails(env, user, "create_pair", [a, b], "pair exists")
    fails(env, user, "create_pair", [b, a], "pair exists")
    fails(env, user, "create_pair", [a, a], "identical tokens")
    fails(env, user, "create_pair", [a, ZERO_ADDRESS], "zero address")


def test_missing_pair_views_revert(env):
    a, b, _ = env.tokens
    for method, args in [("get_pair", [a, b]), ("get_reserves", [a, b]), ("get_amounts_out", [10, [a, b]])]:
        with pytest.raises(AssertionError, match="pair does not exist"):
            env.chain.query(env.swap, method, args)
    assert env.chain.query(env.swap, "lp_balance", [a, b, env.users[0]]) == 0
    assert env.chain.query(env.swap, "pairs", []) == []


# ---- add_liquidity -------------------------------------------------------------------------


def test_first_liquidity_locks_minimum_and_creates_pair(env):
    a, b, _ = env.tokens
    user = env.users[0]
    amount_a, amount_b = 10 * UNIT, 40 * UNIT
    res = add(env, user, b, a, amount_b, amount_a)
    assert res.ok, res.error
    root = math.isqrt(amount_a * amount_b)
    assert res.output == [amount_b, amount_a, root - 1000]
    assert events(res, "PairCreated") == [[a, b]]
    assert events(res, "Mint") == [[user, a, b, amount_a, amount_b, root - 1000]]
    assert events(res, "Sync") == [[a, b, amount_a, amount_b]]
    assert pool(env, a, b) == {"token0": a, "token1": b, "reserve0": amount_a, "reserve1": amount_b,
                               "total_supply": root}
    assert env.chain.query(env.swap, "lp_balance", [a, b, ZERO_ADDRESS]) == 1000
    assert env.chain.query(env.swap, "lp_balance", [a, b, user]) == root - 1000
    assert bal(env, a, env.swap) == amount_a
    assert bal(env, b, env.swap) == amount_b
    assert env.chain.query(env.swap, "get_reserves", [b, a]) == [amount_b, amount_a]


def test_first_liquidity_too_small(env):
    a, b, _ = env.tokens
    res = add(env, env.users[0], a, b, 1000, 1000)
    assert not res.ok
    assert res.error == "insufficient liquidity minted"
    assert env.chain.query(env.swap, "pairs", []) == []  # the pair creation rolled back too
    bob = env.users[1]
    assert add(env, env.users[0], a, b, 1001, 1001, to=bob).output == [1001, 1001, 1]
    assert env.chain.query(env.swap, "lp_balance", [a, b, bob]) == 1
    assert env.chain.query(env.swap, "lp_balance", [a, b, env.users[0]]) == 0


@pytest.mark.parametrize("reverse", [False, True])
def test_later_liquidity_uses_optimal_amounts(env, reverse):
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    ra, rb = 3 * UNIT + 7, 5 * UNIT + 11
    assert add(env, alice, a, b, ra, rb).ok
    supply = pool(env, a, b)["total_supply"]
    # B is in excess: all of A goes in and B is cut to the pool ratio, rounded down.
    want_a, want_b = UNIT + 3, 2 * UNIT
    opt_b = want_a * rb // ra
    first, second = (b, a) if reverse else (a, b)
    res = add(env, bob, first, second, *((want_b, want_a) if reverse else (want_a, want_b)))
    assert res.ok, res.error
    liq = min(want_a * supply // ra, opt_b * supply // rb)
    assert res.output == ([opt_b, want_a, liq] if reverse else [want_a, opt_b, liq])
    assert env.chain.query(env.swap, "lp_balance", [a, b, bob]) == liq
    p = pool(env, a, b)
    assert (p["reserve0"], p["reserve1"], p["total_supply"]) == (ra + want_a, rb + opt_b, supply + liq)
    # A is in excess now.
    ra, rb, supply = p["reserve0"], p["reserve1"], p["total_supply"]
    want_a, want_b = 10 * UNIT, UNIT
    opt_a = want_b * ra // rb
    res = add(env, bob, a, b, want_a, want_b)
    assert res.output == [opt_a, want_b, min(opt_a * supply // ra, want_b * supply // rb)]


def test_later_liquidity_takes_the_smaller_share(env):
    # A lopsided pool makes one share worth 1000 units of A, so rounding the optimal B down
    # costs the provider shares: the smaller of the two share counts is the one minted.
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    assert add(env, alice, a, b, 10**12, 10**6).ok
    res = add(env, bob, a, b, 10**9 + 123_457, 10**9)
    assert res.output == [10**9 + 123_457, 1000, 1000 * 10**9 // 10**6]
    assert (10**9 + 123_457) * 10**9 // 10**12 > res.output[2]


def test_later_liquidity_exact_ratio_keeps_amount_a(env):
    # optimal B equal to the desired B must keep all of A: recomputing A from B would round it down
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    assert add(env, alice, a, b, 3000, 7000).ok
    assert add(env, bob, a, b, 10, 23).output == [10, 23, min(10 * 4582 // 3000, 23 * 4582 // 7000)]


def test_add_liquidity_minimums_and_deadline(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 1000 * UNIT, 2000 * UNIT).ok
    # asking for 1 A and 3 B: B is cut to 2, below a minimum of 3
    fails(env, alice, "add_liquidity", [a, b, UNIT, 3 * UNIT, 0, 3 * UNIT, alice, FAR], "insufficient b amount")
    fails(env, alice, "add_liquidity", [a, b, 3 * UNIT, 2 * UNIT, 3 * UNIT, 0, alice, FAR], "insufficient a amount")
    fails(env, alice, "add_liquidity", [a, b, -5, UNIT, 0, 0, alice, FAR], "negative amount")
    fails(env, alice, "add_liquidity", [a, b, 0, UNIT, 0, 0, alice, FAR], "insufficient amount")
    fails(env, alice, "add_liquidity", [a, a, UNIT, UNIT, 0, 0, alice, FAR], "identical tokens")
    env.chain.advance(blocks=1, seconds=100)
    now = env.chain.vm.block.time
    fails(env, alice, "add_liquidity", [a, b, UNIT, 2 * UNIT, 0, 0, alice, now - 1], "expired")
    assert add(env, alice, a, b, UNIT, 2 * UNIT, deadline=now).ok  # the deadline second itself is fine


def test_add_liquidity_needs_allowance(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    env.chain.must(alice, b, "approve", [env.swap, 0])
    fails(env, alice, "add_liquidity", [a, b, UNIT, UNIT, 0, 0, alice, FAR], "insufficient allowance")


# ---- remove_liquidity and transfer_lp ------------------------------------------------------


def test_remove_liquidity_returns_pro_rata_share(env):
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    ra, rb = 7 * UNIT + 1, 3 * UNIT + 2
    liq = add(env, alice, a, b, ra, rb).output[2]
    supply = liq + 1000
    burn = liq // 3
    before_a, before_b = bal(env, a, bob), bal(env, b, bob)
    res = env.chain.call(alice, env.swap, "remove_liquidity", [b, a, burn, 0, 0, bob, FAR])
    assert res.ok, res.error
    out_a, out_b = burn * ra // supply, burn * rb // supply
    assert res.output == [out_b, out_a]
    assert events(res, "Burn") == [[alice, a, b, out_a, out_b, burn, bob]]
    assert bal(env, a, bob) - before_a == out_a
    assert bal(env, b, bob) - before_b == out_b
    p = pool(env, a, b)
    assert (p["reserve0"], p["reserve1"], p["total_supply"]) == (ra - out_a, rb - out_b, supply - burn)
    assert env.chain.query(env.swap, "lp_balance", [a, b, alice]) == liq - burn


def test_remove_everything_leaves_the_locked_share(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    ra, rb = 4 * UNIT, 9 * UNIT
    liq = add(env, alice, a, b, ra, rb).output[2]
    res = env.chain.call(alice, env.swap, "remove_liquidity", [a, b, liq, 0, 0, alice, FAR])
    assert res.ok, res.error
    supply = liq + 1000
    assert res.output == [liq * ra // supply, liq * rb // supply]
    p = pool(env, a, b)
    assert p["total_supply"] == 1000
    assert p["reserve0"] == ra - liq * ra // supply > 0
    assert p["reserve1"] == rb - liq * rb // supply > 0


def test_remove_liquidity_reverts(env):
    a, b, c = env.tokens
    alice, bob, _ = env.users
    liq = add(env, alice, a, b, 10 * UNIT, 10 * UNIT).output[2]
    fails(env, bob, "remove_liquidity", [a, b, 1, 0, 0, bob, FAR], "insufficient lp balance")
    fails(env, alice, "remove_liquidity", [a, b, liq + 1, 0, 0, alice, FAR], "insufficient lp balance")
    fails(env, alice, "remove_liquidity", [a, b, 0, 0, 0, alice, FAR], "insufficient liquidity burned")
    fails(env, alice, "remove_liquidity", [a, b, -1, 0, 0, alice, FAR], "insufficient liquidity burned")
    fails(env, alice, "remove_liquidity", [a, b, liq, 10 * UNIT, 0, alice, FAR], "insufficient a amount")
    fails(env, alice, "remove_liquidity", [b, a, liq, 10 * UNIT, 0, alice, FAR], "insufficient a amount")
    fails(env, alice, "remove_liquidity", [a, b, liq, 0, 10 * UNIT, alice, FAR], "insufficient b amount")
    fails(env, alice, "remove_liquidity", [a, c, 1, 0, 0, alice, FAR], "pair does not exist")
    fails(env, alice, "remove_liquidity", [a, b, 1, 0, 0, env.swap, FAR], "invalid to")
    fails(env, alice, "remove_liquidity", [a, b, 1, 0, 0, alice, -1], "expired")


def test_remove_dust_burns_nothing(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    # a pool so lopsided that one share is worth less than one unit of A
    liq = add(env, alice, a, b, 2000, 10**12).output[2]
    assert liq > 0
    fails(env, alice, "remove_liquidity", [a, b, 1, 0, 0, alice, FAR], "insufficient liquidity burned")


def test_transfer_lp(env):
    a, b, c = env.tokens
    alice, bob, _ = env.users
    liq = add(env, alice, a, b, 10 * UNIT, 10 * UNIT).output[2]
    res = env.chain.call(alice, env.swap, "transfer_lp", [b, a, bob, 100])
    assert res.ok, res.error
    assert events(res, "LpTransfer") == [[a, b, alice, bob, 100]]
    assert env.chain.query(env.swap, "lp_balance", [a, b, bob]) == 100
    assert env.chain.query(env.swap, "lp_balance", [a, b, alice]) == liq - 100
    assert env.chain.call(alice, env.swap, "transfer_lp", [a, b, alice, 5]).ok
    assert env.chain.query(env.swap, "lp_balance", [a, b, alice]) == liq - 100
    fails(env, bob, "transfer_lp", [a, b, alice, 101], "insufficient lp balance")
    fails(env, bob, "transfer_lp", [a, b, alice, -1], "negative amount")
    fails(env, bob, "transfer_lp", [a, c, alice, 0], "pair does not exist")
    assert env.chain.call(bob, env.swap, "remove_liquidity", [a, b, 100, 0, 0, bob, FAR]).ok
    assert env.chain.query(env.swap, "lp_balance", [a, b, bob]) == 0


# ---- swaps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("forward", [True, False])
def test_swap_exact_tokens_for_tokens_single_hop(env, forward):
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    ra, rb = 1000 * UNIT, 4000 * UNIT
    assert add(env, alice, a, b, ra, rb).ok
    t_in, t_out, r_in, r_out = (a, b, ra, rb) if forward else (b, a, rb, ra)
    amount_in = 10 * UNIT + 12345
    expect = ref_out(amount_in, r_in, r_out)
    paid_before, got_before = bal(env, t_in, alice), bal(env, t_out, bob)
    res = env.chain.call(alice, env.swap, "swap_exact_tokens_for_tokens", [amount_in, expect, [t_in, t_out], bob, FAR])
    assert res.ok, res.error
    assert res.output == [amount_in, expect]
    assert events(res, "Swap") == [[alice, t_in, t_out, amount_in, expect, bob]]
    assert paid_before - bal(env, t_in, alice) == amount_in
    assert bal(env, t_out, bob) - got_before == expect
    new = env.chain.query(env.swap, "get_reserves", [t_in, t_out])
    assert new == [r_in + amount_in, r_out - expect]
    assert new[0] * new[1] > r_in * r_out
    assert events(res, "Sync") == [[a, b, *(new if forward else new[::-1])]]


def test_swap_exact_slippage_limit(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 1000 * UNIT, 4000 * UNIT).ok
    expect = ref_out(UNIT, 1000 * UNIT, 4000 * UNIT)
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, expect + 1, [a, b], alice, FAR],
          "insufficient output amount")
    assert env.chain.call(alice, env.swap, "swap_exact_tokens_for_tokens", [UNIT, expect, [a, b], alice, FAR]).ok


def test_swap_for_exact_tokens_single_hop(env):
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    ra, rb = 1000 * UNIT, 4000 * UNIT
    assert add(env, alice, a, b, ra, rb).ok
    want = 7 * UNIT + 3
    need = ref_in(want, ra, rb)
    fails(env, alice, "swap_tokens_for_exact_tokens", [want, need - 1, [a, b], bob, FAR], "excessive input amount")
    before = bal(env, a, alice)
    res = env.chain.call(alice, env.swap, "swap_tokens_for_exact_tokens", [want, need, [a, b], bob, FAR])
    assert res.ok, res.error
    assert res.output == [need, want]
    assert before - bal(env, a, alice) == need
    assert bal(env, b, bob) == SUPPLY // 4 + want
    # the rounded-up input always buys at least the requested output
    assert ref_out(need, ra, rb) >= want
    assert ref_out(need - 1, ra, rb) < want or need - 1 == 0


def test_swap_output_limited_by_reserve(env):
    a, b, c = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 10 * UNIT, 10 * UNIT).ok
    fails(env, alice, "swap_tokens_for_exact_tokens", [10 * UNIT, MAX_UINT, [a, b], alice, FAR],
          "insufficient liquidity")
    fails(env, alice, "swap_tokens_for_exact_tokens", [0, MAX_UINT, [a, b], alice, FAR], "insufficient output amount")
    fails(env, alice, "swap_exact_tokens_for_tokens", [0, 0, [a, b], alice, FAR], "insufficient input amount")
    fails(env, alice, "swap_exact_tokens_for_tokens", [-5, 0, [a, b], alice, FAR], "insufficient input amount")
    env.chain.must(alice, env.swap, "create_pair", [a, c])
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, c], alice, FAR], "insufficient liquidity")


def test_swap_deadline(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 10 * UNIT, 10 * UNIT).ok
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, b], alice, -1], "expired")
    fails(env, alice, "swap_tokens_for_exact_tokens", [UNIT, MAX_UINT, [a, b], alice, -1], "expired")


def test_multi_hop_over_three_tokens(env):
    a, b, c = seeded(env)
    alice, bob, _ = env.users
    ab, bc = env.chain.query(env.swap, "get_reserves", [a, b]), env.chain.query(env.swap, "get_reserves", [b, c])
    amount_in = 25 * UNIT
    mid = ref_out(amount_in, ab[0], ab[1])
    out = ref_out(mid, bc[0], bc[1])
    assert env.chain.query(env.swap, "get_amounts_out", [amount_in, [a, b, c]]) == [amount_in, mid, out]
    swap_b = bal(env, b, env.swap)
    res = env.chain.call(alice, env.swap, "swap_exact_tokens_for_tokens", [amount_in, out, [a, b, c], bob, FAR])
    assert res.ok, res.error
    assert res.output == [amount_in, mid, out]
    assert events(res, "Swap") == [[alice, a, b, amount_in, mid, env.swap], [alice, b, c, mid, out, bob]]
    assert env.chain.query(env.swap, "get_reserves", [a, b]) == [ab[0] + amount_in, ab[1] - mid]
    assert env.chain.query(env.swap, "get_reserves", [b, c]) == [bc[0] + mid, bc[1] - out]
    assert bal(env, b, env.swap) == swap_b  # the middle token never left the contract
    assert bal(env, c, bob) == SUPPLY // 4 + out


def test_multi_hop_exact_output_backwards(env):
    a, b, c = seeded(env)
    alice = env.users[0]
    cb, ba = env.chain.query(env.swap, "get_reserves", [c, b]), env.chain.query(env.swap, "get_reserves", [b, a])
    want = 3 * UNIT
    mid = ref_in(want, ba[0], ba[1])
    need = ref_in(mid, cb[0], cb[1])
    assert env.chain.query(env.swap, "get_amounts_in", [want, [c, b, a]]) == [need, mid, want]
    fails(env, alice, "swap_tokens_for_exact_tokens", [want, need - 1, [c, b, a], alice, FAR],
          "excessive input amount")
    res = env.chain.call(alice, env.swap, "swap_tokens_for_exact_tokens", [want, need, [c, b, a], alice, FAR])
    assert res.ok, res.error
    assert res.output == [need, mid, want]
    assert env.chain.query(env.swap, "get_reserves", [c, b]) == [cb[0] + need, cb[1] - mid]
    assert env.chain.query(env.swap, "get_reserves", [b, a]) == [ba[0] + mid, ba[1] - want]


def test_multi_hop_slippage(env):
    a, b, c = seeded(env)
    alice = env.users[0]
    out = env.chain.query(env.swap, "get_amounts_out", [UNIT, [a, b, c]])[2]
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, out + 1, [a, b, c], alice, FAR],
          "insufficient output amount")


def test_invalid_paths(env):
    a, b, c = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 10 * UNIT, 10 * UNIT).ok
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a], alice, FAR], "invalid path")
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [], alice, FAR], "invalid path")
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, b, c], alice, FAR], "pair does not exist")
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, a], alice, FAR], "identical tokens")
    fails(env, alice, "swap_tokens_for_exact_tokens", [UNIT, MAX_UINT, [c, a], alice, FAR], "pair does not exist")
    fails(env, alice, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, b], env.swap, FAR], "invalid to")


def test_round_trip_path_through_the_same_pair(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    assert add(env, alice, a, b, 100 * UNIT, 100 * UNIT).ok
    before = bal(env, a, alice)
    res = env.chain.call(alice, env.swap, "swap_exact_tokens_for_tokens", [UNIT, 0, [a, b, a], alice, FAR])
    assert res.ok, res.error
    back = res.output[2]
    assert back < UNIT  # fees on both legs
    assert before - bal(env, a, alice) == UNIT - back


# ---- low-level swap and the k check --------------------------------------------------------


def test_low_level_swap_k_check(env):
    a, b, _ = env.tokens
    alice, bob, _ = env.users
    ra, rb = 50 * UNIT, 80 * UNIT
    assert add(env, alice, a, b, ra, rb).ok
    amount_in = 3 * UNIT + 1
    best = ref_out(amount_in, ra, rb)
    fails(env, alice, "swap", [a, b, amount_in, best + 1, bob], "k")
    fails(env, alice, "swap", [a, b, amount_in, rb, bob], "insufficient liquidity")
    fails(env, alice, "swap", [b, a, amount_in, ra, bob], "insufficient liquidity")
    fails(env, alice, "swap", [a, b, amount_in, 0, bob], "insufficient output amount")
    fails(env, alice, "swap", [a, b, 0, 1, bob], "insufficient input amount")
    res = env.chain.call(alice, env.swap, "swap", [a, b, amount_in, best, bob])
    assert res.ok, res.error
    assert res.output == best
    assert env.chain.query(env.swap, "get_reserves", [a, b]) == [ra + amount_in, rb - best]
    # the k check itself: the fee-adjusted product holds for best and fails for best + 1
    b0, b1 = ra + amount_in, rb - best
    assert (b0 * 1000 - amount_in * 3) * (b1 * 1000) >= ra * rb * 10**6
    assert (b0 * 1000 - amount_in * 3) * ((b1 - 1) * 1000) < ra * rb * 10**6


# ---- quote (exact price impact over random pools: see test_swap_properties.py) ------------------


@pytest.mark.parametrize("amount_in", [1000, UNIT, 100 * UNIT, 5000 * UNIT])
def test_quote_single_hop(env, amount_in):
    a, b, _ = env.tokens
    assert add(env, env.users[0], a, b, 1000 * UNIT, 4000 * UNIT).ok
    q = env.chain.query(env.swap, "quote", [amount_in, [a, b]])
    out = ref_out(amount_in, 1000 * UNIT, 4000 * UNIT)
    assert q == {"amounts": [amount_in, out], "amount_out": out,
                 "price_impact_bps": ref_impact_bps(amount_in, out, [(1000 * UNIT, 4000 * UNIT)])}
    assert q["price_impact_bps"] >= 30  # the fee alone is 30 bps


# ---- limits and listing --------------------------------------------------------------------


def test_reserves_are_capped_at_112_bits(env):
    a, b, _ = env.tokens
    alice = env.users[0]
    cap = 2**112 - 1
    env.chain.must(env.admin, a, "mint", [alice, 2**113])
    env.chain.must(env.admin, b, "mint", [alice, 2**113])
    fails(env, alice, "add_liquidity", [a, b, cap + 1, UNIT, 0, 0, alice, FAR], "overflow")
    assert add(env, alice, a, b, cap, UNIT).ok
    fails(env, alice, "swap_exact_tokens_for_tokens", [10**30, 0, [a, b], alice, FAR], "overflow")
    # the other side still trades, and the k check's products stay within 256 bits at the cap
    res = env.chain.call(alice, env.swap, "swap_exact_tokens_for_tokens", [UNIT, 0, [b, a], alice, FAR])
    assert res.ok, res.error
    assert res.output == [UNIT, ref_out(UNIT, UNIT, cap)]


def test_pair_count_and_pair_at(env):
    a, b, c = env.tokens
    alice = env.users[0]
    assert env.chain.query(env.swap, "pair_count", []) == 0
    env.chain.must(alice, env.swap, "create_pair", [c, b])
    env.chain.must(alice, env.swap, "create_pair", [a, c])
    assert env.chain.query(env.swap, "pair_count", []) == 2
    assert env.chain.query(env.swap, "pair_at", [0]) == [b, c]
    assert env.chain.query(env.swap, "pair_at", [1]) == [a, c]
    assert env.chain.query(env.swap, "pairs", []) == [[b, c], [a, c]]
    for bad in (2, -1):
        with pytest.raises(AssertionError, match="no such pair"):
            env.chain.query(env.swap, "pair_at", [bad])
