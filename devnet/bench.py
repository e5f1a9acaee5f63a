"""`finchain devnet bench`: committed transactions per second on a local cluster of real nodes.

A workload (devnet/workloads.py: transfers, token transfers, swaps, borrows, cross-currency
payments, or a mix) is set up and its transactions signed before the clock starts, from many
funded accounts, each sender's transactions going to one node (round robin over senders) in
JSON-RPC batches, native or Ethereum-signed. A follower reads each new block from node 0 and
notes when every transaction committed. With --duration the bench runs rounds of --txs
transactions until the time is up (a soak), so that memory and rate over a long run can be
watched. After the clock stops, the measured blocks' receipts are read: a revert fails the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devnet.cluster import Cluster
from devnet.errors import DevnetError
from devnet.workloads import CLIENTS, MAX_PER_SENDER, WORKLOADS, Signed, WorkloadError, check_choice, prepare
from node.client.sdk import AsyncClient, RpcCallError
from node.types.crypto import to_checksum_address


def _percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/<pid>/status (VmHWM, VmRSS) in MB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1]) / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    except (OSError, ValueError):
        return []


def _proc_stats(pid: int | None) -> tuple[float, float, float]:
    """(CPU seconds used, of which by its worker processes, peak RSS in MB) of a node process and its
    worker processes, from /proc."""
    if pid is None:
        return 0.0, 0.0, 0.0
    cpu = workers = peak = 0.0
    for p in [pid, *_children(pid)]:  # the children: signature recovery workers, multiprocessing's tracker
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / 100  # utime + stime in clock ticks (USER_HZ = 100)
            peak += _status_mb(p, "VmHWM")
        except (OSError, StopIteration, IndexError, ValueError):
            if p == pid:
                return 0.0, 0.0, 0.0
            continue
        cpu += used
        if p != pid:
            workers += used
    return cpu, workers, peak


def _rss_now(pid: int | None) -> float:
    """Current resident set of a node and its worker processes in MB, 0 when unknown."""
    if pid is None:
        return 0.0
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            total += _status_mb(p, "VmRSS")
        except (OSError, StopIteration, IndexError, ValueError):
            if p == pid:
                return 0.0
    return total


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} committed, {rate:,.0f} tx/s")
    sys.stderr.flush()


async def submit(url: str, raws: list[Signed], batch: int, submitted: dict[str, float],
                 rate: float | None = None) -> None:
    """Send in batches; a full mempool is back-pressure: wait and send those again (latency counts from the
    first attempt). With `rate`, the first attempts are paced at that many transactions a second."""
    async with AsyncClient(url, timeout=120) as client:
        queue = list(raws)
        paced_from, sent = time.monotonic(), 0
        while queue:
            retry: list[Signed] = []
            for i in range(0, len(queue), batch):
                chunk = queue[i : i + batch]
                if rate is not None and sent:
                    await asyncio.sleep(max(0.0, paced_from + sent / rate - time.monotonic()))
                sent += len(chunk)
                now = time.monotonic()
                answers = await client.batch([(t.method, ["0x" + t.raw.hex()]) for t in chunk])
                for item, answer in zip(chunk, answers, strict=True):
                    submitted.setdefault(item.hash, now)
                    if isinstance(answer, RpcCallError) and answer.reason == "mempool_full":
                        retry.append(item)
                    elif isinstance(answer, Exception):
                        raise RuntimeError(f"transaction {item.hash} rejected: {answer}")
                if retry:
                    await asyncio.sleep(0.2)
            queue = retry


async def follow(url: str, start_height: int, wanted: set[str], committed: dict[str, float],
                  blocks: list[tuple[int, int, int]], started: float, timeout: float, show: bool) -> None:
    async with AsyncClient(url, timeout=60) as client:
        height = start_height
        shown = -1
        deadline = time.monotonic() + timeout
        while len(committed) < len(wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(committed)} of {len(wanted)} transactions committed in {timeout}s")
            tip = (await client.status())["height"]
            while height < tip:
                height += 1
                block = await client.call("chain_getBlock", height, False)
                now = time.monotonic()
                mine = [h for h in block["txs"] if h in wanted]
                for h in mine:
                    committed[h] = now
                blocks.append((height, block["header"]["time_ms"], len(block["txs"])))
            if show and len(committed) != shown:
                shown = len(committed)
                _progress(shown, len(wanted), started)
            await asyncio.sleep(0.05)
    if show:
        sys.stderr.write("\n")


async def read_nonces(url: str, addresses: list[str]) -> list[int]:
    """Each sender's starting nonce from the chain, in batches (a soak has 100,000 senders)."""
    out: list[int] = []
    async with AsyncClient(url, timeout=60) as client:
        for i in range(0, len(addresses), 100):  # the node's batch limit
            answers = await client.batch([("account_get", [a]) for a in addresses[i : i + 100]])
            for answer in answers:
                if isinstance(answer, Exception):
                    raise RuntimeError(f"reading a sender's nonce: {answer}")
                out.append(int(answer["nonce"]))
    return out


async def count_failed(url: str, heights: list[int]) -> tuple[int, str | None]:
    """After the clock: how many of the measured blocks' transactions did not succeed, and the first error.

    A reverted call is committed too; a workload whose calls revert measures nothing useful."""
    failed, first = 0, None
    async with AsyncClient(url, timeout=120) as client:
        try:
            blocks = await client.blocks_receipts(heights)
        except RpcCallError as exc:
            raise RuntimeError(f"reading the receipts of a measured block: {exc}") from exc
        for answer in blocks:
            for item in answer["txs"]:
                if item["receipt"]["status"] != "success":
                    failed += 1
                    first = first or f"{item['tx']['hash']}: {item['receipt'].get('error')}"
    return failed, first


def run_bench(validators: int = 4, txs: int = 20_000, accounts: int | None = None, batch: int = 100,
              block_time_ms: int = 1000, timeout: float = 600.0, show_progress: bool = True,
              workload: str = "transfer", client: str = "native", duration_s: float | None = None,
              metrics: bool = True, on_clock: Callable[[list[int | None]], None] | None = None,
              off_clock: Callable[[], None] | None = None, rate: float | None = None,
              recovery_workers: int = 0) -> dict[str, Any]:
    """`txs` transactions of the workload; with `duration_s`, rounds of `txs` until that many seconds passed.

    `on_clock(pids)` is called with the nodes' pids when the clock starts and `off_clock()` when the
    last transaction committed (bench/profile_bench.py attaches a sampling profiler there)."""
    check_choice(workload, client)
    accounts = accounts or max(10, -(-txs // MAX_PER_SENDER))
    if txs > accounts * MAX_PER_SENDER:
        raise ValueError(f"{txs} transactions need at least {-(-txs // MAX_PER_SENDER)} accounts")
    # Account 0 deployed the genesis contracts and holds the plain tokens: it sets the workload up.
    with Cluster(validators, block_time_ms=block_time_ms, proxy=False, accounts=accounts + 1,
                 metrics=metrics, recovery_workers=recovery_workers) as cluster:
        admin, keys = cluster.accounts[0], cluster.accounts[1:]
        rpc = cluster.node(0).client
        nonces = asyncio.run(read_nonces(rpc.url, [to_checksum_address(k.address) for k in cluster.accounts]))
        eth_chain_id = int(rpc.call("eth_chainId"), 16) if client == "eth" else 0
        prepared = prepare(workload, client, rpc.url, cluster.chain_id, eth_chain_id, cluster.manifest.contracts or {},
                           admin, nonces[0], keys, nonces[1:])
        pids = [cluster.node(i).pid for i in range(validators)]
        cpu0 = [_proc_stats(p)[:2] for p in pids]
        latencies: list[float] = []
        blocks: list[tuple[int, int, int]] = []
        next_nonce = list(prepared.first_nonce)

        def sign_round() -> list[list[Signed]]:
            per_node: list[list[Signed]] = [[] for _ in range(validators)]
            for n in range(txs):
                sender = n % accounts
                per_node[sender % validators].append(prepared.build(sender, next_nonce[sender], n))
                next_nonce[sender] += 1
            return per_node

        rounds = 0
        per_round: list[dict[str, Any]] = []
        # Signing is the client's work, not the chain's: each round is signed before its clock runs.
        per_node = sign_round()
        if on_clock is not None:
            on_clock(pids)
        started = time.monotonic()
        elapsed = 0.0
        while True:
            wanted = {t.hash for chunk in per_node for t in chunk}
            round_start = time.monotonic()
            submitted: dict[str, float] = {}
            committed: dict[str, float] = {}
            start_height = cluster.node(0).status()["height"]

            async def drive(per_node: list[list[Signed]] = per_node, wanted: set[str] = wanted,
                            submitted: dict[str, float] = submitted, committed: dict[str, float] = committed,
                            start_height: int = start_height) -> None:
                follower = asyncio.create_task(follow(rpc.url, start_height, wanted, committed, blocks, started,
                                                      timeout, show_progress and duration_s is None))
                share = None if rate is None else rate / validators
                await asyncio.gather(*(submit(cluster.node(i).client.url, per_node[i], batch, submitted, share)
                                       for i in range(validators)))
                await follower

            asyncio.run(drive())
            rounds += 1
            last_commit = max(committed.values())
            elapsed += last_commit - round_start
            # Per round, so that a soak shows whether the rate holds and memory stays flat.
            per_round.append({"round": rounds, "tx_per_s": round(len(wanted) / max(last_commit - round_start, 1e-6), 1),
                              "rss_mb": [round(_rss_now(p), 1) for p in pids]})
            latencies += [committed[h] - submitted[h] for h in wanted]
            if duration_s is None or elapsed >= duration_s:
                break
            if show_progress:
                sys.stderr.write(f"round {rounds}: {len(latencies)} committed, "
                                 f"{len(latencies) / elapsed:,.0f} tx/s overall, "
                                 f"{per_round[-1]['tx_per_s']:,.0f} this round, RSS MB {per_round[-1]['rss_mb']}\n")
            per_node = sign_round()
        if off_clock is not None:
            off_clock()
        stats = [_proc_stats(p) for p in pids]
        failed, first_failure = asyncio.run(count_failed(rpc.url, [b[0] for b in blocks if b[2] > 0]))
        committed_total = len(latencies)
        busy = [b for b in blocks if b[2] > 0]
        times = [b[1] for b in blocks]
        cpu = [round(s[0] - c[0], 2) for s, c in zip(stats, cpu0, strict=True)]
        worker_cpu = [round(s[1] - c[1], 2) for s, c in zip(stats, cpu0, strict=True)]
        return {
            "workload": workload,
            "client": client,
            "offered_rate": rate,
            "validators": validators,
            "metrics": metrics,
            "recovery_workers": recovery_workers,
            "txs": txs * rounds,
            "rounds": rounds,
            "accounts": accounts,
            "committed": committed_total,
            "failed": failed,
            "first_failure": first_failure,
            "seconds": round(elapsed, 3),
            "tx_per_s": round(committed_total / elapsed, 1),
            "latency_p50_s": round(_percentile(latencies, 50), 3),
            "latency_p95_s": round(_percentile(latencies, 95), 3),
            "latency_p99_s": round(_percentile(latencies, 99), 3),
            "block_time_s": round((times[-1] - times[0]) / 1000 / max(len(times) - 1, 1), 3) if len(times) > 1 else 0,
            "txs_per_block": round(statistics.mean(b[2] for b in busy), 1) if busy else 0,
            "block_txs": [b[2] for b in blocks],  # every block of the measurement, in order
            "cpu_s": cpu,
            "cpu_s_per_1000_txs": [round(c * 1000 / committed_total, 3) for c in cpu],
            "worker_cpu_s_per_1000_txs": [round(c * 1000 / committed_total, 3) for c in worker_cpu],
            "rss_mb": [round(s[2], 1) for s in stats],
            "peak_rss_mb": round(max(s[2] for s in stats), 1),
            "per_round": per_round,
        }


def print_table(r: dict[str, Any]) -> None:
    rows = [
        ("workload / client", f"{r['workload']} / {r['client']}"),
        ("offered", "as fast as taken" if r.get("offered_rate") is None else f"{r['offered_rate']:,.0f} tx/s"),
        ("validators", r["validators"]), ("metrics", "on" if r.get("metrics", True) else "off"),
        ("recovery workers per node", r.get("recovery_workers", 0)),
        ("transactions", f"{r['committed']}/{r['txs']} committed, {r['failed']} failed"),
        ("committed tx/s", r["tx_per_s"]),
        ("latency p50/p95/p99 (s)", f"{r['latency_p50_s']} / {r['latency_p95_s']} / {r['latency_p99_s']}"),
        ("mean block time (s)", r["block_time_s"]), ("txs per non-empty block", r["txs_per_block"]),
        ("CPU seconds per node", ", ".join(map(str, r["cpu_s"]))),
        ("CPU s per 1,000 txs per node", ", ".join(map(str, r["cpu_s_per_1000_txs"]))),
        ("peak RSS per node (MB)", ", ".join(map(str, r["rss_mb"]))),
    ]
    if r.get("recovery_workers"):
        rows.insert(-1, ("of which its workers", ", ".join(map(str, r["worker_cpu_s_per_1000_txs"]))))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    unit = text[-1] if text and text[-1] in units else "s"
    number = text[:-1] if text and text[-1] in units else text
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 10m)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return value


def _positive_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (transactions a second, e.g. 3000)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("a rate must be positive")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("workers: 0 or more")
    return value


def cmd_bench(args: Any) -> None:
    results = []
    for i in range(args.runs):
        try:
            r = run_bench(args.validators, args.txs, args.accounts, args.batch, args.block_time_ms,
                          workload=args.workload, client=args.client, duration_s=args.duration,
                          metrics=args.metrics, rate=args.rate, recovery_workers=args.recovery_workers)
        except WorkloadError as exc:
            raise DevnetError(str(exc)) from None
        if args.runs > 1:
            print(f"run {i + 1}: {r['tx_per_s']} tx/s, p50 {r['latency_p50_s']} s, p95 {r['latency_p95_s']} s")
        results.append(r)
    out = dict(results[0])
    if args.runs > 1:
        for key in ("tx_per_s", "latency_p50_s", "latency_p95_s", "latency_p99_s", "block_time_s", "txs_per_block",
                    "peak_rss_mb", "seconds"):
            out[key] = statistics.median(r[key] for r in results)
        out["runs"] = results
    print_table(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    failed = [r for r in results if r["failed"]]
    if failed:
        raise DevnetError(f"{sum(r['failed'] for r in failed)} committed transactions did not succeed "
                          f"(first: {failed[0]['first_failure']}): the workload measures reverts")


def add_bench_command(dsub: Any) -> None:
    b = dsub.add_parser("bench", help="load a fresh local cluster with a workload and measure it")
    b.add_argument("--validators", type=int, default=4)
    b.add_argument("--txs", type=int, default=20_000, help="transactions (per round with --duration)")
    b.add_argument("--workload", choices=WORKLOADS, default="transfer",
                   help="coin transfers, TUSD token transfers, router swaps, borrows, FUSD-to-FEUR payments, "
                        "or all five in turn")
    b.add_argument("--client", choices=CLIENTS, default="native",
                   help="sign native transactions, or Ethereum type-2 ones sent with eth_sendRawTransaction")
    b.add_argument("--duration", type=_seconds, help="a soak: rounds of --txs until this long (e.g. 600s, 10m)")
    b.add_argument("--accounts", type=int, help=f"funded senders (default: txs / {MAX_PER_SENDER})")
    b.add_argument("--batch", type=int, default=100, help="transactions per JSON-RPC batch")
    b.add_argument("--rate", type=_positive_rate, help="offer this many transactions a second in all, paced "
                   "(default: as fast as the nodes take them, which measures latency in a queue)")
    b.add_argument("--recovery-workers", type=_workers, default=0,
                   help="signature recovery worker processes per node ([mempool] recovery_workers; default 0)")
    b.add_argument("--block-time-ms", type=int, default=1000)
    b.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    b.add_argument("--json", help="write the results to this file")
    b.add_argument("--no-metrics", dest="metrics", action="store_false",
                   help="run the nodes with [metrics] enabled = false (to measure what metrics cost)")
    b.set_defaults(func=cmd_bench)
