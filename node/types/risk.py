"""The risk block of every quote and preview: price impact with its tier, oracle age, pool depth,
and for loans the health factor before and after and the liquidation prices.

Pure functions over numbers the quote methods read from contract views at one height, so that
every quote of the RPC and the CLI judges risk by the same rules, and a test can check them
against an independent computation. Tiers run low < medium < high < blocked; a block's tier is
the worst of its parts. The CLI asks for --accept-risk before it sends a high-tier action and
refuses a blocked one (node.cli.common.check_risk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vm.values import to_checksum

TIERS = ("low", "medium", "high", "blocked")
BPS = 10_000
EXP = 10**18  # health factors and prices are mantissas of 10^18, as the lending market's views give them


class RiskPolicyError(ValueError):
    """A [risk] setting that would make the tiers overlap or invert."""


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """Price impact below impact_low_bps is low, below impact_medium_bps medium, below
    impact_high_bps high, and blocked from there. A health factor at or above health_low is low,
    at or above health_medium medium, above 1 high, and 1 or below blocked (liquidatable)."""

    impact_low_bps: int = 100
    impact_medium_bps: int = 300
    impact_high_bps: int = 1_000
    health_low: int = 15 * EXP // 10
    health_medium: int = 12 * EXP // 10

    def validate(self) -> None:
        if not 0 < self.impact_low_bps <= self.impact_medium_bps <= self.impact_high_bps <= BPS:
            raise RiskPolicyError("risk: need 0 < impact_low_bps <= impact_medium_bps <= impact_high_bps <= 10000")
        if not EXP < self.health_medium <= self.health_low:
            raise RiskPolicyError("risk: need 1 < health_medium <= health_low")

    def to_json(self) -> dict[str, Any]:
        return {"impact_low_bps": self.impact_low_bps, "impact_medium_bps": self.impact_medium_bps,
                "impact_high_bps": self.impact_high_bps, "health_low": str(self.health_low),
                "health_medium": str(self.health_medium)}


@dataclass(frozen=True, slots=True)
class OracleReading:
    """The newest report of an asset's price: its age counts from the block the quote reads."""

    asset: bytes
    price: int  # 0 when no reporter has a fresh price
    updated_s: int  # time of the newest report, 0 when there is none
    now_s: int
    max_age_s: int

    @property
    def age_s(self) -> int | None:
        return None if self.updated_s == 0 else max(0, self.now_s - self.updated_s)

    @property
    def stale(self) -> bool:
        age = self.age_s
        return self.price == 0 or age is None or age > self.max_age_s


@dataclass(frozen=True, slots=True)
class PoolDepth:
    token_in: bytes
    token_out: bytes
    reserve_in: int
    reserve_out: int


@dataclass(frozen=True, slots=True)
class LiquidationPrice:
    """The price of `asset` at which the account becomes liquidatable, the others held still:
    below it for an asset held mostly as collateral, above it for one mostly owed."""

    asset: bytes
    price: int
    direction: str  # "below" | "above"


def worst(*tiers: str) -> str:
    return max(tiers, key=TIERS.index) if tiers else "low"


def impact_tier(impact_bps: int, policy: RiskPolicy) -> str:
    if impact_bps < policy.impact_low_bps:
        return "low"
    if impact_bps < policy.impact_medium_bps:
        return "medium"
    if impact_bps < policy.impact_high_bps:
        return "high"
    return "blocked"


def health_tier(health: int | None, policy: RiskPolicy) -> str:
    """None: nothing owed."""
    if health is None or health >= policy.health_low:
        return "low"
    if health >= policy.health_medium:
        return "medium"
    if health > EXP:
        return "high"
    return "blocked"


def compute_price_impact_bps(amounts: Sequence[int], depth: Sequence[PoolDepth]) -> int:
    """1 - execution price / mid price along a path, in basis points rounded up (never under-reported).

    amounts[0] goes in, amounts[-1] comes out; depth[i] is hop i's reserves before the trade.
    The mid price is the product of reserve_out / reserve_in over the hops.
    """
    if len(amounts) != len(depth) + 1 or not depth or amounts[0] <= 0:
        raise ValueError("a path needs one more amount than hops, and a positive input")
    num, den = amounts[-1], amounts[0]
    for hop in depth:
        num *= hop.reserve_in
        den *= hop.reserve_out
    if den == 0 or num >= den:
        return 0
    return ((den - num) * BPS + den - 1) // den


def compute_liquidation_price(asset: bytes, asset_collateral: int, asset_debt: int, other_collateral: int,
                              other_debt: int, price: int) -> LiquidationPrice | None:
    """Solve health = 1 for the price of one asset.

    asset_collateral and asset_debt are the asset's collateral value (after its collateral
    factor) and debt value at `price`; the others are the rest of the account's, fixed. With
    a = asset_collateral / price and b = asset_debt / price the account's health is
    (other_collateral + a p) / (other_debt + b p), which is 1 at p = (other_debt - other_collateral) / (a - b).
    None when no positive price of this asset makes the account liquidatable.
    """
    if price <= 0:
        return None
    net = asset_collateral - asset_debt  # (a - b) * price
    gap = other_debt - other_collateral
    if net == 0:
        return None
    # p* = gap * price / net, rounded towards the current price (the warning comes no later).
    if net > 0:
        if gap <= 0:
            return None  # the other assets alone cover the debt
        return LiquidationPrice(asset, -(-gap * price // net), "below")
    if gap >= 0:
        return None  # already liquidatable at any price: health_tier says blocked
    return LiquidationPrice(asset, (-gap) * price // (-net), "above")


def risk_block(policy: RiskPolicy, *, impact_bps: int | None = None, oracles: Sequence[OracleReading] = (),
               depth: Sequence[PoolDepth] = (), health_before: int | None = None, health_after: int | None = None,
               liquidation: Sequence[LiquidationPrice] = (), owes_after: bool | None = None) -> dict[str, Any]:
    """The JSON block. `owes_after` says whether health_after is meaningful (None: no loan in this quote)."""
    tiers: list[str] = []
    warnings: list[str] = []
    block: dict[str, Any] = {}
    if impact_bps is not None:
        tier = impact_tier(impact_bps, policy)
        tiers.append(tier)
        if tier != "low":
            warnings.append(f"price_impact_{tier}")
        block["price_impact_bps"] = impact_bps
        block["price_impact_pct"] = f"{impact_bps / 100:.2f}"
        block["price_impact_tier"] = tier
    if oracles:
        block["oracle"] = [{"asset": to_checksum(o.asset), "price": str(o.price), "age_s": o.age_s,
                            "max_age_s": o.max_age_s, "stale": o.stale} for o in oracles]
        if any(o.stale for o in oracles):
            tiers.append("high")
            warnings.append("oracle_stale")
    if depth:
        block["pool_depth"] = [{"token_in": to_checksum(d.token_in), "token_out": to_checksum(d.token_out),
                                "reserve_in": str(d.reserve_in), "reserve_out": str(d.reserve_out)} for d in depth]
    if owes_after is not None:
        block["health_factor_before"] = None if health_before is None else str(health_before)
        block["health_factor_after"] = str(health_after) if owes_after and health_after is not None else None
        tier = health_tier(health_after if owes_after else None, policy)
        tiers.append(tier)
        block["health_tier"] = tier
        if tier != "low":
            warnings.append(f"health_{tier}")
        block["liquidation_price"] = [{"asset": to_checksum(p.asset), "price": str(p.price),
                                       "direction": p.direction} for p in liquidation]
    block["tier"] = worst(*tiers)
    block["warnings"] = warnings
    block["policy"] = policy.to_json()
    return block
