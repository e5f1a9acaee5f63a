"""Where a node's time goes per committed transaction: `finchain devnet bench` with py-spy attached.

py-spy samples every node process of the bench cluster from the moment the clock starts to the
last commit (non-blocking, so the nodes run at full speed). Each sample is charged to the
innermost frame that belongs to finchain or to a library it leans on (secp256k1, LevelDB,
msgpack, aiohttp, the p2p cipher), and also to every room of finchain on its stack (inclusive).
The result is microseconds of CPU per committed transaction per node, by module and by room.

    python bench/profile_bench.py --validators 1 --txs 20000
    python bench/profile_bench.py --validators 4 --txs 20000 --workload swap --json prof.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from devnet.bench import run_bench
from devnet.workloads import WORKLOADS

RATE = 200  # samples per second per process
LIBRARIES = {
    "coincurve": "secp256k1 (coincurve)",
    "plyvel": "LevelDB (plyvel)",
    "msgpack": "msgpack",
    "aiohttp": "aiohttp (HTTP server)",
    "cryptography": "p2p cipher (cryptography)",
    "uvloop": "event loop (uvloop)",
    "asyncio": "event loop (asyncio)",
    "json": "json",
    "prometheus_client": "metrics (prometheus_client)",
}
ROOMS = ("consensus", "vm", "p2p", "node/rpc", "node/mempool", "node/host", "node/state", "node/net",
         "node/storage", "node/types", "node/metrics", "node/chain.py", "node/reader.py")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def _where(path: str) -> str | None:
    """A frame's module as finchain names it (node/mempool/pool.py), or a library's label, or None."""
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts:
        lib = parts[parts.index("site-packages") + 1].split(".")[0]
        return LIBRARIES.get(lib, lib)
    for top in ("node", "p2p", "consensus", "vm"):
        if top in parts:
            i = len(parts) - 1 - parts[::-1].index(top)
            return "/".join(parts[i:])
    for i, part in enumerate(parts[:-1]):
        if part.startswith("python3"):
            lib = parts[i + 1].removesuffix(".py")
            return LIBRARIES.get(lib, f"stdlib {lib}")
    return None


def parse_raw(text: str) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    """(self samples by module, inclusive by room, self by function, total samples) of py-spy's raw output."""
    by_module: Counter[str] = Counter()
    by_room: Counter[str] = Counter()
    by_func: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [m for f in stack.split(";") if (m := FRAME.match(f))]
        leaf, leaf_func = "other", "other"
        for m in reversed(frames):
            where = _where(m["file"])
            if where is not None:
                leaf, leaf_func = where, f"{m['func']} ({where})"
                break
        by_module[leaf] += count
        by_func[leaf_func] += count
        rooms = set()
        for m in frames:
            where = _where(m["file"]) or ""
            rooms.update(r for r in ROOMS if where.startswith(r))
        for r in rooms:
            by_room[r] += count
    return by_module, by_room, by_func, total


def run(args: argparse.Namespace) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    out_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="finchain-profile-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def on_clock(pids: list[int | None]) -> None:
        for i, pid in enumerate(pids):
            procs.append(subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking",
                                           "--format", "raw", "-o", str(out_dir / f"node{i}.txt")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def off_clock() -> None:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(60)

    result = run_bench(args.validators, args.txs, args.accounts, block_time_ms=args.block_time_ms,
                       workload=args.workload,
                       show_progress=False, on_clock=on_clock, off_clock=off_clock)
    committed = result["committed"]
    nodes = []
    for i in range(args.validators):
        path = out_dir / f"node{i}.txt"
        if not path.exists():
            raise SystemExit(f"py-spy wrote no profile for node {i} (is ptrace allowed?)")
        by_module, by_room, by_func, total = parse_raw(path.read_text())

        def per_tx(samples: int) -> float:
            return round(samples / RATE / committed * 1e6, 1)

        nodes.append({
            "node": i, "samples": total, "us_per_tx": per_tx(total),
            "by_module": [(k, per_tx(v)) for k, v in by_module.most_common(args.top)],
            "by_room_inclusive": [(k, per_tx(v)) for k, v in by_room.most_common()],
            "by_function": [(k, per_tx(v)) for k, v in by_func.most_common(args.top)],
        })
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"bench": {k: result[k] for k in ("workload", "validators", "committed", "failed", "tx_per_s",
                                             "latency_p50_s", "latency_p95_s", "cpu_s_per_1000_txs")},
            "rate_hz": RATE, "nodes": nodes}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--validators", type=int, default=1)
    p.add_argument("--txs", type=int, default=20_000)
    p.add_argument("--accounts", type=int, help="funded senders (default: the bench's)")
    p.add_argument("--workload", choices=WORKLOADS, default="transfer")
    p.add_argument("--block-time-ms", type=int, default=1000)
    p.add_argument("--top", type=int, default=15, help="rows per table")
    p.add_argument("--json", help="write the result to this file")
    p.add_argument("--keep", metavar="DIR", help="keep py-spy's raw stacks there (nodeN.txt), to find callers")
    args = p.parse_args()
    r = run(args)
    b = r["bench"]
    print(f"{b['workload']} on {b['validators']} validator(s): {b['committed']} committed, {b['tx_per_s']} tx/s, "
          f"p50 {b['latency_p50_s']} s; CPU s per 1,000 txs per node {b['cpu_s_per_1000_txs']}")
    for n in r["nodes"]:
        print(f"\nnode {n['node']}: {n['us_per_tx']} us sampled per committed transaction ({n['samples']} samples)")
        for title, rows in (("innermost module", n["by_module"]), ("room, inclusive", n["by_room_inclusive"]),
                            ("innermost function", n["by_function"])):
            print(f"  {title}:")
            for name, us in rows:
                print(f"    {us:8.1f} us  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
