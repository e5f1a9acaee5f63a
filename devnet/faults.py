"""The network faults of a devnet as plain data: what is cut, delayed or dropped between which nodes.

Pure: no sockets, no clock. The proxy (devnet/proxy.py) asks these questions for every link and chunk;
the CLI and the control endpoint parse user input into it and show it back.

Semantics (also in devnet/README.md and the CLI help):
- partition: nodes are split into groups; a link between two groups is cut. Nodes named in no group
  form one more group together.
- delay: every chunk on a link is held for the sum of its two endpoints' delays (each node adds its own,
  as a slow network interface would), plus a uniform jitter in [-jitter, +jitter]; order is preserved.
- cut: single links cut, each named by its two nodes; with a partition, a link is cut if either says so. A
  bridge (two sides that reach each other only through one node) is the links between the sides cut.
- drop: the streams are encrypted and authenticated, so a lost byte can only kill a connection. A drop of
  p% closes each open link of that node with probability p/100 once per second (a link of two dropping
  nodes survives a second only if it survives both).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace


class FaultError(ValueError):
    """A fault request that makes no sense (unknown node, bad percentage, overlapping groups)."""


@dataclass(frozen=True, slots=True)
class Delay:
    ms: int
    jitter_ms: int = 0


@dataclass(frozen=True, slots=True)
class Faults:
    groups: tuple[frozenset[int], ...] = ()  # empty: no partition
    delays: dict[int, Delay] = field(default_factory=dict)
    drops: dict[int, float] = field(default_factory=dict)  # node -> percent per second
    cuts: frozenset[frozenset[int]] = frozenset()  # single links cut, each as its two nodes

    def is_cut(self, a: int, b: int) -> bool:
        if frozenset((a, b)) in self.cuts:
            return True
        if not self.groups:
            return False
        return _group_of(self.groups, a) != _group_of(self.groups, b)

    def link_delay_s(self, a: int, b: int, rng: random.Random) -> float:
        total = 0.0
        for node in (a, b):
            d = self.delays.get(node)
            if d is not None:
                jitter = rng.uniform(-d.jitter_ms, d.jitter_ms) if d.jitter_ms else 0.0
                total += max(0.0, d.ms + jitter) / 1000
        return total

    def drop_probability(self, a: int, b: int) -> float:
        survive = 1.0
        for node in (a, b):
            survive *= 1.0 - self.drops.get(node, 0.0) / 100
        return 1.0 - survive

    def is_clear(self) -> bool:
        return not self.groups and not self.delays and not self.drops and not self.cuts

    def to_json(self) -> dict:
        return {
            "partition": [sorted(g) for g in self.groups],
            "delays": {str(n): {"ms": d.ms, "jitter_ms": d.jitter_ms} for n, d in sorted(self.delays.items())},
            "drops": {str(n): p for n, p in sorted(self.drops.items())},
            "cuts": sorted(sorted(c) for c in self.cuts),
        }

    @staticmethod
    def from_json(d: dict) -> Faults:
        return Faults(
            tuple(frozenset(g) for g in d.get("partition", [])),
            {int(n): Delay(int(v["ms"]), int(v.get("jitter_ms", 0))) for n, v in d.get("delays", {}).items()},
            {int(n): float(p) for n, p in d.get("drops", {}).items()},
            frozenset(frozenset(int(x) for x in c) for c in d.get("cuts", [])),
        )


def _group_of(groups: tuple[frozenset[int], ...], node: int) -> int:
    for i, g in enumerate(groups):
        if node in g:
            return i
    return -1  # the implicit group of every node named nowhere


def with_partition(faults: Faults, groups: list[list[int]], nodes: int) -> Faults:
    seen: set[int] = set()
    out = []
    for g in groups:
        group = frozenset(g)
        if not group:
            raise FaultError("a partition group cannot be empty")
        for n in group:
            _check_node(n, nodes)
        if seen & group:
            raise FaultError(f"node(s) {sorted(seen & group)} named in two groups")
        seen |= group
        out.append(group)
    if len(out) + (len(seen) < nodes) < 2:
        raise FaultError("a partition needs at least two groups")
    return replace(faults, groups=tuple(out))


def with_cuts(faults: Faults, pairs: list[list[int]], nodes: int) -> Faults:
    """Cut the links between each pair of nodes (in both directions), besides what is cut already."""
    cuts = set(faults.cuts)
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise FaultError(f"a cut names two different nodes, got {pair!r}")
        for n in pair:
            _check_node(n, nodes)
        cuts.add(frozenset(pair))
    return replace(faults, cuts=frozenset(cuts))


def with_delay(faults: Faults, node: int, ms: int, jitter_ms: int, nodes: int) -> Faults:
    _check_node(node, nodes)
    if ms < 0 or jitter_ms < 0 or ms > 60_000 or jitter_ms > 60_000:
        raise FaultError("delay and jitter are between 0 and 60000 ms")
    delays = dict(faults.delays)
    if ms == 0 and jitter_ms == 0:
        delays.pop(node, None)
    else:
        delays[node] = Delay(ms, jitter_ms)
    return replace(faults, delays=delays)


def with_drop(faults: Faults, node: int, percent: float, nodes: int) -> Faults:
    _check_node(node, nodes)
    if not 0 <= percent <= 100:
        raise FaultError(f"drop percentage must be between 0 and 100, got {percent:g}")
    drops = dict(faults.drops)
    if percent == 0:
        drops.pop(node, None)
    else:
        drops[node] = percent
    return replace(faults, drops=drops)


def _check_node(node: int, nodes: int) -> None:
    if not 0 <= node < nodes:
        raise FaultError(f"no node {node} (nodes are 0..{nodes - 1})")


# -- parsing user input ------------------------------------------------------------------------------


def parse_node(text: str) -> int:
    t = text.strip().lower().removeprefix("node")
    if not t.isdigit():
        raise FaultError(f"not a node: {text!r} (use an index like 2 or a name like node2)")
    return int(t)


def parse_groups(texts: list[str]) -> list[list[int]]:
    """`["0,1", "2,3"]` -> `[[0, 1], [2, 3]]`."""
    return [[parse_node(x) for x in t.split(",") if x.strip()] for t in texts]


def parse_ms(text: str) -> int:
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            return int(float(t[:-2]))
        if t.endswith("s"):
            return int(float(t[:-1]) * 1000)
        return int(float(t))  # a bare number is milliseconds
    except ValueError as exc:
        raise FaultError(f"not a duration: {text!r} (e.g. 200ms, 1s)") from exc


def parse_percent(text: str) -> float:
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError as exc:
        raise FaultError(f"not a percentage: {text!r} (e.g. 5%)") from exc


def describe(faults: Faults, names: list[str]) -> list[str]:
    """One line per active fault, for `devnet status`."""

    def name(n: int) -> str:
        return names[n] if 0 <= n < len(names) else f"node{n}"

    lines = []
    if faults.groups:
        named = set().union(*faults.groups)
        groups = [sorted(g) for g in faults.groups]
        rest = [i for i in range(len(names)) if i not in named]
        if rest:
            groups.append(rest)
        lines.append("partition " + " | ".join(",".join(name(n) for n in g) for g in groups))
    if faults.cuts:
        lines.append("cut " + ", ".join("-".join(name(n) for n in sorted(c)) for c in sorted(map(sorted, faults.cuts))))
    for n, d in sorted(faults.delays.items()):
        lines.append(f"delay {name(n)} {d.ms}ms" + (f" ±{d.jitter_ms}ms" if d.jitter_ms else ""))
    for n, p in sorted(faults.drops.items()):
        lines.append(f"drop {name(n)} {p:g}% (each link closed with this probability per second)")
    return lines
