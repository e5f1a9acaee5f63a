"""Tokenized asset under its issuer's control: a bond, a fund share, a claim on a real thing.

ERC-3643 (T-REX) and ERC-1400 semantics. The owner (the deployer, the issuer) appoints agents
and sets the rules; agents issue to and redeem from holders, freeze an address or part of its
balance, lock a holder's units until a height, pause, and force a transfer under a legal
reference that the event records. A holder's transfer goes through only when
`can_transfer(from, to, amount)` answers "ok": the same function decides every transfer, so
no transfer can succeed that it refuses, and the refusal a wallet previews is the refusal the
transaction reverts with.

The receiver must be verified by the identity registry for the asset's topics (as in
ERC-3643, a sender who lost its claims may still transfer to a verified receiver), hold a
`country` claim in the allowed list when the list is not empty, stay within the per-holder
maximum, and not push the number of holders over the limit. Documents (name, URI, content
hash) describe the asset; the owner attaches, replaces and removes them.

Refusals revert with reason codes from docs/finance.md. Amounts are in the smallest unit.
"""

MAX_DECIMALS = 18
MAX_TOPICS = 8
MAX_COUNTRIES = 64
MAX_DOCUMENTS = 32
MAX_TEXT = 256  # bytes of a document name or URI
LEGAL_REF_MAX = 64


@constructor
def init(name: str, symbol: str, decimals: int, registry: address, topics: list[str], countries: list[str],
         max_holders: int, max_balance: int, agents: list[address]):
    """`countries` empty: any country; `max_holders`, `max_balance` 0: no limit."""
    require(0 <= decimals <= MAX_DECIMALS, "bad_amount")
    storage["name"] = name
    storage["symbol"] = symbol
    storage["decimals"] = decimals
    storage["owner"] = ctx.sender
    storage["supply"] = 0
    storage["holders"] = 0
    storage["paused"] = False
    storage["doc_names"] = []
    set_compliance_rules(registry, topics, countries, max_holders, max_balance)
    for agent in agents:
        storage["agent", agent] = True
        emit("AgentAdded", agent)


# -- views ------------------------------------------------------------------------------------


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
def owner() -> address:
    return storage["owner"]


@view
def is_agent(account: address) -> bool:
    return storage.get(("agent", account), False)


@view
def paused() -> bool:
    return storage["paused"]


@view
def holder_count() -> int:
    return storage["holders"]


@view
def is_frozen(account: address) -> bool:
    return storage.get(("frozen", account), False)


@view
def frozen_balance(account: address) -> int:
    return storage.get(("frozen_amt", account), 0)


@view
def locked_until(account: address) -> int:
    return storage.get(("lock", account), 0)


@view
def rules() -> dict:
    return {"registry": storage["registry"], "topics": storage["topics"], "countries": storage["countries"],
            "max_holders": storage["max_holders"], "max_balance": storage["max_balance"]}


@view
def can_transfer(frm: address, to: address, amount: int) -> list:
    """[code, message]: ["ok", ...] when a transfer of `amount` from `frm` to `to` would go through now."""
    code = transfer_refusal(frm, to, amount)
    return [code, messages()[code]]


@view
def documents() -> list:
    return storage["doc_names"]


@view
def get_document(name: str) -> dict:
    return storage.get(("doc", name), {})


# -- holders ----------------------------------------------------------------------------------


@public
def transfer(to: address, amount: int) -> bool:
    code = transfer_refusal(ctx.sender, to, amount)
    require(code == "ok", code)
    move(ctx.sender, to, amount)
    return True


@public
def approve(spender: address, amount: int) -> bool:
    require(amount >= 0, "bad_amount")
    storage["allow", ctx.sender, spender] = amount
    emit("Approval", ctx.sender, spender, amount)
    return True


@public
def transfer_from(frm: address, to: address, amount: int) -> bool:
    allowed = storage.get(("allow", frm, ctx.sender), 0)
    require(allowed >= amount, "insufficient_allowance")
    code = transfer_refusal(frm, to, amount)
    require(code == "ok", code)
    if allowed != MAX_UINT:
        storage["allow", frm, ctx.sender] = allowed - amount
    move(frm, to, amount)
    return True


# -- agents -----------------------------------------------------------------------------------


@public
def issue(to: address, amount: int, lock_until: int) -> bool:
    """Create units for a holder who passes the receiving rules; they cannot move before `lock_until`."""
    require_agent()
    require(amount > 0, "bad_amount")
    require(amount <= MAX_UINT - storage["supply"], "bad_amount")
    require(lock_until >= 0, "bad_height")
    code = receive_refusal(to, amount)
    require(code == "ok", code)
    if lock_until > storage.get(("lock", to), 0):
        storage["lock", to] = lock_until
        emit("LockUp", to, lock_until)
    storage["supply"] = storage["supply"] + amount
    credit(to, amount)
    emit("Transfer", ZERO_ADDRESS, to, amount)
    emit("Issued", ctx.sender, to, amount)
    return True


@public
def redeem(holder: address, amount: int) -> bool:
    """Cancel a holder's units (a bond repaid, a share bought back), frozen ones last."""
    require_agent()
    require(amount > 0, "bad_amount")
    require(storage.get(("bal", holder), 0) >= amount, "insufficient_balance")
    release_frozen(holder, amount)
    debit(holder, amount)
    storage["supply"] = storage["supply"] - amount
    emit("Transfer", holder, ZERO_ADDRESS, amount)
    emit("Redeemed", ctx.sender, holder, amount)
    return True


@public
def forced_transfer(frm: address, to: address, amount: int, legal_ref: bytes) -> bool:
    """Move units without the holder, under a court order or a recovery: the receiver must still
    be verified; freezes, lock-ups and holder rules do not stop it, and frozen units go last."""
    require_agent()
    require(0 < len(legal_ref) <= LEGAL_REF_MAX, "bad_ref")
    require(amount > 0, "bad_amount")
    require(to != ZERO_ADDRESS, "bad_recipient")
    require(storage.get(("bal", frm), 0) >= amount, "insufficient_balance")
    reason = verification_refusal(to)
    require(reason == "ok", reason)
    release_frozen(frm, amount)
    move(frm, to, amount)
    emit("ForcedTransfer", ctx.sender, frm, to, amount, legal_ref)
    return True


@public
def set_frozen(account: address, frozen: bool):
    require_agent()
    if frozen:
        storage["frozen", account] = True
    elif storage.get(("frozen", account), False):
        del storage["frozen", account]
    emit("AddressFrozen", account, frozen, ctx.sender)


@public
def freeze_partial(account: address, amount: int):
    require_agent()
    require(amount > 0, "bad_amount")
    frozen = storage.get(("frozen_amt", account), 0) + amount
    require(frozen <= storage.get(("bal", account), 0), "insufficient_balance")
    storage["frozen_amt", account] = frozen
    emit("TokensFrozen", account, amount)


@public
def unfreeze_partial(account: address, amount: int):
    require_agent()
    require(amount > 0, "bad_amount")
    frozen = storage.get(("frozen_amt", account), 0)
    require(amount <= frozen, "insufficient_frozen")
    set_frozen_amount(account, frozen - amount)
    emit("TokensUnfrozen", account, amount)


@public
def set_lockup(account: address, lock_until: int):
    """Set (or lift, with 0) the height before which `account`'s units cannot be transferred."""
    require_agent()
    require(lock_until >= 0, "bad_height")
    storage["lock", account] = lock_until
    emit("LockUp", account, lock_until)


@public
def pause():
    require_agent()
    storage["paused"] = True
    emit("Paused", ctx.sender)


@public
def unpause():
    require_agent()
    storage["paused"] = False
    emit("Unpaused", ctx.sender)


# -- owner ------------------------------------------------------------------------------------


@public
def add_agent(agent: address):
    require_owner()
    storage["agent", agent] = True
    emit("AgentAdded", agent)


@public
def remove_agent(agent: address):
    require_owner()
    require(storage.get(("agent", agent), False), "not_agent")
    del storage["agent", agent]
    emit("AgentRemoved", agent)


@public
def transfer_ownership(new_owner: address):
    require_owner()
    storage["owner"] = new_owner
    emit("OwnershipTransferred", ctx.sender, new_owner)


@public
def set_rules(registry: address, topics: list[str], countries: list[str], max_holders: int, max_balance: int):
    """Change the receiving rules; they judge the next transfer, never undo holdings."""
    require_owner()
    set_compliance_rules(registry, topics, countries, max_holders, max_balance)


@public
def set_document(name: str, uri: str, content_hash: bytes):
    require_owner()
    require(0 < len(name.encode()) <= MAX_TEXT and len(uri.encode()) <= MAX_TEXT, "text_too_long")
    require(len(content_hash) == 32, "bad_hash")
    names = storage["doc_names"]
    if name not in names:
        require(len(names) < MAX_DOCUMENTS, "too_many_documents")
        names.append(name)
        storage["doc_names"] = names
    storage["doc", name] = {"name": name, "uri": uri, "content_hash": content_hash, "height": ctx.height}
    emit("DocumentUpdated", name, uri, content_hash)


@public
def remove_document(name: str):
    require_owner()
    names = storage["doc_names"]
    require(name in names, "unknown_document")
    storage["doc_names"] = [n for n in names if n != name]
    del storage["doc", name]
    emit("DocumentRemoved", name)


# -- the rules --------------------------------------------------------------------------------


def messages():
    return {
        "ok": "the transfer is allowed",
        "paused": "the asset is paused",
        "bad_amount": "the amount is negative",
        "bad_recipient": "the receiver is the zero address",
        "frozen": "the sender's or the receiver's address is frozen",
        "locked_until": "the sender's units are locked up until a later height",
        "insufficient_balance": "the sender holds less than the amount",
        "partially_frozen": "part of the sender's balance is frozen and the rest is less than the amount",
        "not_verified": "the receiver has no claim for a required topic",
        "claim_expired": "the receiver's claim for a required topic has expired",
        "claim_revoked": "the receiver's claim for a required topic was revoked",
        "issuer_removed": "the issuer of the receiver's claim was removed from the registry",
        "topic_not_allowed": "the issuer of the receiver's claim may no longer attest that topic",
        "country_not_allowed": "the receiver's country is not among the asset's allowed countries",
        "holder_limit": "the asset has reached its maximum number of holders",
        "holder_max_balance": "the receiver would hold more than the per-holder maximum",
    }


def transfer_refusal(frm, to, amount):
    if storage["paused"]:
        return "paused"
    if amount < 0:
        return "bad_amount"
    if to == ZERO_ADDRESS:
        return "bad_recipient"
    if storage.get(("frozen", frm), False) or storage.get(("frozen", to), False):
        return "frozen"
    if ctx.height < storage.get(("lock", frm), 0):
        return "locked_until"
    balance = storage.get(("bal", frm), 0)
    if balance < amount:
        return "insufficient_balance"
    if balance - storage.get(("frozen_amt", frm), 0) < amount:
        return "partially_frozen"
    if frm == to:
        return "ok"
    return receive_refusal(to, amount)


def receive_refusal(to, amount):
    """Why `to` may not receive `amount` more, or "ok"; a receiver already holding counts once."""
    if to == ZERO_ADDRESS:
        return "bad_recipient"
    if storage.get(("frozen", to), False):
        return "frozen"
    reason = verification_refusal(to)
    if reason != "ok":
        return reason
    held = storage.get(("bal", to), 0)
    limit = storage["max_holders"]
    if limit > 0 and held == 0 and amount > 0 and storage["holders"] >= limit:
        return "holder_limit"
    cap = storage["max_balance"]
    if cap > 0 and held + amount > cap:
        return "holder_max_balance"
    return "ok"


def verification_refusal(account):
    topics = storage["topics"]
    if len(topics) > 0:
        reason = call(storage["registry"], "check", [account, topics])
        if reason != "":
            return reason
    countries = storage["countries"]
    if len(countries) > 0:
        claim = call(storage["registry"], "get_claim", [account, "country"])
        if claim["status"] != "ok":
            return claim["status"]
        if claim["value"] not in countries:
            return "country_not_allowed"
    return "ok"


def set_compliance_rules(registry, topics, countries, max_holders, max_balance):
    require(len(topics) <= MAX_TOPICS, "bad_topics")
    require(len(countries) <= MAX_COUNTRIES, "bad_countries")
    require(max_holders >= 0 and max_balance >= 0, "bad_amount")
    storage["registry"] = registry
    storage["topics"] = topics
    storage["countries"] = countries
    storage["max_holders"] = max_holders
    storage["max_balance"] = max_balance
    emit("RulesChanged", registry, topics, countries, max_holders, max_balance)


def move(frm, to, amount):
    if frm != to and amount > 0:
        debit(frm, amount)
        credit(to, amount)
    emit("Transfer", frm, to, amount)


def credit(to, amount):
    held = storage.get(("bal", to), 0)
    if held == 0:
        storage["holders"] = storage["holders"] + 1
    storage["bal", to] = held + amount


def debit(frm, amount):
    left = storage["bal", frm] - amount
    if left == 0:
        del storage["bal", frm]
        storage["holders"] = storage["holders"] - 1
    else:
        storage["bal", frm] = left


def release_frozen(holder, amount):
    """Before `amount` leaves `holder` outside its control, unfreeze what the free part lacks."""
    frozen = storage.get(("frozen_amt", holder), 0)
    free = storage["bal", holder] - frozen
    if amount > free:
        set_frozen_amount(holder, frozen - (amount - free))
        emit("TokensUnfrozen", holder, amount - free)


def set_frozen_amount(account, amount):
    if amount == 0:
        del storage["frozen_amt", account]
    else:
        storage["frozen_amt", account] = amount


def require_agent():
    require(storage.get(("agent", ctx.sender), False), "not_agent")


def require_owner():
    require(ctx.sender == storage["owner"], "not_owner")
