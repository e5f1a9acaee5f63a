"""Benchmark of the state tree's per-block batch update (node/state/trie.py).

Builds the state in batches (as blocks would), and at each checkpoint size times batches of
`--batch` changed accounts on top of it: the update itself (hashing and node encoding), and
separately the write of the returned nodes. The per-batch time should stay roughly flat as
the state grows, rising only with log2(state size).

    .venv/bin/python bench/trie_bench.py                     # 100k and 1M keys, in memory
    .venv/bin/python bench/trie_bench.py --db /tmp/bench-db  # nodes in LevelDB (plyvel)
    .venv/bin/python bench/trie_bench.py --sizes 10000 --runs 3  # quick look

Not a test: the numbers depend on the machine. Medians over --runs batches are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.state.trie import EMPTY_ROOT, NodeReader, SparseMerkleTree

KEY_SIZE = 20  # an address
VALUE_SIZE = 40  # about an encoded account: nonce, balance, code hash prefix


def open_store(
    db_path: str | None, block_cache_mb: int, bloom_bits: int
) -> tuple[NodeReader, Callable[[dict[bytes, bytes]], None], Any]:
    """The node store and a function persisting one batch of new nodes into it."""
    if db_path is None:
        nodes: dict[bytes, bytes] = {}
        return nodes, nodes.update, None
    import plyvel

    # Node keys are hashes, so reads land on random blocks: LevelDB's block cache and bloom
    # filters decide most of the cost of a trie read that misses the tree's own cache.
    db = plyvel.DB(
        db_path,
        create_if_missing=True,
        error_if_exists=True,
        lru_cache_size=block_cache_mb << 20,
        bloom_filter_bits=bloom_bits,
    )

    def persist(new_nodes: dict[bytes, bytes]) -> None:
        with db.write_batch() as batch:
            for node_hash, data in new_nodes.items():
                batch.put(node_hash, data)

    return db, persist, db


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=2_000, help="changed keys per block")
    parser.add_argument("--runs", type=int, default=7, help="measured batches per size")
    parser.add_argument("--cache", type=int, default=200_000, help="decoded-node cache size")
    parser.add_argument("--db", help="store nodes in a new LevelDB at this path instead of a dict")
    parser.add_argument("--block-cache-mb", type=int, default=8, help="LevelDB block cache (its default: 8)")
    parser.add_argument("--bloom-bits", type=int, default=0, help="LevelDB bloom bits per key (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    store, persist, db = open_store(args.db, args.block_cache_mb, args.bloom_bits)
    tree = SparseMerkleTree(store, cache_size=args.cache)
    root = EMPTY_ROOT
    keys: list[bytes] = []
    total_nodes = 0
    store_label = "dict"
    if args.db:
        store_label = f"LevelDB (block cache {args.block_cache_mb} MiB, bloom {args.bloom_bits} bits/key)"
    print(
        f"batch={args.batch} keys, key={KEY_SIZE} B, value={VALUE_SIZE} B, cache={args.cache} nodes, "
        f"store={store_label}, runs={args.runs}"
    )
    header = (
        f"{'state keys':>11} {'update ms':>10} {'us/key':>7} {'persist ms':>11} {'nodes/batch':>12} "
        f"{'new/key':>8} {'build s':>8}"
    )
    print(header)
    for size in sorted(args.sizes):
        start = time.perf_counter()
        while len(keys) < size:
            count = min(args.batch, size - len(keys))
            fresh = [rng.randbytes(KEY_SIZE) for _ in range(count)]
            root, new_nodes = tree.update(root, {k: rng.randbytes(VALUE_SIZE) for k in fresh})
            persist(new_nodes)
            total_nodes += len(new_nodes)
            keys.extend(fresh)
        build_seconds = time.perf_counter() - start

        update_ms: list[float] = []
        persist_ms: list[float] = []
        written: list[int] = []
        for _ in range(args.runs):
            # Mostly existing accounts change (balances, nonces); a few are new.
            changes: dict[bytes, bytes | None] = {
                k: rng.randbytes(VALUE_SIZE) for k in rng.sample(keys, args.batch - args.batch // 20)
            }
            new_accounts = {
                rng.randbytes(KEY_SIZE): rng.randbytes(VALUE_SIZE) for _ in range(args.batch // 20)
            }
            changes.update(new_accounts)
            t0 = time.perf_counter()
            root, new_nodes = tree.update(root, changes)
            t1 = time.perf_counter()
            persist(new_nodes)
            t2 = time.perf_counter()
            update_ms.append((t1 - t0) * 1000)
            persist_ms.append((t2 - t1) * 1000)
            written.append(len(new_nodes))
        median_update = statistics.median(update_ms)
        print(
            f"{size:>11,} {median_update:>10.1f} {median_update * 1000 / args.batch:>7.1f} "
            f"{statistics.median(persist_ms):>11.1f} {statistics.median(written):>12,.0f} "
            f"{statistics.median(written) / args.batch:>8.1f} {build_seconds:>8.1f}",
            flush=True,
        )
    if db is not None:
        db.close()


if __name__ == "__main__":
    main()
