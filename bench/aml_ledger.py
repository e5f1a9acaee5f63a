"""A labelled synthetic ledger for the AML monitor, replayed onto a devnet, and the scorer of its alerts.

    .venv/bin/python bench/aml_ledger.py generate --txs 100000 --patterns 220 --validators 4 --out DIR
    .venv/bin/python bench/aml_ledger.py score --labels DIR/labels.json --monitor http://127.0.0.1:PORT
    .venv/bin/python bench/aml_ledger.py score --labels DIR/labels.json --alerts alerts.json

`generate` starts a fresh devnet (with --keep-chain its homes are copied to DIR/devnet, which
`finchain devnet up --home DIR/devnet` restarts, for a monitor to follow), or uses a running one
(--devnet HOME), funds
thousands of ordinary users and the planted accounts from the genesis accounts (the setup), then
replays slot by slot: each slot's transactions (signed in advance) go out in JSON-RPC batches and
the next slot starts once all of them committed. It writes DIR/labels.json (the planted instances
with their addresses, transactions and heights; the watchlist; the setup's heights),
DIR/rules.toml (the rule parameters the ledger is designed for, the watchlist included) and prints
a JSON summary: counts, times, failures, and how close the ordinary users came to the rules.
The plan and its reasons are in finance/monitor/synth/plan.py.

`score` prints recall and precision per typology as JSON (finance/monitor/synth/score.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devnet.cluster import Cluster
from devnet.homes import Manifest
from finance.monitor.synth.check import cross_check
from finance.monitor.synth.params import TYPOLOGIES, rules_toml
from finance.monitor.synth.plan import COIN, Move, Plan, build_plan, quiet_check
from finance.monitor.synth.score import ScoreError, fetch_alerts, score
from node.client.sdk import AsyncClient, Client, RpcCallError, build_call, build_transfer
from node.types.crypto import PrivateKey
from vm import Address

FUNDERS = 32  # genesis accounts that fund everyone
PER_SENDER = 60  # per wave, below the mempool's nonce gap of 64
TOKEN_GAS = 200_000
BATCH = 100  # the node's limit of requests per JSON-RPC batch


class Target:
    """The network a ledger is replayed onto: its nodes' RPC, its chain id, its funded genesis accounts and
    the stablecoin (the first account holds its float)."""

    def __init__(self, urls: list[str], chain_id: str, funders: list[PrivateKey], token: str) -> None:
        self.urls, self.chain_id, self.funders, self.token = urls, chain_id, funders, token

    @staticmethod
    def of_cluster(c: Cluster) -> Target:
        if c.manifest is None or not c.manifest.contracts:
            raise SystemExit("the devnet has no manifest or no standard contracts")
        return Target([n.rpc_url for n in c.nodes], c.chain_id, c.accounts[:FUNDERS], c.manifest.contracts["fusd"])

    @staticmethod
    def of_devnet(home: Path) -> Target:
        m = Manifest.load(home)
        if not m.contracts or "fusd" not in m.contracts:
            raise SystemExit(f"{home}: a devnet without the standard contracts")
        keys = [PrivateKey.from_hex(a["private_key"]) for a in m.accounts]
        return Target([n.rpc for n in m.nodes], m.chain_id, keys[:FUNDERS], m.contracts["fusd"])


class Replay:
    """Signs a plan's moves in order and sends them wave by wave, noting the height each commits at."""

    def __init__(self, target: Target, plan: Plan) -> None:
        self.target = target
        self.plan = plan
        self.token = bytes.fromhex(target.token[2:])
        self.urls = target.urls
        node0 = Client(self.urls[0])
        # The funders may have spent nonces (the first account deploys the standard contracts).
        self.nonces = [node0.next_nonce(a) if i < plan.funders else 0 for i, a in enumerate(plan.addresses)]
        self.height_of: dict[str, int] = {}
        self.cursor = node0.status()["height"]
        self.clients: list[AsyncClient] = []

    def sign(self, m: Move) -> tuple[str, bytes]:
        key, nonce = self.plan.keys[m.sender], self.nonces[m.sender]
        self.nonces[m.sender] = nonce + 1
        to = self.plan.keys[m.receiver].address
        if m.asset == COIN:
            tx = build_transfer(key, self.target.chain_id, nonce, to, m.amount)
        else:
            tx = build_call(key, self.target.chain_id, nonce, self.token, "transfer", [Address(to), m.amount],
                            gas_limit=TOKEN_GAS)
        return "0x" + tx.hash.hex(), tx.raw

    @staticmethod
    async def _batch(client: AsyncClient, chunk: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """Send one batch; the items a full mempool turned away (back-pressure: send them again)."""
        retry = []
        answers = await client.batch([("tx_send", ["0x" + raw.hex()]) for _, raw in chunk])
        for item, answer in zip(chunk, answers, strict=True):
            if isinstance(answer, RpcCallError) and answer.reason == "mempool_full":
                retry.append(item)
            elif isinstance(answer, Exception):
                raise RuntimeError(f"transaction {item[0]} refused: {answer}")
        return retry

    async def _send(self, client: AsyncClient, items: list[tuple[str, bytes]]) -> None:
        queue = items
        while queue:
            # A few batches in flight per node; a sender's nonces may arrive out of order (within the gap).
            chunks = [queue[i : i + BATCH] for i in range(0, len(queue), BATCH)]
            retry: list[tuple[str, bytes]] = []
            for i in range(0, len(chunks), 4):
                for left in await asyncio.gather(*(self._batch(client, c) for c in chunks[i : i + 4])):
                    retry.extend(left)
            if retry:
                await asyncio.sleep(0.2)
            queue = retry

    async def wave(self, signed: list[tuple[int, str, bytes]], timeout: float = 300.0) -> None:
        """Send (sender, hash, raw) items, each sender's to one node, and wait until all committed."""
        per_node: list[list[tuple[str, bytes]]] = [[] for _ in self.urls]
        for sender, h, raw in signed:
            per_node[sender % len(self.urls)].append((h, raw))
        await asyncio.gather(*(self._send(c, items) for c, items in zip(self.clients, per_node, strict=True)))
        wanted = {h for _, h, _ in signed}
        deadline = time.monotonic() + timeout
        while not wanted.issubset(self.height_of):
            if time.monotonic() > deadline:
                missing = len(wanted - set(self.height_of))
                raise TimeoutError(f"{missing} of {len(wanted)} transactions not committed after {timeout}s")
            tip = (await self.clients[0].status())["height"]
            while self.cursor < tip:
                self.cursor += 1
                block = await self.clients[0].call("chain_getBlock", self.cursor, False)
                for h in block["txs"]:
                    self.height_of[h.lower()] = self.cursor
            await asyncio.sleep(0.02)

    async def waves(self, signed: list[tuple[int, str, bytes]]) -> None:
        rest = signed
        while rest:
            count: Counter[int] = Counter()
            now, later = [], []
            for item in rest:
                count[item[0]] += 1
                (now if count[item[0]] <= PER_SENDER else later).append(item)
            await self.wave(now)
            rest = later

    async def failed(self, hashes: list[str]) -> list[str]:
        async def check(k: int, chunk: list[str]) -> list[str]:
            answers = await self.clients[k % len(self.clients)].batch([("tx_get", [h]) for h in chunk])
            return [h for h, a in zip(chunk, answers, strict=True)
                    if isinstance(a, Exception) or (a.get("receipt") or {}).get("status") != "success"]

        chunks = [hashes[i : i + BATCH] for i in range(0, len(hashes), BATCH)]
        out: list[str] = []
        for i in range(0, len(chunks), 8):  # two batches in flight per node of four
            for bad in await asyncio.gather(*(check(i + j, c) for j, c in enumerate(chunks[i : i + 8]))):
                out.extend(bad)
        return out


async def replay(target: Target, plan: Plan) -> dict[str, Any]:
    r = Replay(target, plan)
    t0 = time.monotonic()
    dist = [(m.sender, *r.sign(m)) for m in plan.distribute]
    funding = [(m.sender, *r.sign(m)) for m in plan.funding]
    slots = [[(m.sender, *r.sign(m)) for m in moves] for moves in plan.slots]
    signed_s = time.monotonic() - t0
    r.clients = [AsyncClient(u, timeout=120) for u in r.urls]
    try:
        t1 = time.monotonic()
        await r.waves(dist)
        await r.waves(funding)
        setup_to = max((r.height_of[h] for _, h, _ in dist + funding), default=r.cursor)
        t2 = time.monotonic()
        for k, items in enumerate(slots):
            await r.wave(items)
            if k % 10 == 0:
                sys.stderr.write(f"\rslot {k + 1}/{len(slots)}, height {r.cursor}")
        sys.stderr.write("\n")
        t3 = time.monotonic()
        every = [h for _, h, _ in dist + funding] + [h for items in slots for _, h, _ in items]
        failed = await r.failed(every)
    finally:
        for c in r.clients:
            await c.close()
    return {"replay": r, "every": every, "dist": dist, "funding": funding, "slots": slots, "setup_to": setup_to,
            "failed": failed,
            "seconds": {"sign": round(signed_s, 1), "setup": round(t2 - t1, 1), "traffic": round(t3 - t2, 1),
                        "verify": round(time.monotonic() - t3, 1)}}


def write_rules(out: Path, plan: Plan, token: str) -> dict[str, tuple[str, str]]:
    """The rules file, written before the replay starts, so a monitor can be started with it first."""
    watch = {plan.addresses[a]: why for a, why in sorted(plan.watchlist.items())}
    note = (f"Designed for the synthetic ledger of {out / 'labels.json'} (bench/aml_ledger.py):\n"
            f"windows in blocks over a run of {len(plan.slots)} slots; dormancy {plan.params.dormant_blocks} blocks.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.toml").write_text(rules_toml(plan.params, token, watch, note))
    return watch


def write_outputs(out: Path, target: Target, plan: Plan, run: dict[str, Any]) -> dict[str, Any]:
    token = target.token
    height_of: dict[str, int] = run["replay"].height_of
    failed = set(run["failed"])
    addr = plan.addresses
    txs: dict[int, list[str]] = defaultdict(list)
    committed: list[tuple[int, Move]] = []
    for m, (_, h, _) in zip(plan.funding, run["funding"], strict=True):
        committed.append((height_of[h], m))
    for moves, items in zip(plan.slots, run["slots"], strict=True):
        for m, (_, h, _) in zip(moves, items, strict=True):
            committed.append((height_of[h], m))
            if m.instance >= 0:
                txs[m.instance].append(h)
    windows = plan.params.windows()
    instances, spread = [], []
    for k, inst in enumerate(plan.instances):
        heights = [height_of[h] for h in txs[k]]
        entry = {"typology": inst.typology, "asset": "FIN" if inst.asset == COIN else token,
                 "addresses": [addr[a] for a in inst.subjects], "txs": txs[k],
                 "from_height": min(heights), "to_height": max(heights)}
        if failed.intersection(txs[k]):
            entry["failed_txs"] = sorted(failed.intersection(txs[k]))
        instances.append(entry)
        if windows[inst.typology] and entry["to_height"] - entry["from_height"] >= windows[inst.typology]:
            spread.append(k)
    p = plan.params
    watch = write_rules(out, plan, token)
    setup_from = min((height_of[h] for _, h, _ in run["dist"] + run["funding"]), default=0)
    labels = {
        "chain_id": target.chain_id, "token": token, "scored_from_height": run["setup_to"] + 1,
        "setup": {"from_height": setup_from, "to_height": run["setup_to"], "funders": addr[: plan.funders],
                  "txs": len(run["dist"]) + len(run["funding"])},
        "background": {"users": len(plan.users), "txs": sum(1 for _, m in committed if m.instance == -1) -
                       len(run["funding"])},
        "windows": windows, "watchlist": [{"address": a, "source": s, "reason": r} for a, (s, r) in watch.items()],
        "instances": instances,
    }
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    total = plan.count()
    return {
        "txs": total, "committed": sum(1 for h in run["every"] if h in height_of), "failed": len(failed),
        "heights": {"setup": [setup_from, run["setup_to"]], "last": run["replay"].cursor},
        "tx_per_s_traffic": round(sum(len(s) for s in plan.slots) / max(run["seconds"]["traffic"], 1e-6), 1),
        "seconds": run["seconds"], "users": len(plan.users),
        "planted": dict(Counter(i.typology for i in plan.instances)),
        "instances_wider_than_their_window": spread,
        "background_check": quiet_check(plan, committed),
        "rule_margins": cross_check(plan, committed),
        "limits": {"velocity": p.velocity_min_movements, "fan": p.fan_min_counterparties,
                   "smallest_amount_threshold": min(p.fan_min_amount, p.graph_min_amount)},
        "labels": str(out / "labels.json"), "rules": str(out / "rules.toml"),
    }


def generate(target: Target, a: argparse.Namespace, out: Path) -> dict[str, Any]:
    plan = build_plan(a.seed, target.funders, a.txs, a.patterns, a.slots)
    write_rules(out, plan, target.token)
    run = asyncio.run(replay(target, plan))
    return write_outputs(out, target, plan, run)


def cmd_generate(a: argparse.Namespace) -> None:
    out = Path(a.out).resolve()
    started = time.monotonic()
    if a.devnet:
        summary = generate(Target.of_devnet(Path(a.devnet)), a, out)
    else:
        base = Path(tempfile.mkdtemp(prefix="aml-ledger-"))
        try:
            with Cluster(a.validators, block_time_ms=a.block_time, proxy=False, accounts=FUNDERS,
                         base_dir=base) as c:
                summary = generate(Target.of_cluster(c), a, out)
            if a.keep_chain:
                shutil.copytree(base / "devnet", out / "devnet", dirs_exist_ok=True)
                # The manifest names the homes by absolute path: point it at the copy, which
                # `finchain devnet up --home OUT/devnet` then restarts (the same chain, on).
                manifest = out / "devnet" / "devnet.json"
                manifest.write_text(manifest.read_text().replace(str(base / "devnet"), str(out / "devnet")))
                summary["chain"] = str(out / "devnet")
        finally:
            shutil.rmtree(base, ignore_errors=True)
    summary["seconds"]["total"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=1))
    if summary["failed"]:
        raise SystemExit(f"{summary['failed']} transactions failed")


def cmd_score(a: argparse.Namespace) -> None:
    labels = json.loads(Path(a.labels).read_text())
    try:
        if a.alerts:
            raw = json.loads(Path(a.alerts).read_text())
            alerts = raw.get("alerts", raw) if isinstance(raw, dict) else raw
        else:
            alerts = fetch_alerts(a.monitor)
        result = score(labels, alerts, include_setup=a.include_setup, slack=a.slack)
    except ScoreError as exc:
        raise SystemExit(f"score: {exc}") from None
    print(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="replay a labelled ledger onto a fresh devnet")
    g.add_argument("--txs", type=int, default=100_000, help="transactions in all (about; setup included)")
    g.add_argument("--patterns", type=int, default=220, help=f"planted instances, spread over {len(TYPOLOGIES)}")
    g.add_argument("--seed", default="aml ledger")
    g.add_argument("--validators", type=int, default=4)
    g.add_argument("--block-time", type=int, default=300, help="milliseconds")
    g.add_argument("--slots", type=int, default=100, help="replay steps after the setup (one block or more each)")
    g.add_argument("--out", default=".")
    g.add_argument("--keep-chain", action="store_true", help="copy the devnet's homes to OUT/devnet")
    g.add_argument("--devnet", metavar="HOME", help="replay onto this running devnet (its devnet.json) instead of "
                   "a fresh one; its first accounts are the funders")
    g.set_defaults(func=cmd_generate)
    s = sub.add_parser("score", help="recall and precision of a monitor's alerts per typology")
    s.add_argument("--labels", required=True)
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--monitor", help="the monitor's JSON-RPC URL (aml_alerts)")
    src.add_argument("--alerts", help="a JSON file: a list of alerts or {\"alerts\": [...]}")
    s.add_argument("--include-setup", action="store_true", help="score the setup's alerts too")
    s.add_argument("--slack", type=int, default=0, help="blocks added to every rule's window")
    s.set_defaults(func=cmd_score)
    a = ap.parse_args()
    if getattr(a, "patterns", 1) < 0 or getattr(a, "txs", 1) < 0:
        ap.error("--txs and --patterns are counts")
    a.func(a)


if __name__ == "__main__":
    main()
