"""Vault: an ERC-4626 tokenized vault whose assets earn interest in the lending market.

Shares are an ERC-20 token of this contract. Deposited assets are supplied to the lending
market (lending.py) at once; the vault's total assets are its supply balance there, with
interest to the current block, plus idle cash (what it holds itself: gifts sent to it, or a
deposit too small to mint one cToken). Withdrawals take idle cash first, then redeem the rest
from the market; when the market lacks the cash, they revert with `insufficient_liquidity`.

Share price and rounding. Shares and assets convert as in OpenZeppelin's ERC4626 with a
decimals offset: shares = assets * (supply + 10**offset) // (total_assets + 1). The virtual
10**offset shares and 1 asset keep an empty vault from being priced by its first depositor:
a donation to a nearly empty vault goes mostly to the virtual shares, so the inflation
attack costs the attacker about 10**offset times what the victim loses to rounding
(docs/finance.md, "Investment vault"). Every conversion rounds in the vault's favour as
EIP-4626 prescribes (deposit and redeem round down, mint and withdraw round up), and it
rounds on what an action really adds to or takes from the total assets: the market rounds
its cToken mints and burns in its own favour, so a deposit adds a little less than its
amount and a withdrawal takes a little more. Pricing on those real changes is what keeps the
share price from ever dropping by rounding; it only grows with interest and gifts. Every
preview computes exactly what the action then does in the same block.

Refusals revert with reason codes from docs/finance.md; the asset's and the registry's own
codes pass through unchanged.
"""

EXP = 10**18
MAX_OFFSET = 18
# Amounts above this are refused: it keeps every product of the share arithmetic within 256 bits.
MAX_AMOUNT = 2**128 - 1
MAX_TOPICS = 8


# ---------------------------------------------------------------- helpers


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def check_amount(amount):
    require(0 < amount <= MAX_AMOUNT, "bad_amount")


def require_verified(account):
    """Revert with the registry's code when a requirement is set and `account` lacks its claims."""
    req = storage.get("req", None)
    if req is None:
        return
    reason = call(req["registry"], "check", [account, req["topics"]])
    require(reason == "", reason)


def is_verified(account) -> bool:
    req = storage.get("req", None)
    if req is None:
        return True
    return call(req["registry"], "check", [account, req["topics"]]) == ""


def state_now() -> dict:
    """The vault as the next action in this block finds it: idle cash, cTokens, the market's
    exchange rate and cash with interest to now, total assets and share supply."""
    asset = storage["asset"]
    idle = call(asset, "balance_of", [ctx.this])
    m = call(storage["lending"], "market_now", [asset])
    if len(m) == 0:
        # Not listed yet: nothing can be in the market, and only idle cash (gifts) counts. The
        # views answer; deposits and mints refuse with market_not_listed.
        return {"listed": False, "idle": idle, "c": 0, "r": EXP, "cash": 0, "base": 0, "total": idle,
                "supply": storage["supply"], "v": storage["virtual"]}
    c = call(storage["lending"], "ctoken_balance", [asset, ctx.this])
    r = m["exchange_rate"]
    base = c * r // EXP
    return {"listed": True, "idle": idle, "c": c, "r": r, "cash": m["cash"], "base": base, "total": idle + base,
            "supply": storage["supply"], "v": storage["virtual"]}


def to_shares(assets: int, st: dict, up: bool) -> int:
    if up:
        return ceil_div(assets * (st["supply"] + st["v"]), st["total"] + 1)
    return assets * (st["supply"] + st["v"]) // (st["total"] + 1)


def to_assets(shares: int, st: dict, up: bool) -> int:
    if up:
        return ceil_div(shares * (st["total"] + 1), st["supply"] + st["v"])
    return shares * (st["total"] + 1) // (st["supply"] + st["v"])


def deposit_gain(assets: int, st: dict) -> list:
    """[what depositing `assets` adds to the total assets, the cTokens the market mints for it].

    The market mints assets * EXP // rate cTokens (down); a deposit worth less than one cToken
    stays idle in the vault and adds exactly its amount."""
    minted = assets * EXP // st["r"]
    if minted == 0:
        return [assets, 0]
    return [(st["c"] + minted) * st["r"] // EXP - st["base"], minted]


def mint_cost(shares: int, st: dict) -> int:
    """The fewest assets whose deposit adds at least the (rounded up) value of `shares`."""
    need = to_assets(shares, st, True)
    r = st["r"]
    # The cTokens to hold so that their worth passes the current worth by `need`, then the
    # fewest assets the market turns into that many (its mint rounds down).
    ctokens = ceil_div((st["base"] + need) * EXP, r) - st["c"]
    return ceil_div(ctokens * r, EXP)


def withdraw_cost(assets: int, st: dict) -> int:
    """What paying out `assets` takes from the total assets: idle cash first, then the market,
    whose redeem burns ceil(x * EXP / rate) cTokens, a little more than x is worth."""
    if assets <= st["idle"]:
        return assets
    burned = ceil_div((assets - st["idle"]) * EXP, st["r"])
    return st["idle"] + st["base"] - (st["c"] - burned) * st["r"] // EXP


def payout_for(value: int, st: dict) -> int:
    """The most assets whose withdrawal takes at most `value` from the total assets."""
    if value <= st["idle"]:
        return value
    keep = st["base"] - (value - st["idle"])  # the market worth that must remain
    burnable = st["c"]
    if keep > 0:
        burnable = st["c"] - ceil_div(keep * EXP, st["r"])
    return st["idle"] + burnable * st["r"] // EXP


def available(st: dict) -> int:
    """The most the vault can pay out now: idle cash and what the market's cash allows."""
    return st["idle"] + min(st["cash"], st["base"])


def require_liquidity(assets: int, st: dict):
    require(assets - st["idle"] <= st["cash"], "insufficient_liquidity")


def max_redeem_of(owner, st: dict) -> int:
    held = storage.get(("bal", owner), 0)
    if held == 0:
        return 0
    payout = payout_for(to_assets(held, st, False), st)
    if payout - st["idle"] <= st["cash"]:
        return held
    # Liquidity binds: the most shares whose value stays below the cost of what can be paid.
    fit = to_shares(withdraw_cost(available(st), st), st, True) - 1
    return max(0, min(held, fit))


def pay_out(assets: int, receiver, st: dict):
    from_market = assets - min(assets, st["idle"])
    if from_market > 0:
        call(storage["lending"], "redeem_underlying", [storage["asset"], from_market])
    call(storage["asset"], "transfer", [receiver, assets])


def put_to_work(assets: int, minted: int):
    call(storage["asset"], "transfer_from", [ctx.sender, ctx.this, assets])
    if minted > 0:
        call(storage["lending"], "supply", [storage["asset"], assets])


def enter(receiver):
    """Who may put assets in: a real receiver, and with a requirement, a verified sender and receiver."""
    require(receiver != ZERO_ADDRESS, "bad_recipient")
    require_verified(ctx.sender)
    if receiver != ctx.sender:
        require_verified(receiver)


def mint_shares(to, shares: int):
    storage["supply"] = storage["supply"] + shares
    storage["bal", to] = storage.get(("bal", to), 0) + shares
    emit("Transfer", ZERO_ADDRESS, to, shares)


def burn_shares(owner, shares: int):
    have = storage.get(("bal", owner), 0)
    require(have >= shares, "insufficient_shares")
    storage["bal", owner] = have - shares
    storage["supply"] = storage["supply"] - shares
    emit("Transfer", owner, ZERO_ADDRESS, shares)


def spend_allowance(owner, spender, shares: int):
    allowed = storage.get(("allow", owner, spender), 0)
    if allowed != MAX_UINT:
        require(allowed >= shares, "insufficient_share_allowance")
        storage["allow", owner, spender] = allowed - shares


def move(src, dst, shares: int):
    require(dst != ZERO_ADDRESS, "bad_recipient")
    require(shares >= 0, "bad_amount")
    require_verified(dst)
    have = storage.get(("bal", src), 0)
    require(have >= shares, "insufficient_shares")
    storage["bal", src] = have - shares
    # Read after the write so that a transfer to oneself leaves the balance unchanged.
    storage["bal", dst] = storage.get(("bal", dst), 0) + shares
    emit("Transfer", src, dst, shares)


# ---------------------------------------------------------------- setup


@constructor
def init(asset: address, lending: address, name: str, symbol: str, decimals_offset: int):
    """A vault over `asset` in the `lending` market; shares have the asset's decimals plus
    `decimals_offset`, and 10**decimals_offset virtual shares guard the empty vault."""
    require(0 <= decimals_offset <= MAX_OFFSET, "bad_offset")
    storage["admin"] = ctx.sender
    storage["asset"] = asset
    storage["lending"] = lending
    storage["name"] = name
    storage["symbol"] = symbol
    storage["decimals"] = call(asset, "decimals") + decimals_offset
    storage["offset"] = decimals_offset
    storage["virtual"] = 10**decimals_offset
    storage["supply"] = 0
    # Once, for good: the market pulls what the vault supplies.
    call(asset, "approve", [lending, MAX_UINT])


@public
def set_requirement(registry: address, topics: list[str]):
    """Require claims of the registry to deposit, mint or receive shares; leaving (withdraw,
    redeem) never needs them, so no one is locked in. No topics lifts the requirement."""
    require(ctx.sender == storage["admin"], "not_admin")
    require(len(topics) <= MAX_TOPICS, "bad_topics")
    if len(topics) == 0:
        if "req" in storage:
            del storage["req"]
    else:
        storage["req"] = {"registry": registry, "topics": topics}
    emit("RequirementSet", registry, topics)


@public
def transfer_admin(new_admin: address):
    require(ctx.sender == storage["admin"], "not_admin")
    require(new_admin != ZERO_ADDRESS, "bad_recipient")
    emit("AdminChanged", storage["admin"], new_admin)
    storage["admin"] = new_admin


# ---------------------------------------------------------------- ERC-4626 actions


@public
@nonreentrant
def deposit(assets: int, receiver: address) -> int:
    """Put `assets` in; `receiver` gets preview_deposit(assets) shares."""
    check_amount(assets)
    enter(receiver)
    st = state_now()
    require(st["listed"], "market_not_listed")
    gained = deposit_gain(assets, st)
    shares = to_shares(gained[0], st, False)
    require(shares > 0, "zero_shares")
    mint_shares(receiver, shares)
    emit("Deposit", ctx.sender, receiver, assets, shares)
    put_to_work(assets, gained[1])
    return shares


@public
@nonreentrant
def mint(shares: int, receiver: address) -> int:
    """`receiver` gets exactly `shares`; the sender pays preview_mint(shares) assets."""
    check_amount(shares)
    enter(receiver)
    st = state_now()
    require(st["listed"], "market_not_listed")
    assets = mint_cost(shares, st)
    require(assets <= MAX_AMOUNT, "bad_amount")
    mint_shares(receiver, shares)
    emit("Deposit", ctx.sender, receiver, assets, shares)
    put_to_work(assets, deposit_gain(assets, st)[1])
    return assets


@public
@nonreentrant
def withdraw(assets: int, receiver: address, owner: address) -> int:
    """Pay exactly `assets` to `receiver`, burning preview_withdraw(assets) shares of `owner`."""
    check_amount(assets)
    require(receiver != ZERO_ADDRESS, "bad_recipient")
    st = state_now()
    require(assets <= st["idle"] + st["base"], "insufficient_shares")
    shares = to_shares(withdraw_cost(assets, st), st, True)
    if owner != ctx.sender:
        spend_allowance(owner, ctx.sender, shares)
    burn_shares(owner, shares)
    require_liquidity(assets, st)
    emit("Withdraw", ctx.sender, receiver, owner, assets, shares)
    pay_out(assets, receiver, st)
    return shares


@public
@nonreentrant
def redeem(shares: int, receiver: address, owner: address) -> int:
    """Burn exactly `shares` of `owner`, paying preview_redeem(shares) assets to `receiver`."""
    check_amount(shares)
    require(receiver != ZERO_ADDRESS, "bad_recipient")
    st = state_now()
    if owner != ctx.sender:
        spend_allowance(owner, ctx.sender, shares)
    burn_shares(owner, shares)
    assets = payout_for(to_assets(shares, st, False), st)
    require(assets > 0, "zero_assets")
    require_liquidity(assets, st)
    emit("Withdraw", ctx.sender, receiver, owner, assets, shares)
    pay_out(assets, receiver, st)
    return assets


# ---------------------------------------------------------------- ERC-4626 views


@view
def asset() -> address:
    return storage["asset"]


@view
def lending() -> address:
    return storage["lending"]


@view
def total_assets() -> int:
    return state_now()["total"]


@view
def convert_to_shares(assets: int) -> int:
    require(assets >= 0, "bad_amount")
    return to_shares(assets, state_now(), False)


@view
def convert_to_assets(shares: int) -> int:
    require(shares >= 0, "bad_amount")
    return to_assets(shares, state_now(), False)


@view
def max_deposit(receiver: address) -> int:
    if len(call(storage["lending"], "market_now", [storage["asset"]])) == 0 or not is_verified(receiver):
        return 0
    return MAX_AMOUNT


@view
def max_mint(receiver: address) -> int:
    return max_deposit(receiver)


@view
def max_withdraw(owner: address) -> int:
    st = state_now()
    held = storage.get(("bal", owner), 0)
    return min(payout_for(to_assets(held, st, False), st), available(st))


@view
def max_redeem(owner: address) -> int:
    return max_redeem_of(owner, state_now())


@view
def preview_deposit(assets: int) -> int:
    check_amount(assets)
    st = state_now()
    return to_shares(deposit_gain(assets, st)[0], st, False)


@view
def preview_mint(shares: int) -> int:
    check_amount(shares)
    return mint_cost(shares, state_now())


@view
def preview_withdraw(assets: int) -> int:
    check_amount(assets)
    st = state_now()
    require(assets <= st["idle"] + st["base"], "insufficient_shares")
    return to_shares(withdraw_cost(assets, st), st, True)


@view
def preview_redeem(shares: int) -> int:
    check_amount(shares)
    st = state_now()
    return payout_for(to_assets(shares, st, False), st)


@view
def share_price() -> int:
    """Assets per 10**decimals_offset shares (one asset unit's worth of shares at par), scaled by
    10**18, rounded down: 10**18 at the start, growing with interest."""
    st = state_now()
    return (st["total"] + 1) * EXP * st["v"] // (st["supply"] + st["v"])


@view
def info() -> dict:
    """Everything a wallet shows at once, at the current block."""
    st = state_now()
    return {"asset": storage["asset"], "lending": storage["lending"], "listed": st["listed"],
            "total_assets": st["total"], "total_supply": st["supply"], "idle": st["idle"],
            "supplied": st["base"], "ctokens": st["c"],
            "exchange_rate": st["r"], "market_cash": st["cash"], "available": available(st),
            "decimals_offset": storage["offset"],
            "share_price": (st["total"] + 1) * EXP * st["v"] // (st["supply"] + st["v"]),
            "requirement": storage.get("req", {})}


@view
def requirement() -> dict:
    return storage.get("req", {})


@view
def admin() -> address:
    return storage["admin"]


# ---------------------------------------------------------------- ERC-20 shares


@view
def name() -> str:
    return storage["name"]


@view
def symbol() -> str:
    return storage["symbol"]


@view
def decimals() -> int:
    return storage["decimals"]


@view
def total_supply() -> int:
    return storage["supply"]


@view
def balance_of(owner: address) -> int:
    return storage.get(("bal", owner), 0)


@view
def allowance(owner: address, spender: address) -> int:
    return storage.get(("allow", owner, spender), 0)


@public
def transfer(to: address, amount: int) -> bool:
    move(ctx.sender, to, amount)
    return True


@public
def approve(spender: address, amount: int) -> bool:
    require(amount >= 0, "bad_amount")
    require(spender != ZERO_ADDRESS, "bad_recipient")
    storage["allow", ctx.sender, spender] = amount
    emit("Approval", ctx.sender, spender, amount)
    return True


@public
def transfer_from(owner: address, to: address, amount: int) -> bool:
    require(amount >= 0, "bad_amount")
    spend_allowance(owner, ctx.sender, amount)
    move(owner, to, amount)
    return True
