"""The payments contract's test world: a swap, the payments router, three plain tokens, a stablecoin,
an identity registry, funded users who approved the payments contract, and helpers."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

from devnet.contracts import stablecoin_args
from vm.contracts import source
from vm.testing import Chain

MAX_UINT = 2**256 - 1
UNIT = 10**18
SUPPLY = 10**9 * UNIT
FAR = 10**9  # a deadline height that never passes here


def make_world(users: int = 3, pools: tuple[tuple[int, int, int, int], ...] | None = None) -> SimpleNamespace:
    """Tokens t[0..2] plain, t[3] the stablecoin; pools (i, j, reserve_i, reserve_j) seeded by the admin."""
    c = Chain()
    admin = c.account(balance=10**24)
    issuer = c.account()
    registry = c.deploy(admin, source("identity"), [[issuer], ["kyc.basic"]]).address
    swap = c.deploy(admin, source("swap"), []).address
    res = c.deploy(admin, source("payments"), [swap])
    assert res.ok, res.error
    pay = res.address
    c.must(admin, swap, "set_router", [pay, True])
    toks = [c.deploy(admin, source("token"), [f"T{i}", f"T{i}", 18, SUPPLY]).address for i in range(3)]
    args = stablecoin_args("Finchain USD", "FUSD", registry, admin, admin)
    args[7], args[9] = SUPPLY, SUPPLY
    toks.append(c.deploy(admin, source("stablecoin"), args).address)
    people = [c.account(balance=10**24) for _ in range(users)]
    for tok in toks:
        c.must(admin, tok, "approve", [swap, MAX_UINT])
        for person in people:
            c.must(admin, tok, "transfer", [person, SUPPLY // (users + 10)])
            c.must(person, tok, "approve", [pay, MAX_UINT])
    w = SimpleNamespace(chain=c, admin=admin, issuer=issuer, registry=registry, swap=swap, pay=pay, tokens=toks,
                        users=people, refs=0)
    for i, j, ri, rj in pools if pools is not None else ((0, 1, 1000 * UNIT, 2000 * UNIT),
                                                         (1, 2, 3000 * UNIT, 1500 * UNIT),
                                                         (0, 3, 1000 * UNIT, 1000 * UNIT)):
        c.must(admin, swap, "add_liquidity", [toks[i], toks[j], ri, rj, 0, 0, admin, 2**40])
    return w


def verify(w: SimpleNamespace, who: Any) -> None:
    w.refs += 1
    ref = hashlib.sha256(b"ref" + w.refs.to_bytes(4, "big")).digest()
    w.chain.must(w.issuer, w.registry, "attest", [who, "kyc.basic", "verified", bytes(32), 10**9, ref])


def pay_args(to: Any, send: Any, deliver: Any, send_max: int, deliver_min: int = 0, deliver_amount: int = 0,
             path: list[Any] | None = None, deadline: int = FAR, memo: bytes = b"", travel_ref: bytes = b""
             ) -> list[Any]:
    return [to, send, deliver, send_max, deliver_min, deliver_amount, path or [], deadline, memo, travel_ref]


def balances(w: SimpleNamespace) -> dict[tuple[bytes, bytes], int]:
    """Every token balance of every party (users, admin, swap, payments)."""
    holders = [*w.users, w.admin, w.swap, w.pay]
    return {(bytes(t), bytes(h)): w.chain.query(t, "balance_of", [h]) for t in w.tokens for h in holders}


def reserves(w: SimpleNamespace) -> dict[bytes, list[int]]:
    out = {}
    for p in w.chain.query(w.swap, "pairs", []):
        info = w.chain.query(w.swap, "get_pair", p)
        out[bytes(p[0]) + bytes(p[1])] = [info["reserve0"], info["reserve1"]]
    return out


def token_totals(w: SimpleNamespace) -> dict[bytes, int]:
    """Per token: the sum over every holder (the pools' reserves are the swap's balance)."""
    totals: dict[bytes, int] = {}
    for (tok, _), amount in balances(w).items():
        totals[tok] = totals.get(tok, 0) + amount
    return totals
