"""Consensus numbers: heights per second of the driver and core in the simulator (no IO), and the
time to replay a 10,000-record WAL through the node's engine at startup.

    .venv/bin/python bench/consensus_bench.py --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from consensus.driver import vote_record
from consensus.types import TimeoutKind, Vote, VoteType
from node.config import init_home, load_config
from node.daemon import Node
from node.host.wal import WAL
from node.types.block import PRECOMMIT, PREVOTE, sign_vote
from node.types.crypto import PrivateKey
from tests.consensus.simulator import Config, run


def core_heights_per_s(powers: tuple[int, ...], heights: int) -> float:
    cfg = Config(f"bench-{len(powers)}", powers, chaos_ms=0, max_crashes=0, max_partitions=0,
                 new_heights_after_gst=heights)
    t0 = time.perf_counter()
    result = run(cfg, seed=1)
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"simulation failed: {result.violations}")
    return min(result.heights.values()) / elapsed


def wal_replay_seconds(records: int) -> float:
    key = PrivateKey((7).to_bytes(32, "big"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        init_home(home, validator_key=key, chain_id="finchain-bench")
        wal = WAL(home / "data" / "cs.wal" / "wal")
        wal.start_height(1)
        n, round_ = 1, 0
        # Rounds of nil votes and timeouts, as a validator that waited long for a proposal would log.
        while n < records:
            for vtype in (PREVOTE, PRECOMMIT):
                sig = sign_vote(key, "finchain-bench", vtype, 1, round_, None)
                wal.append(vote_record(Vote(VoteType(vtype), 1, round_, None, key.address, sig)))
                wal.append(["T", int(TimeoutKind.PROPOSE if vtype == PREVOTE else TimeoutKind.PRECOMMIT), 1, round_])
                n += 2
            round_ += 1
        wal.sync()
        wal.close()
        node = Node(load_config(home))

        async def replay() -> float:
            # The engine replays its WAL before it first waits for an input.
            t0 = time.perf_counter()
            task = asyncio.create_task(node.engine.run())
            await asyncio.sleep(0)
            elapsed = time.perf_counter() - t0
            task.cancel()
            return elapsed

        try:
            return asyncio.run(replay())
        finally:
            node.wal.close()
            node.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--heights", type=int, default=300)
    args = ap.parse_args()
    for name, powers in (("4 validators", (1, 1, 1, 1)), ("7 validators", (5, 4, 3, 3, 2, 1, 1))):
        rates = [core_heights_per_s(powers, args.heights) for _ in range(args.runs)]
        print(f"core in simulator, {name}: median {statistics.median(rates):,.0f} heights/s "
              f"({', '.join(f'{r:,.0f}' for r in rates)})")
    times = [wal_replay_seconds(10_000) for _ in range(args.runs)]
    print(f"WAL replay of 10,000 records: median {statistics.median(times):.3f} s "
          f"({', '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
