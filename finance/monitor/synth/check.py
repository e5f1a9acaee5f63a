"""A replayed plan against the simple rules, from the heights its movements committed at: for each
rule, how close the accounts that are *not* its planted subjects came to it (the funders left out:
they move only in the setup, which the scorer does not score), and how many of its subjects meet
it. A rough reading of each rule (params.py gives them): the monitor is the judge, this only
shows the ledger's margins.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from finance.monitor.synth.plan import UNIT, Move, Plan


def _windows_of(events: list[tuple[int, Any]], window: int) -> list[list[tuple[int, Any]]]:
    """Every run of events within `window` blocks that ends at an event (events sorted by height)."""
    out, i = [], 0
    for j, (h, _) in enumerate(events):
        while h - events[i][0] >= window:
            i += 1
        out.append(events[i : j + 1])
    return out


def _metrics(plan: Plan, account: int, outs: list[tuple[int, Move]], ins: list[tuple[int, Move]]) -> dict[str, float]:
    p = plan.params
    t = p.threshold * UNIT
    every = sorted(outs + ins, key=lambda e: e[0])
    fan_out = max((len({m.receiver for _, m in w}) for w in _windows_of(outs, p.fan_window)), default=0)
    fan_in = max((len({m.sender for _, m in w}) for w in _windows_of(ins, p.fan_window)), default=0)
    banded = [(h, m) for h, m in outs if p.structuring_band * t <= m.amount < t]
    passed = 0.0
    for h, m in ins:
        if m.amount >= p.pass_min_amount * UNIT:
            sent = sum(o.amount for ho, o in outs if o.asset == m.asset and h <= ho <= h + p.pass_window)
            passed = max(passed, sent / m.amount)
    woke = sum(1 for k, (h, m) in enumerate(every)
               if k and m.sender == account and m.amount >= p.dormant_min_amount * UNIT
               and h - every[k - 1][0] >= p.dormant_blocks)
    return {
        "velocity": max((len(w) for w in _windows_of(every, p.velocity_window)), default=0),
        "fan_out": fan_out, "fan_in": fan_in,
        "large_value": max((m.amount for _, m in outs), default=0) / UNIT,
        "structuring": max((len(w) for w in _windows_of(banded, p.structuring_window)), default=0),
        "pass_through": round(passed, 3), "dormant": woke,
    }


def cross_check(plan: Plan, committed: list[tuple[int, Move]]) -> dict[str, dict[str, float]]:
    """Per rule: the limit, the highest value among non-subjects, and how many subjects reach the limit."""
    p = plan.params
    limits = {"velocity": p.velocity_min_movements, "fan_out": p.fan_min_counterparties,
              "fan_in": p.fan_min_counterparties, "large_value": p.threshold,
              "structuring": p.structuring_min_count, "pass_through": p.pass_min_fraction, "dormant": 1}
    subjects: dict[str, set[int]] = defaultdict(set)
    for inst in plan.instances:
        subjects[inst.typology].update(inst.subjects)
    outs: dict[int, list[tuple[int, Move]]] = defaultdict(list)
    ins: dict[int, list[tuple[int, Move]]] = defaultdict(list)
    for h, m in sorted(committed, key=lambda hm: hm[0]):
        outs[m.sender].append((h, m))
        ins[m.receiver].append((h, m))
    out = {rule: {"limit": limit, "max_of_others": 0, "subjects_at_limit": 0, "subjects": len(subjects[rule])}
           for rule, limit in limits.items()}
    for account in set(outs) | set(ins):
        if account < plan.funders:
            continue
        for rule, value in _metrics(plan, account, outs[account], ins[account]).items():
            row = out[rule]
            if account in subjects[rule]:
                row["subjects_at_limit"] += value >= row["limit"]
            else:
                row["max_of_others"] = max(row["max_of_others"], value)
    return out
