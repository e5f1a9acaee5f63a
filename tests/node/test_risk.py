"""The risk block's rules (node/types/risk.py) against independent computations, and its settings."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.cli.common import CliError, check_risk
from node.config import ConfigError, init_home, load_config
from node.types.risk import (
    EXP,
    OracleReading,
    PoolDepth,
    RiskPolicy,
    RiskPolicyError,
    compute_liquidation_price,
    compute_price_impact_bps,
    health_tier,
    impact_tier,
    risk_block,
)

POLICY = RiskPolicy()
A, B, C = b"\x01" * 20, b"\x02" * 20, b"\x03" * 20


def test_tiers_at_their_boundaries() -> None:
    assert [impact_tier(b, POLICY) for b in (0, 99, 100, 299, 300, 999, 1000, 10_000)] == [
        "low", "low", "medium", "medium", "high", "high", "blocked", "blocked"]
    assert health_tier(None, POLICY) == "low"
    assert [health_tier(h, POLICY) for h in (2 * EXP, 15 * EXP // 10, 15 * EXP // 10 - 1, 12 * EXP // 10,
                                             12 * EXP // 10 - 1, EXP + 1, EXP, 0)] == [
        "low", "low", "medium", "medium", "high", "high", "blocked", "blocked"]


def test_policies_that_overlap_are_refused() -> None:
    for bad in (RiskPolicy(impact_low_bps=0), RiskPolicy(impact_low_bps=400), RiskPolicy(impact_high_bps=20_000),
                RiskPolicy(health_medium=EXP), RiskPolicy(health_low=EXP + 1)):
        with pytest.raises(RiskPolicyError):
            bad.validate()
    POLICY.validate()


def _hop(reserve_in: int, reserve_out: int, amount_in: int) -> int:
    # The swap contract's get_amount_out (Uniswap V2, 0.3% fee, rounded down).
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


reserves = st.integers(10**3, 10**30)


@given(st.lists(st.tuples(reserves, reserves), min_size=1, max_size=4), st.integers(1, 10**27))
def test_price_impact_equals_an_exact_fraction(pools: list[tuple[int, int]], amount_in: int) -> None:
    amounts = [amount_in]
    for r_in, r_out in pools:
        amounts.append(_hop(r_in, r_out, amounts[-1]))
    depth = [PoolDepth(A, B, r_in, r_out) for r_in, r_out in pools]
    mid = Fraction(1)
    for r_in, r_out in pools:
        mid *= Fraction(r_out, r_in)
    impact = max(Fraction(0), 1 - Fraction(amounts[-1], amounts[0]) / mid)
    assert compute_price_impact_bps(amounts, depth) == -(-impact * 10_000 // 1)
    # The fee alone is 0.3% per hop, so a trade is never under it.
    assert compute_price_impact_bps(amounts, depth) >= min(30 * len(pools), 10_000) - len(pools)


def test_price_impact_refuses_a_malformed_path() -> None:
    with pytest.raises(ValueError):
        compute_price_impact_bps([1, 2], [])
    with pytest.raises(ValueError):
        compute_price_impact_bps([0, 2], [PoolDepth(A, B, 1, 1)])


def _health(asset_c: Fraction, asset_d: Fraction, other_c: int, other_d: int, scale: Fraction) -> Fraction:
    return (other_c + asset_c * scale) / (other_d + asset_d * scale)


@given(st.integers(0, 10**24), st.integers(0, 10**24), st.integers(0, 10**24), st.integers(0, 10**24),
       st.integers(1, 10**22))
def test_liquidation_price_solves_health_equal_to_one(asset_c: int, asset_d: int, other_c: int, other_d: int,
                                                      price: int) -> None:
    found = compute_liquidation_price(C, asset_c, asset_d, other_c, other_d, price)
    if found is None:
        # No positive price makes the account liquidatable, or it is already at any price.
        net = asset_c - asset_d
        gap = other_d - other_c
        assert net == 0 or (net > 0 and gap <= 0) or (net < 0 and gap >= 0)
        return
    assert found.asset == C and found.price >= 0
    exact = Fraction(other_d - other_c) * price / (asset_c - asset_d)
    # Rounded towards the current price: the warning comes no later than the liquidation.
    assert abs(found.price - exact) < 1
    if found.direction == "below":
        assert asset_c > asset_d and found.price >= exact
    else:
        assert asset_d > asset_c and found.price <= exact
    at = _health(Fraction(asset_c), Fraction(asset_d), other_c, other_d, exact / price)
    assert at == 1


def test_the_block_takes_the_worst_tier_and_says_why() -> None:
    stale = OracleReading(A, 0, 100, 5000, 3600)
    fresh = OracleReading(B, 2 * EXP, 4990, 5000, 3600)
    assert stale.stale and stale.age_s == 4900 and not fresh.stale and fresh.age_s == 10
    block = risk_block(POLICY, impact_bps=50, oracles=[stale, fresh], depth=[PoolDepth(A, B, 5, 7)])
    assert block["tier"] == "high" and block["warnings"] == ["oracle_stale"]
    assert block["price_impact_tier"] == "low" and block["pool_depth"][0]["reserve_out"] == "7"
    loan = risk_block(POLICY, health_before=2 * EXP, health_after=11 * EXP // 10, owes_after=True)
    assert loan["tier"] == "high" and loan["health_factor_after"] == str(11 * EXP // 10)
    assert risk_block(POLICY, impact_bps=2_000)["tier"] == "blocked"
    assert risk_block(POLICY, health_after=None, owes_after=False)["tier"] == "low"


def test_the_cli_asks_for_acceptance_and_refuses_blocked() -> None:
    check_risk({"tier": "low"}, False)
    check_risk({"tier": "medium"}, False)
    check_risk({"tier": "high"}, True)
    with pytest.raises(CliError, match="--accept-risk"):
        check_risk({"tier": "high", "warnings": ["price_impact_high"]}, False)
    with pytest.raises(CliError, match="blocked"):
        check_risk({"tier": "blocked"}, True)


def test_risk_settings_in_config_toml(tmp_path) -> None:
    home = tmp_path / "home"
    init_home(home)
    assert load_config(home).risk == RiskPolicy()
    path = home / "config" / "config.toml"
    text = path.read_text()
    path.write_text(text.replace('health_low = "1.5"', 'health_low = "2"').replace("impact_high_bps = 1000",
                                                                                  "impact_high_bps = 500"))
    policy = load_config(home).risk
    assert policy.health_low == 2 * EXP and policy.impact_high_bps == 500
    for wrong in ('health_low = "x"', 'health_low = "1.1"', "impact_low_bps = 0", 'impact_low_bps = "1"'):
        key = wrong.split(" = ")[0]
        lines = [wrong if line.startswith(key + " ") else line for line in text.splitlines()]
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(ConfigError, match="risk"):
            load_config(home)
