"""The fuzz loop shared by every surface: a corpus seeded with valid inputs, stacked mutations,
an oracle per input, a time bound per input, an RSS bound over the run.

A surface (a `Target`) gives valid seeds, a mutator, and `run(input) -> outcome label`. The label
says which path the input took ("accepted", "rejected:MalformedTransaction", ...); an input the
surface accepted joins the corpus (bounded), so later mutations start from deeper, valid states.
`run` raises `OracleFailure` when the input broke a property (a non-canonical encoding accepted,
a -32603 from the RPC, a node that died); any other exception escaping `run` is a crash. Both are
findings, kept with the input that caused them, and the run goes on (up to `max_findings`).

Budgets: `FUZZ_BUDGET` (inputs per surface) and `FUZZ_SEED` in the environment; a full run is
100,000 inputs per surface (`python -m tests.fuzz --surface all --budget 100000`).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_BUDGET = 1_000
FULL_BUDGET = 100_000
MAX_CORPUS = 2_000
RSS_SAMPLE_EVERY = 500


def env_budget(default: int = DEFAULT_BUDGET) -> int:
    return int(os.environ.get("FUZZ_BUDGET", str(default)))


def env_max_seconds() -> float | None:
    value = os.environ.get("FUZZ_MAX_SECONDS")
    return float(value) if value else None


def env_seed(default: int = 1) -> int:
    return int(os.environ.get("FUZZ_SEED", str(default)))


class OracleFailure(Exception):
    """The input broke a property of the surface (not merely rejected by it)."""


class Hang(BaseException):
    """One input took longer than the per-input bound (a BaseException so no handler swallows it)."""


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (ours by default) in MiB, from /proc."""
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmRSS line")


@dataclass(frozen=True, slots=True)
class Finding:
    surface: str
    index: int
    kind: str  # crash | oracle | hang | memory | liveness
    detail: str
    input: str  # a rendering of the input, cut short


@dataclass(slots=True)
class Report:
    surface: str
    budget: int
    inputs: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    corpus: int = 0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0

    @property
    def accepted(self) -> int:
        return sum(n for label, n in self.outcomes.items() if label.startswith("accepted"))

    @property
    def rejected(self) -> int:
        return sum(n for label, n in self.outcomes.items() if label.startswith("rejected"))

    def summary(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common(8))
        return (f"{self.surface}: {self.inputs} inputs in {self.seconds:.1f} s, {len(self.findings)} findings, "
                f"accepted {self.accepted}, rejected {self.rejected}, corpus {self.corpus}, "
                f"rss {self.rss_start_mb:.0f}->{self.rss_peak_mb:.0f} MiB; {top}")


class Target(Protocol[T]):
    name: str
    time_bound: float  # seconds one input may take
    rss_bound_mb: float  # growth allowed over the run, after the first sample

    def seeds(self) -> list[T]: ...

    def mutate(self, rng: random.Random, item: T, corpus: list[T]) -> T: ...

    def render(self, item: T) -> str: ...


class SyncTarget(Target[T], Protocol):
    def run(self, item: T) -> str: ...


class AsyncTarget(Target[T], Protocol):
    async def run(self, item: T) -> str: ...

    def rss_pid(self) -> int | None:
        """The process whose memory is bounded (None: this one)."""
        ...

    async def check_alive(self) -> str | None:
        """None while the system under test is well; otherwise why not (checked every so often)."""
        ...


@dataclass(slots=True)
class _Loop(Generic[T]):
    """Corpus, mutation and bookkeeping, without the way an input is run."""

    target: Target[T]
    budget: int
    seed: int
    max_findings: int
    max_seconds: float | None = None
    rng: random.Random = field(init=False)
    corpus: list[T] = field(init=False)
    seeds: list[T] = field(init=False)
    report: Report = field(init=False)
    started: float = field(init=False)
    rss_base: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.seeds = list(self.target.seeds())
        if not self.seeds:
            raise ValueError(f"{self.target.name}: no seeds")
        self.corpus = list(self.seeds)
        self.report = Report(self.target.name, self.budget)
        self.started = time.monotonic()

    def next_input(self, index: int) -> T:
        if index < len(self.seeds):
            return self.seeds[index]  # the seeds themselves first: they must be accepted
        item = self.rng.choice(self.corpus)
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):  # stacked mutations now and then
            try:
                item = self.target.mutate(self.rng, item, self.corpus)
            except Exception:  # a mutator's own bug: counted, never hidden, and the input goes as it is
                self.report.outcomes["mutator-error"] += 1
        return item

    def record(self, index: int, item: T, label: str) -> None:
        self.report.outcomes[label] += 1
        if index < len(self.seeds) and not label.startswith("accepted"):
            self.report.outcomes["seed-rejected"] += 1  # a broken starting point: tests fail on it
        if label.startswith("accepted") and index >= len(self.seeds):
            if len(self.corpus) < MAX_CORPUS:
                self.corpus.append(item)
            elif self.rng.random() < 0.1:
                self.corpus[self.rng.randrange(len(self.seeds), MAX_CORPUS)] = item

    def find(self, index: int, item: T | None, kind: str, detail: str) -> None:
        rendered = self.target.render(item)[:600] if item is not None else ""
        self.report.findings.append(Finding(self.target.name, index, kind, detail[-2000:], rendered))
        self.report.outcomes[f"finding:{kind}"] += 1

    def sample_rss(self, index: int, pid: int | None) -> None:
        try:
            now = rss_mb(pid)
        except OSError as exc:
            self.find(index, None, "liveness", f"cannot read the memory of process {pid}: {exc}")
            return
        if self.rss_base is None:
            self.rss_base = now
            self.report.rss_start_mb = now
        self.report.rss_peak_mb = max(self.report.rss_peak_mb, now)
        if now - self.rss_base > self.target.rss_bound_mb and not any(
                f.kind == "memory" for f in self.report.findings):
            self.find(index, None, "memory", f"RSS grew from {self.rss_base:.0f} to {now:.0f} MiB "
                                             f"(bound {self.target.rss_bound_mb:.0f})")

    def done(self) -> bool:
        if self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            self.report.outcomes["info:stopped-at-time-limit"] = 1
            return True
        return len(self.report.findings) >= self.max_findings

    def finish(self, inputs: int) -> Report:
        self.report.inputs = inputs
        self.report.seconds = time.monotonic() - self.started
        self.report.corpus = len(self.corpus)
        return self.report


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise Hang()


def run_sync(target: SyncTarget[T], budget: int | None = None, seed: int | None = None,
             max_findings: int = 20, max_seconds: float | None = None) -> Report:
    """Run `budget` inputs through `target` in this thread; a SIGALRM bounds each input's time."""
    loop = _Loop(target, env_budget() if budget is None else budget, env_seed() if seed is None else seed,
                 max_findings, max_seconds if max_seconds is not None else env_max_seconds())
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    done = 0
    try:
        for index in range(loop.budget):
            if loop.done():
                break
            if index % RSS_SAMPLE_EVERY == 0:
                loop.sample_rss(index, None)
            item = loop.next_input(index)
            signal.setitimer(signal.ITIMER_REAL, target.time_bound)
            try:
                label = target.run(item)
            except Hang:
                loop.find(index, item, "hang", f"over {target.time_bound} s")
                continue
            except OracleFailure as exc:
                loop.find(index, item, "oracle", str(exc))
                continue
            except Exception:
                loop.find(index, item, "crash", traceback.format_exc())
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                done = index + 1
            loop.record(index, item, label)
        loop.sample_rss(done, None)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return loop.finish(done)


async def run_async(target: AsyncTarget[T], budget: int | None = None, seed: int | None = None,
                    max_findings: int = 20, workers: int = 8, alive_every: int = 2_000,
                    max_seconds: float | None = None) -> Report:
    """Run `budget` inputs through `target` from `workers` concurrent tasks, checking liveness as it goes."""
    loop = _Loop(target, env_budget() if budget is None else budget, env_seed() if seed is None else seed,
                 max_findings, max_seconds if max_seconds is not None else env_max_seconds())
    counter = iter(range(loop.budget))
    lock = asyncio.Lock()
    done = [0]
    pid = target.rss_pid()
    loop.sample_rss(0, pid)

    async def health(index: int) -> None:
        async with lock:
            why = await target.check_alive()
            if why is not None:
                loop.find(index, None, "liveness", why)
            loop.sample_rss(index, pid)

    async def worker() -> None:
        for index in counter:
            if loop.done():
                return
            item = loop.next_input(index)
            try:
                async with asyncio.timeout(target.time_bound):
                    label = await target.run(item)
            except TimeoutError:
                loop.find(index, item, "hang", f"over {target.time_bound} s")
                continue
            except OracleFailure as exc:
                loop.find(index, item, "oracle", str(exc))
                continue
            except Exception:
                loop.find(index, item, "crash", traceback.format_exc())
                continue
            finally:
                done[0] += 1
            loop.record(index, item, label)
            if index and index % alive_every == 0:
                await health(index)

    await asyncio.gather(*(worker() for _ in range(workers)))
    await health(done[0])
    return loop.finish(done[0])


def format_findings(report: Report, limit: int = 5) -> str:
    lines = [report.summary()]
    for f in report.findings[:limit]:
        lines.append(f"  #{f.index} {f.kind}: {f.detail.strip().splitlines()[-1] if f.detail.strip() else ''}")
        lines.append(f"    input: {f.input[:300]}")
    return "\n".join(lines)


Runner = Callable[[int, int], Awaitable[Report] | Report]
