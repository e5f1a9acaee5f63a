"""Fund tracing over the monitor's movements: where tainted value went (forward) or came from (backward).

The graph is found hop by hop from the start (an address, or one transaction's movements); then
every reached address's movements of the asset are replayed in chain order, and each outflow
carries a tainted part by one of two rules:

- FIFO: an address's holdings are lots in the order they arrived, its balance before the trace
  first; an outflow spends the oldest lots first, and carries their tainted part.
- haircut: an outflow carries the address's tainted fraction at that moment.

Backward tracing is the same replay run with time and direction reversed: the value at the start
address is followed back to the addresses it came from. A trace is bounded in hops, edges and
time; when a bound cuts it, the answer says so (`truncated` with the reason).
"""

from __future__ import annotations

import time
from collections import deque
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


def trace(store: MonitorStore, req: TraceRequest) -> dict[str, Any]:
    if req.direction not in ("forward", "backward"):
        raise TraceError("direction: forward or backward")
    if req.method not in METHODS:
        raise TraceError("method: fifo or haircut")
    if (req.address is None) == (req.tx is None):
        raise TraceError("start from an address or a transaction, one of the two")
    if not isinstance(req.hops, int) or req.hops < 1:
        raise TraceError("hops: at least 1")
    started = time.monotonic()
    forward, fifo = req.direction == "forward", req.method == "fifo"
    hops = min(req.hops, MAX_HOPS)
    notes = [f"hops limited to {MAX_HOPS}"] if req.hops > MAX_HOPS else []
    # Seeds: the movements whose whole amount is tainted at the start.
    if req.tx is not None:
        seeds = [m for m in store.tx_movements(req.tx) if m.asset == req.asset]
        if not seeds:
            raise TraceError(f"no movement of {req.asset} in transaction {req.tx}")
        origin = {_edge(m, forward)[0] for m in seeds}
    else:
        origin = {req.address}  # type: ignore[arg-type]
        seeds = [m for m in store.address_movements(req.address, outgoing=forward, first=req.from_height)  # type: ignore[arg-type]
                 if m.asset == req.asset]
    level = {a for m in seeds for a in [_edge(m, forward)[1]]} - origin
    reached: dict[str, int] = dict.fromkeys(level, 1)
    edges: dict[tuple[int, int, int], Movement] = {m.key: m for m in seeds}
    for hop in range(2, hops + 1):
        nxt: set[str] = set()
        for address in level:
            for m in store.address_movements(address, outgoing=forward, first=req.from_height):
                if m.asset != req.asset:
                    continue
                edges[m.key] = m
                other = _edge(m, forward)[1]
                if other not in reached and other not in origin:
                    reached[other] = hop
                    nxt.add(other)
                if len(edges) >= MAX_EDGES:
                    notes.append(f"stopped at {MAX_EDGES} edges")
                    break
            if len(edges) >= MAX_EDGES or time.monotonic() - started > MAX_SECONDS:
                if time.monotonic() - started > MAX_SECONDS:
                    notes.append(f"stopped after {MAX_SECONDS} s")
                break
        if notes and notes[-1].startswith("stopped"):
            break
        level = nxt
    # The replay also needs each reached address's other movements: they dilute or move its holdings.
    holders: dict[str, _Holder] = {a: _Holder(deque()) for a in reached}
    moves: dict[tuple[int, int, int], Movement] = dict(edges)
    for address in reached:
        for outgoing in (True, False):
            for m in store.address_movements(address, outgoing=outgoing):
                if m.asset == req.asset:
                    moves[m.key] = m
        if len(moves) > MAX_REPLAY:
            notes.append(f"replay stopped at {MAX_REPLAY} movements: the taint of later addresses is a lower bound")
            break
    tainted_at: dict[str, int] = dict.fromkeys(reached, 0)
    graph_edges = []
    order = sorted(moves.values(), key=lambda m: m.key, reverse=not forward)
    seed_keys = {m.key for m in seeds}
    for m in order:
        src, dst = _edge(m, forward)
        if m.key in seed_keys:
            part = m.amount
        elif src in holders:
            part = holders[src].take(m.amount, fifo)
        else:
            part = 0
        if dst in holders:
            holders[dst].give(m.amount, part)
            tainted_at[dst] += part
        if m.key in edges:
            graph_edges.append({"from": m.sender, "to": m.receiver, "amount": str(m.amount), "tainted": str(part),
                                "tx_hash": m.tx_hash, "height": m.height})
    nodes = [{"address": a, "hops": 0, "tainted_received": None, "holding_tainted": None} for a in sorted(origin)]
    nodes += [{"address": a, "hops": reached[a], "tainted_received": str(tainted_at[a]),
               "holding_tainted": str(holders[a].tainted)} for a in sorted(reached, key=lambda x: (reached[x], x))]
    return {"start": req.address or req.tx, "asset": req.asset, "direction": req.direction, "method": req.method,
            "hops": hops, "nodes": nodes, "edges": graph_edges, "truncated": bool(notes), "notes": notes,
            "seconds": round(time.monotonic() - started, 3)}
