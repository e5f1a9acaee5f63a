"""Fungible token: balances, allowances, role-based minting and an emergency pause.

Roles are plain strings. The deployer holds "admin" (grants and revokes every role),
"minter" and "pauser". An allowance of MAX_UINT is infinite: transfer_from and burn_from
leave it untouched, which saves a storage write for routers that are approved once.
Mints are Transfer events from ZERO_ADDRESS and burns are Transfer events to it, so an
indexer can rebuild every balance from the Transfer log alone.
"""

ADMIN = "admin"
MINTER = "minter"
PAUSER = "pauser"
# 10**77 is the largest power of ten below 2**256: more decimals could not even express one token.
MAX_DECIMALS = 77


@constructor
def init(name: str, symbol: str, decimals: int, supply: int):
    require(0 <= decimals <= MAX_DECIMALS, "invalid decimals")
    check_amount(supply)
    storage["name"] = name
    storage["symbol"] = symbol
    storage["decimals"] = decimals
    storage["supply"] = 0
    storage["paused"] = False
    for role in [ADMIN, MINTER, PAUSER]:
        give_role(role, ctx.sender)
    credit(ctx.sender, supply)


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
def has_role(role: str, account: address) -> bool:
    return storage.get(("role", role, account), False)


@view
def paused() -> bool:
    return storage["paused"]


@public
def transfer(to: address, amount: int) -> bool:
    require_not_paused()
    check_amount(amount)
    move(ctx.sender, to, amount)
    return True


@public
def approve(spender: address, amount: int) -> bool:
    # Approving stays possible while paused: it moves no tokens and lets holders revoke routers.
    check_amount(amount)
    require(spender != ZERO_ADDRESS, "approve to the zero address")
    storage["allow", ctx.sender, spender] = amount
    emit("Approval", ctx.sender, spender, amount)
    return True


@public
def transfer_from(owner: address, to: address, amount: int) -> bool:
    require_not_paused()
    check_amount(amount)
    spend_allowance(owner, ctx.sender, amount)
    move(owner, to, amount)
    return True


@public
def mint(to: address, amount: int):
    require_role(MINTER)
    require_not_paused()
    check_amount(amount)
    require(to != ZERO_ADDRESS, "transfer to the zero address")
    credit(to, amount)


@public
def burn(amount: int):
    require_not_paused()
    check_amount(amount)
    debit(ctx.sender, amount)


@public
def burn_from(owner: address, amount: int):
    require_not_paused()
    check_amount(amount)
    spend_allowance(owner, ctx.sender, amount)
    debit(owner, amount)


@public
def grant_role(role: str, account: address):
    require_role(ADMIN)
    require(account != ZERO_ADDRESS, "role to the zero address")
    give_role(role, account)


@public
def revoke_role(role: str, account: address):
    # An admin may revoke its own admin role: that is how a token is made immutable.
    require_role(ADMIN)
    if storage.get(("role", role, account), False):
        del storage["role", role, account]
        emit("RoleRevoked", role, account, ctx.sender)


@public
def pause():
    require_role(PAUSER)
    require_not_paused()
    storage["paused"] = True
    emit("Paused", ctx.sender)


@public
def unpause():
    require_role(PAUSER)
    require(storage["paused"], "not paused")
    storage["paused"] = False
    emit("Unpaused", ctx.sender)


def check_amount(amount):
    require(amount >= 0, "amount must not be negative")


def require_not_paused():
    require(not storage["paused"], "paused")


def require_role(role):
    require(storage.get(("role", role, ctx.sender), False), "missing role " + role)


def give_role(role, account):
    # Granting a role already held changes nothing, so it emits nothing either.
    if not storage.get(("role", role, account), False):
        storage["role", role, account] = True
        emit("RoleGranted", role, account, ctx.sender)


def move(src, dst, amount):
    require(dst != ZERO_ADDRESS, "transfer to the zero address")
    have = storage.get(("bal", src), 0)
    require(have >= amount, "insufficient balance")
    storage["bal", src] = have - amount
    # Read after the write so that a transfer to oneself leaves the balance unchanged.
    storage["bal", dst] = storage.get(("bal", dst), 0) + amount
    emit("Transfer", src, dst, amount)


def spend_allowance(owner, spender, amount):
    allowed = storage.get(("allow", owner, spender), 0)
    if allowed != MAX_UINT:
        require(allowed >= amount, "insufficient allowance")
        storage["allow", owner, spender] = allowed - amount


def credit(to, amount):
    supply = storage["supply"]
    # Checked here rather than left to the VM's overflow fault so the caller gets a reason.
    require(amount <= MAX_UINT - supply, "supply overflow")
    storage["supply"] = supply + amount
    storage["bal", to] = storage.get(("bal", to), 0) + amount
    emit("Transfer", ZERO_ADDRESS, to, amount)


def debit(owner, amount):
    have = storage.get(("bal", owner), 0)
    require(have >= amount, "insufficient balance")
    storage["bal", owner] = have - amount
    storage["supply"] = storage["supply"] - amount
    emit("Transfer", owner, ZERO_ADDRESS, amount)
