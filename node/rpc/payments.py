"""`payment_findPaths`: the best paths of a cross-border payment, with amounts, rate, price impact
and the risk block (docs/finance.md, "Cross-border payments").

Every pool's reserves are read once, at one height, with the swap's `pools` view (QuoteReader
of node.rpc.quotes), and the routes are priced with the swap's own integer formulas
(node.rpc.paths), so the amounts quoted are what the payments contract moves on that state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.rpc.contracts import ADDRESS, _amount
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
    ]
