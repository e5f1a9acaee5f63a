"""Path finding over the swap's pools: the contract's own integer math, without IO.

Every formula here is vm/contracts/swap.py's, integer for integer (amount_out_for,
amount_in_for, impact_bps with its shrink), and a path is refused exactly where the contract
would revert (no liquidity, a zero hop, a reserve over 2^112 - 1), so the amounts quoted for
reserves read at a height are the amounts a payment executed on that state moves
(tests/vm/test_payments_quote.py checks it against the VM).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FEE_KEEP = 997
FEE_BASE = 1_000
BPS = 10_000
MAX_RESERVE = 2**112 - 1
RATIO_LIMIT = 2**240
RATIO_SHIFT = 2**32
RATE_SCALE = 10**18  # the payments contract's: delivered * RATE_SCALE // spent
MAX_HOPS = 3


class RouteQueryError(ValueError):
    """find_routes was asked for neither or both of an amount to send and an amount to deliver."""


@dataclass(frozen=True, slots=True)
class Pool:
    token0: bytes
    token1: bytes
    reserve0: int
    reserve1: int

    def reserves_for(self, token_in: bytes) -> tuple[int, int]:
        return (self.reserve0, self.reserve1) if token_in == self.token0 else (self.reserve1, self.reserve0)


@dataclass(frozen=True, slots=True)
class Route:
    path: tuple[bytes, ...]  # tokens from the sent to the delivered one; one token: a plain transfer
    amounts: tuple[int, ...]  # the amount entering each hop, then the delivered amount
    hops: tuple[tuple[int, int], ...]  # (reserve_in, reserve_out) of each pool before the payment
    impact_bps: int

    @property
    def spent(self) -> int:
        return self.amounts[0]

    @property
    def delivered(self) -> int:
        return self.amounts[-1]

    @property
    def rate(self) -> int:
        return self.delivered * RATE_SCALE // self.spent


def compute_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int | None:
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return None
    taxed = amount_in * FEE_KEEP
    return taxed * reserve_out // (reserve_in * FEE_BASE + taxed)


def compute_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int | None:
    if amount_out <= 0 or reserve_in <= 0 or reserve_out <= amount_out:
        return None
    return reserve_in * amount_out * FEE_BASE // ((reserve_out - amount_out) * FEE_KEEP) + 1


def _executable(amounts: Sequence[int], hops: Sequence[tuple[int, int]]) -> bool:
    # swap_step: both amounts positive, the output under the reserve, the new reserve in range.
    for i, (r_in, r_out) in enumerate(hops):
        a_in, a_out = amounts[i], amounts[i + 1]
        if a_in <= 0 or a_out <= 0 or a_out >= r_out or r_in + a_in > MAX_RESERVE:
            return False
    return True


def compute_amounts_out(amount_in: int, hops: Sequence[tuple[int, int]]) -> tuple[int, ...] | None:
    amounts = [amount_in]
    for r_in, r_out in hops:
        out = compute_amount_out(amounts[-1], r_in, r_out)
        if out is None:
            return None
        amounts.append(out)
    return tuple(amounts) if _executable(amounts, hops) else None


def compute_amounts_in(amount_out: int, hops: Sequence[tuple[int, int]]) -> tuple[int, ...] | None:
    amounts = [amount_out]
    for r_in, r_out in reversed(hops):
        need = compute_amount_in(amounts[0], r_in, r_out)
        if need is None:
            return None
        amounts.insert(0, need)
    return tuple(amounts) if _executable(amounts, hops) else None


def _shrink(num: int, den: int, mul_num: int, mul_den: int) -> tuple[int, int]:
    while num > RATIO_LIMIT // mul_num or den > RATIO_LIMIT // mul_den:
        num = num // RATIO_SHIFT
        den = (den + RATIO_SHIFT - 1) // RATIO_SHIFT
    return num * mul_num, den * mul_den


def compute_impact_bps(amounts: Sequence[int], hops: Sequence[tuple[int, int]]) -> int:
    """The swap's `quote` view: 1 - execution price / mid price, in basis points, rounded up."""
    num, den = amounts[-1], amounts[0]
    for r_in, r_out in hops:
        num, den = _shrink(num, den, r_in, r_out)
    if num >= den:
        return 0
    return ((den - num) * BPS + den - 1) // den


def simple_paths(pools: Iterable[Pool], send: bytes, deliver: bytes, max_hops: int = MAX_HOPS
                 ) -> list[tuple[tuple[bytes, ...], tuple[Pool, ...]]]:
    """Every path of distinct tokens from `send` to `deliver` over at most `max_hops` pools."""
    links: dict[bytes, list[tuple[bytes, Pool]]] = {}
    for p in pools:
        links.setdefault(p.token0, []).append((p.token1, p))
        links.setdefault(p.token1, []).append((p.token0, p))
    found: list[tuple[tuple[bytes, ...], tuple[Pool, ...]]] = []

    def walk(path: list[bytes], used: list[Pool]) -> None:
        here = path[-1]
        if here == deliver and used:
            found.append((tuple(path), tuple(used)))
            return
        if len(used) == max_hops:
            return
        for nxt, pool in links.get(here, ()):
            if nxt not in path:
                path.append(nxt)
                used.append(pool)
                walk(path, used)
                path.pop()
                used.pop()

    walk([send], [])
    return found


def find_routes(pools: Sequence[Pool], send: bytes, deliver: bytes, *, amount_in: int | None = None,
                amount_out: int | None = None, max_hops: int = MAX_HOPS, limit: int = 3) -> list[Route]:
    """The best `limit` routes: most delivered for `amount_in`, or least spent for `amount_out`."""
    if (amount_in is None) == (amount_out is None):
        raise RouteQueryError("give exactly one of amount_in and amount_out")
    if send == deliver:
        amount = amount_in if amount_in is not None else (amount_out or 0)
        return [Route((send,), (amount, amount), (), 0)] if amount > 0 else []
    routes = []
    for path, used in simple_paths(pools, send, deliver, max_hops):
        hops = tuple(pool.reserves_for(path[i]) for i, pool in enumerate(used))
        amounts = (compute_amounts_out(amount_in, hops) if amount_in is not None
                   else compute_amounts_in(amount_out, hops))  # type: ignore[arg-type]
        if amounts is not None:
            routes.append(Route(path, amounts, hops, compute_impact_bps(amounts, hops)))
    if amount_in is not None:
        routes.sort(key=lambda r: (-r.delivered, len(r.path)))
    else:
        routes.sort(key=lambda r: (r.spent, len(r.path)))
    return routes[:limit]
