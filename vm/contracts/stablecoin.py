"""Regulated stablecoin: money that enters against a deposit and leaves against a payout.

FiatToken semantics. The owner (the deployer) appoints the master minter, the pauser and the
blacklister. The master minter configures minters (custodians), each with a mint allowance
that every mint spends. A minter mints to a holder the identity registry verifies for the
token's required topics, against an off-chain deposit reference that can never be used
again. A holder redeems by burning, with a payout reference: the Redemption event is what the
custodian's tooling pays out against, and `settle` records the bank's reference once paid.
A blacklisted address can neither send, receive, approve, be approved nor be minted to; while
paused nothing moves. With `verified_transfers`, both sides of every transfer must be verified,
except contracts the owner exempts (pools and markets hold the coin for their users).

Refusals revert with reason codes from docs/finance.md. Amounts are in the smallest unit.
"""

MAX_DECIMALS = 77
REF_BYTES = 32
MAX_TOPICS = 8


@constructor
def init(name: str, symbol: str, decimals: int, registry: address, topics: list[str], verified_transfers: bool,
         minter: address, minter_allowance: int, treasury: address, supply: int):
    """`minter` (a custodian) starts with `minter_allowance`; `treasury` starts with `supply`, a
    devnet's float minted outside any allowance (0 for a real issue)."""
    require(0 <= decimals <= MAX_DECIMALS, "bad_amount")
    require(len(topics) <= MAX_TOPICS, "bad_topics")
    require(supply >= 0, "bad_amount")
    storage["name"] = name
    storage["symbol"] = symbol
    storage["decimals"] = decimals
    storage["registry"] = registry
    storage["topics"] = topics
    storage["verified_transfers"] = verified_transfers
    storage["supply"] = 0
    storage["paused"] = False
    storage["redemptions"] = 0
    for role in ["owner", "master_minter", "pauser", "blacklister"]:
        storage[role] = ctx.sender
    require(minter_allowance >= 0, "bad_amount")
    if minter_allowance > 0:
        storage["minter", minter] = True
        storage["mint_allow", minter] = minter_allowance
        emit("MinterConfigured", minter, minter_allowance)
    if supply > 0:
        credit(treasury, supply)


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


@view
def roles() -> dict:
    return {"owner": storage["owner"], "master_minter": storage["master_minter"], "pauser": storage["pauser"],
            "blacklister": storage["blacklister"]}


@view
def compliance() -> dict:
    return {"registry": storage["registry"], "topics": storage["topics"],
            "verified_transfers": storage["verified_transfers"]}


@view
def is_minter(account: address) -> bool:
    return storage.get(("minter", account), False)


@view
def minter_allowance(minter: address) -> int:
    return storage.get(("mint_allow", minter), 0)


@view
def is_blacklisted(account: address) -> bool:
    return storage.get(("black", account), False)


@view
def is_exempt(account: address) -> bool:
    return storage.get(("exempt", account), False)


@view
def paused() -> bool:
    return storage["paused"]


@view
def deposit_used(minter: address, deposit_ref: bytes) -> bool:
    return storage.get(("deposit", minter, deposit_ref), False)


@view
def redemption_count() -> int:
    return storage["redemptions"]


@view
def redemption(id: int) -> dict:
    return storage.get(("redemption", id), {})


@public
def transfer(to: address, amount: int) -> bool:
    move(ctx.sender, to, amount)
    return True


@public
def approve(spender: address, amount: int) -> bool:
    require_not_paused()
    require(amount >= 0, "bad_amount")
    not_blacklisted(ctx.sender)
    not_blacklisted(spender)
    storage["allow", ctx.sender, spender] = amount
    emit("Approval", ctx.sender, spender, amount)
    return True


@public
def transfer_from(owner: address, to: address, amount: int) -> bool:
    not_blacklisted(ctx.sender)
    allowed = storage.get(("allow", owner, ctx.sender), 0)
    require(allowed >= amount, "insufficient_allowance")
    if allowed != MAX_UINT:
        storage["allow", owner, ctx.sender] = allowed - amount
    move(owner, to, amount)
    return True


@public
def configure_minter(minter: address, allowance: int):
    require(ctx.sender == storage["master_minter"], "not_master_minter")
    require(allowance >= 0, "bad_amount")
    storage["minter", minter] = True
    storage["mint_allow", minter] = allowance
    emit("MinterConfigured", minter, allowance)


@public
def remove_minter(minter: address):
    require(ctx.sender == storage["master_minter"], "not_master_minter")
    require(storage.get(("minter", minter), False), "not_minter")
    del storage["minter", minter]
    del storage["mint_allow", minter]
    emit("MinterRemoved", minter)


@public
def mint(to: address, amount: int, deposit_ref: bytes) -> bool:
    """A custodian credits a deposit: the reference is the deposit's id in its books, used once."""
    require_not_paused()
    minter = ctx.sender
    require(storage.get(("minter", minter), False), "not_minter")
    not_blacklisted(minter)
    not_blacklisted(to)
    require(amount > 0, "bad_amount")
    require(len(deposit_ref) == REF_BYTES, "bad_ref")
    require(not storage.get(("deposit", minter, deposit_ref), False), "deposit_ref_used")
    left = storage["mint_allow", minter]
    require(amount <= left, "mint_over_allowance")
    require_verified(to)
    storage["deposit", minter, deposit_ref] = True
    storage["mint_allow", minter] = left - amount
    credit(to, amount)
    emit("Mint", minter, to, amount, deposit_ref)
    return True


@public
def redeem(amount: int, payout_ref: bytes) -> int:
    """Burn `amount` for a payout to the account `payout_ref` names off chain; returns the redemption id."""
    require_not_paused()
    holder = ctx.sender
    not_blacklisted(holder)
    require(amount > 0, "bad_amount")
    require(len(payout_ref) == REF_BYTES, "bad_ref")
    balance = storage.get(("bal", holder), 0)
    require(balance >= amount, "insufficient_balance")
    storage["bal", holder] = balance - amount
    storage["supply"] = storage["supply"] - amount
    emit("Transfer", holder, ZERO_ADDRESS, amount)
    rid = storage["redemptions"]
    storage["redemptions"] = rid + 1
    storage["redemption", rid] = {"id": rid, "holder": holder, "amount": amount, "payout_ref": payout_ref,
                                  "height": ctx.height, "settled": False, "bank_ref": b""}
    emit("Redemption", rid, holder, amount, payout_ref)
    return rid


@public
def settle(id: int, bank_ref: bytes):
    """A custodian records that it paid a redemption out, with the bank's reference."""
    require(storage.get(("minter", ctx.sender), False), "not_minter")
    record = storage.get(("redemption", id), None)
    require(record is not None, "unknown_redemption")
    require(not record["settled"], "already_settled")
    require(0 < len(bank_ref) <= 64, "bad_ref")
    record["settled"] = True
    record["bank_ref"] = bank_ref
    record["settled_by"] = ctx.sender
    storage["redemption", id] = record
    emit("RedemptionSettled", id, ctx.sender, bank_ref)


@public
def blacklist(account: address):
    require(ctx.sender == storage["blacklister"], "not_blacklister")
    storage["black", account] = True
    emit("Blacklisted", account)


@public
def unblacklist(account: address):
    require(ctx.sender == storage["blacklister"], "not_blacklister")
    require(storage.get(("black", account), False), "not_blacklisted")
    del storage["black", account]
    emit("UnBlacklisted", account)


@public
def pause():
    require(ctx.sender == storage["pauser"], "not_pauser")
    storage["paused"] = True
    emit("Pause")


@public
def unpause():
    require(ctx.sender == storage["pauser"], "not_pauser")
    storage["paused"] = False
    emit("Unpause")


@public
def set_role(role: str, account: address):
    """The owner appoints the master minter, pauser or blacklister, or hands over ownership."""
    require(ctx.sender == storage["owner"], "not_owner")
    require(role in ["owner", "master_minter", "pauser", "blacklister"], "bad_role")
    storage[role] = account
    emit("RoleChanged", role, account)


@public
def set_exempt(account: address, exempt: bool):
    """A contract (a pool, a market) that may hold the coin without a claim of its own."""
    require(ctx.sender == storage["owner"], "not_owner")
    storage["exempt", account] = exempt
    emit("ExemptionChanged", account, exempt)


@public
def set_compliance(registry: address, topics: list[str], verified_transfers: bool):
    require(ctx.sender == storage["owner"], "not_owner")
    require(len(topics) <= MAX_TOPICS, "bad_topics")
    storage["registry"] = registry
    storage["topics"] = topics
    storage["verified_transfers"] = verified_transfers
    emit("ComplianceChanged", registry, topics, verified_transfers)


def move(frm, to, amount):
    require_not_paused()
    require(amount >= 0, "bad_amount")
    require(to != ZERO_ADDRESS, "bad_recipient")
    not_blacklisted(frm)
    not_blacklisted(to)
    if storage["verified_transfers"]:
        require_verified(frm)
        require_verified(to)
    balance = storage.get(("bal", frm), 0)
    require(balance >= amount, "insufficient_balance")
    storage["bal", frm] = balance - amount
    storage["bal", to] = storage.get(("bal", to), 0) + amount
    emit("Transfer", frm, to, amount)


def credit(to, amount):
    supply = storage["supply"]
    require(amount <= MAX_UINT - supply, "bad_amount")
    storage["supply"] = supply + amount
    storage["bal", to] = storage.get(("bal", to), 0) + amount
    emit("Transfer", ZERO_ADDRESS, to, amount)


def require_verified(account):
    topics = storage["topics"]
    if len(topics) == 0 or storage.get(("exempt", account), False):
        return
    reason = call(storage["registry"], "check", [account, topics])
    require(reason == "", reason)


def require_not_paused():
    require(not storage["paused"], "paused")


def not_blacklisted(account):
    require(not storage.get(("black", account), False), "blacklisted")
