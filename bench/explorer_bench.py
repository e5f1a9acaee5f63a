"""The explorer page under chain load: load time, and whether the page grows while it stays open.

Starts a devnet of real nodes, opens node 0's explorer (docs/explorer.md) in Debian's headless
chromium through Playwright, and measures:

* page load to first content (the live block list drawn; `performance` mark
  `explorer-first-content`), the median of `--loads` fresh loads, with the chain idle;
* then, while transfers are sent as fast as the node takes them (the mempool is kept filled, as
  `finchain devnet bench` does), every `--sample` seconds for `--seconds`: the page's DOM node
  count, its JS heap after a garbage collection, a frame's latency (requestAnimationFrame, a
  measure of whether the page still responds), its height lag behind the node, and the committed
  tx/s of the chain over the sample.

    python bench/explorer_bench.py --validators 1 --seconds 600 --sample 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devnet.bench import submit
from devnet.cluster import Cluster
from devnet.workloads import MAX_PER_SENDER, Signed
from node.client.sdk import build_transfer
from node.types.crypto import to_checksum_address

CHROMIUM = "/usr/bin/chromium"
PER_ROUND = 50  # transfers per sender per round


class Flood:
    """Transfers in rounds from every account, each round once the mempool has room again."""

    def __init__(self, cluster: Cluster, stop: threading.Event) -> None:
        self.cluster = cluster
        self.stop = stop
        self.sent = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="flood", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    async def _run(self) -> None:
        c = self.cluster
        keys = c.accounts
        client = c.node(0).client
        nonces = [client.account(to_checksum_address(k.address))["nonce"] for k in keys]
        urls = c.urls()
        while not self.stop.is_set():
            per_node: list[list[Signed]] = [[] for _ in urls]
            for s, k in enumerate(keys):
                to = to_checksum_address(keys[(s + 1) % len(keys)].address)
                # The mempool's total can be low while one sender still has a round pending.
                committed = client.account(to_checksum_address(k.address))["nonce"]
                for _ in range(max(0, min(PER_ROUND, committed + MAX_PER_SENDER - nonces[s]))):
                    tx = build_transfer(k, c.chain_id, nonces[s], to, 1)
                    nonces[s] += 1
                    per_node[s % len(urls)].append(Signed("0x" + tx.hash.hex(), tx.raw, "tx_send"))
            submitted: dict[str, float] = {}
            await asyncio.gather(*(submit(u, chunk, 100, submitted) for u, chunk in zip(urls, per_node, strict=True)))
            self.sent += sum(len(x) for x in per_node)
            # Next round once most of this one is in blocks: the mempool stays busy, never over full.
            while not self.stop.is_set() and client.call("mempool_status")["size"] > len(keys) * PER_ROUND // 4:
                await asyncio.sleep(0.1)


def sample(page: Any, cdp: Any) -> dict[str, Any]:
    cdp.send("HeapProfiler.collectGarbage")
    return page.evaluate("""async () => {
        const t0 = performance.now();
        await new Promise((r) => requestAnimationFrame(() => r()));
        const frame = performance.now() - t0;
        return {dom_nodes: document.getElementsByTagName('*').length,
                heap_mb: performance.memory.usedJSHeapSize / 1048576,
                frame_ms: frame, height: window.explorer.state.height};
    }""")


def tx_rate(client: Any, since_ms: int) -> float:
    blocks = client.call("chain_getBlockSummaries", "latest", 200)["blocks"]
    recent = [b for b in blocks if b["time_ms"] > since_ms]
    if len(recent) < 2:
        return 0.0
    seconds = (recent[0]["time_ms"] - recent[-1]["time_ms"]) / 1000
    return sum(b["tx_count"] for b in recent[:-1]) / seconds if seconds > 0 else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    accounts = max(10, args.accounts)
    with Cluster(args.validators, block_time_ms=args.block_time_ms, proxy=False, accounts=accounts,
                 base_dir=Path(args.dir) if args.dir else None) as c, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--enable-precise-memory-info"])
        try:
            # Playwright's waits evaluate strings in the page, which the page's CSP forbids.
            page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
            url = c.node(0).rpc_url + "/explorer/"
            c.wait_height(c.height() + 3)
            loads = []
            for _ in range(args.loads):
                page.goto(url + f"?t={time.monotonic_ns()}")
                page.wait_for_function("performance.getEntriesByName('explorer-first-content').length > 0",
                                       timeout=30_000)
                loads.append(page.evaluate("performance.getEntriesByName('explorer-first-content')[0].startTime"))
            cdp = page.context.new_cdp_session(page)
            client = c.node(0).client
            stop = threading.Event()
            flood = Flood(c, stop)
            flood.thread.start()
            samples = []
            started = time.monotonic()
            try:
                while time.monotonic() - started < args.seconds:
                    since = int(time.time() * 1000)
                    time.sleep(min(args.sample, max(0.1, args.seconds - (time.monotonic() - started))))
                    if flood.error is not None:
                        raise RuntimeError(f"the load failed: {flood.error!r}")
                    s = sample(page, cdp)
                    s["t_s"] = round(time.monotonic() - started, 1)
                    s["lag"] = client.call("node_status")["height"] - s["height"]
                    s["tx_per_s"] = round(tx_rate(client, since), 1)
                    samples.append(s)
                    print(f"t={s['t_s']:>6}s  dom {s['dom_nodes']:>5}  heap {s['heap_mb']:6.2f} MB  "
                          f"frame {s['frame_ms']:6.1f} ms  lag {s['lag']:>2}  chain {s['tx_per_s']:8.1f} tx/s",
                          file=sys.stderr)
            finally:
                stop.set()
                flood.thread.join(60)
        finally:
            browser.close()
    return {
        "validators": args.validators,
        "first_content_ms": round(statistics.median(loads), 1),
        "first_content_all_ms": [round(x, 1) for x in loads],
        "seconds": args.seconds,
        "transfers_sent": flood.sent,
        "chain_tx_per_s_mean": round(statistics.mean(s["tx_per_s"] for s in samples), 1) if samples else 0,
        "dom_nodes": [s["dom_nodes"] for s in samples],
        "heap_mb": [round(s["heap_mb"], 2) for s in samples],
        "frame_ms_max": round(max(s["frame_ms"] for s in samples), 1) if samples else 0,
        "lag_max": max(s["lag"] for s in samples) if samples else 0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--validators", type=int, default=1)
    p.add_argument("--seconds", type=float, default=600.0, help="how long the page stays open under load")
    p.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    p.add_argument("--loads", type=int, default=5, help="page loads for the first-content time")
    p.add_argument("--accounts", type=int, default=40, help="senders of the load")
    p.add_argument("--block-time-ms", type=int, default=1000)
    p.add_argument("--dir", help="where the devnet goes (default: a temporary folder)")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
