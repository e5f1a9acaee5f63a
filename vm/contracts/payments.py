"""Payments: cross-border path payments through the swap pools, atomic, with travel-rule refs.

A payment spends one token and delivers another (or the same) to a recipient in one call:
either the recipient receives at least the minimum and the sender spends at most the maximum,
or the call reverts and nothing moves. Two modes:
- `deliver_amount == 0`: spend exactly `send_max`, deliver at least `deliver_min`;
- `deliver_amount > 0`: deliver exactly `deliver_amount`, spend at most `send_max`.
The path is a list of tokens from the sent to the delivered one (at most MAX_HOPS pools);
empty means the direct pair, or a plain transfer when both tokens are the same.

The swap must trust this contract as a router (swap `set_router`): a gated pool then does not
ask the registry about this contract, and this contract asks it about the ORIGINAL sender and
the recipient, for every gated pool on the path, before anything moves.

Travel rule (FATF R.16): the admin gates a corridor (send token, delivered token) with a
threshold in the send token's smallest units. A payment in a gated corridor spending at least
the threshold must carry `travel_ref`, the SHA-256 of the encrypted originator and beneficiary
data held off chain (docs/finance.md); nothing that identifies a person is ever passed here.
Accounts publish the public key that travel data is encrypted to with `set_encryption_key`.

Refusals revert with reason codes from docs/finance.md. `rate` is delivered * RATE_SCALE // spent.
"""

RATE_SCALE = 10**18
MAX_HOPS = 3
MAX_MEMO = 256
REF_BYTES = 32
KEY_BYTES = 33


@constructor
def init(swap: address):
    storage["admin"] = ctx.sender
    storage["swap"] = swap
    storage["paused"] = False
    storage["count"] = 0


# ---- admin -----------------------------------------------------------------------------------


@public
def set_corridor(send_token: address, deliver_token: address, threshold: int, travel_required: bool):
    """Gate a corridor: a payment spending at least `threshold` needs a travel ref. Not
    required and threshold 0 lifts the gate."""
    require_admin()
    require(threshold >= 0, "bad_amount")
    if not travel_required and threshold == 0:
        if ("corridor", send_token, deliver_token) in storage:
            del storage["corridor", send_token, deliver_token]
    else:
        storage["corridor", send_token, deliver_token] = {"threshold": threshold,
                                                          "travel_required": travel_required}
    emit("CorridorSet", send_token, deliver_token, threshold, travel_required)


@public
def pause():
    require_admin()
    storage["paused"] = True
    emit("Pause")


@public
def unpause():
    require_admin()
    storage["paused"] = False
    emit("Unpause")


@public
def transfer_admin(new_admin: address):
    require_admin()
    require(new_admin != ZERO_ADDRESS, "bad_recipient")
    storage["admin"] = new_admin
    emit("AdminChanged", ctx.sender, new_admin)


@public
def set_encryption_key(key: bytes):
    """The caller's public key for travel data (33-byte compressed secp256k1); b"" removes it."""
    if len(key) == 0:
        if ("key", ctx.sender) in storage:
            del storage["key", ctx.sender]
    else:
        require(len(key) == KEY_BYTES and (key[0] == 2 or key[0] == 3), "bad_key")
        storage["key", ctx.sender] = key
    emit("EncryptionKeySet", ctx.sender, key)


# ---- views -----------------------------------------------------------------------------------


@view
def admin() -> address:
    return storage["admin"]


@view
def swap() -> address:
    return storage["swap"]


@view
def paused() -> bool:
    return storage["paused"]


@view
def corridor(send_token: address, deliver_token: address) -> dict:
    return storage.get(("corridor", send_token, deliver_token), {"threshold": 0, "travel_required": False})


@view
def encryption_key(account: address) -> bytes:
    return storage.get(("key", account), b"")


@view
def payment_count() -> int:
    return storage["count"]


# ---- the payment -----------------------------------------------------------------------------


@public
@nonreentrant
def pay(to: address, send_token: address, deliver_token: address, send_max: int, deliver_min: int,
        deliver_amount: int, path: list[address], deadline: int, memo: bytes, travel_ref: bytes) -> dict:
    require(not storage["paused"], "paused")
    require(ctx.height <= deadline, "expired")
    require(send_max > 0 and deliver_min >= 0 and deliver_amount >= 0, "bad_amount")
    require(deliver_amount > 0 or deliver_min > 0, "bad_amount")
    require(len(memo) <= MAX_MEMO, "memo_too_long")
    require(len(travel_ref) == 0 or len(travel_ref) == REF_BYTES, "bad_travel_ref")
    sender = ctx.sender
    swap = storage["swap"]
    require(to != ZERO_ADDRESS and to != ctx.this and to != swap, "bad_recipient")
    route = full_path(send_token, deliver_token, path)
    for token in route:
        require(not call(token, "paused", []), "path_paused")
    if len(route) == 1:
        amounts = same_token_amounts(send_max, deliver_min, deliver_amount)
    else:
        check_pools(swap, route, sender, to)
        amounts = swap_amounts(swap, route, send_max, deliver_min, deliver_amount)
    spent = amounts[0]
    delivered = amounts[len(amounts) - 1]
    check_travel(send_token, deliver_token, spent, travel_ref)
    if len(route) == 1:
        ok = call(send_token, "transfer_from", [sender, to, spent])
        require(ok, "transfer failed")
    else:
        ok = call(send_token, "transfer_from", [sender, ctx.this, spent])
        require(ok, "transfer failed")
        ok = call(send_token, "approve", [swap, spent])
        require(ok, "transfer failed")
        if deliver_amount > 0:
            done = call(swap, "swap_tokens_for_exact_tokens", [delivered, spent, route, to, ctx.time])
        else:
            done = call(swap, "swap_exact_tokens_for_tokens", [spent, delivered, route, to, ctx.time])
        # The swap recomputes the amounts from the same reserves in the same call: a difference
        # would mean tokens left here, so it is checked rather than assumed.
        require(done[0] == spent and done[len(done) - 1] == delivered, "amounts_changed")
    rate = delivered * RATE_SCALE // spent
    storage["count"] = storage["count"] + 1
    emit("PathPayment", sender, to, send_token, deliver_token, delivered, spent, rate, route, memo, travel_ref)
    return {"delivered_amount": delivered, "spent": spent, "rate": rate, "path": route, "amounts": amounts}


def full_path(send_token, deliver_token, path) -> list:
    if len(path) == 0:
        if send_token == deliver_token:
            return [send_token]
        return [send_token, deliver_token]
    require(2 <= len(path) <= MAX_HOPS + 1, "bad_path")
    require(path[0] == send_token and path[len(path) - 1] == deliver_token, "bad_path")
    for i in range(len(path)):
        for j in range(i):
            require(path[i] != path[j], "bad_path")
    return path


def same_token_amounts(send_max, deliver_min, deliver_amount) -> list:
    if deliver_amount > 0:
        require(deliver_amount <= send_max, "over_send_max")
        return [deliver_amount, deliver_amount]
    require(send_max >= deliver_min, "under_deliver_min")
    return [send_max, send_max]


def check_pools(swap, route, sender, to):
    """Every pool exists, and both parties hold the claims every gated pool asks."""
    for i in range(len(route) - 1):
        require(call(swap, "has_pair", [route[i], route[i + 1]]), "no_path")
        req = call(swap, "requirement", [route[i], route[i + 1]])
        if len(req) > 0:
            for party in [sender, to]:
                reason = call(req["registry"], "check", [party, req["topics"]])
                require(reason == "", reason)


def swap_amounts(swap, route, send_max, deliver_min, deliver_amount) -> list:
    if deliver_amount > 0:
        amounts = call(swap, "get_amounts_in", [deliver_amount, route])
        require(amounts[0] <= send_max, "over_send_max")
        return amounts
    amounts = call(swap, "get_amounts_out", [send_max, route])
    last = amounts[len(amounts) - 1]
    require(last > 0 and last >= deliver_min, "under_deliver_min")
    return amounts


def check_travel(send_token, deliver_token, spent, travel_ref):
    gate = storage.get(("corridor", send_token, deliver_token), None)
    if gate is None or not gate["travel_required"]:
        return
    if spent >= gate["threshold"]:
        require(len(travel_ref) == REF_BYTES, "travel_rule_required")


def require_admin():
    require(ctx.sender == storage["admin"], "not_admin")
