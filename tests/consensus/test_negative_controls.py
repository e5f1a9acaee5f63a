"""Negative controls: the simulator must catch deliberately broken cores. Each broken core
is passed into the simulator (no patching) and a bounded seed search must find a safety
violation (agreement or validity), while the correct core passes that same schedule."""

from __future__ import annotations

import pytest

from tests.consensus.sim_configs import CONFIGS, replay_command
from tests.consensus.simulator import CORRECT_CORE, COUNTS_BY_NUMBER, IGNORES_LOCK, CoreFns, SimResult, run

SEARCH_BOUND = 300


def _safety_violation(r: SimResult) -> bool:
    return any(v.startswith(("agreement", "validity")) for v in r.violations)


@pytest.mark.parametrize(
    ("core_name", "core", "config"),
    [
        ("ignores-lock", IGNORES_LOCK, "four-lockbreak"),
        ("counts-by-number", COUNTS_BY_NUMBER, "seven-splitbrain"),
    ],
)
def test_broken_core_is_caught(core_name: str, core: CoreFns, config: str) -> None:
    cfg = CONFIGS[config]
    for seed in range(SEARCH_BOUND):
        r = run(cfg, seed, core)
        if _safety_violation(r):
            good = run(cfg, seed, CORRECT_CORE)
            assert good.ok, f"the correct core fails too: {good.violations}\n{replay_command(config, seed)}"
            print(f"{core_name}: caught at seed {seed}: {r.violations[0]}")
            return
    pytest.fail(f"no safety violation of the {core_name} core within {SEARCH_BOUND} seeds of {config}")
