"""`payment_findPaths`: the best paths of a cross-border payment, with amounts, rate, price impact
and the risk block (docs/finance.md, "Cross-border payments").

Every pool's reserves are read once, at one height, with the swap's `pools` view (QuoteReader
of node.rpc.quotes), and the routes are priced with the swap's own integer formulas
(node.rpc.paths), so the amounts quoted are what the payments contract moves on that state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.rpc.contracts import ADDRESS, _amount
from node.rpc.params import bytes_param
from node.rpc.paths import MAX_HOPS, Pool, Route, find_routes
from node.rpc.quotes import QUOTE_FAILED, QuoteReader, _address, _oracles
from node.rpc.registry import ErrorSpec, Method, Param, invalid_params
from node.types import errors
from node.types.risk import OracleReading, PoolDepth, RiskPolicy, risk_block
from vm.values import to_checksum

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

POOLS_PAGE = 500
MAX_POOLS = 5_000  # a bound on one read: 10 pages of the pools view
MAX_LIMIT = 10


def read_pools(r: QuoteReader, swap: bytes) -> list[Pool]:
    pools: list[Pool] = []
    while len(pools) < MAX_POOLS:
        page = r.view(swap, "pools", [len(pools), POOLS_PAGE])
        pools += [Pool(bytes(t0), bytes(t1), int(r0), int(r1)) for t0, t1, r0, r1 in page]
        if len(page) < POOLS_PAGE:
            break
    return pools


def route_json(route: Route, policy: RiskPolicy, oracles: list[OracleReading]) -> dict[str, Any]:
    depth = [PoolDepth(route.path[i], route.path[i + 1], r_in, r_out) for i, (r_in, r_out) in enumerate(route.hops)]
    impact = route.impact_bps if route.hops else None
    return {"path": [to_checksum(t) for t in route.path], "hops": len(route.hops),
            "amounts": [str(a) for a in route.amounts], "spent": str(route.spent),
            "delivered_amount": str(route.delivered), "rate": str(route.rate),
            "price_impact_bps": route.impact_bps,
            "risk": risk_block(policy, impact_bps=impact, oracles=oracles, depth=depth)}


class PaymentApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    async def payment_findPaths(self, send_token: str, deliver_token: str, amount: int | str | None = None,
                                deliver_amount: int | str | None = None, max_hops: int = MAX_HOPS, limit: int = 3,
                                swap: str | None = None, payments: str | None = None,
                                oracle: str | None = None) -> dict[str, Any]:
        send, deliver = _address(send_token, "send_token"), _address(deliver_token, "deliver_token")
        if (amount is None) == (deliver_amount is None):
            raise invalid_params("give exactly one of amount (to send) and deliver_amount")
        value = _amount(amount if amount is not None else deliver_amount)
        if value == 0:
            raise invalid_params("amount: must be positive")
        if type(max_hops) is not int or not 1 <= max_hops <= MAX_HOPS:
            raise invalid_params(f"max_hops: 1 to {MAX_HOPS}")
        if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
            raise invalid_params(f"limit: 1 to {MAX_LIMIT}")
        chain = self.api.chain
        height, tip_time_ms = chain.height, chain.tip_time_ms

        def run() -> dict[str, Any]:
            r = QuoteReader(self.api, height, tip_time_ms)
            swap_at = r.contract(swap, "swap")
            pools = read_pools(r, swap_at)
            kind = {"amount_in": value} if amount is not None else {"amount_out": value}
            routes = find_routes(pools, send, deliver, max_hops=max_hops, limit=limit, **kind)
            oracles = _oracles(r, oracle, (send, deliver))
            out: dict[str, Any] = {
                "height": height, "swap": to_checksum(swap_at), "send_token": to_checksum(send),
                "deliver_token": to_checksum(deliver), "mode": "send" if amount is not None else "deliver",
                "amount": str(value), "pools_read": len(pools),
                "paths": [route_json(rt, self.api.risk_policy, oracles) for rt in routes]}
            if payments is not None or "payments" in r.named:
                pay_at = r.contract(payments, "payments")
                corridor = r.view(pay_at, "corridor", [send, deliver])
                threshold = int(corridor["threshold"])
                out["payments"] = to_checksum(pay_at)
                out["corridor"] = {"threshold": str(threshold), "travel_required": bool(corridor["travel_required"])}
                for p in out["paths"]:
                    p["travel_rule"] = bool(corridor["travel_required"]) and int(p["spent"]) >= threshold
            return out

        return await self.api.pool.run(run)


    async def payment_preview(self, sender: str, to: str, send_token: str, deliver_token: str,
                              send_max: int | str, deliver_min: int | str = 0, deliver_amount: int | str = 0,
                              path: list[str] | None = None, deadline: int | None = None, memo: str = "0x",
                              travel_ref: str = "0x", payments: str | None = None) -> dict[str, Any]:
        """Run the payment as `sender` on a copy of the latest state, approving the payments contract
        for `send_max` there first when the sender's allowance is short: the chain's verdict, free."""
        who, dest = _address(sender, "sender"), _address(to, "to")
        send, deliver = _address(send_token, "send_token"), _address(deliver_token, "deliver_token")
        route = [_address(t, f"path[{i}]") for i, t in enumerate(path or [])]
        if len(route) > MAX_HOPS + 1:
            raise invalid_params(f"path: at most {MAX_HOPS + 1} tokens")
        amounts = [_amount(v) for v in (send_max, deliver_min, deliver_amount)]
        memo_b, ref_b = bytes_param(memo, "memo"), bytes_param(travel_ref, "travel_ref")
        chain = self.api.chain
        height, tip_time_ms = chain.height, chain.tip_time_ms
        until = height + 1 if deadline is None else deadline
        if type(until) is not int or until < 0:
            raise invalid_params("deadline: a block height")

        def run() -> dict[str, Any]:
            r = QuoteReader(self.api, height, tip_time_ms)
            pay_at = r.contract(payments, "payments")
            approved = False
            if int(r.view(send, "allowance", [who, pay_at])) < amounts[0]:
                step = r.simulate(who, send, "approve", [pay_at, amounts[0]])
                if not step.ok:
                    return {"height": height, "payments": to_checksum(pay_at), "approve_needed": True,
                            "outcome": step.to_json()}
                approved = True
            outcome = r.simulate(who, pay_at, "pay", [dest, send, deliver, *amounts, route, until, memo_b, ref_b])
            return {"height": height, "payments": to_checksum(pay_at), "approve_needed": approved,
                    "outcome": outcome.to_json()}

        return await self.api.pool.run(run)


def payment_methods(api: NodeApi) -> list[Method]:
    p = PaymentApi(api)
    amount = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    failed = (ErrorSpec(QUOTE_FAILED, "quote_failed"), ErrorSpec(errors.NotFound.code, errors.NotFound.reason))
    return [
        Method("payment_findPaths", p.payment_findPaths,
               (Param("send_token", ADDRESS), Param("deliver_token", ADDRESS),
                Param("amount", amount, False, "send exactly this many base units (or give deliver_amount)"),
                Param("deliver_amount", amount, False, "deliver exactly this many base units"),
                Param("max_hops", {"type": "integer"}, False, f"1 to {MAX_HOPS} pools, default {MAX_HOPS}"),
                Param("limit", {"type": "integer"}, False, f"best paths returned, 1 to {MAX_LIMIT}, default 3"),
                Param("swap", ADDRESS, False, "default: the genesis contract named swap"),
                Param("payments", ADDRESS, False, "default: the genesis contract named payments"),
                Param("oracle", ADDRESS, False, "default: the genesis contract named oracle")),
               {"name": "paths", "type": "object"},
               "The best payment paths over the swap's pools at the latest height (most delivered, or least "
               "spent), each with its amounts, rate, price impact and risk block, and the corridor's "
               "travel-rule threshold.", failed, expensive=True),
        Method("payment_preview", p.payment_preview,
               (Param("sender", ADDRESS), Param("to", ADDRESS), Param("send_token", ADDRESS),
                Param("deliver_token", ADDRESS), Param("send_max", amount),
                Param("deliver_min", amount, False, "minimum mode (default 0)"),
                Param("deliver_amount", amount, False, "exact mode (default 0)"),
                Param("path", {"type": "array", "items": ADDRESS}, False, "default: the direct pair"),
                Param("deadline", {"type": "integer"}, False, "a block height, default the next"),
                Param("memo", {"type": "string"}, False, "0x hex, at most 256 bytes"),
                Param("travel_ref", {"type": "string"}, False, "0x and 32 bytes, or 0x"),
                Param("payments", ADDRESS, False, "default: the genesis contract named payments")),
               {"name": "preview", "type": "object"},
               "Run a payment as the sender on a copy of the latest state (approving the payments contract "
               "there first if needed): its outcome with the contract's reason code, nothing sent.", failed,
               expensive=True),
    ]
