"""Benchmark of feedback ratings (vm/contracts/feedback.py): gas per rating and ratings per second.

Each user first calls a small service contract; a block later every call is rated once by its
sender. Two measurements, each a median over --runs:

* ``vm``: the VM alone over an in-memory state (vm/testing.py), rating by rating;
* ``node``: the node's block builder over LevelDB (node/chain.py ``build_block``): signed rating
  transactions executed into one block, fees, receipts and the state root included, then
  committed. It also times the node's settled() lookup alone (the tx summary read by hash), which
  the VM prices at a fixed vm.gas.SETTLED_READ.

    .venv/bin/python bench/feedback_bench.py                  # both, 2,000 ratings, 3 runs
    .venv/bin/python bench/feedback_bench.py --ratings 200 --runs 1 --mode vm

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.chain import Chain as NodeChain
from node.client.sdk import build_call
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.block import Commit, CommitSig, sign_vote
from node.types.crypto import PrivateKey
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params, genesis_contract
from node.types.tx import decode_tx
from vm import contract_address
from vm.contracts import source
from vm.gas import SETTLED_READ
from vm.testing import Chain

CHAIN_ID = "bench"
SERVICE = '''
@public
def use(n: int) -> int:
    storage["last", ctx.sender] = n
    return n
'''
COMMENT = "settled in one block, fee as quoted"


def bench_vm(ratings: int, _users: int) -> tuple[float, float, float]:
    chain = Chain()
    admin = chain.account()
    feedback = chain.deploy(admin, source("feedback")).address
    service = chain.deploy(admin, SERVICE).address
    raters = [chain.account() for _ in range(ratings)]  # one call each: each rating is of a distinct tx
    txs = []
    for i, u in enumerate(raters):
        chain.must(u, service, "use", [i])
        txs.append(chain.last_tx)
    chain.advance()
    gas = 0
    start = time.perf_counter()
    for i, (u, tx) in enumerate(zip(raters, txs, strict=True)):
        res = chain.call(u, feedback, "rate", [tx, i % 5 + 1, COMMENT, b""])
        if not res.ok:
            raise SystemExit(f"rating failed: {res.error}")
        gas += res.gas_used
    took = time.perf_counter() - start
    return ratings / took, gas / ratings, 0.0


def bench_node(ratings: int, n_users: int) -> tuple[float, float, float]:
    admin = PrivateKey((1).to_bytes(32, "big"))
    users = [PrivateKey((100 + i).to_bytes(32, "big")) for i in range(n_users)]
    validator = PrivateKey((7).to_bytes(32, "big"))
    contracts = (genesis_contract("feedback", admin.address, source("feedback"), []),
                 genesis_contract("service", admin.address, SERVICE, []))
    feedback, service = (contract_address(admin.address, i) for i in range(2))
    genesis = Genesis(CHAIN_ID, 1_700_000_000_000, Params(max_block_txs=100_000, max_block_gas=10**12),
                      (GenesisValidator(validator.address, validator.public_key, 10),),
                      tuple(GenesisAccount(k.address, 10**30) for k in [admin, *users]), contracts)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(LevelDBKV(Path(tmp) / "db"))
        chain = NodeChain(store, genesis, decode_tx)
        time_ms = genesis.genesis_time_ms

        def block(txs: list) -> float:
            nonlocal time_ms
            time_ms += 1000
            last = chain.reader.get_commit(chain.height) if chain.height else None
            start = time.perf_counter()
            executed = chain.build_block(validator.address, txs, last, time_ms)
            took = time.perf_counter() - start
            bad = [r.error for r in executed.receipts if not r.status]
            if len(executed.txs) != len(txs) or bad:
                raise SystemExit(f"block lost transactions or had failures: {bad[:3]}")
            sig = sign_vote(validator, CHAIN_ID, 2, executed.height, 0, executed.hash)
            chain.commit_block(executed, Commit(executed.height, 0, executed.hash,
                                                (CommitSig(validator.address, sig),)))
            return took

        uses = [build_call(users[i % n_users], CHAIN_ID, i // n_users, service, "use", [i], gas_limit=200_000)
                for i in range(ratings)]
        block(uses)
        # Each user's nonces continue after its own calls.
        counts = [0] * n_users
        for i in range(ratings):
            counts[i % n_users] += 1
        rates = [build_call(users[i % n_users], CHAIN_ID, counts[i % n_users] + i // n_users, feedback, "rate",
                            [uses[i].hash, i % 5 + 1, COMMENT, b""], gas_limit=500_000) for i in range(ratings)]
        took = block(rates)
        located = chain.reader.get_tx(rates[0].hash)
        gas = located.receipt.gas_used if located else 0
        start = time.perf_counter()
        for tx in uses:
            if chain.settled(tx.hash) is None:
                raise SystemExit("a settled call was not found")
        lookup_us = (time.perf_counter() - start) / len(uses) * 1e6
        store.close()
        return ratings / took, gas, lookup_us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", type=int, default=2000)
    ap.add_argument("--users", type=int, default=200, help="senders in node mode (each rates its own calls)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=("vm", "node", "both"), default="both")
    a = ap.parse_args()
    modes = []
    if a.mode in ("vm", "both"):
        modes.append(("vm", bench_vm))
    if a.mode in ("node", "both"):
        modes.append(("node", bench_node))
    print(f"{a.ratings} ratings, median of {a.runs} runs")
    for label, fn in modes:
        results = [fn(a.ratings, a.users) for _ in range(a.runs)]
        rates = [r[0] for r in results]
        med = statistics.median(rates)
        runs = "/".join(f"{r:,.0f}" for r in rates)
        gas = statistics.median(r[1] for r in results)
        what = "gas/rating (VM only)" if label == "vm" else "gas/rating (with intrinsic)"
        line = f"{label:4}  {med:8,.0f} ratings/s  ({runs})  {1e6 / med:6.0f} us/rating  {what} {gas:,.0f}"
        if label == "node":
            lookup = statistics.median(r[2] for r in results)
            line += f"  settled() lookup {lookup:.1f} us (priced {SETTLED_READ} gas)"
        print(line)


if __name__ == "__main__":
    main()
