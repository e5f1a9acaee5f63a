"""Metrics read at scrape time from numbers the node keeps anyway.

Nothing here runs on the consensus or RPC paths: a scrape calls the `Readings` callables
once each. Per-peer series exist only for the peers connected at the time of the scrape, so
the `peer_id` label set is bounded by the peer limits and a disconnected peer's series end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.metrics.instruments import NAMESPACE


@dataclass(frozen=True, slots=True)
class PeerBytes:
    peer_id: str
    received: int
    sent: int


@dataclass(frozen=True, slots=True)
class Readings:
    """Where each scraped value comes from (node/daemon.py wires them)."""

    height: Callable[[], int]
    round: Callable[[], int | None]  # the round of the height in progress; None before the first starts
    input_queue: Callable[[], int]
    dropped_peer_events: Callable[[], int]
    votes_received: Callable[[], Mapping[str, int]]  # vote type -> votes received from peers
    catching_up: Callable[[], bool]
    mempool_size: Callable[[], int]
    mempool_bytes: Callable[[], int]
    mempool_future: Callable[[], int]
    peers: Callable[[], Iterable[PeerBytes]]
    rpc_connections: Callable[[], int]
    ws_connections: Callable[[], int]
    ws_subscriptions: Callable[[], Mapping[str, int]]  # topic -> open subscriptions


def _name(subsystem: str, name: str) -> str:
    return f"{NAMESPACE}_{subsystem}_{name}"


class ReadingsCollector(Collector):
    def __init__(self, readings: Readings) -> None:
        self._r = readings

    def describe(self) -> Iterable[Metric]:
        # Families without samples: lets the registry check names without calling the readings.
        return list(self._families(empty=True))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(empty=False))

    def _families(self, empty: bool) -> Iterator[Metric]:
        r = self._r

        def gauge(subsystem: str, name: str, doc: str, value: Callable[[], float | int | None]) -> Metric:
            family = GaugeMetricFamily(_name(subsystem, name), doc)
            if not empty:
                v = value()
                if v is not None:
                    family.add_metric([], float(v))
            return family

        def counter(subsystem: str, name: str, doc: str, value: Callable[[], int]) -> Metric:
            family = CounterMetricFamily(_name(subsystem, name), doc)
            if not empty:
                family.add_metric([], float(value()))
            return family

        yield gauge("consensus", "height", "Last committed height.", r.height)
        yield gauge("consensus", "round", "Round of the height in progress.", r.round)
        yield gauge("consensus", "input_queue_size", "Events waiting for the consensus engine.", r.input_queue)
        yield counter("consensus", "dropped_peer_events", "Peer votes, proposals and evidence refused because "
                      "the engine's input queue was full.", r.dropped_peer_events)
        votes = CounterMetricFamily(_name("consensus", "votes_received"),
                                    "Votes received from peers (decoded, from validators), by type.", labels=["type"])
        if not empty:
            for kind, count in sorted(r.votes_received().items()):
                votes.add_metric([kind], float(count))
        yield votes
        yield gauge("blocksync", "syncing", "1 while block sync is catching up with peers ahead, else 0.",
                    lambda: int(r.catching_up()))
        yield gauge("mempool", "size", "Pending transactions.", r.mempool_size)
        yield gauge("mempool", "size_bytes", "Bytes of pending transactions.", r.mempool_bytes)
        yield gauge("mempool", "future_size", "Pending transactions waiting behind a nonce gap.", r.mempool_future)
        peers = list(r.peers()) if not empty else []
        yield gauge("p2p", "peers", "Connected peers.", lambda: len(peers))
        received = CounterMetricFamily(_name("p2p", "peer_receive_bytes"),
                                       "Bytes received from a connected peer on its current connection.",
                                       labels=["peer_id"])
        sent = CounterMetricFamily(_name("p2p", "peer_send_bytes"),
                                   "Bytes sent to a connected peer on its current connection.", labels=["peer_id"])
        for p in peers:
            received.add_metric([p.peer_id], float(p.received))
            sent.add_metric([p.peer_id], float(p.sent))
        yield received
        yield sent
        yield gauge("rpc", "connections", "Open RPC TCP connections (HTTP and WebSocket).", r.rpc_connections)
        yield gauge("rpc", "ws_connections", "Open WebSocket connections.", r.ws_connections)
        subs = GaugeMetricFamily(_name("rpc", "ws_subscriptions"), "Open WebSocket subscriptions, by topic.",
                                 labels=["topic"])
        if not empty:
            for topic, count in sorted(r.ws_subscriptions().items()):
                subs.add_metric([topic], float(count))
        yield subs


def register_readings(registry: CollectorRegistry, readings: Readings) -> None:
    registry.register(ReadingsCollector(readings))
