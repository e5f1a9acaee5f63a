"""`vault_preview`: an ERC-4626 vault action previewed with its risk block (docs/finance.md,
"Investment vault").

The preview value is the vault's own `preview_*` view; the action is also run as the account on a
throwaway overlay of the same height (node.rpc.quotes.QuoteReader), so the answer says whether it
would go through and with which reason code. The risk block adds to the shared one (the oracle
price of the asset, which the market needs to value its borrowers) the two things that decide
whether a vault's money can come back: the market's cash against what the action takes out, and
the market's utilization (the nearer to 100%, the less cash is left for any withdrawal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.rpc.contracts import ADDRESS, _amount
from node.rpc.quotes import QUOTE_FAILED, QuoteReader, _address, _oracles
from node.rpc.registry import ErrorSpec, Method, Param, invalid_params
from node.types import errors
from node.types.risk import EXP, RiskPolicy, risk_block, worst
from vm.values import to_checksum

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

# action -> (the vault's preview view, its max view, what the amount counts, what the preview gives)
ACTIONS = {
    "deposit": ("preview_deposit", "max_deposit", "assets", "shares"),
    "mint": ("preview_mint", "max_mint", "shares", "assets"),
    "withdraw": ("preview_withdraw", "max_withdraw", "assets", "shares"),
    "redeem": ("preview_redeem", "max_redeem", "shares", "assets"),
}
MARKET_FIELDS = ("utilization", "borrow_rate", "supply_rate", "cash", "borrows", "reserves", "exchange_rate")
# Utilization at or above the kink of the devnet's rate model is medium, from 95% high: little cash
# is left for withdrawals, and borrowers pay the jump rate until some comes back.
UTILIZATION_MEDIUM = 8 * EXP // 10
UTILIZATION_HIGH = 95 * EXP // 100
# A withdrawal taking more than half of what the vault can pay now is medium, all of it blocked.
LIQUIDITY_MEDIUM_SHARE_PCT = 50


def utilization_tier(utilization: int) -> str:
    if utilization >= UTILIZATION_HIGH:
        return "high"
    if utilization >= UTILIZATION_MEDIUM:
        return "medium"
    return "low"


def liquidity_tier(assets_out: int, available: int) -> str:
    """For an action that takes `assets_out` from a vault that can pay `available` now."""
    if assets_out > available:
        return "blocked"
    if assets_out * 100 > available * LIQUIDITY_MEDIUM_SHARE_PCT:
        return "medium"
    return "low"


def vault_risk(policy: RiskPolicy, base: dict[str, Any], *, utilization: int, market_cash: int, available: int,
               assets_out: int | None, would_revert: bool) -> dict[str, Any]:
    """The shared block `base` (oracle readings) with the vault's liquidity and utilization parts."""
    u_tier = utilization_tier(utilization)
    tiers = [base["tier"], u_tier]
    warnings = list(base["warnings"])
    if u_tier != "low":
        warnings.append(f"utilization_{u_tier}")
    block = {**base, "utilization": str(utilization), "utilization_pct": f"{utilization * 100 / EXP:.2f}",
             "utilization_tier": u_tier, "market_cash": str(market_cash), "vault_available": str(available)}
    if assets_out is not None:
        l_tier = liquidity_tier(assets_out, available)
        tiers.append(l_tier)
        block["assets_out"] = str(assets_out)
        block["liquidity_tier"] = l_tier
        if l_tier != "low":
            warnings.append(f"liquidity_{l_tier}")
    if would_revert:
        tiers.append("blocked")
        warnings.append("would_revert")
    block["tier"] = worst(*tiers)
    block["warnings"] = warnings
    block["policy"] = {**base["policy"], "utilization_medium": str(UTILIZATION_MEDIUM),
                       "utilization_high": str(UTILIZATION_HIGH),
                       "liquidity_medium_share_pct": LIQUIDITY_MEDIUM_SHARE_PCT}
    return block


class VaultApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    async def vault_preview(self, action: str, amount: int | str, account: str, vault: str | None = None,
                            receiver: str | None = None, owner: str | None = None) -> dict[str, Any]:
        if not isinstance(action, str) or action not in ACTIONS:
            raise invalid_params(f"action: one of {sorted(ACTIONS)}")
        value = _amount(amount)
        if value == 0:
            raise invalid_params("amount: must be positive")
        who = _address(account, "account")
        to = who if receiver is None else _address(receiver, "receiver")
        holder = who if owner is None else _address(owner, "owner")
        chain = self.api.chain
        height, tip_time_ms = chain.height, chain.tip_time_ms
        return await self.api.pool.run(lambda: self._preview(QuoteReader(self.api, height, tip_time_ms), action,
                                                             value, who, to, holder, vault))

    def _preview(self, r: QuoteReader, action: str, value: int, who: bytes, to: bytes, holder: bytes,
                 vault: str | None) -> dict[str, Any]:
        vault_at = r.contract(vault, "vault")
        preview_view, max_view, counts, gives = ACTIONS[action]
        info = r.view(vault_at, "info", [])
        asset, lending = info["asset"], info["lending"]
        # {} while the market has not listed the asset: no cash, no loans; the dry run says why.
        market = {k: 0 for k in MARKET_FIELDS} | r.view(lending, "market_now", [asset])
        preview = r.try_view(vault_at, preview_view, [value])
        quoted = int(preview.output) if preview.ok else None
        entering = action in ("deposit", "mint")
        most = int(r.view(vault_at, max_view, [to if entering else holder]))
        approval = None
        if entering:
            # The dry run goes as if the vault were approved for what it will pull, so that its
            # outcome is every other check's; `approval` tells the wallet to approve first.
            pulled = value if action == "deposit" else (quoted or 0)
            allowance = int(r.view(asset, "allowance", [who, vault_at]))
            approval = {"needed": allowance < pulled, "allowance": str(allowance), "amount": str(pulled)}
            if allowance < pulled:
                r.simulate(who, asset, "approve", [vault_at, pulled])
        args: list[Any] = [value, to] if entering else [value, to, holder]
        outcome = r.simulate(who, vault_at, action, args)
        if action in ("withdraw", "redeem"):
            assets_out: int | None = value if action == "withdraw" else quoted
        else:
            assets_out = None
        oracles = _oracles(r, to_checksum(r.view(lending, "oracle", [])), (asset,))
        base = risk_block(self.api.risk_policy, oracles=oracles)
        risk = vault_risk(self.api.risk_policy, base, utilization=int(market["utilization"]),
                          market_cash=int(market["cash"]), available=int(info["available"]),
                          assets_out=assets_out, would_revert=not outcome.ok)
        return {
            "height": r.height,
            "vault": to_checksum(vault_at),
            "asset": to_checksum(asset),
            "lending": to_checksum(lending),
            "action": action,
            counts: str(value),
            gives: None if quoted is None else str(quoted),
            "preview": None if quoted is None else str(quoted),
            "preview_error": None if preview.ok else preview.error,
            "max": str(most),
            "account": to_checksum(who),
            "receiver": to_checksum(to),
            "owner": None if entering else to_checksum(holder),
            "approval": approval,
            "outcome": outcome.to_json(),
            "share_price": str(info["share_price"]),
            "total_assets": str(info["total_assets"]),
            "total_supply": str(info["total_supply"]),
            "market": {"utilization": str(market["utilization"]), "borrow_rate": str(market["borrow_rate"]),
                       "supply_rate": str(market["supply_rate"]), "cash": str(market["cash"]),
                       "borrows": str(market["borrows"]), "reserves": str(market["reserves"]),
                       "exchange_rate": str(market["exchange_rate"])},
            "risk": risk,
        }


def vault_methods(api: NodeApi) -> list[Method]:
    v = VaultApi(api)
    amount = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    failed = (ErrorSpec(QUOTE_FAILED, "quote_failed"), ErrorSpec(errors.NotFound.code, errors.NotFound.reason))
    return [
        Method("vault_preview", v.vault_preview,
               (Param("action", {"enum": sorted(ACTIONS)}),
                Param("amount", amount, True, "assets for deposit and withdraw, shares for mint and redeem"),
                Param("account", ADDRESS, True, "who sends the action"),
                Param("vault", ADDRESS, False, "default: the genesis contract named vault"),
                Param("receiver", ADDRESS, False, "who gets the shares or assets, default the account"),
                Param("owner", ADDRESS, False, "withdraw and redeem: whose shares, default the account")),
               {"name": "preview", "type": "object"},
               "An ERC-4626 vault action at the latest height: the vault's preview value, the account's "
               "maximum, the outcome of running it as the account on a copy of the state, the share price, "
               "the lending market's utilization and rates, and the risk block (the market's cash against "
               "the withdrawal, utilization, oracle age).", failed, expensive=True),
    ]
