"""The AML monitor's own speed: blocks and movements indexed per second, and a 6-hop trace.

A synthetic ledger (random transfers among many users, a few busy ones, coin and one token) is
fed block by block to the monitor's detector over a real LevelDB, as its follower feeds it; then
traces of 6 hops, FIFO and haircut, start from busy and from ordinary addresses. The node's side
(fetching blocks over JSON-RPC) is not in these numbers: compare blocks/s with the chain's
committed blocks/s (README, "Numbers").

    python bench/monitor_bench.py --blocks 500 --per-block 200 --users 20000 --runs 3

With --follow HOME it measures instead a real `finchain monitor` process catching up from
height 1 on the running devnet at HOME (e.g. the one bench/aml_ledger.py --keep-chain left):
blocks and transactions read per second, the node's JSON-RPC included.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devnet.homes import Manifest
from devnet.monitor import MonitorProcess
from devnet.process import free_port
from finance.monitor.config import parse_config
from finance.monitor.detector import Detector
from finance.monitor.movements import COIN, Movement
from finance.monitor.store import MonitorStore
from finance.monitor.trace import TraceRequest, trace
from node.client.sdk import Client
from node.types.crypto import to_checksum_address

TOKEN = to_checksum_address(b"\xee" * 20)


def ledger(blocks: int, per_block: int, users: int, seed: int) -> list[list[Movement]]:
    rng = random.Random(seed)
    names = [to_checksum_address((i + 1).to_bytes(20, "big")) for i in range(users)]
    busy = names[: max(1, users // 1000)]
    out, tx = [], 0
    for h in range(1, blocks + 1):
        moves = []
        for i in range(per_block):
            tx += 1
            # One movement in ten involves a busy address (an exchange, a payroll), as real ledgers do.
            s = rng.choice(busy) if rng.random() < 0.05 else rng.choice(names)
            r = rng.choice(busy) if rng.random() < 0.05 else rng.choice(names)
            if r == s:
                r = names[(names.index(s) + 1) % users]
            moves.append(Movement(h, i, 0, "0x" + tx.to_bytes(32, "big").hex(), COIN if rng.random() < 0.7 else TOKEN,
                                  s, r, rng.randint(1, 500) * 10**18))
        out.append(moves)
    return out


def run(blocks: list[list[Movement]], hops: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = MonitorStore(Path(tmp) / "db")
        detector = Detector(parse_config(""), store)
        alerts = 0
        started = time.perf_counter()
        for moves in blocks:
            alerts += len(detector.process(moves[0].height, "0x" + moves[0].height.to_bytes(32, "big").hex(), moves))
        elapsed = time.perf_counter() - started
        movements = sum(len(b) for b in blocks)
        senders = Counter(m.sender for b in blocks for m in b).most_common()
        busy, ordinary = senders[0][0], senders[len(senders) // 2][0]
        traces = {}
        for name, start in (("busy", busy), ("ordinary", ordinary)):
            for method in ("fifo", "haircut"):
                t0 = time.perf_counter()
                graph = trace(store, TraceRequest(start, None, COIN, "forward", hops, method))
                traces[f"trace_{name}_{method}_s"] = round(time.perf_counter() - t0, 3)
                traces[f"trace_{name}_{method}_edges"] = len(graph["edges"])
                traces[f"trace_{name}_{method}_truncated"] = graph["truncated"]
        store.close()
    return {"blocks_per_s": round(len(blocks) / elapsed, 1), "movements_per_s": round(movements / elapsed),
            "alerts": alerts, **traces}


def follow(home: Path, config: Path | None, runs: int) -> dict[str, Any]:
    manifest = Manifest.load(home)
    node = Client(manifest.nodes[0].rpc)
    top = node.status()["height"]
    txs = sum(len(node.get_block(h)["txs"]) for h in range(1, top + 1))
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            monitor = MonitorProcess(Path(tmp), manifest.nodes[0].rpc, free_port(), config)
            monitor.start()
            try:
                monitor.wait_ready()
                started = time.monotonic()
                monitor.wait_height(top, timeout=600)
                elapsed = time.monotonic() - started
            finally:
                monitor.stop()
        out.append({"seconds": round(elapsed, 2), "blocks_per_s": round(top / elapsed, 1),
                    "txs_per_s": round(txs / elapsed)})
    return {"height": top, "txs": txs, "median_txs_per_s": statistics.median(r["txs_per_s"] for r in out),
            "median_blocks_per_s": statistics.median(r["blocks_per_s"] for r in out), "runs": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--per-block", type=int, default=200)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--hops", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--follow", metavar="HOME", help="measure a monitor process catching up on this running devnet")
    ap.add_argument("--config", help="with --follow: the monitor's rules file")
    args = ap.parse_args()
    if args.follow:
        print(json.dumps(follow(Path(args.follow), Path(args.config) if args.config else None, args.runs), indent=2))
        return
    blocks = ledger(args.blocks, args.per_block, args.users, seed=1)
    runs = [run(blocks, args.hops) for _ in range(args.runs)]
    median = {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], int | float) and not isinstance(
        runs[0][k], bool) else runs[0][k] for k in runs[0]}
    print(json.dumps({"blocks": args.blocks, "per_block": args.per_block, "users": args.users, "hops": args.hops,
                      "median": median, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
