"""Benchmark of cross-border path payments (vm/contracts/payments.py) and of the path finder.

Modes:

* ``vm``: the VM alone over an in-memory state (vm/testing.py): payments per second and gas
  through one pool (FUSD -> FEUR), two pools (FEUR -> FUSD -> TUSD) and none (same token);
* ``node``: the node's block builder over LevelDB (as bench/vm_bench.py): one block of signed
  payments executed, fees, receipts and the state root included, then committed;
* ``paths``: ``payment_findPaths`` answered by the node's JSON-RPC registry in process, over a
  LevelDB chain whose genesis holds --currencies tokens and --pools pools (every pool read at one
  height, every path of up to 3 hops priced): latency per call, median and p95 (target < 50 ms);
* ``devnet``: a devnet of --validators real processes: signed payments sent over JSON-RPC,
  committed payments per second, one pool and two pools.

    .venv/bin/python bench/payments_bench.py                       # vm, node and paths
    .venv/bin/python bench/payments_bench.py --mode devnet --validators 4 --users 20 --per-user 40

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from devnet.contracts import standard_calls, standard_contracts
from devnet.workloads import Signed
from node.chain import Chain as NodeChain
from node.client.sdk import build_call
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.mempool.pool import Mempool, MempoolConfig
from node.mempool.verifier import TxVerifier
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.envelopes import TxDecoder
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params, genesis_call, genesis_contract
from vm import Address, contract_address
from vm.contracts import source
from vm.testing import Chain

E18 = 10**18
MAX_UINT = 2**256 - 1
FAR_S = 2**40
FAR_HEIGHT = 10**9
KINDS = ("one_pool", "two_pools", "same_token")
POOL = 200_000 * E18  # of each token, from the first account's float


def payment(kind: str, to: Any, c: dict[str, Any]) -> list[Any]:
    """The pay() arguments of one small payment of each kind (under the travel-rule threshold)."""
    if kind == "one_pool":
        return [to, c["fusd"], c["feur"], E18, 1, 0, [], FAR_HEIGHT, b"bench", b""]
    if kind == "two_pools":
        return [to, c["feur"], c["tusd"], E18, 1, 0, [c["feur"], c["fusd"], c["tusd"]], FAR_HEIGHT, b"bench", b""]
    return [to, c["fusd"], c["fusd"], E18, E18, 0, [], FAR_HEIGHT, b"bench", b""]


def setup_calls(admin: Any, users: list[Any], c: dict[str, Any]) -> list[tuple]:
    """(sender, contract, method, args): deep FUSD/FEUR and FUSD/TUSD pools, the router trusted, every
    user holding FUSD and FEUR and approving the payments contract."""
    calls: list[tuple] = [(admin, c["swap"], "set_router", [c["payments"], True])]
    for t in ("fusd", "feur", "tusd"):
        calls.append((admin, c[t], "approve", [c["swap"], MAX_UINT]))
    for a, b in (("fusd", "feur"), ("fusd", "tusd")):
        calls.append((admin, c["swap"], "add_liquidity", [c[a], c[b], POOL, POOL, 0, 0, admin, FAR_S]))
    for u in users:
        for t in ("fusd", "feur"):
            calls.append((admin, c[t], "transfer", [u, 1_000 * E18]))
            calls.append((u, c[t], "approve", [c["payments"], MAX_UINT]))
    return calls


# -- the VM alone ---------------------------------------------------------------------------------


def bench_vm(kind: str, calls: int, n_users: int) -> tuple[float, int]:
    chain = Chain()
    admin = chain.account(10**30)
    users = [chain.account(10**24) for _ in range(n_users)]
    contracts, names = standard_contracts(bytes(admin))
    for gc in contracts:  # the devnet's standard contracts, deployed by the admin in genesis order
        res = chain.deploy(admin, gc.source, [json_value(v) for v in gc.args_json])
        if not res.ok:
            raise SystemExit(f"deploy {gc.name}: {res.error}")
    c = {n: Address(bytes.fromhex(a[2:])) for n, a in names.items()}
    for sender, contract, method, args in setup_calls(admin, users, c):
        chain.must(sender, contract, method, args)
    gas = chain.call(users[0], c["payments"], "pay", payment(kind, users[1], c)).gas_used
    start = time.perf_counter()
    for i in range(calls):
        res = chain.call(users[i % n_users], c["payments"], "pay", payment(kind, users[(i + 1) % n_users], c))
        if not res.ok:
            raise SystemExit(f"{kind} failed: {res.error}")
    return calls / (time.perf_counter() - start), gas


def json_value(v: Any) -> Any:
    """A genesis.json constructor argument as the VM takes it (addresses and decimal strings)."""
    if isinstance(v, list):
        return [json_value(x) for x in v]
    if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
        return Address(bytes.fromhex(v[2:]))
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


# -- the node's block builder ---------------------------------------------------------------------


def bench_node(kind: str, calls: int, n_users: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        w = NodeWorld(Path(tmp) / "db", n_users)
        admin = Address(w.admin.address)
        users = [Address(k.address) for k in w.users]
        w.block([w.tx(*call) for call in setup_calls(admin, users, w.c)])
        txs = [w.tx(users[i % n_users], w.c["payments"], "pay", payment(kind, users[(i + 1) % n_users], w.c))
               for i in range(calls)]
        took = w.block(txs)
        found = w.chain.reader.get_tx(txs[0].hash)
        gas = found.receipt.gas_used if found else 0
        w.store.close()
        return calls / took, gas


# -- path finding over many currencies and pools --------------------------------------------------


def paths_world(db: Path, currencies: int, pools: int) -> tuple[Any, list[str]]:
    """A LevelDB chain whose genesis deploys the standard contracts plus tokens up to `currencies`,
    and seeds `pools` pools among them (a ring, then chords), through genesis calls."""
    admin = PrivateKey((1).to_bytes(32, "big"))
    validator = PrivateKey((7).to_bytes(32, "big"))
    contracts, names = standard_contracts(admin.address)
    tokens = [names["fusd"], names["feur"], names["tusd"], names["wgld"]]
    extra = []
    for i in range(currencies - len(tokens)):
        extra.append(genesis_contract(f"x{i}", admin.address, source("token"), [f"X{i}", f"X{i}", 18, str(10**30)]))
        tokens.append(to_checksum_address(contract_address(admin.address, len(contracts) + i)))
    contracts = (*contracts, *extra)
    calls = list(standard_calls(admin.address, contracts, names))
    me = to_checksum_address(admin.address)
    links = [(i, (i + 1) % currencies) for i in range(currencies)]
    step = 2
    while len(links) < pools:
        links += [(i, (i + step) % currencies) for i in range(currencies) if (i, (i + step) % currencies) not in links]
        step += 1
    links = [(a, b) for a, b in links if {tokens[a], tokens[b]} not in ({names["fusd"], names["feur"]},
                                                                          {names["fusd"], names["tusd"]})]
    links = links[:pools - 2]  # the genesis already seeds FUSD/FEUR and FUSD/TUSD
    for t in tokens:
        calls.append(genesis_call(admin.address, bytes.fromhex(t[2:]), "approve", [names["swap"], str(MAX_UINT)],
                                  contracts))
    for n, (a, b) in enumerate(links):
        amounts = [str((1_000 + 37 * n) * E18), str((1_300 + 11 * n) * E18)]
        calls.append(genesis_call(admin.address, bytes.fromhex(names["swap"][2:]), "add_liquidity",
                                  [tokens[a], tokens[b], *amounts, "0", "0", me, FAR_S], contracts))
    genesis = Genesis("bench-paths", int(time.time() * 1000), Params(),
                      (GenesisValidator(validator.address, validator.public_key, 10),),
                      (GenesisAccount(admin.address, 10**30),), contracts, calls=tuple(calls))
    store = Store(LevelDBKV(db))
    verifier = TxVerifier(genesis.params.max_tx_bytes, decoder=TxDecoder.for_genesis(genesis))
    chain = NodeChain(store, genesis, verifier.decode)
    mempool = Mempool(MempoolConfig(), chain.next_view(), chain, verifier, time.monotonic)
    engine = Engine(chain, mempool, None, WAL(db.parent / "wal"), EngineConfig(), Outbox())  # built, never run
    api = NodeApi(chain.reader, mempool, engine, NodeInfo("bench", "m", None, list, bool))
    return (build_registry(api), store), tokens


def bench_paths(currencies: int, pools: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        (registry, store), tokens = paths_world(Path(tmp) / "db", currencies, pools)
        loop = asyncio.new_event_loop()
        times, found = [], 0
        read = 0
        try:
            for i in range(calls):
                send, deliver = tokens[i % currencies], tokens[(i * 3 + 1) % currencies]
                if send == deliver:
                    deliver = tokens[(i + 5) % currencies]
                req = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "payment_findPaths",
                                  "params": {"send_token": send, "deliver_token": deliver,
                                             "amount": str(10 * E18), "limit": 3}})
                start = time.perf_counter()
                answer = json.loads(loop.run_until_complete(registry.handle(req)))
                times.append(time.perf_counter() - start)
                if "error" in answer:
                    raise SystemExit(f"payment_findPaths failed: {answer['error']}")
                found += len(answer["result"]["paths"])
                read = answer["result"]["pools_read"]
        finally:
            loop.close()
            store.close()
        times.sort()
        return {"currencies": currencies, "pools": read, "calls": calls, "paths_found": found,
                "p50_ms": round(statistics.median(times) * 1000, 2),
                "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 2), "max_ms": round(times[-1] * 1000, 2)}


# -- a devnet of real processes -------------------------------------------------------------------


def devnet_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, Cluster(args.validators, block_time_ms=args.block_time_ms,
                                                       proxy=False, accounts=args.users + 1,
                                                       base_dir=Path(tmp)) as cluster:
        c = {k: Address(bytes.fromhex(v[2:])) for k, v in cluster.manifest.contracts.items()}
        admin, users = cluster.accounts[0], cluster.accounts[1:1 + args.users]
        keys = {Address(k.address): k for k in [admin, *users]}
        client = cluster.node(0).client
        nonces = {a: client.account(to_checksum_address(a))["nonce"] for a in keys}

        def raw(sender: Address, contract: Address, method: str, call_args: list) -> Signed:
            nonce = nonces[sender]
            nonces[sender] = nonce + 1
            tx = build_call(keys[sender], cluster.chain_id, nonce, contract, method, call_args, gas_limit=1_000_000)
            return Signed("0x" + tx.hash.hex(), tx.raw, "tx_send")

        def run(calls: list[tuple], check: bool) -> float:
            n = len(cluster.nodes)
            per_node: list[list[Signed]] = [[] for _ in range(n)]
            for call in calls:
                per_node[list(keys).index(call[0]) % n].append(raw(*call))
            wanted = {t.hash for chunk in per_node for t in chunk}
            submitted: dict[str, float] = {}
            committed: dict[str, float] = {}
            start_height = cluster.node(0).status()["height"]
            started = time.monotonic()

            async def drive() -> None:
                follower = asyncio.create_task(follow(client.url, start_height, wanted, committed, [], started,
                                                      300.0, False))
                await asyncio.gather(*(submit(cluster.node(i).client.url, per_node[i], 100, submitted)
                                       for i in range(n)))
                await follower

            asyncio.run(drive())
            if check:
                failed = [h for h in wanted if client.get_tx(h)["receipt"]["status"] != "success"]
                if failed:
                    raise SystemExit(f"{len(failed)} transactions failed, e.g. {client.get_tx(failed[0])}")
            return len(wanted) / (max(committed.values()) - started)

        setup = [call for call in setup_calls(Address(admin.address), [Address(u.address) for u in users], c)
                 if call[2] not in ("set_router", "add_liquidity") and not (call[2] == "approve" and call[3][0] ==
                                                                              c["swap"])]
        while setup:  # waves under the mempool's nonce gap per sender
            run(setup[:50], check=True)
            setup = setup[50:]
        n = args.per_user * args.users
        print(f"devnet of {args.validators} validators: {n} payments by {args.users} users per run, "
              f"median of {args.runs} runs")
        for kind in KINDS[:2]:
            rates = [run([(Address(users[i % args.users].address), c["payments"], "pay",
                           payment(kind, Address(users[(i + 1) % args.users].address), c)) for i in range(n)],
                         check=True) for _ in range(args.runs)]
            print(f"devnet {kind:10} {statistics.median(rates):8,.1f} payments/s "
                  f"({'/'.join(f'{r:,.1f}' for r in rates)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("vm", "node", "paths", "all", "devnet"), default="all")
    ap.add_argument("--calls", type=int, default=1000, help="payments per kind and run (vm, node)")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--currencies", type=int, default=10, help="paths: tokens")
    ap.add_argument("--pools", type=int, default=20, help="paths: pools among them")
    ap.add_argument("--path-calls", type=int, default=200, help="paths: payment_findPaths calls")
    ap.add_argument("--validators", type=int, default=4, help="devnet")
    ap.add_argument("--per-user", type=int, default=40, help="devnet: payments per user per run (at most 50)")
    ap.add_argument("--block-time-ms", type=int, default=1000, help="devnet: the block interval")
    a = ap.parse_args()
    if a.mode == "devnet":
        devnet_table(a)
        return
    modes = [(m, fn) for m, fn in (("vm", bench_vm), ("node", bench_node)) if a.mode in (m, "all")]
    if modes:
        print(f"{a.calls} payments of each kind by {a.users} users, median of {a.runs} runs")
    for label, fn in modes:
        for kind in KINDS:
            results = [fn(kind, a.calls, a.users) for _ in range(a.runs)]
            rate, gas = statistics.median(r[0] for r in results), results[0][1]
            runs = "/".join(f"{r[0]:,.0f}" for r in results)
            print(f"{label:4} {kind:10} {rate:8,.0f} payments/s ({runs})  {1e6 / rate:6.0f} us  gas {gas:9,}")
    if a.mode in ("paths", "all"):
        print("paths", json.dumps(bench_paths(a.currencies, a.pools, a.path_calls)))


if __name__ == "__main__":
    main()
