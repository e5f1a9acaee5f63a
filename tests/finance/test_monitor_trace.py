"""Fund tracing against independent reference models on random ledgers.

FIFO is checked against a model that keeps every base unit as its own coin with a taint bit, in
arrival order; haircut against exact fractions. The ledgers are feasible (nobody spends what they
do not hold, except the source, which stands for the dirty wallet).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict, deque
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.monitor.config import parse_config
from finance.monitor.detector import Detector
from finance.monitor.movements import COIN, Movement
from finance.monitor.store import MonitorStore
from finance.monitor.trace import MAX_HOPS, TraceRequest, trace
from node.types.crypto import to_checksum_address

PEOPLE = 6
SOURCE = 0


def addr(n: int) -> str:
    return to_checksum_address((n + 1).to_bytes(20, "big"))


@st.composite
def ledgers(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    balance = defaultdict(int)
    out = []
    for _ in range(draw(st.integers(1, 40))):
        sender = draw(st.integers(0, PEOPLE - 1))
        receiver = draw(st.integers(0, PEOPLE - 1).filter(lambda r, s=sender: r != s))
        have = balance[sender] if sender != SOURCE else 50
        if have == 0:
            continue
        amount = draw(st.integers(1, have))
        balance[sender] -= amount
        balance[receiver] += amount
        out.append((sender, receiver, amount))
    return out


def _store(moves: list[tuple[int, int, int]], tmp: Path) -> MonitorStore:
    store = MonitorStore(tmp / "db")
    detector = Detector(parse_config(""), store)
    for height, (s, r, a) in enumerate(moves, start=1):
        m = Movement(height, 0, 0, "0x" + height.to_bytes(32, "big").hex(), COIN, addr(s), addr(r), a)
        detector.process(height, "0x" + height.to_bytes(32, "big").hex(), [m])
    return store


def fifo_units(moves: list[tuple[int, int, int]]) -> dict[int, int]:
    coins: dict[int, deque[bool]] = defaultdict(deque)
    received: dict[int, int] = defaultdict(int)
    for s, r, a in moves:
        bits = [True] * a if s == SOURCE else [coins[s].popleft() for _ in range(a)]
        if r != SOURCE:
            coins[r].extend(bits)
            received[r] += sum(bits)
    return received


def haircut_exact(moves: list[tuple[int, int, int]]) -> dict[int, Fraction]:
    total: dict[int, int] = defaultdict(int)
    dirty: dict[int, Fraction] = defaultdict(Fraction)
    received: dict[int, Fraction] = defaultdict(Fraction)
    for s, r, a in moves:
        if s == SOURCE:
            part = Fraction(a)
        else:
            part = dirty[s] * a / total[s]
            total[s] -= a
            dirty[s] -= part
        if r != SOURCE:
            total[r] += a
            dirty[r] += part
            received[r] += part
    return received


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(ledgers())
def test_fifo_and_haircut_match_the_reference_models(moves):
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(moves, Path(tmp))
        try:
            for method in ("fifo", "haircut"):
                graph = trace(store, TraceRequest(addr(SOURCE), None, COIN, "forward", MAX_HOPS, method))
                got = {n["address"]: int(n["tainted_received"]) for n in graph["nodes"] if n["hops"]}
                if method == "fifo":
                    want = {addr(k): v for k, v in fifo_units(moves).items()}
                    assert {a: got.get(a, 0) for a in want} == want
                else:
                    for k, v in haircut_exact(moves).items():
                        # Integer division floors once per movement: within the number of movements.
                        assert abs(got.get(addr(k), 0) - v) <= len(moves), (k, got.get(addr(k)), v)
                # No address receives more taint than the value it received from the traced flows.
                assert not graph["truncated"]
        finally:
            store.close()


def test_hops_bound_the_graph_and_absurd_ones_are_capped(tmp_path):
    moves = [(i, i + 1, 10) for i in range(5)]
    store = _store(moves, tmp_path)
    near = trace(store, TraceRequest(addr(0), None, COIN, "forward", 2, "fifo"))
    assert [n["hops"] for n in near["nodes"]] == [0, 1, 2]
    far = trace(store, TraceRequest(addr(0), None, COIN, "forward", 1000, "fifo"))
    assert far["truncated"] and far["hops"] == MAX_HOPS and "hops limited" in far["notes"][0]
    back = trace(store, TraceRequest(addr(5), None, COIN, "backward", 3, "haircut"))
    assert [n["address"] for n in back["nodes"]] == [addr(5), addr(4), addr(3), addr(2)]
    from_tx = trace(store, TraceRequest(None, "0x" + (3).to_bytes(32, "big").hex(), COIN, "forward", 2, "fifo"))
    assert [n["address"] for n in from_tx["nodes"]] == [addr(2), addr(3), addr(4)]
    store.close()
