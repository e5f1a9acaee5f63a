"""Benchmark of compliance-gated transfers against plain ones: what the registry checks cost.

Three transfers of one unit between verified holders:

* ``token``: the plain token (``tusd``), no check;
* ``gated``: the regulated stablecoin (``fusd``) with verified-only transfers: the registry's
  ``check`` for the sender and for the receiver;
* ``asset``: the tokenized bond (``bond``): the registry's ``check`` and the ``country`` claim of
  the receiver, the freeze, lock-up and holder rules.

Three measurements, medians over --runs:

* ``vm``: the VM alone over an in-memory state (vm/testing.py), call by call;
* ``node``: the node's block builder over LevelDB (as bench/vm_bench.py): one block of signed
  transfers executed, fees, receipts and the state root included, then committed;
* ``devnet``: a 4-validator devnet of real processes: signed transfers sent over JSON-RPC,
  committed transfers per second.

    .venv/bin/python bench/gated_transfer.py                       # vm and node, 2,000 transfers, 3 runs
    .venv/bin/python bench/gated_transfer.py --mode devnet --runs 3 --users 40 --per-user 50

Not a test: the numbers depend on the machine. The ratio column is each kind over ``token``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vm_bench import NodeWorld

from devnet.bench import follow, submit
from devnet.cluster import Cluster
from devnet.contracts import stablecoin_args
from devnet.workloads import Signed
from node.client.sdk import build_call
from node.types.crypto import to_checksum_address
from vm import Address
from vm.contracts import source
from vm.testing import Chain

KINDS = ("token", "gated", "asset")
CONTRACT = {"token": "tusd", "gated": "fusd", "asset": "bond"}
TOPICS = ["kyc.basic"]
E18 = 10**18
CLAIM_LIFE = 10**9  # blocks: the claims outlive the benchmark


def ref(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def setup_calls(admin: Any, issuer: Any, minter: Any, users: list[Any], c: dict[str, Any]) -> list[tuple]:
    """(sender, contract, method, args): stablecoin transfers become verified-only, every user is
    verified (kyc.basic, country DE) and holds each of the three."""
    calls: list[tuple] = [(admin, c["fusd"], "set_compliance", [c["identity"], TOPICS, True])]
    for i, u in enumerate(users):
        calls.append((issuer, c["identity"], "attest", [u, "kyc.basic", "verified", bytes(32), CLAIM_LIFE, ref(i, 0)]))
        calls.append((issuer, c["identity"], "attest", [u, "country", "DE", bytes(32), CLAIM_LIFE, ref(i, 1)]))
        calls.append((minter, c["fusd"], "mint", [u, 10**6 * E18, ref(i, 2)]))
        calls.append((admin, c["bond"], "issue", [u, 10**6, 0]))
        calls.append((admin, c["tusd"], "transfer", [u, 10**6 * E18]))
    return calls


def op_call(kind: str, i: int, users: list[Any], c: dict[str, Any]) -> tuple:
    u, to = users[i % len(users)], users[(i + 1) % len(users)]
    return u, c[CONTRACT[kind]], "transfer", [to, 1]


# -- the VM alone ---------------------------------------------------------------------------------


def vm_world(n_users: int) -> tuple[Chain, list[Address], dict[str, Any]]:
    chain = Chain()
    admin, issuer = chain.account(10**30), chain.account()
    users = [chain.account() for _ in range(n_users)]
    registry = chain.deploy(admin, source("identity"), [[issuer], ["kyc.basic", "country"]]).address
    c: dict[str, Any] = {"identity": registry}
    c["tusd"] = chain.deploy(admin, source("token"), ["Test USD", "TUSD", 18, 10**30]).address
    args = stablecoin_args("Finchain USD", "FUSD", c["identity"], admin, admin)
    args[7], args[9] = 10**30, 0
    c["fusd"] = chain.deploy(admin, source("stablecoin"), args).address
    c["bond"] = chain.deploy(admin, source("asset_token"), ["Bond", "B", 0, c["identity"], TOPICS, ["DE"], 0, 0,
                                                           [admin]]).address
    for sender, contract, method, call_args in setup_calls(admin, issuer, admin, users, c):
        chain.must(sender, contract, method, call_args)
    return chain, users, c


def bench_vm(kind: str, calls: int, n_users: int) -> tuple[float, int]:
    chain, users, c = vm_world(n_users)
    gas = chain.call(*op_call(kind, 0, users, c)).gas_used
    start = time.perf_counter()
    for i in range(1, calls + 1):
        res = chain.call(*op_call(kind, i, users, c))
        if not res.ok:
            raise SystemExit(f"{kind} failed: {res.error}")
    return calls / (time.perf_counter() - start), gas


# -- the node's block builder ---------------------------------------------------------------------


def bench_node(kind: str, calls: int, n_users: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        w = NodeWorld(Path(tmp) / "db", n_users)
        admin = Address(w.admin.address)
        users = [Address(k.address) for k in w.users]
        w.block([w.tx(admin, w.c["identity"], "add_issuer", [admin, "bench", ["kyc.basic", "country"]])])
        w.block([w.tx(*call) for call in setup_calls(admin, admin, admin, users, w.c)])
        txs = [w.tx(*op_call(kind, i, users, w.c)) for i in range(calls)]
        took = w.block(txs)
        found = w.chain.reader.get_tx(txs[0].hash)
        gas = found.receipt.gas_used if found else 0
        w.store.close()
        return calls / took, gas


# -- a devnet of real processes -------------------------------------------------------------------


class DevnetWorld:
    """One 4-validator devnet for every kind and run: the setup once, then waves of transfers."""

    def __init__(self, cluster: Cluster, n_users: int) -> None:
        self.cluster = cluster
        self.c = {k: Address(bytes.fromhex(v[2:])) for k, v in cluster.manifest.contracts.items()}
        self.admin, self.issuer = cluster.accounts[0], cluster.roles["kyc_issuer"]
        self.minter = cluster.roles["custodian"]
        self.users = cluster.accounts[1 : 1 + n_users]
        self.keys = {to_checksum_address(k.address): k for k in [self.admin, self.issuer, self.minter, *self.users]}
        client = cluster.node(0).client
        self.nonces = {a: client.account(a)["nonce"] for a in self.keys}

    def raw(self, sender: str | bytes, contract: str, method: str, args: list) -> Signed:
        sender = sender if isinstance(sender, str) else to_checksum_address(sender)
        nonce = self.nonces[sender]
        self.nonces[sender] = nonce + 1
        tx = build_call(self.keys[sender], self.cluster.chain_id, nonce, contract, method, args, gas_limit=400_000)
        return Signed("0x" + tx.hash.hex(), tx.raw, "tx_send")

    def run(self, calls: list[tuple], check: bool) -> tuple[float, float]:
        """Send `calls` (at most 60 per sender: the mempool's nonce gap) spread over the nodes; wait
        until all commit; (committed per second, p50 latency)."""
        n = len(self.cluster.nodes)
        per_node: list[list[Signed]] = [[] for _ in range(n)]
        senders: dict[object, int] = {}
        for call in calls:
            slot = senders.setdefault(bytes(call[0]) if isinstance(call[0], bytes) else call[0], len(senders) % n)
            per_node[slot].append(self.raw(*call))
        wanted = {t.hash for chunk in per_node for t in chunk}
        submitted: dict[str, float] = {}
        committed: dict[str, float] = {}
        node0 = self.cluster.node(0)
        start_height = node0.status()["height"]
        started = time.monotonic()

        async def drive() -> None:
            follower = asyncio.create_task(follow(node0.client.url, start_height, wanted, committed, [], started,
                                                   300.0, False))
            await asyncio.gather(*(submit(self.cluster.node(i).client.url, per_node[i], 100, submitted)
                                   for i in range(n)))
            await follower

        asyncio.run(drive())
        if check:
            failed = [h for h in wanted if node0.client.get_tx(h)["receipt"]["status"] != "success"]
            if failed:
                raise SystemExit(f"{len(failed)} transactions failed, e.g. {node0.client.get_tx(failed[0])}")
        latencies = sorted(committed[h] - submitted[h] for h in wanted)
        return len(wanted) / (max(committed.values()) - started), latencies[len(latencies) // 2]

    def setup(self) -> None:
        addr = to_checksum_address
        calls = setup_calls(addr(self.admin.address), addr(self.issuer.address), addr(self.minter.address),
                            [Address(u.address) for u in self.users], self.c)
        # Claims first: a block orders different senders' transactions as it likes.
        self.waves([c for c in calls if c[2] in ("attest", "set_compliance")])
        self.waves([c for c in calls if c[2] not in ("attest", "set_compliance")])

    def waves(self, calls: list[tuple]) -> None:
        while calls:  # waves that keep each sender under the nonce gap
            wave: list[tuple] = []
            count: dict[str, int] = {}
            rest: list[tuple] = []
            for call in calls:
                if count.get(call[0], 0) < 50:
                    count[call[0]] = count.get(call[0], 0) + 1
                    wave.append(call)
                else:
                    rest.append(call)
            self.run(wave, check=True)
            calls = rest

    def transfers(self, kind: str, per_user: int) -> tuple[float, float]:
        users = [Address(u.address) for u in self.users]
        calls = [op_call(kind, i, users, self.c) for i in range(per_user * len(users))]
        return self.run(calls, check=False)


def devnet_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, Cluster(4, block_time_ms=args.block_time_ms, proxy=False,
                                                       accounts=args.users + 1, base_dir=Path(tmp)) as cluster:
        world = DevnetWorld(cluster, args.users)
        world.setup()
        n = args.per_user * args.users
        print(f"devnet of 4 validators: {n} transfers by {args.users} users per run, median of {args.runs} runs")
        base = 0.0
        for kind in KINDS:
            results = [world.transfers(kind, args.per_user) for _ in range(args.runs)]
            rate = statistics.median(r[0] for r in results)
            p50 = statistics.median(r[1] for r in results)
            base = base or rate
            runs = "/".join(f"{r[0]:,.0f}" for r in results)
            print(f"devnet {kind:6} {rate:8,.0f} tx/s ({runs})  p50 {p50:.2f} s  time ratio {base / rate:4.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=("vm", "node", "both", "devnet"), default="both")
    ap.add_argument("--per-user", type=int, default=50, help="devnet: transfers per user per run (at most 60)")
    ap.add_argument("--block-time-ms", type=int, default=1000, help="devnet: the block interval")
    a = ap.parse_args()
    if a.mode == "devnet":
        devnet_table(a)
        return
    modes = [("vm", bench_vm)] if a.mode in ("vm", "both") else []
    if a.mode in ("node", "both"):
        modes.append(("node", bench_node))
    print(f"{a.calls} transfers of each kind by {a.users} users, median of {a.runs} runs")
    for label, fn in modes:
        base_rate, base_gas = 0.0, 0
        for kind in KINDS:
            results = [fn(kind, a.calls, a.users) for _ in range(a.runs)]
            rate, gas = statistics.median(r[0] for r in results), results[0][1]
            base_rate, base_gas = base_rate or rate, base_gas or gas
            runs = "/".join(f"{r[0]:,.0f}" for r in results)
            print(f"{label:4} {kind:6} {rate:8,.0f} transfers/s ({runs})  {1e6 / rate:6.0f} us  gas {gas:7,}  "
                  f"ratio: gas {gas / base_gas:4.2f} time {base_rate / rate:4.2f}")


if __name__ == "__main__":
    main()
