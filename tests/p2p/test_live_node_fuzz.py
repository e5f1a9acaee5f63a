"""Throw 10,000 random and mutated frames at a live `finchain node`: the offending
connections close, and the node keeps serving RPC and committing blocks."""

from __future__ import annotations

import asyncio
import os
import random
import secrets

import pytest

from node.types.genesis import load_genesis
from p2p.address import compute_node_id
from p2p.config import SwitchConfig
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, handshake, node_pubkey
from p2p.messages import (
    BlockRequest,
    BlockResponse,
    HasVoteMsg,
    NewRoundStepMsg,
    ProposalMsg,
    StatusRequest,
    TxsMsg,
    VoteMsg,
    encode_message,
)
from tests.node.nodes import make_node_home

pytestmark = pytest.mark.slow

FRAMES = int(os.environ.get("FUZZ_FRAMES", "10000"))
RAW_SHARE = 0.4  # garbage before any handshake; the rest inside authenticated, encrypted sessions


def sample_message(rng: random.Random) -> bytes:
    def b(n: int) -> bytes:
        return rng.randbytes(n)

    msg = rng.choice([
        lambda: VoteMsg(rng.choice([1, 2]), rng.randrange(1, 50), rng.randrange(3), rng.choice([b"", b(32)]), b(20),
                        b(65)),
        lambda: ProposalMsg(rng.randrange(1, 50), 0, b(32), -1, b(20), b(65), b(rng.randrange(1, 300))),
        lambda: NewRoundStepMsg(rng.randrange(1, 10**6), rng.randrange(100), rng.randrange(1, 5)),
        lambda: HasVoteMsg(rng.randrange(1, 50), 0, 1, b(20)),
        lambda: TxsMsg(tuple(b(rng.randrange(1, 200)) for _ in range(rng.randrange(1, 5)))),
        lambda: StatusRequest(),
        lambda: BlockRequest(rng.randrange(0, 10**9)),
        lambda: BlockResponse(rng.randrange(1, 10), b(rng.randrange(1, 400)), b(rng.randrange(1, 100))),
    ])()
    payload = bytearray(encode_message(msg))
    mode = rng.random()
    if mode < 0.3:
        for _ in range(rng.randrange(1, 4)):
            payload[rng.randrange(len(payload))] = rng.randrange(256)
    elif mode < 0.4:
        payload = payload[: rng.randrange(1, len(payload))] or bytearray(b"\x00")
    elif mode < 0.5:
        payload = bytearray(rng.randbytes(rng.randrange(1, 200)))
    return bytes(payload)


async def raw_garbage(port: int, rng: random.Random) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        data = rng.choice([
            lambda: rng.randbytes(rng.randrange(1, 2000)),
            lambda: rng.randbytes(32) + rng.randbytes(rng.randrange(0, 100)),  # a key, then junk
            lambda: (2**31).to_bytes(4, "big") + b"x",  # absurd frame length
        ])()
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            await reader.read()  # the node closes on us
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
    return 1


async def session(port: int, info_of, rng: random.Random, frames: int) -> tuple[int, bool]:
    """One authenticated peer sending fuzzed frames until it is cut off; returns (frames sent, was closed)."""
    key = secrets.token_bytes(32)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        sess = await handshake(reader, writer, key, info_of(key), timeout=10)
        for _ in range(frames):
            out: list[bytes] = []
            sess.conn.seal_payload(sample_message(rng), out)
            writer.write(b"".join(out))
            sent += 1
            await writer.drain()
            await asyncio.sleep(0)
        writer.write_eof()
        async with asyncio.timeout(15):
            while await reader.read(65536):
                pass
        return sent, True
    except (OSError, TimeoutError):  # reset or closed by the node: what we expect
        return sent, True
    finally:
        writer.close()


async def run_fuzz(port: int, chain_id: str, genesis_hash: bytes, node) -> dict[str, int]:
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "5")))

    def info_of(key: bytes) -> NodeInfo:
        return NodeInfo(compute_node_id(node_pubkey(key)), chain_id, genesis_hash, PROTOCOL_VERSION, "", "fuzz")

    sem = asyncio.Semaphore(16)
    raw_target = int(FRAMES * RAW_SHARE)
    counts = {"raw": 0, "framed": 0, "sessions": 0}

    async def one_raw() -> None:
        async with sem:
            done = await raw_garbage(port, rng)
        counts["raw"] += done

    await asyncio.gather(*(one_raw() for _ in range(raw_target)))
    while counts["raw"] + counts["framed"] < FRAMES:
        # At most as many handshakes at once as the node keeps pending per address (docs/p2p.md §3):
        # beyond that it aborts the oldest, which is its defence, not what this test fuzzes.
        at_once = SwitchConfig().max_pending_per_address
        batch = [session(port, info_of, rng, rng.randrange(1, 60)) for _ in range(at_once)]
        for sent, _closed in await asyncio.gather(*batch):
            counts["framed"] += sent
            counts["sessions"] += 1
        node.client.status()  # serving RPC all along
    return counts


def test_fuzzed_frames_do_not_hurt_a_live_node(tmp_path):
    node = make_node_home(tmp_path, commit_ms=200)
    genesis = load_genesis(node.home / "config" / "genesis.json")
    p2p_port = int(open(node.home / "config" / "config.toml").read().split('listen = "127.0.0.1:')[2].split('"')[0])
    node.start()
    try:
        start = node.wait_ready()
        counts = asyncio.run(run_fuzz(p2p_port, genesis.chain_id, genesis.hash(), node))
        print("fuzz:", counts)
        assert counts["raw"] + counts["framed"] >= FRAMES
        assert counts["raw"] >= FRAMES * RAW_SHARE - 1 and counts["framed"] >= FRAMES // 2, counts
        status = node.client.status()
        assert node.proc.poll() is None, "the node died"
        node.wait_height(status["height"] + 3, timeout=30)
        assert status["height"] > start["height"]
        assert "Traceback" not in node.log_path.read_text()
    finally:
        node.stop()
