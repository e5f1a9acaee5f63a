"""Micro-benchmark of the pure core (not a test): one node's view of many heights.

Each height feeds one node's core what the network would: the proposal and every
validator's prevote and precommit, shuffled, with some duplicates; one height in ten first
fails round 0 (nil votes and timeouts) and decides in round 1. It prints inputs per second
for 4 validators x 10,000 heights and 100 validators x 1,000 heights: if the cost per
input stayed O(1), the two rates are close.

    .venv/bin/python tests/consensus/bench_core.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from consensus.state_machine import State, apply, start_height
from consensus.types import (
    Decided,
    Input,
    Proposal,
    ProposalReceived,
    TimeoutElapsed,
    TimeoutKind,
    TimeoutParams,
    Validator,
    ValidatorSet,
    Vote,
    VoteReceived,
    VoteType,
)


def _votes(t: VoteType, h: int, r: int, value: bytes | None, vals: ValidatorSet) -> list[Input]:
    return [VoteReceived(Vote(t, h, r, value, v.address, b"s")) for v in vals.validators]


def height_inputs(h: int, vals: ValidatorSet, rng: random.Random) -> list[Input]:
    inputs: list[Input] = []
    r = 0
    if rng.random() < 0.1:  # a failed round: nil everywhere, then the timeouts
        inputs.append(TimeoutElapsed(TimeoutKind.PROPOSE, h, 0))
        nil = _votes(VoteType.PREVOTE, h, 0, None, vals) + _votes(VoteType.PRECOMMIT, h, 0, None, vals)
        inputs += nil
        inputs.append(TimeoutElapsed(TimeoutKind.PRECOMMIT, h, 0))
        r = 1
    value = rng.randbytes(32)
    proposer = vals.proposer_for_round(r).address
    inputs.append(ProposalReceived(Proposal(h, r, value, -1, proposer, b"s"), True))
    prevotes = _votes(VoteType.PREVOTE, h, r, value, vals)
    precommits = _votes(VoteType.PRECOMMIT, h, r, value, vals)
    rng.shuffle(prevotes)
    rng.shuffle(precommits)
    dups = rng.sample(prevotes, k=max(1, len(prevotes) // 10))
    inputs += prevotes + dups + precommits
    return inputs


def bench(n_validators: int, heights: int, seed: int = 1) -> tuple[int, float]:
    rng = random.Random(seed)
    vals = ValidatorSet.new(Validator(b"v%03d" % i, 1 + (i % 7)) for i in range(n_validators))
    our = vals.validators[0].address
    tp = TimeoutParams()
    # Build the inputs first so that only the core is timed.
    plan: list[tuple[ValidatorSet, list[Input]]] = []
    for h in range(1, heights + 1):
        plan.append((vals, height_inputs(h, vals, rng)))
        vals = vals.increment(1)
    count = 0
    start = time.perf_counter()
    for h, (vset, inputs) in enumerate(plan, 1):
        state: State
        state, _ = start_height(h, vset, our, tp)
        decided = False
        for inp in inputs:
            state, outs = apply(state, inp)
            decided = decided or any(isinstance(o, Decided) for o in outs)
        count += len(inputs)
        if not decided:
            raise SystemExit(f"height {h} did not decide")
    return count, time.perf_counter() - start


def main() -> None:
    for n, heights in ((4, 10_000), (100, 1_000)):
        count, secs = bench(n, heights)
        print(
            f"{n:>3} validators x {heights:>6} heights: {count:>7} inputs in {secs:6.2f} s "
            f"= {count / secs:>9,.0f} inputs/s ({secs / count * 1e6:.1f} us/input)"
        )


if __name__ == "__main__":
    main()
