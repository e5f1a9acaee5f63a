"""The simulator configurations run in CI, shared by the schedule tests and the negative
controls. Byzantine keys always hold less than 1/3 of the power; "seven" gives them 3 of 7
validators (4 of 19 power), so counting by number rather than power is exploitable."""

from __future__ import annotations

from tests.consensus.simulator import Config

SEVEN = (5, 4, 3, 3, 2, 1, 1)

CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        # random byzantine strategies per seed
        Config("four", (1, 1, 1, 1), byzantine=(3,)),
        Config("seven", SEVEN, byzantine=(4, 5, 6)),
        # one key run by two independent honest copies
        Config("four-twins", (1, 1, 1, 1), byzantine=(3,), twins=(3,)),
        Config("seven-twins", SEVEN, byzantine=(4,), twins=(4,)),
        # targeted: split the honest nodes, help exactly one of them decide, cut it off,
        # then propose something new; a core that ignores its lock decides twice
        Config(
            "four-lockbreak",
            (1, 1, 1, 1),
            byzantine=(3,),
            strategies=("echo", "equivocate", "selective", "fresh"),
            isolate_deciders=True,
        ),
        # targeted: two proposals, and every byzantine key agrees with every honest node;
        # 3 of 7 validators is a quorum-maker by number but not by power
        Config("seven-splitbrain", SEVEN, byzantine=(4, 5, 6), strategies=("echo", "equivocate")),
    )
}


def replay_command(config: str, seed: int, core: str = "correct") -> str:
    core_env = "" if core == "correct" else f"SIM_CORE={core} "
    return (
        f"SIM_CONFIG={config} SIM_SEED={seed} {core_env}"
        ".venv/bin/python -m pytest tests/consensus/test_simulation.py -k replay"
    )
