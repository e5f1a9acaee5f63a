"""The worst contract patterns for a full block of gas: seconds and peak memory of each.

Each pattern is a call that builds and holds as much as its gas pays for, with a whole
block's gas (420,000,000, the default max_block_gas); `compile` is a block of deploys of
64 KiB sources of nested comprehensions, each one new to the node. Every pattern runs in a
fresh process, so its peak RSS is its own.

    .venv/bin/python bench/vm_worst.py                  # every pattern
    .venv/bin/python bench/vm_worst.py --only nested_lists --gas 42000000

The target is that a block's gas bounds its time and memory: every pattern within about 2 s
and 500 MB on a 2-core machine. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.types.tx import PAYLOAD_BYTE_GAS, TRANSFER_GAS
from vm.testing import Chain

BLOCK_GAS = 420_000_000

# Helpers every pattern shares: `keep` holds what is built, in rows under the list limit.
PRELUDE = '''
def put(keep: list, x):
    if len(keep[-1]) >= 99000:
        keep.append([])
    keep[-1].append(x)
'''

PATTERNS: dict[str, str] = {
    # A list of one-item lists per item: the container costs more than the item.
    "nested_lists": "row = [[0] for i in range(99000)]\n        put(keep, row)",
    "nested_literals": "put(keep, [[[0], [1]], [[2], [3]], [[4], [5]]])",
    "list_repeat": "put(keep, [0] * 99000)",
    "list_append": "row = []\n        for i in range(99000):\n            row.append([i])\n        put(keep, row)",
    "string_concat": "put(keep, s + 'y')",
    "wide_string_concat": "put(keep, w + 'y')",
    "dict_growth": "d = {}\n        for i in range(99000):\n            d[i] = i * 2**200\n        put(keep, d)",
    "small_dicts": "put(keep, {n: n})\n        n = n + 1",
    "big_int_comprehension": "put(keep, [i * 2**200 for i in range(99000)])",
    "dict_comprehension": "put(keep, {i: [i] for i in range(99000)})",
    # Not memory: the interpreter's own speed, for scale.
    "plain_loop": "for i in range(99000):\n            n += i",
}


def pattern_source(body: str) -> str:
    return PRELUDE + f'''

@public
def run():
    keep = [[]]
    s = "x" * 1000
    w = "\\U0001f600" * 1000
    n = 0
    while True:
        {body}
'''


def nested_comprehension_source(salt: int) -> str:
    """64 KiB of functions full of nested comprehensions, different for each salt."""
    expr = "a"
    for _ in range(10):
        expr = f"[{expr} for a in [1] if a]"
    out = f"@public\ndef f() -> int:\n    return {salt}\n"
    i = 0
    while True:
        chunk = f"\n@public\ndef g{i}(a: int) -> int:\n" + f"    b = {expr}\n" * 8 + "    return 1\n"
        if len((out + chunk).encode()) > 64 * 1024:
            return out
        out += chunk
        i += 1


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pattern(name: str, gas: int) -> dict[str, object]:
    chain = Chain()
    me = chain.account()
    if name == "compile":
        t, cpu = time.perf_counter(), time.process_time()
        used = deploys = 0
        failed = ""
        while True:
            src = nested_comprehension_source(deploys)
            intrinsic = TRANSFER_GAS + PAYLOAD_BYTE_GAS * len(src.encode())
            res = chain.deploy(me, src, gas=20 * 10**8)  # the limit does not matter: it is what it uses
            cost = intrinsic + res.gas_used
            if used + cost > gas:
                break
            used += cost
            deploys += 1
            failed = failed or res.error
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        return {"pattern": name, "gas": used, "seconds": round(seconds, 3), "cpu": round(cpu, 3),
                "peak_rss_mb": round(rss_mb(), 1),
                "ns_per_gas": round(seconds / max(used, 1) * 1e9, 2), "deploys": deploys, "error": failed}
    res = chain.deploy(me, pattern_source(PATTERNS[name]))
    if not res.ok:
        raise SystemExit(f"{name}: deploy failed: {res.error}")
    before = rss_mb()
    t, cpu = time.perf_counter(), time.process_time()
    res = chain.call(me, res.address, "run", [], gas=gas)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"pattern": name, "gas": res.gas_used, "seconds": round(seconds, 3), "cpu": round(cpu, 3),
            "peak_rss_mb": round(rss_mb(), 1),
            "rss_before_mb": round(before, 1), "ns_per_gas": round(seconds / max(res.gas_used, 1) * 1e9, 2),
            "error": res.error}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gas", type=int, default=BLOCK_GAS)
    ap.add_argument("--only", help="one pattern, in this process")
    args = ap.parse_args()
    if args.only:
        print(json.dumps(run_pattern(args.only, args.gas)))
        return
    # CPU seconds as well as wall: on a shared machine the wall time also counts other processes.
    print(f"{'pattern':24} {'gas':>11} {'seconds':>8} {'cpu s':>6} {'ns/gas':>7} {'peak RSS MB':>12}  ends with")
    for name in [*PATTERNS, "compile"]:
        done = subprocess.run([sys.executable, __file__, "--only", name, "--gas", str(args.gas)],
                              capture_output=True, text=True, check=True)
        r = json.loads(done.stdout)
        extra = f" ({r['deploys']} deploys)" if "deploys" in r else ""
        print(f"{name:24} {r['gas']:>11,} {r['seconds']:>8.2f} {r['cpu']:>6.2f} {r['ns_per_gas']:>7.2f} "
              f"{r['peak_rss_mb']:>12.0f}  "
              f"{r['error'] or 'ok'}{extra}")


if __name__ == "__main__":
    main()
