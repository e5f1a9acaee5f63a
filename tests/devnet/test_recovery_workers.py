"""A devnet node with `[mempool] recovery_workers = 1` recovers signatures in a worker process: a
batch of transfers through it commits, a refused one is refused as before, and a SIGKILLed node
leaves no worker behind (they would pile up over a crash campaign)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devnet.cluster import Cluster
from node.client.sdk import AsyncClient, RpcCallError, build_transfer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def workers_of(pid: int) -> set[int]:
    """The node's pool workers, not multiprocessing's resource tracker (which exits with its pipes)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(int(child))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def send(url: str, raws: list[bytes], per_batch: int = 90) -> list[object]:
    async with AsyncClient(url, timeout=30) as client:
        answers: list[object] = []
        for i in range(0, len(raws), per_batch):
            answers += await client.batch([("tx_send", ["0x" + raw.hex()]) for raw in raws[i : i + per_batch]])
        return answers


def test_a_batch_through_the_worker_commits_and_a_killed_node_takes_it_down(tmp_path):
    with Cluster(validators=1, block_time_ms=200, proxy=False, base_dir=tmp_path, accounts=4,
                 recovery_workers=1) as c:
        node = c.node(0)
        assert "\nrecovery_workers = 1\n" in (node.home / "config" / "config.toml").read_text()
        assert node.pid is not None
        workers: set[int] = set()
        deadline = time.monotonic() + 20
        while not workers and time.monotonic() < deadline:
            workers = workers_of(node.pid)
            time.sleep(0.1)
        assert workers, "the node started no worker process"
        start = {i: node.client.next_nonce(c.addresses[i]) for i in range(4)}
        txs = [build_transfer(c.accounts[i % 4], c.chain_id, start[i % 4] + i // 4, c.addresses[0], 1 + i)
               for i in range(160)]
        bad = bytearray(txs[7].raw)
        bad[-10] ^= 0xFF  # another signature: another signer, who has no funds, or no key at all
        answers = asyncio.run(send(node.rpc_url, [t.raw for t in txs] + [bytes(bad)]))
        assert answers[:160] == ["0x" + t.hash.hex() for t in txs]
        assert isinstance(answers[160], RpcCallError)
        assert answers[160].reason in ("insufficient_funds", "bad_signature"), answers[160]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nonces = {i: node.client.account(c.addresses[i])["nonce"] for i in range(4)}
            if all(nonces[i] == start[i] + 40 for i in range(4)):
                break
            time.sleep(0.2)
        assert nonces == {i: start[i] + 40 for i in range(4)}
        c.kill(0)
        deadline = time.monotonic() + 10
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "a worker outlived its SIGKILLed node"
