"""Fund tracing over the monitor's movements: where tainted value went (forward) or came from (backward).

The graph is found hop by hop from the start (an address, or one transaction's movements); then
every reached address's movements of the asset are replayed in chain order, and each outflow
carries a tainted part by one of two rules:

- FIFO: an address's holdings are lots in the order they arrived, its balance before the trace
  first; an outflow spends the oldest lots first, and carries their tainted part.
- haircut: an outflow carries the address's tainted fraction at that moment.

Forward, only tainted value is followed: an address joins the trace when a tainted part reaches
it (at least `min_taint`), with its holdings of that moment (what its earlier movements left it)
as clean lots, and from then on its every movement is replayed. The work is that of the tainted
flows, not of the ledger. Backward tracing replays the reached addresses' whole histories with
time and direction reversed: the value at the start address is followed back to the addresses it
came from. A trace is bounded in hops, edges, movements and time; when a bound cuts it, the
answer says so (`truncated` with the reason).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from finance.monitor.movements import COIN, Movement
from finance.monitor.store import MonitorStore

MAX_HOPS: Final = 12
MAX_EDGES: Final = 50_000
MAX_SECONDS: Final = 2.0
MAX_REPLAY: Final = 200_000
METHODS: Final = ("fifo", "haircut")


class TraceError(ValueError):
    """A trace request that cannot be answered (no such address or transaction, a bad parameter)."""


@dataclass(frozen=True, slots=True)
class TraceRequest:
    address: str | None
    tx: str | None
    asset: str = COIN
    direction: str = "forward"
    hops: int = 3
    method: str = "fifo"
    from_height: int = 0
    min_taint: int = 0  # forward: a part below this (base units) does not bring an address into the trace


@dataclass(slots=True)
class _Holder:
    lots: deque[list[int]]  # [amount, tainted] oldest first (FIFO)
    total: int = 0
    tainted: int = 0

    def take(self, amount: int, fifo: bool) -> int:
        """Remove `amount` and return its tainted part."""
        amount = min(amount, self.total) if self.total else 0
        if amount <= 0:
            return 0
        if fifo:
            out, left = 0, amount
            while left and self.lots:
                lot = self.lots[0]
                used = min(left, lot[0])
                part = lot[1] * used // lot[0] if lot[0] else 0
                lot[0] -= used
                lot[1] -= part
                out += part
                left -= used
                if lot[0] == 0:
                    self.lots.popleft()
        else:
            out = self.tainted * amount // self.total
        self.total -= amount
        self.tainted -= out
        return out

    def give(self, amount: int, tainted: int) -> None:
        self.lots.append([amount, tainted])
        self.total += amount
        self.tainted += tainted


def _edge(m: Movement, forward: bool) -> tuple[str, str]:
    return (m.sender, m.receiver) if forward else (m.receiver, m.sender)


def _check(req: TraceRequest) -> None:
    if req.direction not in ("forward", "backward"):
        raise TraceError("direction: forward or backward")
    if req.method not in METHODS:
        raise TraceError("method: fifo or haircut")
    if (req.address is None) == (req.tx is None):
        raise TraceError("start from an address or a transaction, one of the two")
    if not isinstance(req.hops, int) or req.hops < 1:
        raise TraceError("hops: at least 1")


def trace(store: MonitorStore, req: TraceRequest) -> dict[str, Any]:
    _check(req)
    started = time.monotonic()
    hops = min(req.hops, MAX_HOPS)
    notes = [f"hops limited to {MAX_HOPS}"] if req.hops > MAX_HOPS else []
    if req.tx is not None:
        seeds = [m for m in store.tx_movements(req.tx) if m.asset == req.asset]
        if not seeds:
            raise TraceError(f"no movement of {req.asset} in transaction {req.tx}")
    else:
        seeds = []
    run = _forward if req.direction == "forward" else _backward
    nodes, edges = run(store, req, seeds, hops, notes, started)
    return {"start": req.address or req.tx, "asset": req.asset, "direction": req.direction, "method": req.method,
            "hops": hops, "nodes": nodes, "edges": edges, "truncated": bool(notes), "notes": notes,
            "seconds": round(time.monotonic() - started, 3)}


def _edge_json(m: Movement, part: int) -> dict[str, Any]:
    return {"from": m.sender, "to": m.receiver, "amount": str(m.amount), "tainted": str(part), "tx_hash": m.tx_hash,
            "height": m.height}


def _node_json(address: str, hop: int, received: int | None, holder: _Holder | None) -> dict[str, Any]:
    return {"address": address, "hops": hop, "tainted_received": None if received is None else str(received),
            "holding_tainted": None if holder is None else str(holder.tainted)}


def _history(store: MonitorStore, address: str, asset: str, after: tuple[int, int, int] | None,
             outgoing_only: bool = False) -> Iterator[Movement]:
    """An address's movements of `asset` after `after` (None: all), in chain order, ins and outs merged."""
    first = 0 if after is None else after[0]
    streams = [store.address_movements(address, outgoing=True, first=first)]
    if not outgoing_only:
        streams.append(store.address_movements(address, outgoing=False, first=first))
    for m in heapq.merge(*streams, key=lambda x: x.key):
        if m.asset == asset and (after is None or m.key > after):
            yield m


def _holdings_before(store: MonitorStore, address: str, asset: str, key: tuple[int, int, int]) -> int:
    """What the address's movements before `key` left it (at least 0: genesis balances are not movements)."""
    total = 0
    for outgoing, sign in ((False, 1), (True, -1)):
        for m in store.address_movements(address, outgoing=outgoing, last=key[0]):
            if m.asset == asset and m.key < key:
                total += sign * m.amount
    return max(0, total)


def _forward(store: MonitorStore, req: TraceRequest, seeds: list[Movement], hops: int, notes: list[str],
             started: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fifo = req.method == "fifo"
    holders: dict[str, _Holder] = {}
    hop_of: dict[str, int] = {}
    received: dict[str, int] = {}
    edges: list[dict[str, Any]] = []
    done: set[tuple[int, int, int]] = set()
    order = itertools.count()
    heap: list[tuple[tuple[int, int, int], int, Movement, Iterator[Movement]]] = []

    def push(stream: Iterator[Movement]) -> None:
        nxt = next(stream, None)
        if nxt is not None:
            heapq.heappush(heap, (nxt.key, next(order), nxt, stream))

    if req.address is not None:
        origin = {req.address}
        push(m for m in _history(store, req.address, req.asset, None, outgoing_only=True)
             if m.height >= req.from_height)
        seed_keys: set[tuple[int, int, int]] = set()
    else:
        origin = {m.sender for m in seeds}
        seed_keys = {m.key for m in seeds}
        for m in seeds:
            heapq.heappush(heap, (m.key, next(order), m, iter(())))
    steps = 0
    while heap:
        key, _, m, stream = heapq.heappop(heap)
        push(stream)
        if key in done:
            continue
        done.add(key)
        steps += 1
        if steps % 1024 == 0 and time.monotonic() - started > MAX_SECONDS:
            notes.append(f"stopped after {MAX_SECONDS} s: later flows are not followed")
            break
        if m.sender in origin and (req.address is not None or key in seed_keys):
            part, hop = m.amount, 0
        elif m.sender in holders:
            part, hop = holders[m.sender].take(m.amount, fifo), hop_of[m.sender]
        else:
            part, hop = 0, 0
        to = m.receiver
        if to in holders:
            holders[to].give(m.amount, part)
        elif part and part >= req.min_taint and to not in origin and hop < hops:
            if len(holders) >= MAX_EDGES:
                notes.append(f"stopped at {MAX_EDGES} addresses")
                break
            holder = _Holder(deque())
            prior = _holdings_before(store, to, req.asset, key)
            if prior:
                holder.give(prior, 0)
            holder.give(m.amount, part)
            holders[to], hop_of[to] = holder, hop + 1
            push(_history(store, to, req.asset, key))
        # Otherwise the part ends here: back at the origin, past the last hop, or below min_taint.
        if part:
            received[to] = received.get(to, 0) + part
            edges.append(_edge_json(m, part))
            if len(edges) >= MAX_EDGES:
                notes.append(f"stopped at {MAX_EDGES} edges")
                break
    nodes = [_node_json(a, 0, None, None) for a in sorted(origin)]
    nodes += [_node_json(a, hop_of[a], received.get(a, 0), holders[a])
              for a in sorted(holders, key=lambda x: (hop_of[x], x))]
    return nodes, edges


def _backward(store: MonitorStore, req: TraceRequest, seeds: list[Movement], hops: int, notes: list[str],
              started: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fifo = req.method == "fifo"
    if req.tx is not None:
        origin = {m.receiver for m in seeds}
    else:
        origin = {req.address}  # type: ignore[arg-type]
        seeds = [m for m in store.address_movements(req.address, outgoing=False, first=req.from_height)  # type: ignore[arg-type]
                 if m.asset == req.asset]
    level = {m.sender for m in seeds} - origin
    reached: dict[str, int] = dict.fromkeys(level, 1)
    edges: dict[tuple[int, int, int], Movement] = {m.key: m for m in seeds}
    for hop in range(2, hops + 1):
        nxt: set[str] = set()
        for address in level:
            for m in store.address_movements(address, outgoing=False, first=req.from_height):
                if m.asset != req.asset:
                    continue
                edges[m.key] = m
                if m.sender not in reached and m.sender not in origin:
                    reached[m.sender] = hop
                    nxt.add(m.sender)
            if len(edges) >= MAX_EDGES or time.monotonic() - started > MAX_SECONDS:
                notes.append(f"stopped at {len(edges)} edges after {round(time.monotonic() - started, 1)} s")
                break
        if notes and notes[-1].startswith("stopped"):
            break
        level = nxt
    # Replayed with time and direction reversed, every reached address's movements included.
    holders: dict[str, _Holder] = {a: _Holder(deque()) for a in reached}
    moves: dict[tuple[int, int, int], Movement] = dict(edges)
    for address in reached:
        for m in _history(store, address, req.asset, None):
            moves[m.key] = m
        if len(moves) > MAX_REPLAY:
            notes.append(f"replay stopped at {MAX_REPLAY} movements: the attribution is a lower bound")
            break
    tainted_at: dict[str, int] = dict.fromkeys(reached, 0)
    out = []
    seed_keys = {m.key for m in seeds}
    for m in sorted(moves.values(), key=lambda x: x.key, reverse=True):
        src, dst = m.receiver, m.sender
        part = m.amount if m.key in seed_keys else holders[src].take(m.amount, fifo) if src in holders else 0
        if dst in holders:
            holders[dst].give(m.amount, part)
            tainted_at[dst] += part
        if m.key in edges:
            out.append(_edge_json(m, part))
    nodes = [_node_json(a, 0, None, None) for a in sorted(origin)]
    nodes += [_node_json(a, reached[a], tainted_at[a], holders[a])
              for a in sorted(reached, key=lambda x: (reached[x], x))]
    return nodes, out
