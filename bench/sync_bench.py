"""Block sync speed: a full node joining late fetches, verifies and executes the chain.

One validator commits `--txs` transfers (plus empty blocks), then a second node starts
with an empty store and syncs; the script reports blocks/s and transactions/s of the sync.

    .venv/bin/python bench/sync_bench.py --txs 20000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from devnet.homes import derive_key, generate
from devnet.process import NodeProcess
from node.client import AsyncClient, build_transfer
from node.types.crypto import to_checksum_address


async def load(url: str, chain_id: str, seed: str, txs: int, accounts: int) -> None:
    keys = [derive_key(seed, "account", i) for i in range(accounts)]
    async with AsyncClient(url, timeout=60) as client:
        # The genesis may already have spent nonces (account 0 deploys the standard contracts).
        first = [(await client.account(to_checksum_address(k.address)))["nonce"] for k in keys]
        raws = [build_transfer(keys[n % accounts], chain_id, first[n % accounts] + n // accounts,
                               to_checksum_address(keys[(n + 1) % accounts].address), 1).raw for n in range(txs)]
        for i in range(0, len(raws), 100):
            for answer in await client.batch([("tx_send", ["0x" + r.hex()]) for r in raws[i:i + 100]]):
                if isinstance(answer, Exception):
                    raise RuntimeError(answer)
        while (await client.call("mempool_status"))["size"]:
            await asyncio.sleep(0.2)


def run_once(txs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        m = generate(Path(tmp), validators=1, non_validators=1, base_port=31000, block_time_ms=200, accounts=10,
                     proxy=False)
        for e in m.nodes:  # let each sender queue all its transfers
            cfg = Path(e.home) / "config" / "config.toml"
            cfg.write_text(cfg.read_text().replace("nonce_gap = 64", f"nonce_gap = {txs}"))
        v, full = (NodeProcess(Path(e.home), int(e.rpc.rsplit(":", 1)[1]), e.name) for e in m.nodes)
        v.start()
        try:
            v.wait_ready()
            asyncio.run(load(v.rpc_url, m.chain_id, m.seed, txs, 10))
            target = v.client.status()["height"]
            full.start()
            full.wait_ready()
            t0 = time.monotonic()
            full.wait_height(target, timeout=600)
            elapsed = time.monotonic() - t0
            return {"blocks": target, "txs": txs, "seconds": round(elapsed, 2),
                    "blocks_per_s": round(target / elapsed, 1), "tx_per_s": round(txs / elapsed, 1)}
        finally:
            full.stop()
            v.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        r = run_once(args.txs)
        print(f"run {i + 1}: {r}", flush=True)
        results.append(r)
    print("median:", json.dumps({k: statistics.median(r[k] for r in results) for k in results[0]}))


if __name__ == "__main__":
    main()
