"""Swap: constant-product pools with Uniswap V2 semantics, every pair in one contract.

A pair is keyed by its two token addresses sorted by their bytes (token0 < token1).
Its reserves and LP supply live in storage["pool", token0, token1] = [reserve0, reserve1, supply];
LP shares are internal balances, storage["lp", token0, token1, owner]. Because one contract
holds every pair, its balance of a token is the sum of that token's reserves over all pairs:
the contract moves tokens only for amounts it has priced itself, and an intermediate hop of a
multi-hop swap moves reserves between pairs without any token transfer.

Every division rounds in the pool's favour: outputs and LP shares round down, inputs round up.
External token calls are made before the pool state they depend on is read (tokens are pulled
first) or after every state change (tokens are paid last), so a token calling back in sees
consistent pools.
"""

MINIMUM_LIQUIDITY = 1_000
# As V2's uint112 reserves: it keeps every product of the k check well inside 256 bits.
MAX_RESERVE = 2**112 - 1
FEE_KEEP = 997
FEE_BASE = 1_000
BPS = 10_000
# Bound on the numerator and denominator of the price-impact ratio, so that BPS * den fits an int.
RATIO_LIMIT = 2**240
RATIO_SHIFT = 2**32


@constructor
def init():
    storage["npairs"] = 0
    # The admin may require identity claims of a pool's traders and providers (set_requirement).
    storage["admin"] = ctx.sender


def require_identity(token0, token1, account):
    """Revert with the registry's reason code when the pool requires claims `account` lacks."""
    req = storage.get(("req", token0, token1), None)
    if req is None:
        return
    reason = call(req["registry"], "check", [account, req["topics"]])
    require(reason == "", reason)


# ---- helpers -------------------------------------------------------------------------------


def sort_tokens(token_a, token_b) -> list:
    require(token_a != token_b, "identical tokens")
    require(token_a != ZERO_ADDRESS and token_b != ZERO_ADDRESS, "zero address")
    if token_a < token_b:
        return [token_a, token_b]
    return [token_b, token_a]


def check_deadline(deadline):
    require(ctx.time <= deadline, "expired")


def load_pool(token0, token1) -> list:
    pool = storage.get(["pool", token0, token1], None)
    require(pool is not None, "pair does not exist")
    return pool


def store_pool(token0, token1, reserve0, reserve1, supply):
    require(reserve0 <= MAX_RESERVE and reserve1 <= MAX_RESERVE, "overflow")
    storage["pool", token0, token1] = [reserve0, reserve1, supply]
    emit("Sync", token0, token1, reserve0, reserve1)


def reserves_for(token_in, token_out) -> list:
    pair = sort_tokens(token_in, token_out)
    pool = load_pool(pair[0], pair[1])
    if token_in == pair[0]:
        return [pool[0], pool[1]]
    return [pool[1], pool[0]]


def new_pair(token0, token1):
    storage["pool", token0, token1] = [0, 0, 0]
    count = storage.get("npairs", 0)
    storage["pair_at", count] = [token0, token1]
    storage["npairs"] = count + 1
    emit("PairCreated", token0, token1)


def lp_of(token0, token1, owner) -> int:
    return storage.get(["lp", token0, token1, owner], 0)


def set_lp(token0, token1, owner, amount):
    if amount == 0:
        if ["lp", token0, token1, owner] in storage:
            del storage["lp", token0, token1, owner]
    else:
        storage["lp", token0, token1, owner] = amount


def pull(token, owner, amount):
    ok = call(token, "transfer_from", [owner, ctx.this, amount])
    require(ok, "transfer failed")


def pay(token, to, amount):
    ok = call(token, "transfer", [to, amount])
    require(ok, "transfer failed")


def amount_out_for(amount_in, reserve_in, reserve_out) -> int:
    require(amount_in > 0, "insufficient input amount")
    require(reserve_in > 0 and reserve_out > 0, "insufficient liquidity")
    taxed = amount_in * FEE_KEEP
    return taxed * reserve_out // (reserve_in * FEE_BASE + taxed)


def amount_in_for(amount_out, reserve_in, reserve_out) -> int:
    require(amount_out > 0, "insufficient output amount")
    require(reserve_in > 0 and reserve_out > amount_out, "insufficient liquidity")
    return reserve_in * amount_out * FEE_BASE // ((reserve_out - amount_out) * FEE_KEEP) + 1


def check_path(path):
    require(len(path) >= 2, "invalid path")


def amounts_out_along(amount_in, path) -> list:
    check_path(path)
    amounts = [amount_in]
    for i in range(len(path) - 1):
        res = reserves_for(path[i], path[i + 1])
        amounts.append(amount_out_for(amounts[i], res[0], res[1]))
    return amounts


def amounts_in_along(amount_out, path) -> list:
    check_path(path)
    n = len(path)
    amounts = [0] * n
    amounts[n - 1] = amount_out
    for i in range(n - 1, 0, -1):
        res = reserves_for(path[i - 1], path[i])
        amounts[i - 1] = amount_in_for(amounts[i], res[0], res[1])
    return amounts


def quote_amount(amount_a, reserve_a, reserve_b) -> int:
    require(amount_a > 0, "insufficient amount")
    require(reserve_a > 0 and reserve_b > 0, "insufficient liquidity")
    return amount_a * reserve_b // reserve_a


def mint_shares(token0, token1, amount0, amount1, to) -> int:
    pool = load_pool(token0, token1)
    supply = pool[2]
    if supply == 0:
        liquidity = isqrt(amount0 * amount1) - MINIMUM_LIQUIDITY
        require(liquidity > 0, "insufficient liquidity minted")
        # The first MINIMUM_LIQUIDITY shares belong to nobody, so the share price can never be
        # pushed so high that later providers are rounded out of their deposit.
        set_lp(token0, token1, ZERO_ADDRESS, MINIMUM_LIQUIDITY)
        supply = MINIMUM_LIQUIDITY
    else:
        liquidity = min(amount0 * supply // pool[0], amount1 * supply // pool[1])
        require(liquidity > 0, "insufficient liquidity minted")
    set_lp(token0, token1, to, lp_of(token0, token1, to) + liquidity)
    store_pool(token0, token1, pool[0] + amount0, pool[1] + amount1, supply + liquidity)
    emit("Mint", ctx.sender, token0, token1, amount0, amount1, liquidity)
    return liquidity


def burn_shares(token0, token1, liquidity, owner, to) -> list:
    require(liquidity > 0, "insufficient liquidity burned")
    pool = load_pool(token0, token1)
    held = lp_of(token0, token1, owner)
    require(held >= liquidity, "insufficient lp balance")
    supply = pool[2]
    amount0 = liquidity * pool[0] // supply
    amount1 = liquidity * pool[1] // supply
    require(amount0 > 0 and amount1 > 0, "insufficient liquidity burned")
    set_lp(token0, token1, owner, held - liquidity)
    store_pool(token0, token1, pool[0] - amount0, pool[1] - amount1, supply - liquidity)
    emit("Burn", ctx.sender, token0, token1, amount0, amount1, liquidity, to)
    return [amount0, amount1]


# One hop: the input is already in the contract (pulled, or the previous hop's output) and the
# caller pays the output, so only reserves move here.
def swap_step(token_in, token_out, amount_in, amount_out, to):
    require(amount_in > 0, "insufficient input amount")
    require(amount_out > 0, "insufficient output amount")
    pair = sort_tokens(token_in, token_out)
    pool = load_pool(pair[0], pair[1])
    if token_in == pair[0]:
        in0 = amount_in
        in1 = 0
        out0 = 0
        out1 = amount_out
    else:
        in0 = 0
        in1 = amount_in
        out0 = amount_out
        out1 = 0
    reserve0 = pool[0]
    reserve1 = pool[1]
    require(out0 < reserve0 or out0 == 0, "insufficient liquidity")
    require(out1 < reserve1 or out1 == 0, "insufficient liquidity")
    balance0 = reserve0 + in0 - out0
    balance1 = reserve1 + in1 - out1
    adjusted0 = balance0 * FEE_BASE - in0 * (FEE_BASE - FEE_KEEP)
    adjusted1 = balance1 * FEE_BASE - in1 * (FEE_BASE - FEE_KEEP)
    require(adjusted0 * adjusted1 >= reserve0 * reserve1 * FEE_BASE * FEE_BASE, "k")
    # A trusted router (the payments contract) checks the account it acts for itself.
    if not storage.get(("router", ctx.sender), False):
        require_identity(pair[0], pair[1], ctx.sender)
    if to != ctx.this:
        require_identity(pair[0], pair[1], to)
    store_pool(pair[0], pair[1], balance0, balance1, pool[2])
    emit("Swap", ctx.sender, token_in, token_out, amount_in, amount_out, to)


def run_path(amounts, path, to):
    require(to != ctx.this, "invalid to")
    last = len(path) - 1
    for i in range(last):
        hop_to = to if i == last - 1 else ctx.this
        swap_step(path[i], path[i + 1], amounts[i], amounts[i + 1], hop_to)
    pay(path[last], to, amounts[last])


# Scales num/den down until both products fit under RATIO_LIMIT. The numerator rounds down and
# the denominator up, so the ratio only shrinks and the impact derived from it is never
# under-reported; exact whenever the products fit, which they do for all but huge reserves.
def shrink(num, den, mul_num, mul_den) -> list:
    while num > RATIO_LIMIT // mul_num or den > RATIO_LIMIT // mul_den:
        num = num // RATIO_SHIFT
        den = (den + RATIO_SHIFT - 1) // RATIO_SHIFT
    return [num * mul_num, den * mul_den]


def impact_bps(amounts, path) -> int:
    # execution / mid = (out / in) * prod(reserve_in / reserve_out): the hop amounts telescope.
    last = len(path) - 1
    num = amounts[last]
    den = amounts[0]
    for i in range(last):
        res = reserves_for(path[i], path[i + 1])
        scaled = shrink(num, den, res[0], res[1])
        num = scaled[0]
        den = scaled[1]
    if num >= den:
        return 0
    return ((den - num) * BPS + den - 1) // den


# ---- pairs and liquidity ---------------------------------------------------------------------


@public
@nonreentrant
def set_requirement(token_a: address, token_b: address, registry: address, topics: list[str]):
    """Require claims of the registry from the pool's traders, recipients and liquidity providers
    (leaving a pool never needs them); no topics lifts the requirement."""
    require(ctx.sender == storage["admin"], "not_admin")
    require(len(topics) <= 8, "bad_topics")
    pair = sort_tokens(token_a, token_b)
    if len(topics) == 0:
        if ("req", pair[0], pair[1]) in storage:
            del storage["req", pair[0], pair[1]]
    else:
        storage["req", pair[0], pair[1]] = {"registry": registry, "topics": topics}
    emit("RequirementSet", pair[0], pair[1], registry, topics)


@public
def set_router(router: address, trusted: bool):
    """Trust a router contract that checks, for every gated pool it trades through, the claims of
    the account it trades for: the pool then checks the router's recipient, not the router."""
    require(ctx.sender == storage["admin"], "not_admin")
    if trusted:
        storage["router", router] = True
    elif ("router", router) in storage:
        del storage["router", router]
    emit("RouterSet", router, trusted)


@view
def is_router(account: address) -> bool:
    return storage.get(("router", account), False)


@view
def has_pair(token_a: address, token_b: address) -> bool:
    pair = sort_tokens(token_a, token_b)
    return ["pool", pair[0], pair[1]] in storage


@view
def requirement(token_a: address, token_b: address) -> dict:
    pair = sort_tokens(token_a, token_b)
    return storage.get(("req", pair[0], pair[1]), {})


@public
@nonreentrant
def create_pair(token_a: address, token_b: address) -> list:
    pair = sort_tokens(token_a, token_b)
    require(["pool", pair[0], pair[1]] not in storage, "pair exists")
    new_pair(pair[0], pair[1])
    return pair


@public
@nonreentrant
def add_liquidity(
    token_a: address,
    token_b: address,
    amount_a_desired: int,
    amount_b_desired: int,
    amount_a_min: int,
    amount_b_min: int,
    to: address,
    deadline: int,
) -> list:
    check_deadline(deadline)
    require(amount_a_desired >= 0 and amount_b_desired >= 0, "negative amount")
    pair = sort_tokens(token_a, token_b)
    require_identity(pair[0], pair[1], ctx.sender)
    if ["pool", pair[0], pair[1]] not in storage:
        new_pair(pair[0], pair[1])
    res = reserves_for(token_a, token_b)
    if res[0] == 0 and res[1] == 0:
        amount_a = amount_a_desired
        amount_b = amount_b_desired
    else:
        amount_b_optimal = quote_amount(amount_a_desired, res[0], res[1])
        if amount_b_optimal <= amount_b_desired:
            amount_a = amount_a_desired
            amount_b = amount_b_optimal
        else:
            amount_a = quote_amount(amount_b_desired, res[1], res[0])
            amount_b = amount_b_desired
    require(amount_a >= amount_a_min, "insufficient a amount")
    require(amount_b >= amount_b_min, "insufficient b amount")
    pull(token_a, ctx.sender, amount_a)
    pull(token_b, ctx.sender, amount_b)
    if token_a == pair[0]:
        liquidity = mint_shares(pair[0], pair[1], amount_a, amount_b, to)
    else:
        liquidity = mint_shares(pair[0], pair[1], amount_b, amount_a, to)
    return [amount_a, amount_b, liquidity]


@public
@nonreentrant
def remove_liquidity(
    token_a: address,
    token_b: address,
    liquidity: int,
    amount_a_min: int,
    amount_b_min: int,
    to: address,
    deadline: int,
) -> list:
    check_deadline(deadline)
    require(to != ctx.this, "invalid to")
    pair = sort_tokens(token_a, token_b)
    out = burn_shares(pair[0], pair[1], liquidity, ctx.sender, to)
    if token_a == pair[0]:
        amount_a = out[0]
        amount_b = out[1]
    else:
        amount_a = out[1]
        amount_b = out[0]
    require(amount_a >= amount_a_min, "insufficient a amount")
    require(amount_b >= amount_b_min, "insufficient b amount")
    pay(token_a, to, amount_a)
    pay(token_b, to, amount_b)
    return [amount_a, amount_b]


@public
@nonreentrant
def transfer_lp(token_a: address, token_b: address, to: address, amount: int) -> bool:
    require(amount >= 0, "negative amount")
    pair = sort_tokens(token_a, token_b)
    load_pool(pair[0], pair[1])
    held = lp_of(pair[0], pair[1], ctx.sender)
    require(held >= amount, "insufficient lp balance")
    if to != ctx.sender:
        set_lp(pair[0], pair[1], ctx.sender, held - amount)
        set_lp(pair[0], pair[1], to, lp_of(pair[0], pair[1], to) + amount)
    emit("LpTransfer", pair[0], pair[1], ctx.sender, to, amount)
    return True


# ---- swaps -----------------------------------------------------------------------------------


@public
@nonreentrant
def swap(token_in: address, token_out: address, amount_in: int, amount_out: int, to: address) -> int:
    # The caller names both amounts; only the fee-adjusted k check in swap_step guards the pool.
    require(to != ctx.this, "invalid to")
    require(amount_in > 0, "insufficient input amount")
    pull(token_in, ctx.sender, amount_in)
    swap_step(token_in, token_out, amount_in, amount_out, to)
    pay(token_out, to, amount_out)
    return amount_out


@public
@nonreentrant
def swap_exact_tokens_for_tokens(
    amount_in: int, amount_out_min: int, path: list[address], to: address, deadline: int
) -> list:
    check_deadline(deadline)
    amounts = amounts_out_along(amount_in, path)
    require(amounts[len(amounts) - 1] >= amount_out_min, "insufficient output amount")
    pull(path[0], ctx.sender, amounts[0])
    run_path(amounts, path, to)
    return amounts


@public
@nonreentrant
def swap_tokens_for_exact_tokens(
    amount_out: int, amount_in_max: int, path: list[address], to: address, deadline: int
) -> list:
    check_deadline(deadline)
    amounts = amounts_in_along(amount_out, path)
    require(amounts[0] <= amount_in_max, "excessive input amount")
    pull(path[0], ctx.sender, amounts[0])
    run_path(amounts, path, to)
    return amounts


# ---- views -----------------------------------------------------------------------------------


@view
def get_pair(token_a: address, token_b: address) -> dict:
    pair = sort_tokens(token_a, token_b)
    pool = load_pool(pair[0], pair[1])
    return {
        "token0": pair[0],
        "token1": pair[1],
        "reserve0": pool[0],
        "reserve1": pool[1],
        "total_supply": pool[2],
    }


@view
def get_reserves(token_a: address, token_b: address) -> list:
    return reserves_for(token_a, token_b)


@view
def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    return amount_out_for(amount_in, reserve_in, reserve_out)


@view
def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    return amount_in_for(amount_out, reserve_in, reserve_out)


@view
def get_amounts_out(amount_in: int, path: list[address]) -> list:
    return amounts_out_along(amount_in, path)


@view
def get_amounts_in(amount_out: int, path: list[address]) -> list:
    return amounts_in_along(amount_out, path)


@view
def quote(amount_in: int, path: list[address]) -> dict:
    amounts = amounts_out_along(amount_in, path)
    return {
        "amounts": amounts,
        "amount_out": amounts[len(amounts) - 1],
        "price_impact_bps": impact_bps(amounts, path),
    }


@view
def lp_balance(token_a: address, token_b: address, owner: address) -> int:
    pair = sort_tokens(token_a, token_b)
    return lp_of(pair[0], pair[1], owner)


@view
def pairs() -> list:
    count = storage.get("npairs", 0)
    return [storage["pair_at", i] for i in range(count)]


@view
def pools(start: int, limit: int) -> list:
    """Pairs start .. start+limit-1 with their reserves, [[token0, token1, reserve0, reserve1], ...]:
    a path finder reads every pool at one height in one call."""
    require(start >= 0 and limit >= 0, "bad range")
    count = storage.get("npairs", 0)
    out = []
    for i in range(start, min(count, start + limit)):
        pair = storage["pair_at", i]
        pool = storage["pool", pair[0], pair[1]]
        out.append([pair[0], pair[1], pool[0], pool[1]])
    return out


@view
def pair_count() -> int:
    return storage.get("npairs", 0)


@view
def pair_at(index: int) -> list:
    require(0 <= index < storage.get("npairs", 0), "no such pair")
    return storage["pair_at", index]
