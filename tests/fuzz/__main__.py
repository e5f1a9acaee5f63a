"""`python -m tests.fuzz --surface NAME|all --budget N [--seed S] [--json FILE]`: run the fuzzers.

The surfaces run one after another (the in-process ones in this process, the network ones
against one real node started for them); a line per surface, a summary table at the end, and
exit status 1 if any surface found something. `--budget` defaults to FUZZ_BUDGET (inputs per
surface); a full run is 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from dataclasses import asdict

from tests.fuzz.driver import Report, env_budget, env_seed, format_findings
from tests.fuzz.live import RUNNING
from tests.fuzz.surfaces import IN_PROCESS, LIVE, run_in_process, run_live


def _on_term(signum: int, _frame: object) -> None:
    for node in list(RUNNING):  # never leave a node behind
        node.proc.kill()
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_term)
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--surface", default="all", help=f"one of {', '.join(IN_PROCESS + LIVE)}, or all")
    parser.add_argument("--budget", type=int, default=None, help="inputs per surface (default: FUZZ_BUDGET)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the reports to this file")
    args = parser.parse_args(argv)
    budget = env_budget() if args.budget is None else args.budget
    seed = env_seed() if args.seed is None else args.seed
    names = IN_PROCESS + LIVE if args.surface == "all" else args.surface.split(",")
    unknown = [n for n in names if n not in IN_PROCESS + LIVE]
    if unknown:
        parser.error(f"unknown surface {', '.join(unknown)}")
    reports: list[Report] = []
    started = time.monotonic()
    for name in (n for n in names if n in IN_PROCESS):
        report = run_in_process(name, budget, seed)
        print(format_findings(report), flush=True)
        reports.append(report)
    live = [n for n in names if n in LIVE]
    if live:
        for report in asyncio.run(run_live(live, budget, seed, on_report=lambda r: print(format_findings(r),
                                                                                          flush=True))):
            reports.append(report)
    print(f"\n{'surface':<10} {'inputs':>8} {'seconds':>8} {'accepted':>9} {'rejected':>9} {'findings':>8}")
    for r in reports:
        print(f"{r.surface:<10} {r.inputs:>8} {r.seconds:>8.1f} {r.accepted:>9} {r.rejected:>9} {len(r.findings):>8}")
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{**asdict(r), "outcomes": dict(r.outcomes)} for r in reports], f, indent=1)
    return 1 if any(r.findings for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
