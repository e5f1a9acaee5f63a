"""Random schedules through the simulator: agreement, validity, no double signing by honest
validators (across crashes and WAL replays), and liveness after GST.

SIM_RUNS (default 1200) is the total number of schedules across the configurations;
SIM_SEED_BASE shifts the seed range; a failure prints the command that replays it."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.consensus.sim_configs import CONFIGS, replay_command
from tests.consensus.simulator import (
    CORRECT_CORE,
    COUNTS_BY_NUMBER,
    IGNORES_LOCK,
    CoreFns,
    SimResult,
    run,
)

CORES: dict[str, CoreFns] = {
    "correct": CORRECT_CORE,
    "ignores-lock": IGNORES_LOCK,
    "counts-by-number": COUNTS_BY_NUMBER,
}
TOTAL_RUNS = int(os.environ.get("SIM_RUNS", "1200"))
SEED_BASE = int(os.environ.get("SIM_SEED_BASE", "0"))


def _describe(r: SimResult) -> str:
    return f"{r.violations[0]}\n    replay: {replay_command(r.config, r.seed)}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_schedules(name: str) -> None:
    cfg = CONFIGS[name]
    per_config = -(-TOTAL_RUNS // len(CONFIGS))
    failures: list[SimResult] = []
    totals: Counter[str] = Counter()
    for seed in range(SEED_BASE, SEED_BASE + per_config):
        r = run(cfg, seed)
        totals.update(r.stats)
        totals["evidence"] += r.evidence
        if not r.ok:
            failures.append(r)
    assert not failures, f"{len(failures)} of {per_config} schedules failed:\n" + "\n".join(
        _describe(r) for r in failures[:10]
    )
    if per_config >= 50:
        # The batch must actually exercise what it claims to.
        assert totals["evidence"] > 0, totals
        assert totals["partitions"] > 0, totals
        if not cfg.twins:
            assert totals["crashes"] > 0 and totals["torn"] > 0 and totals["mid"] > 0 and totals["replayed"] > 0, totals


def test_replay() -> None:
    """Replays one schedule: SIM_CONFIG, SIM_SEED and optionally SIM_CORE."""
    seed = os.environ.get("SIM_SEED")
    if seed is None:
        pytest.skip("set SIM_SEED (and SIM_CONFIG) to replay a schedule")
    name = os.environ.get("SIM_CONFIG", "four")
    core = os.environ.get("SIM_CORE", "correct")
    r = run(CONFIGS[name], int(seed), CORES[core])
    print(r)
    assert r.ok, "\n".join(r.violations)


def test_runs_are_deterministic() -> None:
    for name in ("seven", "four-twins"):
        a, b = run(CONFIGS[name], 7), run(CONFIGS[name], 7)
        assert (a.events, a.heights, a.sim_ms, a.stats) == (b.events, b.heights, b.sim_ms, b.stats)
