"""Lending: a Compound v2 style money market, comptroller and every market in one contract.

One market per underlying token. Suppliers get cTokens (internal balances) that grow in
value as borrowers pay interest; every market an account supplies to is collateral.
Mantissas (rates, factors, prices, indexes) are scaled by 10**18. Every rounding goes in
the protocol's favour: users get rounded down, their debts rounded up.

Cash is tracked in storage rather than read from the token balance, so tokens sent to the
contract directly are a gift that cannot move the exchange rate. Each market is seeded at
listing with cTokens locked at ZERO_ADDRESS, so it is never empty and no first supplier
can set its exchange rate.

Interest is simple within an accrual period (index *= 1 + rate * blocks) and compounds
from one accrual to the next, as in Compound. Views that report balances or liquidity
bring interest to the current block in memory; `market` and `exchange_rate` show the
stored state.
"""

EXP = 10**18
# Compound's ceiling: at least 10% of a position must stay unborrowable.
MAX_COLLATERAL_FACTOR = 9 * 10**17


# ---------------------------------------------------------------- helpers


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def require_identity(token, account):
    """Revert with the registry's reason code when the market requires claims `account` lacks."""
    req = storage.get(("req", token), None)
    if req is None:
        return
    reason = call(req["registry"], "check", [account, req["topics"]])
    require(reason == "", reason)


def only_admin():
    require(ctx.sender == storage["admin"], "only the admin")


def listed(token) -> bool:
    return storage.get(("market", token)) is not None


def load_market(token) -> dict:
    m = storage.get(("market", token))
    require(m is not None, "market not listed")
    return m


def utilization_of(m: dict) -> int:
    if m["borrows"] == 0:
        return 0
    funds = m["cash"] + m["borrows"] - m["reserves"]
    if funds <= 0:
        # Unreachable while the locked seed keeps the market's value positive; avoids a division by zero.
        return EXP
    # Up: a higher utilization means a higher borrow rate, paid to the pool.
    return ceil_div(m["borrows"] * EXP, funds)


def borrow_rate_of(m: dict) -> int:
    u = utilization_of(m)
    kink = m["kink"]
    # Up on every term: borrowers pay the pool.
    if u <= kink:
        return m["base"] + ceil_div(u * m["mult"], EXP)
    normal = m["base"] + ceil_div(kink * m["mult"], EXP)
    return normal + ceil_div((u - kink) * m["jump"], EXP)


def supply_rate_of(m: dict) -> int:
    # Down: it is only what suppliers are promised, never more than they earn.
    earned = borrow_rate_of(m) * (EXP - m["rf"]) // EXP
    return utilization_of(m) * earned // EXP


def accrued(m: dict) -> dict:
    """The market brought to the current block, in memory only (views use it too)."""
    blocks = ctx.height - m["accrual_height"]
    if blocks <= 0:
        return m
    factor = borrow_rate_of(m) * blocks
    # Up: interest is owed to the pool.
    interest = ceil_div(m["borrows"] * factor, EXP)
    m["borrows"] = m["borrows"] + interest
    # Up: the reserves are the protocol's own share of the interest (never above it: rf <= 1).
    m["reserves"] = m["reserves"] + ceil_div(interest * m["rf"], EXP)
    # Up: every borrower's balance is scaled by the index, so each owes at least the exact interest.
    m["borrow_index"] = ceil_div(m["borrow_index"] * (EXP + factor), EXP)
    m["accrual_height"] = ctx.height
    m["last_interest"] = interest
    return m


def accrue_market(token) -> dict:
    m = load_market(token)
    if ctx.height <= m["accrual_height"]:
        return m
    m = accrued(m)
    interest = m.pop("last_interest")
    storage["market", token] = m
    emit("AccrueInterest", token, m["cash"], interest, m["borrow_index"], m["borrows"])
    return m


def current_market(token) -> dict:
    m = accrued(load_market(token))
    m.pop("last_interest", None)
    return m


def rate_of(m: dict) -> int:
    # Down: each cToken is worth a little less, so minting gives fewer and redeeming pays less.
    return (m["cash"] + m["borrows"] - m["reserves"]) * EXP // m["total_ctokens"]


def ctokens_of(token, account) -> int:
    return storage.get(("ctokens", token, account), 0)


def debt_of(token, account, index: int) -> int:
    snap = storage.get(("borrow", token, account))
    if snap is None or snap[0] == 0:
        return 0
    # Up: the borrower owes at least the exact amount.
    return ceil_div(snap[0] * index, snap[1])


def set_debt(token, account, amount: int, index: int):
    storage["borrow", token, account] = [amount, index]


def touch(account, token):
    held = storage.get(("assets", account), [])
    if token not in held:
        held.append(token)
        storage["assets", account] = held


def price_of(token) -> int:
    p = call(storage["oracle"], "price", [token])
    require(p > 0, "price is zero")
    return p


def values_of(account, skip_without_debt: bool) -> list:
    """[collateral value * collateral factor, borrow value] in quote units, interest to now.

    With skip_without_debt an account that owes nothing gets [0, 0] without asking the
    oracle, so suppliers can leave even while a price is stale.
    """
    rows = []
    any_debt = False
    for token in storage.get(("assets", account), []):
        m = current_market(token)
        held = ctokens_of(token, account)
        debt = debt_of(token, account, m["borrow_index"])
        if debt > 0:
            any_debt = True
        if debt > 0 or (held > 0 and m["cf"] > 0):
            rows.append([token, m, held, debt])
    if skip_without_debt and not any_debt:
        return [0, 0]
    collateral = 0
    owed = 0
    for row in rows:
        token, m, held, debt = row
        p = price_of(token)
        if held > 0:
            # Compound v2's order (Comptroller.getHypotheticalAccountLiquidityInternal): the value
            # of one cToken, factor x rate x price, each product of mantissas truncated, then times
            # the balance, truncated. Down at each step, so collateral is never overvalued, and
            # borrow and liquidation decisions at the boundary are those of Compound.
            per_ctoken = m["cf"] * rate_of(m) // EXP * p // EXP
            collateral += per_ctoken * held // EXP
        if debt > 0:
            # Up: the account's debt is never undervalued.
            owed += ceil_div(debt * p, EXP)
    return [collateral, owed]


def require_no_shortfall(account):
    collateral, owed = values_of(account, True)
    require(collateral >= owed, "insufficient liquidity")


def pull(token, owner, amount: int):
    call(token, "transfer_from", [owner, ctx.this, amount])


def repay_for(payer, borrower, token, amount: int) -> int:
    m = accrue_market(token)
    debt = debt_of(token, borrower, m["borrow_index"])
    if amount == MAX_UINT:
        amount = debt
    require(amount >= 0, "amount must not be negative")
    require(debt > 0 and amount > 0, "nothing to repay")
    require(amount <= debt, "repay exceeds borrow")
    left = debt - amount
    set_debt(token, borrower, left, m["borrow_index"])
    # Each balance is rounded up, so their sum can pass the aggregate by a few units.
    m["borrows"] = max(0, m["borrows"] - amount)
    m["cash"] += amount
    storage["market", token] = m
    emit("Repay", payer, borrower, token, amount, left, m["borrows"])
    pull(token, payer, amount)
    return amount


def redeem_exact(token, account, ctokens: int, amount: int, m: dict) -> int:
    """Burns ctokens of account for amount underlying; m is the accrued market."""
    require(ctokens > 0 and amount > 0, "amount too small")
    held = ctokens_of(token, account)
    require(ctokens <= held, "insufficient ctokens")
    require(amount <= m["cash"], "insufficient cash")
    storage["ctokens", token, account] = held - ctokens
    m["total_ctokens"] -= ctokens
    m["cash"] -= amount
    storage["market", token] = m
    require_no_shortfall(account)
    emit("Redeem", account, token, amount, ctokens)
    call(token, "transfer", [account, amount])
    return amount


# ---------------------------------------------------------------- admin


@constructor
def init(oracle: address, close_factor: int, liquidation_incentive: int):
    require(0 < close_factor <= EXP, "bad close factor")
    require(liquidation_incentive >= EXP, "bad liquidation incentive")
    storage["admin"] = ctx.sender
    storage["oracle"] = oracle
    storage["close_factor"] = close_factor
    storage["incentive"] = liquidation_incentive
    storage["markets"] = []


@public
@nonreentrant
def list_market(
    token: address,
    collateral_factor: int,
    reserve_factor: int,
    base_rate_per_block: int,
    multiplier_per_block: int,
    jump_multiplier_per_block: int,
    kink: int,
    initial_exchange_rate: int,
    seed: int,
):
    only_admin()
    require(not listed(token), "market already listed")
    require(0 <= collateral_factor <= MAX_COLLATERAL_FACTOR, "collateral factor too high")
    require(0 <= reserve_factor <= EXP, "reserve factor too high")
    require(base_rate_per_block >= 0 and multiplier_per_block >= 0, "bad rate model")
    require(jump_multiplier_per_block >= 0 and 0 < kink <= EXP, "bad rate model")
    require(initial_exchange_rate > 0, "bad exchange rate")
    require(seed > 0, "seed must be positive")
    # Down, like every mint; the seed cTokens are owned by nobody so the market is never empty.
    locked = seed * EXP // initial_exchange_rate
    require(locked > 0, "seed too small")
    m = {
        "cash": seed,
        "borrows": 0,
        "reserves": 0,
        "total_ctokens": locked,
        "borrow_index": EXP,
        "accrual_height": ctx.height,
        "cf": collateral_factor,
        "rf": reserve_factor,
        "base": base_rate_per_block,
        "mult": multiplier_per_block,
        "jump": jump_multiplier_per_block,
        "kink": kink,
    }
    storage["market", token] = m
    storage["ctokens", token, ZERO_ADDRESS] = locked
    tokens = storage["markets"]
    tokens.append(token)
    storage["markets"] = tokens
    emit("MarketListed", token, collateral_factor, reserve_factor, initial_exchange_rate, seed)
    pull(token, ctx.sender, seed)


@public
def set_collateral_factor(token: address, collateral_factor: int):
    only_admin()
    m = load_market(token)
    require(0 <= collateral_factor <= MAX_COLLATERAL_FACTOR, "collateral factor too high")
    if collateral_factor > 0:
        # Collateral without a price would be valued at nothing or block every borrower.
        price_of(token)
    m["cf"] = collateral_factor
    storage["market", token] = m
    emit("CollateralFactorSet", token, collateral_factor)


@public
def set_reserve_factor(token: address, reserve_factor: int):
    only_admin()
    # Interest accrued so far is split at the old factor.
    m = accrue_market(token)
    require(0 <= reserve_factor <= EXP, "reserve factor too high")
    m["rf"] = reserve_factor
    storage["market", token] = m
    emit("ReserveFactorSet", token, reserve_factor)


@public
def set_requirement(token: address, registry: address, topics: list[str]):
    """Require claims of the registry to enter a market: to supply, borrow, or seize its collateral
    as a liquidator. Leaving (redeem, repay) never needs them, so no one is locked in; no topics
    lifts the requirement."""
    only_admin()
    require(listed(token), "market not listed")
    require(len(topics) <= 8, "bad_topics")
    if len(topics) == 0:
        if ("req", token) in storage:
            del storage["req", token]
    else:
        storage["req", token] = {"registry": registry, "topics": topics}
    emit("RequirementSet", token, registry, topics)


@view
def requirement(token: address) -> dict:
    return storage.get(("req", token), {})


@public
def set_oracle(oracle: address):
    only_admin()
    storage["oracle"] = oracle
    emit("OracleSet", oracle)


@public
@nonreentrant
def reduce_reserves(token: address, amount: int, to: address):
    only_admin()
    m = accrue_market(token)
    require(amount > 0, "amount must be positive")
    require(amount <= m["reserves"], "insufficient reserves")
    require(amount <= m["cash"], "insufficient cash")
    m["reserves"] -= amount
    m["cash"] -= amount
    storage["market", token] = m
    emit("ReservesReduced", token, amount, to, m["reserves"])
    call(token, "transfer", [to, amount])


# ---------------------------------------------------------------- market actions


@public
def accrue(token: address):
    accrue_market(token)


@public
@nonreentrant
def supply(token: address, amount: int) -> int:
    m = accrue_market(token)
    require(amount > 0, "amount must be positive")
    account = ctx.sender
    require_identity(token, account)
    # Down (rate_of rounds down too): the supplier never gets more than the amount is worth.
    minted = amount * EXP // rate_of(m)
    require(minted > 0, "amount too small")
    storage["ctokens", token, account] = ctokens_of(token, account) + minted
    m["total_ctokens"] += minted
    m["cash"] += amount
    storage["market", token] = m
    touch(account, token)
    emit("Supply", account, token, amount, minted)
    pull(token, account, amount)
    return minted


@public
@nonreentrant
def redeem(token: address, ctokens: int) -> int:
    m = accrue_market(token)
    if ctokens == MAX_UINT:
        ctokens = ctokens_of(token, ctx.sender)
    require(ctokens >= 0, "amount must not be negative")
    # Down: the redeemer gets at most what the cTokens are worth.
    amount = ctokens * rate_of(m) // EXP
    return redeem_exact(token, ctx.sender, ctokens, amount, m)


@public
@nonreentrant
def redeem_underlying(token: address, amount: int) -> int:
    m = accrue_market(token)
    require(amount >= 0, "amount must not be negative")
    # Up: the redeemer burns at least what the amount is worth.
    burned = ceil_div(amount * EXP, rate_of(m))
    redeem_exact(token, ctx.sender, burned, amount, m)
    return burned


@public
@nonreentrant
def borrow(token: address, amount: int) -> int:
    m = accrue_market(token)
    require(amount > 0, "amount must be positive")
    require(amount <= m["cash"], "insufficient cash")
    account = ctx.sender
    require_identity(token, account)
    owed = debt_of(token, account, m["borrow_index"]) + amount
    set_debt(token, account, owed, m["borrow_index"])
    m["borrows"] += amount
    m["cash"] -= amount
    storage["market", token] = m
    touch(account, token)
    require_no_shortfall(account)
    emit("Borrow", account, token, amount, owed, m["borrows"])
    call(token, "transfer", [account, amount])
    return owed


@public
@nonreentrant
def repay(token: address, amount: int) -> int:
    return repay_for(ctx.sender, ctx.sender, token, amount)


@public
@nonreentrant
def repay_behalf(borrower: address, token: address, amount: int) -> int:
    return repay_for(ctx.sender, borrower, token, amount)


@public
@nonreentrant
def liquidate(borrower: address, repay_token: address, amount: int, collateral_token: address) -> int:
    liquidator = ctx.sender
    require(liquidator != borrower, "cannot liquidate yourself")
    require_identity(collateral_token, liquidator)
    accrue_market(repay_token)
    coll = accrue_market(collateral_token)
    require(amount > 0, "amount must be positive")
    collateral, owed = values_of(borrower, True)
    require(owed > collateral, "account not in shortfall")
    debt = debt_of(repay_token, borrower, storage["market", repay_token]["borrow_index"])
    # Down: the close factor caps what one liquidation may take from the borrower.
    require(amount <= debt * storage["close_factor"] // EXP, "too much repay")
    p_repay = price_of(repay_token)
    p_coll = price_of(collateral_token)
    # Down: the liquidator's reward is never more than the exact incentive.
    seized = amount * p_repay * storage["incentive"] // (p_coll * rate_of(coll))
    held = ctokens_of(collateral_token, borrower)
    require(seized <= held, "insufficient collateral")
    repay_for(liquidator, borrower, repay_token, amount)
    storage["ctokens", collateral_token, borrower] = held - seized
    storage["ctokens", collateral_token, liquidator] = ctokens_of(collateral_token, liquidator) + seized
    touch(liquidator, collateral_token)
    emit("Liquidate", liquidator, borrower, repay_token, amount, collateral_token, seized)
    return seized


# ---------------------------------------------------------------- views


@view
def admin() -> address:
    return storage["admin"]


@view
def oracle() -> address:
    return storage["oracle"]


@view
def close_factor() -> int:
    return storage["close_factor"]


@view
def liquidation_incentive() -> int:
    return storage["incentive"]


@view
def markets() -> list:
    return storage["markets"]


@view
def market(token: address) -> dict:
    """The stored state: interest up to accrual_height only."""
    return market_json(load_market(token))


@view
def market_now(token: address) -> dict:
    """As `market`, with interest brought to the current block: the numbers the next action in this
    block starts from (a vault prices its shares with them). {} for a token that is not listed."""
    if not listed(token):
        return {}
    return market_json(current_market(token))


def market_json(m: dict) -> dict:
    return {
        "cash": m["cash"],
        "borrows": m["borrows"],
        "reserves": m["reserves"],
        "total_ctokens": m["total_ctokens"],
        "borrow_index": m["borrow_index"],
        "exchange_rate": rate_of(m),
        "collateral_factor": m["cf"],
        "reserve_factor": m["rf"],
        "utilization": utilization_of(m),
        "borrow_rate": borrow_rate_of(m),
        "supply_rate": supply_rate_of(m),
        "accrual_height": m["accrual_height"],
    }


@view
def exchange_rate(token: address) -> int:
    """Stored: interest up to accrual_height only."""
    return rate_of(load_market(token))


@view
def ctoken_balance(token: address, account: address) -> int:
    load_market(token)
    return ctokens_of(token, account)


@view
def supply_balance(token: address, account: address) -> int:
    """Underlying worth of the account's cTokens, interest to the current block."""
    return ctokens_of(token, account) * rate_of(current_market(token)) // EXP


@view
def borrow_balance(token: address, account: address) -> int:
    """Debt with interest to the current block."""
    return debt_of(token, account, current_market(token)["borrow_index"])


@view
def assets_of(account: address) -> list:
    return storage.get(("assets", account), [])


@view
def account_liquidity(account: address) -> dict:
    collateral, owed = values_of(account, False)
    if collateral >= owed:
        return {"liquidity": collateral - owed, "shortfall": 0}
    return {"liquidity": 0, "shortfall": owed - collateral}


@view
def health_factor(account: address) -> int:
    collateral, owed = values_of(account, True)
    if owed == 0:
        return MAX_UINT
    return collateral * EXP // owed
