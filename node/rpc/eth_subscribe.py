"""eth_subscribe on the node's WebSocket: `newHeads` and `logs`, in Ethereum's notification shape.

Notifications are `{"method": "eth_subscription", "params": {"subscription", "result"}}`. A logs
subscription with one address is filed under it (publishing costs what matches); one with
several addresses or topic positions is filed under "any address" and tested per log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from node.rpc.eth_api import EthApi, parse_log_filter
from node.rpc.eth_views import Position, block_view, event_log, log_view
from node.rpc.notify import YIELD_EVERY
from node.rpc.registry import Method, Param, invalid_params
from node.rpc.server import RpcServer, WsContext

ETH_NOTIFICATION: Final = "eth_subscription"
HEADS: Final = "eth_newHeads"
LOGS: Final = "eth_logs"
_HEADER_ONLY: Final = ("transactions", "uncles", "size", "totalDifficulty")


def _lower(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value.lower()


def _log_test(filter_obj: dict[str, Any]) -> tuple[dict[str, Any], Callable[[Any], bool] | None]:
    """The index params and the per-log test of a logs filter, over the published JSON log."""
    wanted = parse_log_filter(filter_obj)
    addresses = {"0x" + a.hex() for a in wanted.addresses}
    topics = [None if t is None else {"0x" + x.hex() for x in t} for t in wanted.topics]
    index = {"address": next(iter(addresses))} if len(addresses) == 1 else {}
    if len(addresses) <= 1 and not any(t is not None for t in topics):
        return index, None

    def accept(log: Any) -> bool:
        if addresses and log["address"].lower() not in addresses:
            return False
        have = log["topics"]
        return len(topics) <= len(have) and all(t is None or have[i] in t for i, t in enumerate(topics))

    return index, accept


class EthSubscriptions:
    def __init__(self, rpc: RpcServer, eth: EthApi) -> None:
        self.rpc = rpc
        self.eth = eth
        rpc.register_topic(HEADS, method=ETH_NOTIFICATION, named=False)
        rpc.register_topic(LOGS, filters={"address": _lower}, method=ETH_NOTIFICATION, named=False)
        rpc.add_ws_methods([
            Method("eth_subscribe", self.eth_subscribe,
                   (Param("kind", {"type": "string"}, description="newHeads or logs"),
                    Param("filter", {"type": "object"}, False, "logs: {address?, topics?}")),
                   {"name": "subscription", "type": "string"}, "Subscribe this WebSocket (WebSocket only).",
                   takes_context=True),
            Method("eth_unsubscribe", self.eth_unsubscribe, (Param("id", {"type": "string"}),),
                   {"name": "removed", "type": "boolean"}, "Cancel a subscription (WebSocket only).",
                   takes_context=True),
        ])

    async def eth_subscribe(self, kind: str, context: WsContext, filter: dict[str, Any] | None = None) -> str:
        if kind == "newHeads":
            if filter:
                raise invalid_params("newHeads takes no filter")
            return self.rpc.add_subscription(HEADS, {}, self.rpc.index_key(HEADS, {}), context)
        if kind == "logs":
            obj = filter or {}
            unknown = set(obj) - {"address", "topics"}
            if unknown:
                raise invalid_params(f"logs filter takes address and topics only, not {sorted(unknown)}")
            index, accept = _log_test(obj)
            return self.rpc.add_subscription(LOGS, obj, self.rpc.index_key(LOGS, index), context, accept)
        raise invalid_params(f"unsupported subscription {kind!r}: newHeads and logs are served")

    async def eth_unsubscribe(self, id: str, context: WsContext) -> bool:
        return self.rpc.remove_subscription(id, context)

    async def publish(self, executed: Any) -> None:
        """Called by the commit notifier's task for each committed block (node.rpc.notify).

        A block may hold tens of thousands of events: their views (checksums, ABI encoding, the
        bloom) are built in a thread, and publishing yields to the loop every YIELD_EVERY. Not in
        the RPC read pool: a queue of slow reads there would hold back every subscriber's news."""
        rpc = self.rpc
        heads, logs = rpc.has_subscribers(HEADS), rpc.has_subscribers(LOGS)
        if not (heads or logs):
            return
        head, log_views = await asyncio.to_thread(self._views, executed, heads, logs)
        if head is not None:
            rpc.publish(HEADS, head)
        for n, view in enumerate(log_views, 1):
            rpc.publish(LOGS, view)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _views(self, executed: Any, heads: bool, logs: bool) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        block = executed.block
        height = block.height
        events = [event_log(e) for r in executed.receipts for e in r.events]
        head = None
        if heads:
            head = block_view(block, self.eth.facts(height, events), [])
            for name in _HEADER_ONLY:
                head.pop(name)
        views: list[dict[str, Any]] = []
        if logs:
            block_hash, log_index = executed.hash, 0
            for index, receipt in enumerate(executed.receipts):
                where = Position(block_hash, height, index, 0)
                for _ in receipt.events:
                    views.append(log_view(events[log_index], receipt.tx_hash, where, log_index))
                    log_index += 1
        return head, views
