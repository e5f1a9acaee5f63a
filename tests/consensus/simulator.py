"""A deterministic discrete-event simulator for the consensus core.

Why it is shaped this way: the properties we care about (agreement, validity, no double
signing, liveness after GST) only break under specific interleavings, so a run is a pure
function of (configuration, seed): one `random.Random(seed)` drives every choice, events sit
in a heap ordered by (time, sequence number), and nothing iterates a set. A failing seed
therefore replays exactly.

What is modelled, and why:
- Each node runs the node's own host logic, `consensus.driver` (what reaches the core,
  what is logged, synced, signed, said and decided, and the WAL replay), around the pure
  core (a `CoreFns` value, so negative controls can pass a deliberately broken one);
  `sim_host.py` only carries out its effects. The guard is keyed on (height, round, step)
  and re-issues the same signature for identical content; the WAL is a list whose synced
  prefix survives a crash, a "torn" crash strikes right after the guard signed but
  before the WAL write, and a "mid" crash strikes between two effects of one input. A
  restart hands the WAL to the driver, which replays it.
- The network (before GST) delays, drops, duplicates and reorders messages and is cut by
  partitions that heal; after GST it is reliable with bounded delay.
- Gossip is modelled simply, as the p2p layer would do it: every tick a node broadcasts its
  status and its own messages of the current round; a peer behind in round gets the votes
  we hold for its round and ours, a peer behind in height gets the decided proposal and its
  precommits; a proposal with a valid round travels with its POL prevotes.
- Byzantine keys (< 1/3 power) equivocate: split or echoed votes, two proposals, fresh
  proposals that ignore their valid value, invalid values, and "twins" (two independent
  honest copies of one key) (`sim_adversary.py`). A network adversary may also cut off
  the first node to decide a height, so that the others have to go on without it.
- Checks: agreement and validity of honest decisions, no conflicting signature by an honest
  key (the guard records every signature), no guard refusal at all (it would mean the core
  asked for a conflicting vote), and after GST every honest node decides
  `new_heights_after_gst` more heights within a bound that grows with the round reached.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from consensus.types import Validator, ValidatorSet
from tests.consensus.sim_adversary import COUNTS_BY_NUMBER, IGNORES_LOCK, ByzantineNode, TwinNode
from tests.consensus.sim_host import CORRECT_CORE, TP, CoreFns, HonestNode, _Crashed

__all__ = [
    "CORRECT_CORE",
    "COUNTS_BY_NUMBER",
    "IGNORES_LOCK",
    "Config",
    "CoreFns",
    "SimResult",
    "World",
    "run",
]


@dataclass(frozen=True)
class Config:
    name: str
    powers: tuple[int, ...]
    byzantine: tuple[int, ...] = ()  # indices of byzantine keys (< 1/3 of the power)
    twins: tuple[int, ...] = ()  # byzantine keys run as two honest copies each
    chaos_ms: int = 5000  # GST: partitions heal, crashed nodes are back, drops stop
    max_crashes: int = 2
    max_partitions: int = 2
    new_heights_after_gst: int = 2
    block_interval_ms: int = 150
    gossip_ms: int = 400
    strategies: tuple[str, ...] | None = None  # byzantine behaviour; None: drawn per seed
    isolate_deciders: bool = False  # network adversary: cut off the first decider of a height


# -- the world ------------------------------------------------------------------------------


@dataclass
class SimResult:
    config: str
    seed: int
    violations: list[str] = field(default_factory=list)
    heights: dict[int, int] = field(default_factory=dict)  # honest node id -> decided heights
    events: int = 0
    sim_ms: int = 0
    evidence: int = 0
    max_round: int = 0
    stats: dict[str, int] = field(default_factory=dict)  # crashes, torn, resigned, replayed, ...

    @property
    def ok(self) -> bool:
        return not self.violations


class World:
    def __init__(self, cfg: Config, seed: int, core: CoreFns = CORRECT_CORE) -> None:
        self.cfg = cfg
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0
        self.gst = cfg.chaos_ms
        self._heap: list[tuple[int, int, HonestNode | None, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.events = 0
        self.evidence = 0
        self.stats = {
            "crashes": 0,
            "torn": 0,
            "mid": 0,
            "resigned": 0,
            "replayed": 0,
            "partitions": 0,
            "liveness_ms": 0,
        }
        self.addresses = [b"val%02d" % i for i in range(len(cfg.powers))]
        self.genesis = ValidatorSet.new(
            Validator(a, p) for a, p in zip(self.addresses, cfg.powers, strict=True)
        )
        self._vsets: dict[int, ValidatorSet] = {1: self.genesis}
        self.proposed: set[bytes] = set()
        self.signed: dict[tuple[Any, ...], Any] = {}
        self.decisions: dict[int, dict[int, bytes]] = {}  # height -> node id -> value
        self.violations: list[str] = []
        self.partitions: list[tuple[int, int, dict[int, int]]] = []
        self.nodes: list[HonestNode] = []
        byz = set(cfg.byzantine)
        for key in range(len(cfg.powers)):
            if key in cfg.twins:
                for _ in range(2):
                    self.nodes.append(TwinNode(self, len(self.nodes), key, CORRECT_CORE))
            elif key in byz:
                strategies = cfg.strategies or tuple(
                    s
                    for s in ("echo", "split", "selective", "equivocate", "fresh", "invalid", "silent")
                    if self.rng.random() < {"echo": 0.6, "silent": 0.15}.get(s, 0.4)
                )
                self.nodes.append(ByzantineNode(self, len(self.nodes), key, CORRECT_CORE, strategies))
            else:
                self.nodes.append(HonestNode(self, len(self.nodes), key, core))
        honest_power = sum(p for k, p in enumerate(cfg.powers) if k not in byz)
        if 3 * honest_power <= 2 * sum(cfg.powers):
            raise ValueError(f"{cfg.name}: byzantine keys must hold less than 1/3 of the power")
        self._plan_chaos()

    # -- scheduling -----------------------------------------------------------------------

    def at(self, when: int, node: HonestNode | None, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        epoch = node.epoch if node is not None else 0
        heapq.heappush(self._heap, (when, self._seq, node, epoch, fn, args))

    def _plan_chaos(self) -> None:
        rng, cfg = self.rng, self.cfg
        self.drop_rate = rng.choice([0.0, 0.05, 0.15, 0.3])
        self.dup_rate = rng.choice([0.0, 0.1])
        self.slow_rate = rng.choice([0.0, 0.05, 0.2])
        for _ in range(rng.randint(0, cfg.max_partitions)):
            start = rng.randint(0, cfg.chaos_ms - 500)
            end = min(cfg.chaos_ms, start + rng.randint(300, 3000))
            sides = {n.id: rng.randint(0, 1) for n in self.nodes}
            self.partitions.append((start, end, sides))
        crashable = [n for n in self.nodes if n.honest]
        for _ in range(rng.randint(0, cfg.max_crashes)):
            node = rng.choice(crashable)
            t = rng.randint(100, cfg.chaos_ms - 1500)
            down = rng.randint(50, 1200)
            kind = rng.random()
            self.at(t, None, self._crash_event, node, down, kind < 0.3, 0.3 <= kind < 0.6)

    def _crash_event(self, node: HonestNode, down: int, torn: bool, mid: bool = False) -> None:
        if not node.up or node.torn_armed or node.effects_to_crash:
            return
        if mid:
            node.effects_to_crash = self.rng.randint(1, 12)  # crash between effects, or in 500 ms
            self.at(self.now + 500, node, self._crash_now, node, down)
        elif torn:
            node.torn_armed = True  # crash at its next signature, or in 500 ms
            self.at(self.now + 500, node, self._crash_now, node, down)
        else:
            self._crash_now(node, down)

    def _crash_now(self, node: HonestNode, down: int) -> None:
        if not node.up:
            return
        node.torn_armed = False
        node.effects_to_crash = 0
        self.stats["crashes"] += 1
        node.crash()
        self.at(min(self.now + down, self.gst - 1), None, self._restart, node)

    def _restart(self, node: HonestNode) -> None:
        if not node.up:
            self._run(node, node.restart)

    def _run(self, node: HonestNode, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except _Crashed:
            self.stats["crashes"] += 1
            self.stats["mid" if node.effects_to_crash == 0 and not node.torn_armed else "torn"] += 1
            node.torn_armed = False
            node.had_torn_crash = True
            node.crash()
            self.at(
                min(self.now + self.rng.randint(50, 1200), max(self.gst - 1, self.now + 1)),
                None,
                self._restart,
                node,
            )

    # -- network --------------------------------------------------------------------------

    def _linked(self, a: int, b: int) -> bool:
        for start, end, sides in self.partitions:
            if start <= self.now < end and sides[a] != sides[b]:
                return False
        return True

    def send(self, src: HonestNode, dst: int, msg: Any) -> None:
        if dst == src.id:
            return
        rng = self.rng
        before_gst = self.now < self.gst
        if before_gst and (not self._linked(src.id, dst) or rng.random() < self.drop_rate):
            return
        copies = 2 if before_gst and rng.random() < self.dup_rate else 1
        for _ in range(copies):
            if before_gst and rng.random() < self.slow_rate:
                delay = rng.randint(300, 2500)
            else:
                delay = rng.randint(2, 120 if before_gst else 60)
            node = self.nodes[dst]
            self.at(self.now + delay, node, node.on_message, src.id, msg)

    def broadcast(self, src: HonestNode, msg: Any) -> None:
        for n in self.nodes:
            if n.id != src.id:
                self.send(src, n.id, msg)

    # -- application ----------------------------------------------------------------------

    def vset(self, height: int) -> ValidatorSet:
        # The host's rule: the set of height h+1 is set_h.increment(1).
        while height not in self._vsets:
            top = max(self._vsets)
            self._vsets[top + 1] = self._vsets[top].increment(1)
        return self._vsets[height]

    def new_value(self, valid: bool) -> bytes:
        value = (b"ok:" if valid else b"BAD:") + self.rng.randbytes(6)
        self.proposed.add(value)
        return value

    @staticmethod
    def is_valid(value: bytes) -> bool:
        return value.startswith(b"ok:")

    # -- checks ---------------------------------------------------------------------------

    def record_signature(self, node: HonestNode, content: tuple[Any, ...]) -> None:
        if not node.honest:
            return
        kind, h, r = content[0], content[2], content[3]
        key = (node.key, kind, content[1], h, r)
        value = content[4:]
        if key in self.signed and self.signed[key] != value:
            self.violations.append(
                f"double sign: {node.address!r} signed {kind} h={h} r={r} "
                f"for {self.signed[key]!r} and {value!r}"
            )
        self.signed.setdefault(key, value)

    def record_decision(self, node: HonestNode, height: int, value: bytes) -> None:
        if not node.honest:
            return
        at_height = self.decisions.setdefault(height, {})
        for other, v in at_height.items():
            if v != value:
                self.violations.append(
                    f"agreement: h={height} node {other} decided {v!r}, node {node.id} decided {value!r}"
                )
                break
        if not at_height and self.cfg.isolate_deciders and self.now < self.gst and self.rng.random() < 0.8:
            # The first to decide is cut off for a while, so the others must go on alone.
            sides = {n.id: int(n.id == node.id) for n in self.nodes}
            self.partitions.append((self.now, min(self.gst, self.now + self.rng.randint(500, 4000)), sides))
        at_height[node.id] = value
        if value not in self.proposed or not self.is_valid(value):
            self.violations.append(f"validity: node {node.id} decided {value!r} at h={height}")

    # -- running --------------------------------------------------------------------------

    def run(self) -> SimResult:
        for n in self.nodes:
            self.at(0, n, n.begin_height, 1)
            self.at(self.rng.randint(1, self.cfg.gossip_ms), n, n.tick)
        honest = [n for n in self.nodes if n.honest]
        deadline: int | None = None
        target = 0
        while self._heap:
            when, _, node, epoch, fn, args = heapq.heappop(self._heap)
            if deadline is None and when >= self.gst:
                # GST: from here on the network is reliable and everyone is up.
                self.now = self.gst
                target = max(len(n.chain) for n in honest) + self.cfg.new_heights_after_gst
                deadline = self.gst + self._liveness_bound(honest)
            if deadline is not None and (when > deadline or all(len(n.chain) >= target for n in honest)):
                self.stats["liveness_ms"] = self.now - self.gst
                break
            self.now = when
            if node is not None and (not node.up or node.epoch != epoch):
                continue  # the node crashed since this was scheduled
            self.events += 1
            if node is None:
                fn(*args)
            else:
                self._run(node, fn, *args)
            if self.violations:
                break
        if not self.violations:
            lagging = [n.id for n in honest if len(n.chain) < target]
            if deadline is None or lagging:
                self.violations.append(
                    f"liveness: nodes {lagging} below height {target} at t={self.now} "
                    f"(GST {self.gst}, heights {[len(n.chain) for n in honest]})"
                )
        for n in honest:
            if n.refusals:
                # With the WAL synced before signing, a replay asks for the very same votes;
                # a refusal means the core wanted to sign something conflicting.
                self.violations.append(f"guard: node {n.id} refused {n.refusals} conflicting signatures")
        return SimResult(
            self.cfg.name,
            self.seed,
            self.violations,
            {n.id: len(n.chain) for n in honest},
            self.events,
            self.now,
            self.evidence,
            max((n.state.round for n in honest if n.state is not None), default=0),
            {
                **self.stats,
                "partitions": len(self.partitions),
                "deadline_ms": (deadline or self.gst) - self.gst,
            },
        )

    def _liveness_bound(self, honest: list[HonestNode]) -> int:
        """How long after GST every honest node may take to decide the new heights.

        Honest nodes locked on different values before GST only converge once a node that
        holds the POL for the highest lock leads a round (L36 only updates validValue for
        the current round), so allow k rounds, enough for every honest validator to propose
        once (about total / min honest power), after the round R reached at GST; then k
        rounds per new height. Timeouts grow with the round, so the bound does too."""
        rounds = max((n.state.round for n in honest if n.state is not None), default=0)
        powers = self.cfg.powers
        min_honest = min(p for k, p in enumerate(powers) if k not in self.cfg.byzantine)
        k = sum(powers) // min_honest + 2

        def round_ms(r: int) -> int:
            return sum(TP.duration_ms(kind, r) for kind in (1, 2, 3)) + 4 * 60 + self.cfg.gossip_ms

        first = sum(round_ms(r) for r in range(rounds + k))
        per_height = sum(round_ms(r) for r in range(k)) + self.cfg.block_interval_ms
        return first + self.cfg.new_heights_after_gst * per_height


def run(cfg: Config, seed: int, core: CoreFns = CORRECT_CORE) -> SimResult:
    return World(cfg, seed, core).run()
