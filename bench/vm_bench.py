"""Benchmark of contract execution: token transfers, router swaps and lending borrows.

Two measurements, each a median over --runs:

* ``vm``: the VM alone over an in-memory state (vm/testing.py), call by call;
* ``node``: the node's block builder over LevelDB (node/chain.py ``build_block``): signed
  contract transactions (already verified, as the mempool hands them over) executed into a
  block, fees, receipts and the state root included, then committed.

    .venv/bin/python bench/vm_bench.py                 # both, 2,000 calls of each kind, 3 runs
    .venv/bin/python bench/vm_bench.py --calls 500 --runs 1 --mode vm

Not a test: the numbers depend on the machine. Prints calls/s, gas and microseconds per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devnet.contracts import standard_contracts
from node.chain import Chain as NodeChain
from node.client.sdk import build_call
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.block import Commit, CommitSig, sign_vote
from node.types.crypto import PrivateKey
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params
from vm import Address
from vm.testing import Chain, load_contract

E18 = 10**18
FAR = 10**12  # a deadline far in the future
CHAIN_ID = "bench"
KINDS = ("transfer", "swap", "borrow")


CallSpec = tuple[Address, Address, str, list]


def setup_calls(admin: Address, users: list[Address], c: dict[str, Address]) -> list[CallSpec]:
    """(sender, contract, method, args) that fund users, make a pool and list two markets."""
    fusd, wgld, oracle, swap, lending = c["tusd"], c["wgld"], c["oracle"], c["swap"], c["lending"]
    calls: list[CallSpec] = []
    for tok in (fusd, wgld):
        calls.append((admin, tok, "approve", [swap, 10**30]))
        calls.append((admin, tok, "approve", [lending, 10**30]))
        calls.append((admin, oracle, "report", [tok, E18]))
        calls.append((admin, lending, "list_market",
                      [tok, 75 * 10**16, 10**17, 0, 10**9, 10**10, 8 * 10**17, E18, 10 * E18]))
    calls.append((admin, swap, "add_liquidity", [fusd, wgld, 10**9 * E18 // 10, 10**9 * E18 // 10, 0, 0, admin, FAR]))
    calls.append((admin, lending, "supply", [fusd, 10**7 * E18]))
    for u in users:
        for tok in (fusd, wgld):
            calls.append((admin, tok, "transfer", [u, 10**4 * E18]))
            calls.append((u, tok, "approve", [swap, 10**30]))
            calls.append((u, tok, "approve", [lending, 10**30]))
        calls.append((u, lending, "supply", [wgld, 10**3 * E18]))
    return calls


def op_call(kind: str, i: int, users: list[Address], c: dict[str, Address]) -> CallSpec:
    u = users[i % len(users)]
    if kind == "transfer":
        return u, c["tusd"], "transfer", [users[(i + 1) % len(users)], E18]
    if kind == "swap":
        path = [c["tusd"], c["wgld"]] if i % 2 == 0 else [c["wgld"], c["tusd"]]
        return u, c["swap"], "swap_exact_tokens_for_tokens", [E18 // 100, 0, path, u, FAR]
    return u, c["lending"], "borrow", [c["tusd"], E18 // 100]


# -- the VM alone ---------------------------------------------------------------------------


def vm_world(n_users: int) -> tuple[Chain, list[Address], dict[str, Address]]:
    chain = Chain()
    admin = chain.account(10**30)
    users = [chain.account(10**24) for _ in range(n_users)]
    specs = [("token", ["Finchain USD", "FUSD", 18, 10**27]), ("token", ["Wrapped Gold", "WGLD", 18, 10**27]),
             ("oracle", [[admin], 10**9]), ("swap", [])]
    c: dict[str, Address] = {}
    for name, (kind, args) in zip(["tusd", "wgld", "oracle", "swap"], specs, strict=True):
        res = chain.deploy(admin, load_contract(kind), args, gas=50_000_000)
        assert res.ok, res.error
        c[name] = res.address
    res = chain.deploy(admin, load_contract("lending"), [c["oracle"], 5 * 10**17, 108 * 10**16], gas=50_000_000)
    assert res.ok, res.error
    c["lending"] = res.address
    for sender, contract, method, args in setup_calls(admin, users, c):
        chain.must(sender, contract, method, args)
    return chain, users, c


def bench_vm(kind: str, calls: int, n_users: int) -> tuple[float, float]:
    chain, users, c = vm_world(n_users)
    gas = 0
    start = time.perf_counter()
    for i in range(calls):
        res = chain.call(*op_call(kind, i, users, c))
        if not res.ok:
            raise SystemExit(f"{kind} failed: {res.error}")
        gas += res.gas_used
    return calls / (time.perf_counter() - start), gas / calls


# -- the node's block builder -----------------------------------------------------------------


class NodeWorld:
    def __init__(self, db: Path, n_users: int) -> None:
        self.admin = PrivateKey((1).to_bytes(32, "big"))
        self.users = [PrivateKey((100 + i).to_bytes(32, "big")) for i in range(n_users)]
        self.validator = PrivateKey((7).to_bytes(32, "big"))
        contracts, addresses = standard_contracts(self.admin.address)
        genesis = Genesis(CHAIN_ID, 1_700_000_000_000, Params(max_block_txs=100_000, max_block_gas=10**12),
                          (GenesisValidator(self.validator.address, self.validator.public_key, 10),),
                          tuple(GenesisAccount(k.address, 10**30) for k in [self.admin, *self.users]), contracts)
        self.store = Store(LevelDBKV(db))
        self.chain = NodeChain(self.store, genesis, lambda raw: None)  # type: ignore[arg-type,return-value]
        self.c = {name: Address(bytes.fromhex(a[2:])) for name, a in addresses.items()}
        self.keys = {Address(k.address): k for k in [self.admin, *self.users]}
        self.nonces: dict[bytes, int] = {}
        self.time_ms = genesis.genesis_time_ms

    def tx(self, sender: Address, contract: Address, method: str, args: list) -> Any:
        # The admin deployed the genesis contracts: its nonce starts after them.
        nonce = self.nonces.get(sender, len(self.c) if sender == self.admin.address else 0)
        self.nonces[sender] = nonce + 1
        return build_call(self.keys[sender], CHAIN_ID, nonce, contract, method, args, gas_limit=2_000_000)

    def block(self, txs: list[Any]) -> float:
        """Build (execute + state root) and commit one block; returns the build time."""
        self.time_ms += 1000
        last = self.chain.reader.get_commit(self.chain.height) if self.chain.height else None
        start = time.perf_counter()
        executed = self.chain.build_block(self.validator.address, txs, last, self.time_ms)
        took = time.perf_counter() - start
        bad = [r.error for r in executed.receipts if not r.status]
        if len(executed.txs) != len(txs) or bad:
            raise SystemExit(f"block lost transactions or had failures: {bad[:3]}")
        sig = sign_vote(self.validator, CHAIN_ID, 2, executed.height, 0, executed.hash)
        self.chain.commit_block(executed, Commit(executed.height, 0, executed.hash,
                                                 (CommitSig(self.validator.address, sig),)))
        return took


def bench_node(kind: str, calls: int, n_users: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        w = NodeWorld(Path(tmp) / "db", n_users)
        users = [Address(k.address) for k in w.users]
        admin = Address(w.admin.address)
        w.block([w.tx(*call) for call in setup_calls(admin, users, w.c)])
        txs = [w.tx(*op_call(kind, i, users, w.c)) for i in range(calls)]
        took = w.block(txs)
        receipts = w.chain.reader.get_tx(txs[0].hash)
        gas = receipts.receipt.gas_used if receipts else 0
        w.store.close()
        return calls / took, gas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=("vm", "node", "both"), default="both")
    ap.add_argument("--kinds", default=",".join(KINDS))
    a = ap.parse_args()
    modes: list[tuple[str, Callable[[str, int, int], tuple[float, float]]]] = []
    if a.mode in ("vm", "both"):
        modes.append(("vm", bench_vm))
    if a.mode in ("node", "both"):
        modes.append(("node", bench_node))
    print(f"{a.calls} calls of each kind by {a.users} users, median of {a.runs} runs")
    for label, fn in modes:
        for kind in a.kinds.split(","):
            rates, gases = [], []
            for _ in range(a.runs):
                rate, gas = fn(kind, a.calls, a.users)
                rates.append(rate)
                gases.append(gas)
            med = statistics.median(rates)
            runs = "/".join(f"{r:,.0f}" for r in rates)
            print(f"{label:4}  {kind:8}  {med:8,.0f} calls/s  ({runs})  {1e6 / med:6.0f} us/call  "
                  f"gas/call {statistics.median(gases):,.0f}")


if __name__ == "__main__":
    main()
