"""The nemesis of a chaos run: a schedule of faults drawn from a seed, as plain data, and its playback on a
`Cluster`.

A schedule is a list of episodes, one at a time with healthy gaps between them. Each episode hits a set of
nodes with one kind of fault and undoes it after a while:

    kill       SIGKILL, then start again          pause      SIGSTOP, then SIGCONT
    restart    a clean stop (SIGTERM) and start    isolate    one node cut from every other
    halves     the nodes split in two halves       bridge     two sides that reach each other through one node
    delay      every chunk to and from the nodes held D ± J ms
    drop       each of the nodes' links closed with probability P per second
    kill2      f + 1 nodes killed at once (two of four)

At most f = (n - 1) // 3 nodes are faulty at once, except in episodes marked `beyond_f` (halves, kill2, and a
bridge whose smaller side has more than f nodes, as with 7 validators; with 4 the far side of a bridge is one
node, so that bridge is within f): there liveness may stop, but safety must hold. Every
episode is a pair of steps (`do` at `at_s`, `undo` at `at_s + duration_s`), so a schedule written as JSON
is replayed exactly (`finchain devnet chaos --replay`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from devnet.errors import DevnetError

KINDS_WITHIN_F = ("kill", "pause", "restart", "isolate", "delay", "drop")
KINDS_BEYOND_F = ("halves", "kill2", "bridge")
ALL_KINDS = KINDS_WITHIN_F + KINDS_BEYOND_F
BEYOND_F_SHARE = 0.2  # of the episodes, when the schedule allows them


@dataclass(frozen=True, slots=True)
class Episode:
    kind: str
    nodes: tuple[int, ...]  # the nodes it makes faulty (for halves: one half; for a bridge: the bridge first)
    at_s: float
    duration_s: float
    beyond_f: bool = False
    ms: int = 0  # delay
    jitter_ms: int = 0  # delay
    percent: float = 0.0  # drop

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Episode:
        kind = d["kind"]
        if kind not in ALL_KINDS:
            raise DevnetError(f"unknown fault kind {kind!r} in the schedule (known: {', '.join(ALL_KINDS)})")
        return Episode(kind, tuple(int(x) for x in d["nodes"]), float(d["at_s"]), float(d["duration_s"]),
                       bool(d.get("beyond_f", False)), int(d.get("ms", 0)), int(d.get("jitter_ms", 0)),
                       float(d.get("percent", 0.0)))


def faults_allowed(validators: int) -> int:
    return (validators - 1) // 3


def draw_schedule(rng: random.Random, duration_s: float, nodes: int, *, beyond_f: bool = True,
                  targets: Sequence[int] | None = None) -> list[Episode]:
    """Episodes filling `duration_s`, each on at most f nodes (of `targets`, default all) unless beyond f."""
    f = faults_allowed(nodes)
    pool = list(targets if targets is not None else range(nodes))
    if not pool:
        return []
    episodes: list[Episode] = []
    t = rng.uniform(1.0, 2.5)
    while t < duration_s - 2.0:
        length = min(rng.uniform(2.0, 6.0), duration_s - t - 0.5)
        beyond = beyond_f and nodes >= 4 and targets is None and rng.random() < BEYOND_F_SHARE
        kind = rng.choice(KINDS_BEYOND_F if beyond else KINDS_WITHIN_F)
        ep = _episode(rng, kind, pool, nodes, f, t, length)
        episodes.append(ep)
        t += length + rng.uniform(1.0, 3.0)
    return episodes


def _episode(rng: random.Random, kind: str, pool: list[int], nodes: int, f: int, at: float, length: float) -> Episode:
    at, length = round(at, 2), round(length, 2)
    if kind == "halves":
        half = tuple(sorted(rng.sample(range(nodes), nodes // 2)))
        return Episode(kind, half, at, length, beyond_f=True)
    if kind == "kill2":
        return Episode(kind, tuple(sorted(rng.sample(range(nodes), f + 1))), at, length, beyond_f=True)
    if kind == "bridge":
        # The bridge sees everyone; the others are split in two sides that only reach each other through it.
        order = tuple(rng.sample(range(nodes), nodes))
        _, left, right = bridge_sides(order)
        return Episode(kind, order, at, length, beyond_f=min(len(left), len(right)) > f)
    chosen = tuple(sorted(rng.sample(pool, min(len(pool), max(1, rng.randint(1, max(1, f)))))))
    if kind == "delay":
        return Episode(kind, chosen, at, length, ms=rng.choice((50, 100, 200, 400)), jitter_ms=rng.choice((0, 20, 50)))
    if kind == "drop":
        return Episode(kind, chosen, at, length, percent=rng.choice((20.0, 50.0, 80.0)))
    return Episode(kind, chosen, at, length)


def bridge_sides(order: Sequence[int]) -> tuple[int, list[int], list[int]]:
    """(bridge, left, right) of a bridge episode's node order."""
    bridge, rest = order[0], list(order[1:])
    middle = (len(rest) + 1) // 2
    return bridge, rest[:middle], rest[middle:]


class Target(Protocol):
    """What the nemesis needs of a cluster (devnet.cluster.Cluster has it all; chaos runs wrap it to route a
    byzantine node's process)."""

    def kill(self, i: int) -> None: ...
    def start(self, i: int, timeout: float = 30.0) -> None: ...
    def restart(self, i: int, timeout: float = 30.0) -> None: ...
    def pause(self, i: int) -> None: ...
    def resume(self, i: int) -> None: ...
    def partition(self, *groups: Sequence[int]) -> None: ...
    def cut(self, pairs: Sequence[tuple[int, int]]) -> None: ...
    def heal(self) -> None: ...
    def delay(self, i: int, ms: int, jitter_ms: int = 0) -> None: ...
    def drop(self, i: int, percent: float) -> None: ...


def do(c: Target, ep: Episode, nodes: int) -> None:
    match ep.kind:
        case "kill" | "kill2":
            for i in ep.nodes:
                c.kill(i)
        case "pause":
            for i in ep.nodes:
                c.pause(i)
        case "restart":
            for i in ep.nodes:
                c.restart(i)
        case "isolate":
            c.partition(list(ep.nodes), [i for i in range(nodes) if i not in ep.nodes])
        case "halves":
            c.partition(list(ep.nodes), [i for i in range(nodes) if i not in ep.nodes])
        case "bridge":
            _, left, right = bridge_sides(ep.nodes)
            c.cut([(a, b) for a in left for b in right])
        case "delay":
            for i in ep.nodes:
                c.delay(i, ep.ms, ep.jitter_ms)
        case "drop":
            for i in ep.nodes:
                c.drop(i, ep.percent)
        case _:
            raise DevnetError(f"unknown fault kind {ep.kind!r}")


def undo(c: Target, ep: Episode) -> None:
    match ep.kind:
        case "kill" | "kill2":
            for i in ep.nodes:
                c.start(i)
        case "pause":
            for i in ep.nodes:
                c.resume(i)
        case "restart":
            pass  # a restart is over when it is done
        case "isolate" | "halves" | "bridge" | "delay" | "drop":
            c.heal()  # one episode at a time: nothing else to keep
        case _:
            raise DevnetError(f"unknown fault kind {ep.kind!r}")


def play(c: Target, schedule: Sequence[Episode], nodes: int, started: float,
         log: Callable[[dict[str, Any]], None], stop: Callable[[], bool] = lambda: False) -> None:
    """Apply each episode at its time (seconds after `started`, a monotonic stamp), logging what was done."""
    for ep in schedule:
        if not _sleep_until(started + ep.at_s, stop):
            return
        log({"at_s": round(time.monotonic() - started, 3), "op": "do", **ep.to_json()})
        do(c, ep, nodes)
        if not _sleep_until(started + ep.at_s + ep.duration_s, stop):
            undo(c, ep)
            return
        undo(c, ep)
        log({"at_s": round(time.monotonic() - started, 3), "op": "undo", "kind": ep.kind, "nodes": list(ep.nodes)})


def _sleep_until(at: float, stop: Callable[[], bool]) -> bool:
    while (left := at - time.monotonic()) > 0:
        if stop():
            return False
        time.sleep(min(left, 0.1))
    return True
