"""Benchmark of account statements: the latency of `account_statement` for an address with many
movements, and what the movement index costs at commit.

A one-validator chain over LevelDB in process: the address sends coin transfers (two movements
each: the fee and the transfer) and receives token transfers from another account (one movement
each), in blocks of --per-block transactions, until it has --movements movements. Then, through
the node's own JSON-RPC registry (the read pool's thread, JSON encoding included):

* ``whole``: one call over the whole range with limit 10,000 (pages if there are more);
* ``paged``: the same statement in pages of 1,000, every page requested in turn;
* ``recent``: a statement of the last block alone.

At commit, per block: the whole ``commit_block`` (one synced LevelDB batch) and the part of it
that computes and encodes the movement records (``compute_block_movements``), with the index's
share of the keys written.

    .venv/bin/python bench/statement_bench.py                      # 10,000 movements, 3 runs
    .venv/bin/python bench/statement_bench.py --movements 400 --runs 1

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

from node.chain import Chain
from node.client.sdk import build_call, build_deploy, build_transfer
from node.client.statements import join_pages
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.mempool.pool import Mempool, MempoolConfig
from node.mempool.verifier import TxVerifier
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.state.execution import tx_parties
from node.state.movements import compute_block_movements
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.block import PRECOMMIT, Commit, CommitSig, sign_vote
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params
from vm import Address, contract_address
from vm.contracts import source

CHAIN_ID = "statement-bench"
COIN = 10**18


class World:
    def __init__(self, db: Path) -> None:
        self.holder = PrivateKey((11).to_bytes(32, "big"))
        self.payer = PrivateKey((12).to_bytes(32, "big"))
        self.validator = PrivateKey((13).to_bytes(32, "big"))
        genesis = Genesis(CHAIN_ID, 1_700_000_000_000, Params(max_block_txs=100_000, max_block_gas=10**12),
                          (GenesisValidator(self.validator.address, self.validator.public_key, 10),),
                          tuple(GenesisAccount(k.address, 10**30) for k in (self.holder, self.payer)))
        verifier = TxVerifier(genesis.params.max_tx_bytes)
        self.store = Store(LevelDBKV(db))
        self.chain = Chain(self.store, genesis, verifier.decode)
        mempool = Mempool(MempoolConfig(), self.chain.next_view(), self.chain, verifier, lambda: 0.0)
        engine = Engine(self.chain, mempool, None, WAL(db.parent / "wal"), EngineConfig(), Outbox())  # never run
        self.api = NodeApi(self.chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool))
        self.registry = build_registry(self.api)
        self.loop = asyncio.new_event_loop()
        self.nonces: dict[bytes, int] = {}
        self.time_ms = genesis.genesis_time_ms
        self.commit_s: list[float] = []
        self.index_s: list[float] = []
        self.keys_total = 0
        self.keys_index = 0

    def nonce(self, k: PrivateKey) -> int:
        n = self.nonces.get(k.address, 0)
        self.nonces[k.address] = n + 1
        return n

    def block(self, txs: list[Any]) -> None:
        self.time_ms += 1000
        last = self.chain.reader.get_commit(self.chain.height) if self.chain.height else None
        executed = self.chain.build_block(self.validator.address, txs, last, self.time_ms)
        bad = [r.error for r in executed.receipts if not r.status]
        if len(executed.txs) != len(txs) or bad:
            raise SystemExit(f"block lost transactions or had failures: {bad[:3]}")
        start = time.perf_counter()
        moved = compute_block_movements(executed.txs, executed.receipts, executed.coin_flows,
                                        self.validator.address, self.chain.next_base_fee())
        encoded = list(moved.records.values())
        self.index_s.append(time.perf_counter() - start)
        # Keys of the batch: the index's (F records, A rows, history rows beyond sender and recipient)
        # against everything else (block, commit, root, receipts, history, state, trie nodes, meta).
        history = [tx_parties(tx) for tx in executed.txs]
        extra = sum(len(set(moved.parties.get(i, ())) - set(p)) for i, p in enumerate(history))
        self.keys_index += len(encoded) + len(moved.touched) + extra
        self.keys_total += (len(encoded) + len(moved.touched) + extra + sum(len(p) for p in history)
                            + len(executed.txs) + len(executed.changes) + len(executed.trie_nodes) + 6)
        sig = sign_vote(self.validator, CHAIN_ID, PRECOMMIT, executed.height, 0, executed.hash)
        start = time.perf_counter()
        self.chain.commit_block(executed, Commit(executed.height, 0, executed.hash,
                                                 (CommitSig(self.validator.address, sig),)))
        self.commit_s.append(time.perf_counter() - start)

    def call(self, method: str, *params: Any) -> Any:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = json.loads(self.loop.run_until_complete(self.registry.handle(request)))
        if "result" not in answer:
            raise SystemExit(f"{method}: {answer}")
        return answer["result"]

    def close(self) -> None:
        self.api.pool.close()
        self.loop.close()
        self.store.close()


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(movements: int, per_block: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "db")
        try:
            holder, payer = w.holder, w.payer
            token = contract_address(payer.address, 0)
            w.block([build_deploy(payer, CHAIN_ID, w.nonce(payer), source("token"), ["Bench", "BEN", 6, 10**15],
                                  gas_limit=30_000_000)])
            # A quarter of the movements as coin transfers out (2 each), half as token transfers in.
            ops = ["coin"] * (movements // 4) + ["token"] * (movements - 2 * (movements // 4))
            for start in range(0, len(ops), per_block):
                txs = []
                for op in ops[start:start + per_block]:
                    if op == "coin":
                        txs.append(build_transfer(holder, CHAIN_ID, w.nonce(holder), payer.address, 1))
                    else:
                        txs.append(build_call(payer, CHAIN_ID, w.nonce(payer), token, "transfer",
                                              [Address(holder.address), 1], gas_limit=200_000))
                w.block(txs)
            address, tip = to_checksum_address(holder.address), w.chain.height

            def whole() -> dict[str, Any]:
                pages = [w.call("account_statement", address, 1, tip, 10_000)]
                while pages[-1]["next_cursor"]:
                    pages.append(w.call("account_statement", address, 1, tip, 10_000, pages[-1]["next_cursor"]))
                return join_pages(pages) if len(pages) > 1 else pages[0]

            def paged() -> dict[str, Any]:
                pages = [w.call("account_statement", address, 1, tip, 1_000)]
                while pages[-1]["next_cursor"]:
                    pages.append(w.call("account_statement", address, 1, tip, 1_000, pages[-1]["next_cursor"]))
                return join_pages(pages)

            whole_s, statement = timed(whole)
            paged_s, joined = timed(paged)
            recent_s, _ = timed(lambda: w.call("account_statement", address, tip, tip, 10_000))
            if len(statement["movements"]) != len(joined["movements"]) or not all(
                    a["reconciled"] for a in joined["assets"]):
                raise SystemExit("the statement does not reconcile")
            return {
                "movements": len(statement["movements"]), "blocks": tip,
                "whole_ms": round(whole_s * 1000, 1), "paged_1000_ms": round(paged_s * 1000, 1),
                "recent_block_ms": round(recent_s * 1000, 1),
                "commit_ms_per_block": round(statistics.median(w.commit_s[1:]) * 1000, 2),
                "index_compute_ms_per_block": round(statistics.median(w.index_s[1:]) * 1000, 2),
                "index_share_of_keys": round(w.keys_index / w.keys_total, 3),
                "txs_per_block": per_block,
            }
        finally:
            w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--movements", type=int, default=10_000, help="movements of the address")
    ap.add_argument("--per-block", type=int, default=500, help="transactions per block")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        r = run(args.movements, args.per_block)
        results.append(r)
        print(f"run {i + 1}: {json.dumps(r)}", flush=True)
    print("median:", json.dumps({k: statistics.median(r[k] for r in results) for k in results[0]}))


if __name__ == "__main__":
    main()
