"""One-validator throughput: committed transfers per second submitted through JSON-RPC.

Starts a real node in a temporary home, pre-signs transfers from many funded accounts,
submits them in JSON-RPC batches, follows new blocks and reports committed tx/s and
submit-to-commit latency percentiles. Run:

    .venv/bin/python bench/node_bench.py --txs 20000 --accounts 200 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from devnet.process import NodeProcess, free_port
from node.client import AsyncClient, build_transfer
from node.config import init_home
from node.crypto import PrivateKey, to_checksum_address
from node.genesis import GenesisAccount, Params, TimeoutsMs

CHAIN_ID = "finchain-bench"


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def submit_and_follow(node: NodeProcess, raws: list[tuple[str, bytes]], batch: int) -> dict:
    submitted: dict[str, float] = {}
    committed: dict[str, float] = {}
    async with AsyncClient(node.rpc_url, timeout=60) as client:
        start_height = (await client.status())["height"]
        t0 = time.monotonic()

        async def follow() -> None:
            height = start_height
            while len(committed) < len(raws):
                tip = (await client.status())["height"]
                while height < tip:
                    height += 1
                    block = await client.call("chain_getBlock", height, False)
                    now = time.monotonic()
                    for h in block["txs"]:
                        committed[h] = now
                await asyncio.sleep(0.02)

        follower = asyncio.create_task(follow())
        for i in range(0, len(raws), batch):
            chunk = raws[i : i + batch]
            now = time.monotonic()
            answers = await client.batch([("tx_send", ["0x" + raw.hex()]) for _, raw in chunk])
            for (h, _), a in zip(chunk, answers, strict=True):
                if isinstance(a, Exception):
                    raise RuntimeError(f"tx rejected: {a}")
                submitted[h] = now
        await asyncio.wait_for(follower, timeout=600)
        elapsed = max(committed.values()) - t0
        latencies = [committed[h] - submitted[h] for h in submitted]
        return {
            "txs": len(raws),
            "committed": len(committed),
            "seconds": round(elapsed, 3),
            "tx_per_s": round(len(committed) / elapsed, 1),
            "latency_p50_s": round(percentile(latencies, 50), 3),
            "latency_p95_s": round(percentile(latencies, 95), 3),
            "latency_p99_s": round(percentile(latencies, 99), 3),
        }


def run_once(txs: int, accounts: int, batch: int, commit_ms: int) -> dict:
    keys = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(accounts)]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        rpc_port = free_port()
        init_home(home, chain_id=CHAIN_ID, rpc_port=rpc_port, p2p_port=free_port(),
                  accounts=tuple(GenesisAccount(k.address, 10**30) for k in keys),
                  params=Params(timeouts=TimeoutsMs(commit=commit_ms)))
        # The mempool admits at most nonce_gap txs ahead per sender.
        cfg = home / "config" / "config.toml"
        cfg.write_text(cfg.read_text().replace("nonce_gap = 64", f"nonce_gap = {txs // accounts + 2}"))
        raws = []
        for n in range(txs):
            k = keys[n % accounts]
            tx = build_transfer(k, CHAIN_ID, n // accounts, to_checksum_address(keys[(n + 1) % accounts].address), 1)
            raws.append(("0x" + tx.hash.hex(), tx.raw))
        node = NodeProcess(home, rpc_port)
        node.start()
        try:
            node.wait_ready()
            node.wait_height(1)
            return asyncio.run(submit_and_follow(node, raws, batch))
        finally:
            node.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--commit-ms", type=int, default=1000, help="pause between heights (block time)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        r = run_once(args.txs, args.accounts, args.batch, args.commit_ms)
        print(f"run {i + 1}: {r}", flush=True)
        results.append(r)
    summary = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print("median:", json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "median": summary}, indent=2))


if __name__ == "__main__":
    main()
