"""Topic subscriptions of WebSocket clients: who gets a published payload, found by index.

A topic declares the filter fields a subscription may set (e.g. "address" and "name" of an
event); a subscription is filed under the values it set, `ANY` for the others. Publishing
looks up the 2^k combinations of the payload's own values (k fields, at most `MAX_FILTERS`),
so it costs O(matching subscriptions), whatever the number of others.

Outgoing messages are bounded in bytes per connection: a subscriber that does not read is
dropped, not buffered. Notifications share the encoded payload; the envelope, which names
the subscription, is added when the message is written.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

NOTIFICATION_METHOD: Final = "subscription"
MAX_FILTERS: Final = 4
ANY: Final = object()  # the index key part of a filter field the subscription did not set

# A filter field's normalizer: the same key for a subscription's value and a payload's.
Normalize = Callable[[Any], Hashable]


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    validate: Callable[[dict[str, Any]], None] | None
    filters: Mapping[str, Normalize]
    # The notification's method, and whether it names the topic (Ethereum's eth_subscription does not).
    method: str = NOTIFICATION_METHOD
    named: bool = True


@dataclass(frozen=True, slots=True)
class Notification:
    """One queued notification: the shared encoded payload and who it is for."""

    subscription: str
    head: str | None  # the topic, JSON-encoded; None for a topic whose notifications do not name it
    result: str  # the payload, JSON-encoded once for all subscribers
    method: str = NOTIFICATION_METHOD

    def text(self) -> str:
        topic = "" if self.head is None else f',"topic":{self.head}'
        return (f'{{"jsonrpc":"2.0","method":"{self.method}","params":'
                f'{{"subscription":"{self.subscription}"{topic},"result":{self.result}}}}}')

    @property
    def size(self) -> int:
        return len(self.result) + len(self.head or "") + len(self.subscription) + len(self.method) + 80


Outgoing = bytes | Notification


class SendBuffer:
    """Messages waiting for the writer, bounded in bytes.

    `offer` (notifications) refuses what does not fit; `put` (our own responses) waits for
    room instead. One message is always let in when the buffer is empty, so an answer
    bigger than the bound can still be sent (answers are bounded by the response limit)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: deque[tuple[Outgoing, int]] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def _fits(self, size: int) -> bool:
        return not self._items or self.bytes + size <= self.max_bytes

    def _append(self, item: Outgoing, size: int) -> None:
        self._items.append((item, size))
        self.bytes += size
        self._readable.set()
        if self.bytes >= self.max_bytes:
            self._room.clear()

    def offer(self, item: Notification) -> bool:
        if not self._fits(item.size):
            return False
        self._append(item, item.size)
        return True

    async def put(self, data: bytes) -> None:
        while not self._fits(len(data)):
            self._room.clear()
            await self._room.wait()
        self._append(data, len(data))

    async def get(self) -> Outgoing:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        item, size = self._items.popleft()
        self.bytes -= size
        if self._fits(1):
            self._room.set()
        return item


@dataclass(slots=True)
class Subscription:
    id: str
    topic: str
    params: dict[str, Any]
    key: tuple[Hashable, ...]
    connection: Any  # the server's connection object; pubsub only offers to it
    active: bool = False
    # A further test of a payload the index found, for filters an exact value cannot express.
    accept: Callable[[Any], bool] | None = None


@dataclass(slots=True)
class TopicIndex:
    """The subscriptions of one topic, filed by the values of its filter fields."""

    topic: Topic
    buckets: dict[tuple[Hashable, ...], dict[str, Subscription]] = field(default_factory=dict)
    count: int = 0

    def key_of(self, params: Mapping[str, Any]) -> tuple[Hashable, ...]:
        return tuple(norm(params[name]) if name in params else ANY for name, norm in self.topic.filters.items())

    def add(self, sub: Subscription) -> None:
        self.buckets.setdefault(sub.key, {})[sub.id] = sub
        self.count += 1

    def remove(self, sub: Subscription) -> None:
        bucket = self.buckets.get(sub.key)
        if bucket is not None and bucket.pop(sub.id, None) is not None:
            self.count -= 1
            if not bucket:
                del self.buckets[sub.key]

    def matching(self, payload: Any) -> Iterator[Subscription]:
        if not self.count:
            return
        choices = []
        for name, norm in self.topic.filters.items():
            value = payload.get(name) if isinstance(payload, Mapping) else None
            try:
                choices.append((ANY,) if value is None else (norm(value), ANY))
            except (TypeError, ValueError, AttributeError):
                choices.append((ANY,))  # a payload field the filter cannot read matches only "any"
        for key in itertools.product(*choices):
            bucket = self.buckets.get(key)
            if bucket:
                yield from list(bucket.values())


__all__ = ["ANY", "MAX_FILTERS", "NOTIFICATION_METHOD", "Notification", "SendBuffer", "Subscription", "Topic",
           "TopicIndex"]
