"""The node's WebSocket topics, and their notifications for committed blocks.

The commit path only queues the block (`on_commit`); the fan-out runs in its own task
(`run`), which yields to the event loop every `YIELD_EVERY` notifications, so one block
with many events cannot hold consensus up. Payloads of a topic nobody subscribed to are
not built at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import WSCloseCode

from node.rpc.params import address_param, bytes_param
from node.rpc.server import RpcServer
from node.rpc.views import event_json, header_json, hx

log = logging.getLogger(__name__)

YIELD_EVERY: Final = 256
DEFAULT_MAX_PENDING_BLOCKS: Final = 64


def _lower(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value.lower()


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def tx_validate(params: dict[str, Any]) -> None:
    if set(params) != {"hash"}:
        raise ValueError("tx subscription needs params {\"hash\": \"0x<64 hex>\"}")
    bytes_param(params["hash"], "hash", 32)


def event_validate(params: dict[str, Any]) -> None:
    # A misspelt key or a bad address would otherwise subscribe to everything, or to nothing, silently.
    unknown = set(params) - {"address", "name"}
    if unknown:
        raise ValueError(f"events filter takes \"address\" and \"name\" only, not {sorted(unknown)}")
    if "address" in params:
        address_param(params["address"])
    if "name" in params and not isinstance(params["name"], str):
        raise ValueError("events filter name must be a string")


def register_topics(rpc: RpcServer) -> None:
    rpc.register_topic("newHeads")
    rpc.register_topic("tx", validate=tx_validate, filters={"hash": _lower})
    rpc.register_topic("events", validate=event_validate, filters={"address": _lower, "name": _name})


class CommitNotifier:
    """Queues committed blocks and publishes their notifications in its own task."""

    def __init__(self, rpc: RpcServer, max_pending_blocks: int = DEFAULT_MAX_PENDING_BLOCKS,
                 publishers: Sequence[Callable[[Any], Awaitable[None]]] = ()) -> None:
        self._rpc = rpc
        self._publishers = tuple(publishers)  # other faces' topics (node.rpc.eth_subscribe)
        self._max_pending = max_pending_blocks
        self._pending: deque[Any] = deque()
        self._wake = asyncio.Event()

    def on_commit(self, executed: Any) -> None:
        """Called on the commit path with a node.chain.ExecutedBlock: O(1), never blocks."""
        if len(self._pending) >= self._max_pending:
            # Behind by this much, subscribers would get stale news late; they are told to
            # resubscribe (and read what they missed by RPC) rather than be buffered for.
            log.warning("WebSocket notifications are %d blocks behind: dropping subscribers", len(self._pending))
            self._pending.clear()
            self._rpc.drop_subscribers(WSCloseCode.TRY_AGAIN_LATER, "notifications fell behind")
            return
        self._pending.append(executed)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            executed = self._pending.popleft()
            await self._publish(executed)
            for publish in self._publishers:
                try:
                    await publish(executed)
                except Exception:
                    # This task runs in the daemon's task group: an error here would stop the
                    # node. Another face's subscribers miss this block's news; the chain goes on.
                    log.exception("a notification publisher failed on block %d", executed.block.height)

    async def _publish(self, executed: Any) -> None:
        rpc = self._rpc
        block = executed.block
        rpc.publish("newHeads", header_json(block.header))
        want_tx, want_events = rpc.has_subscribers("tx"), rpc.has_subscribers("events")
        if not (want_tx or want_events):
            return
        done = 0
        for index, (tx, receipt) in enumerate(zip(executed.txs, executed.receipts, strict=True)):
            tx_hash = hx(tx.hash)
            if want_tx:
                rpc.publish("tx", {"hash": tx_hash, "status": "committed", "height": block.height, "index": index,
                                   "success": bool(receipt.status), "error": receipt.error or None})
            if want_events:
                for event in receipt.events:
                    rpc.publish("events", {**event_json(event), "tx_hash": tx_hash, "height": block.height})
                    done += 1
                    if done % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            done += 1
            if done % YIELD_EVERY == 0:
                await asyncio.sleep(0)


__all__ = ["CommitNotifier", "event_validate", "register_topics", "tx_validate"]
