"""Committed transfers per second through Ethereum's JSON-RPC, on finchain and on two Ethereum dev nodes.

Modes, each a cell per target (medians over --runs, raw runs kept):

* ``single``: ``eth_sendRawTransaction``, one transaction per HTTP request, 10 senders each sending
  its own transactions in nonce order and awaiting each answer before the next (as Ethereum load
  generators do); the senders run concurrently;
* ``batch``: ``eth_sendRawTransaction`` in JSON-RPC batches of --batch, many senders (at most
  60 transactions each, below the mempool's nonce gap of 64), as ``finchain devnet bench``;
* ``native`` (finchain only): native-signed transfers through ``tx_send``, the same senders and
  batches as ``batch``; ``native-single`` the same, one request at a time as ``single``. The ratio
  ``eth_vs_native`` compares each Ethereum mode with the native path sent the same way: it says
  what the Ethereum envelope costs.

Targets: finchain devnets of 1 and 4 validators (devnet.cluster.Cluster in a temp dir), anvil
(``@foundry-rs/anvil-linux-amd64``) and Hardhat's node (``hardhat@2``), both installed from npm
into ~/.cache/finchain-bench on first use (FINCHAIN_BENCH_CACHE), funded from their well-known dev
mnemonic. They mine a block every --block-time-ms as finchain does (``--peer-mining interval``, the
like-for-like comparison); ``--peer-mining interval,auto`` adds their default automine (a block per
transaction) under ``NAME-automine``. A peer that cannot be installed or started is reported under
``skipped``, a mode it refuses or does not commit in --timeout under that cell's ``error``, and the
rest goes on.

Everything is signed with eth-account (EIP-1559, fees from the target's eth_gasPrice, base fee
and eth_maxPriorityFeePerGas) before the clock starts. A follower reads every new block with
``eth_getBlockByNumber`` (hashes only) until all hashes are in blocks. tx/s is count / (last
commit - first submit); latency is commit time - first submit attempt, per transaction.

    .venv/bin/python bench/eth_throughput.py --txs 3000 --validators 1,4 --peers anvil,hardhat --runs 3

One JSON document on stdout; progress on stderr. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account

from devnet.bench import MAX_PER_SENDER, _percentile
from devnet.cluster import Cluster
from devnet.homes import DEVNET_ETH_CHAIN_ID
from devnet.ports import free_block
from node.client.sdk import build_transfer
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.envelopes import tx_id

MNEMONIC = "test test test test test test test test test test test junk"
SINGLE_SENDERS = 10
# Refusals that only say "not now": the sender waits a little and sends the same bytes again.
BACK_PRESSURE = {"mempool_full", "nonce_too_high", "future_quota_full"}
CACHE = Path(os.environ.get("FINCHAIN_BENCH_CACHE", Path.home() / ".cache" / "finchain-bench"))
ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64"
HARDHAT_CONFIG = """// Written by bench/eth_throughput.py: the default dev node with as many funded accounts as asked,
// mining on each transaction (BENCH_INTERVAL_MS 0, the default) or on an interval.
const interval = Number(process.env.BENCH_INTERVAL_MS || 0);
module.exports = { networks: { hardhat: {
  accounts: { count: Number(process.env.BENCH_ACCOUNTS || 20) },
  mining: interval ? { auto: false, interval } : { auto: true },
} } };
"""


class PeerUnavailable(Exception):
    """A peer node could not be installed or started."""


class Refused(Exception):
    """The target refused a transaction for good."""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    urls: list[str]  # where senders go (round robin over senders); the follower reads urls[0]
    keys: list[bytes]  # funded secp256k1 secrets


# -- JSON-RPC ------------------------------------------------------------------------------------------

class Rpc:
    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._id = 0

    async def close(self) -> None:
        await self.session.close()

    async def _post(self, payload: Any) -> Any:
        async with self.session.post(self.url, json=payload) as resp:
            return await resp.json(content_type=None)

    def _req(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._id += 1
        return {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}

    async def call(self, method: str, *params: Any) -> Any:
        answer = await self._post(self._req(method, list(params)))
        if "error" in answer:
            raise Refused(f"{method}: {answer['error']}")
        return answer["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """The answers in the order of the calls (each has "result" or "error")."""
        reqs = [self._req(m, p) for m, p in calls]
        answers = await self._post(reqs)
        if not isinstance(answers, list):
            raise Refused(f"batch answered with {answers}")
        by_id = {a.get("id"): a for a in answers}
        return [by_id[r["id"]] for r in reqs]


def _back_pressure(error: dict[str, Any]) -> bool:
    data = error.get("data")
    return isinstance(data, dict) and data.get("reason") in BACK_PRESSURE


# -- signing ---------------------------------------------------------------------------------------------

async def _fees(url: str) -> tuple[int, int, int]:
    """(eth chain id, max fee per gas, priority fee per gas) as the target advises them."""
    rpc = Rpc(url, 30)
    try:
        chain_id = int(await rpc.call("eth_chainId"), 16)
        gas_price = int(await rpc.call("eth_gasPrice"), 16)
        base = int((await rpc.call("eth_getBlockByNumber", "latest", False)).get("baseFeePerGas", "0x0"), 16)
        try:
            tip = int(await rpc.call("eth_maxPriorityFeePerGas"), 16)
        except Refused:
            tip = max(gas_price - base, 0)
        return chain_id, max(2 * base + tip, gas_price), tip
    finally:
        await rpc.close()


async def _nonces(url: str, addresses: list[str]) -> list[int]:
    rpc = Rpc(url, 30)
    try:
        out = []
        for i in range(0, len(addresses), 100):  # the node's batch limit
            answers = await rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in addresses[i : i + 100]])
            out += [int(a["result"], 16) for a in answers]
        return out
    finally:
        await rpc.close()


def _plan(txs: int, senders: int) -> list[int]:
    """How many transactions each sender sends."""
    return [txs // senders + (1 if i < txs % senders else 0) for i in range(senders)]


async def sign_eth(target: Target, txs: int, senders: int) -> list[list[tuple[str, bytes]]]:
    """Per sender, its (hash, raw) transfers in nonce order, each to the next sender."""
    accounts = [Account.from_key(k) for k in target.keys[:senders]]
    chain_id, max_fee, tip = await _fees(target.urls[0])
    nonces = await _nonces(target.urls[0], [a.address for a in accounts])
    out = []
    for i, (acct, count) in enumerate(zip(accounts, _plan(txs, senders), strict=True)):
        to = accounts[(i + 1) % senders].address
        mine = []
        for n in range(count):
            signed = acct.sign_transaction({"type": 2, "chainId": chain_id, "nonce": nonces[i] + n, "to": to,
                                            "value": 1, "gas": 21_000, "maxFeePerGas": max_fee,
                                            "maxPriorityFeePerGas": tip})
            mine.append(("0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction)))
        out.append(mine)
    return out


async def sign_native(target: Target, chain_id: str, txs: int, senders: int) -> list[list[tuple[str, bytes]]]:
    keys = [PrivateKey(k) for k in target.keys[:senders]]
    addresses = [to_checksum_address(k.address) for k in keys]
    nonces = await _nonces(target.urls[0], addresses)
    out = []
    for i, (key, count) in enumerate(zip(keys, _plan(txs, senders), strict=True)):
        to = addresses[(i + 1) % senders]
        mine = []
        for n in range(count):
            tx = build_transfer(key, chain_id, nonces[i] + n, to, 1)
            mine.append(("0x" + tx_id(tx.raw).hex(), tx.raw))
        out.append(mine)
    return out


# -- submitting and following ----------------------------------------------------------------------------

async def send_single(url: str, mine: list[tuple[str, bytes]], submitted: dict[str, float],
                      method: str = "eth_sendRawTransaction") -> None:
    """One sender: each transaction in its own request, the next only after the answer."""
    rpc = Rpc(url)
    try:
        for h, raw in mine:
            submitted[h] = time.monotonic()
            while True:
                answer = await rpc._post(rpc._req(method, ["0x" + raw.hex()]))
                if "error" not in answer:
                    break
                if not _back_pressure(answer["error"]):
                    raise Refused(f"transaction {h} refused: {answer['error']}")
                await asyncio.sleep(0.05)
    finally:
        await rpc.close()


async def send_batches(url: str, method: str, items: list[tuple[str, bytes]], batch: int,
                       submitted: dict[str, float]) -> None:
    """Batches in the given order; refused for now are sent again (latency counts from the first attempt)."""
    rpc = Rpc(url)
    try:
        queue = list(items)
        while queue:
            retry = []
            for i in range(0, len(queue), batch):
                chunk = queue[i : i + batch]
                now = time.monotonic()
                answers = await rpc.batch([(method, ["0x" + raw.hex()]) for _, raw in chunk])
                for item, answer in zip(chunk, answers, strict=True):
                    submitted.setdefault(item[0], now)
                    if "error" in answer:
                        if not _back_pressure(answer["error"]):
                            raise Refused(f"transaction {item[0]} refused: {answer['error']}")
                        retry.append(item)
            if retry:
                await asyncio.sleep(0.2)
            queue = retry
    finally:
        await rpc.close()


async def follow(url: str, start: int, wanted: set[str], committed: dict[str, float], timeout: float) -> None:
    rpc = Rpc(url, 60)
    height = start
    deadline = time.monotonic() + timeout
    try:
        while len(committed) < len(wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(committed)} of {len(wanted)} transactions committed in {timeout}s")
            tip = int(await rpc.call("eth_blockNumber"), 16)
            while height < tip:
                last = min(tip, height + 50)
                blocks = await rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                          for n in range(height + 1, last + 1)])
                now = time.monotonic()
                for b in blocks:
                    for h in b["result"]["transactions"]:
                        if h in wanted:
                            committed.setdefault(h, now)
                height = last
            await asyncio.sleep(0.05)
    finally:
        await rpc.close()


async def measure(target: Target, mode: str, txs: int, batch: int, timeout: float,
                  native_chain_id: str | None = None) -> dict[str, Any]:
    one_by_one = mode in ("single", "native-single")
    senders = SINGLE_SENDERS if one_by_one else max(SINGLE_SENDERS, -(-txs // MAX_PER_SENDER))
    if senders > len(target.keys):
        raise ValueError(f"{target.name} has {len(target.keys)} funded accounts, {mode} needs {senders}")
    native = mode in ("native", "native-single")
    if native:
        if native_chain_id is None:
            raise ValueError(f"{target.name} has no native transactions")
        plan = await sign_native(target, native_chain_id, txs, senders)
    else:
        plan = await sign_eth(target, txs, senders)
    wanted = {h for mine in plan for h, _ in mine}
    urls = target.urls
    start = int(await _once(urls[0], "eth_blockNumber"), 16)
    submitted: dict[str, float] = {}
    committed: dict[str, float] = {}
    started = time.monotonic()
    follower = asyncio.create_task(follow(urls[0], start, wanted, committed, timeout))
    if one_by_one:
        method = "tx_send" if native else "eth_sendRawTransaction"
        senders_done = asyncio.gather(*(send_single(urls[i % len(urls)], mine, submitted, method)
                                        for i, mine in enumerate(plan)))
    else:
        # Interleaved over senders in nonce order (as `finchain devnet bench`), each sender to one node.
        method = "tx_send" if mode == "native" else "eth_sendRawTransaction"
        per_url: list[list[tuple[str, bytes]]] = [[] for _ in urls]
        for n in range(max(len(m) for m in plan)):
            for i, mine in enumerate(plan):
                if n < len(mine):
                    per_url[i % len(urls)].append(mine[n])
        senders_done = asyncio.gather(*(send_batches(u, method, items, batch, submitted)
                                        for u, items in zip(urls, per_url, strict=True) if items))
    try:
        await senders_done
        await follower
    finally:
        follower.cancel()
    first = min(submitted.values())
    elapsed = max(committed.values()) - first
    latencies = [committed[h] - submitted[h] for h in wanted]
    return {"txs": txs, "senders": senders, "committed": len(committed), "seconds": round(elapsed, 3),
            "tx_per_s": round(len(committed) / elapsed, 1),
            "latency_p50_s": round(_percentile(latencies, 50), 3),
            "latency_p95_s": round(_percentile(latencies, 95), 3),
            "setup_to_first_submit_s": round(first - started, 3)}


async def _once(url: str, method: str, *params: Any) -> Any:
    rpc = Rpc(url, 30)
    try:
        return await rpc.call(method, *params)
    finally:
        await rpc.close()


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs)
                           for k in ("tx_per_s", "latency_p50_s", "latency_p95_s", "seconds")}
    out["txs"], out["senders"] = runs[0]["txs"], runs[0]["senders"]
    out["runs"] = runs
    return out


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# -- peers -------------------------------------------------------------------------------------------------

def _npm_install(folder: Path, spec: str, package: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "node_modules" / package).exists():
        if shutil.which("npm") is None:
            raise PeerUnavailable("npm is not installed")
        log(f"installing {spec} into {folder}")
        proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), spec],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise PeerUnavailable(f"npm install {spec} failed: {proc.stderr[-500:]}")
    return folder


def _dev_keys(count: int) -> list[bytes]:
    Account.enable_unaudited_hdwallet_features()
    return [bytes(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key) for i in range(count)]


class Peer:
    """An Ethereum dev node in its own process, stopped on exit."""

    def __init__(self, name: str, accounts: int, workdir: Path, interval_ms: int) -> None:
        self.name = name
        self.interval_ms = interval_ms  # 0: automine, a block per transaction
        self.accounts = accounts
        self.port = free_block(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}-{interval_ms}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> tuple[list[str], Path, dict[str, str]]:
        env = dict(os.environ)
        if self.name == "anvil":
            folder = _npm_install(CACHE / "anvil", ANVIL_PACKAGE, ANVIL_PACKAGE)
            binary = folder / "node_modules" / ANVIL_PACKAGE / "bin" / "anvil"
            mining = ["--block-time", f"{self.interval_ms / 1000:g}"] if self.interval_ms else []
            return ([str(binary), "--port", str(self.port), "--accounts", str(self.accounts), "--silent", *mining],
                    folder, env)
        if self.name == "hardhat":
            folder = _npm_install(CACHE / "hardhat", "hardhat@2", "hardhat")
            (folder / "hardhat.config.js").write_text(HARDHAT_CONFIG)
            env.update(BENCH_ACCOUNTS=str(self.accounts), BENCH_INTERVAL_MS=str(self.interval_ms),
                       HARDHAT_DISABLE_TELEMETRY_PROMPT="true")
            return [str(folder / "node_modules" / ".bin" / "hardhat"), "node", "--port", str(self.port)], folder, env
        raise PeerUnavailable(f"unknown peer {self.name}")

    def __enter__(self) -> Peer:
        cmd, cwd, env = self._command()
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.__exit__()
                raise PeerUnavailable(f"{self.name} exited: {self.log_path.read_text()[-500:]}")
            try:
                asyncio.run(_once(self.url, "eth_chainId"))
                return self
            except (aiohttp.ClientError, OSError):
                time.sleep(0.3)
        self.__exit__()
        raise PeerUnavailable(f"{self.name} did not answer on {self.url} in 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- the whole run ------------------------------------------------------------------------------------------

def run_cells(target: Target, modes: list[str], args: argparse.Namespace,
              native_chain_id: str | None = None) -> dict[str, Any]:
    """Every mode, run after run (the modes interleaved, so a drift of the machine touches them alike).
    On a peer, a mode it refuses (Hardhat's automine takes no nonce out of order, and answers a batch's
    members concurrently) or does not commit in --timeout (anvil's automine stopped mining with thousands
    pending) is reported as such; on finchain either is a failure of the bench."""
    raw: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    failed: dict[str, str] = {}
    for k in range(args.runs):
        for mode in modes:
            if mode in failed:
                continue
            try:
                r = asyncio.run(measure(target, mode, args.txs, args.batch, args.timeout, native_chain_id))
            except (Refused, TimeoutError) as exc:
                if native_chain_id is not None:
                    raise
                log(f"{target.name} {mode} failed: {exc}")
                failed[mode] = str(exc)[:400]
                continue
            log(f"{target.name} {mode} run {k + 1}: {r['tx_per_s']} tx/s, p50 {r['latency_p50_s']} s, "
                f"p95 {r['latency_p95_s']} s")
            raw[mode].append(r)
    out: dict[str, Any] = {m: median_cell(runs) for m, runs in raw.items() if m not in failed}
    out.update({m: {"error": why} for m, why in failed.items()})
    return out


def senders_needed(txs: int) -> int:
    return max(SINGLE_SENDERS, -(-txs // MAX_PER_SENDER))


def run_finchain(validators: int, modes: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with Cluster(validators, block_time_ms=args.block_time_ms, proxy=False, accounts=senders_needed(args.txs) + 1,
                 base_dir=workdir / f"finchain-{validators}") as cluster:
        if args.nonce_gap:
            # How far ahead of its nonce a sender may queue: with one request at a time and in order, a
            # sender's pending run is capped by it, so it caps the ordered senders' rate per block.
            for i in range(validators):
                cluster.stop(i)
                cfg = cluster.node(i).home / "config" / "config.toml"
                cfg.write_text(re.sub(r"(?m)^nonce_gap = \d+$", f"nonce_gap = {args.nonce_gap}", cfg.read_text()))
                cluster.start(i)
        # Account 0 deploys the standard contracts at genesis and has a part in the financial flow: left out.
        target = Target(f"finchain-{validators}v", [cluster.node(i).rpc_url for i in range(validators)],
                        [k.secret for k in cluster.accounts[1:]])
        # The native path driven the same ways, for the ratios: batches, and one request at a time.
        natives = (["native"] if "batch" in modes else []) + (["native-single"] if "single" in modes else [])
        cells = run_cells(target, [*modes, *natives], args, cluster.chain_id)
        cells["block_time_ms"] = args.block_time_ms
        cells["nonce_gap"] = args.nonce_gap or "default"
        return cells


def run_peer(name: str, modes: list[str], args: argparse.Namespace, workdir: Path, interval_ms: int) -> dict[str, Any]:
    count = senders_needed(args.txs)
    with Peer(name, count, workdir, interval_ms) as peer:
        label = name if interval_ms else f"{name}-automine"
        return run_cells(Target(label, [peer.url], _dev_keys(count)), modes, args)


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or "tx_per_s" not in a or "tx_per_s" not in b:
        return None
    return round(a["tx_per_s"] / b["tx_per_s"], 3)


def ratios(results: dict[str, Any], validators: list[int], modes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"eth_vs_native": {}}
    for v in validators:
        cells = results["finchain"][str(v)]
        # Each Ethereum mode against the native path sent the same way.
        out["eth_vs_native"][str(v)] = {m: ratio(cells.get(m), cells.get("native-single" if m == "single" else
                                                                         "native")) for m in modes}
    for peer in sorted(k for k in results if k != "finchain"):
        out[f"finchain_vs_{peer}"] = {str(v): {m: ratio(results["finchain"][str(v)].get(m), results[peer].get(m))
                                               for m in modes} for v in validators}
    return out


def _list(text: str, allowed: set[str] | None = None) -> list[str]:
    items = [] if text == "none" else [s.strip() for s in text.split(",") if s.strip()]
    if allowed is not None and set(items) - allowed:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(sorted(set(items) - allowed))}")
    return items


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Batched, a few thousand transfers fit in one or two 1 s blocks and the number says more of
    # the block's phase than of the node: 10,000 spans several blocks.
    ap.add_argument("--txs", type=int, default=10_000, help="transfers per cell and run")
    ap.add_argument("--validators", default="1,4", help="finchain validator counts, comma separated")
    ap.add_argument("--peers", default="anvil,hardhat", type=lambda s: _list(s, {"anvil", "hardhat"}),
                    help="anvil, hardhat, both or none")
    ap.add_argument("--modes", default="single,batch", type=lambda s: _list(s, {"single", "batch"}))
    ap.add_argument("--runs", type=int, default=3, help="runs per cell; the median is reported")
    ap.add_argument("--batch", type=int, default=100, help="transactions per JSON-RPC batch")
    ap.add_argument("--block-time-ms", type=int, default=1000, help="finchain's block time")
    ap.add_argument("--peer-mining", default="interval", type=lambda s: _list(s, {"interval", "auto"}),
                    help="interval: a peer mines a block every --block-time-ms, as finchain (its results under "
                         "its name); auto: its default automine, a block per transaction (under NAME-automine)")
    ap.add_argument("--nonce-gap", type=int, default=0,
                    help="finchain's [mempool] nonce_gap for this run (default: the node's, 64)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take to commit")
    args = ap.parse_args(argv)
    # A terminated bench still stops its devnet and peers (the with blocks' exits run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    validators = [int(v) for v in args.validators.split(",")]
    results: dict[str, Any] = {"finchain": {}}
    skipped: dict[str, str] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="finchain-ethbench-") as tmp:
        for v in validators:
            log(f"finchain, {v} validator(s)")
            results["finchain"][str(v)] = run_finchain(v, args.modes, args, Path(tmp))
        for name in args.peers:
            for mining in args.peer_mining:
                key = name if mining == "interval" else f"{name}-automine"
                log(key)
                try:
                    results[key] = run_peer(name, args.modes, args, Path(tmp),
                                            args.block_time_ms if mining == "interval" else 0)
                except PeerUnavailable as exc:
                    log(f"{key} skipped: {exc}")
                    skipped[key] = str(exc)
    doc = {"txs": args.txs, "runs": args.runs, "batch": args.batch, "single_senders": SINGLE_SENDERS,
           "modes": args.modes, "block_time_ms": args.block_time_ms, "peer_mining": args.peer_mining,
           "eth_chain_id": DEVNET_ETH_CHAIN_ID, "results": results,
           "ratios": ratios(results, validators, args.modes), "skipped": skipped,
           "wall_s": round(time.monotonic() - started, 1)}
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
