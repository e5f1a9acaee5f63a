"""Throughput of one encrypted p2p connection on 127.0.0.1: frames/s and MB/s, medians of several runs.

Two Switches in one event loop; A sends N messages to B through `Switch.send` (encode, per-channel queue,
batched ChaCha20-Poly1305 sealing and writes) and B decodes them (decrypt, strict decode, on_message).
The clock runs from the first send to the last delivery. Run:

    .venv/bin/python bench/p2p_bench.py                 # 100k x 200 B and 2k x 1 MiB, 3 runs, uvloop
    .venv/bin/python bench/p2p_bench.py --loop asyncio --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time

from p2p.address import compute_node_id
from p2p.config import SwitchConfig
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, node_pubkey
from p2p.messages import BlockResponse, Message, TxsMsg, encode_message
from p2p.switch import Switch

CONFIG = SwitchConfig(
    send_queue_msgs=200_000,
    send_queue_bytes=256 * 1024 * 1024,
    write_batch_bytes=1024 * 1024,
    read_chunk=1024 * 1024,
    recv_rate_bytes=1e12,
    recv_burst_bytes=1e12,
    recv_rate_msgs=1e9,
    recv_burst_msgs=1e9,
    write_timeout=60.0,
    ping_interval=60.0,
    ping_timeout=120.0,
    dial_interval=0.05,
)


def identity(name: str) -> tuple[bytes, NodeInfo]:
    key = secrets.token_bytes(32)
    return key, NodeInfo(compute_node_id(node_pubkey(key)), "bench", b"\x00" * 32, PROTOCOL_VERSION, "", name)


def make_message(size: int) -> Message:
    """A message whose frame plaintext is about `size` bytes."""
    if size >= 64 * 1024:
        return BlockResponse(1, b"\xab" * (size - 16), b"")
    return TxsMsg((b"\xab" * (size - 8),))


async def one_run(count: int, size: int) -> tuple[float, int]:
    received = 0
    done = asyncio.Event()

    def on_message(_peer: str, _msg: Message) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    (ka, ia), (kb, ib) = identity("a"), identity("b")
    a = Switch(ka, ia, listen_port=0, on_message=lambda p, m: None, config=CONFIG)
    b = Switch(kb, ib, listen_port=0, on_message=on_message, config=CONFIG)
    msg = make_message(size)
    frame_size = len(encode_message(msg)) + 4 + 16
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(a.run()), tg.create_task(b.run())]
        try:
            await asyncio.wait_for(a.wait_listening(), 5)
            await asyncio.wait_for(b.wait_listening(), 5)
            a.dial(f"{b.node_id}@127.0.0.1:{b.listen_port}")
            async with asyncio.timeout(10):
                while not a.is_connected(b.node_id):
                    await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            sent = 0
            # Enqueue in bursts and yield, so sending, sealing, writing and reading all overlap.
            burst = max(1, (4 * 1024 * 1024) // frame_size)
            async with asyncio.timeout(300):
                while sent < count:
                    full = False
                    for _ in range(min(burst, count - sent)):
                        if not a.send(b.node_id, msg):
                            full = True
                            break
                        sent += 1
                    # send never blocks: when the queue is full, give the writer a moment to drain it.
                    await asyncio.sleep(0.001 if full else 0)
                await done.wait()
            elapsed = time.perf_counter() - t0
        finally:
            for t in tasks:
                t.cancel()
    return elapsed, frame_size


async def bench(count: int, size: int, runs: int) -> None:
    times = []
    frame_size = 0
    for _ in range(runs):
        elapsed, frame_size = await one_run(count, size)
        times.append(elapsed)
    med = statistics.median(times)
    print(
        f"{count:>7} frames of {size:>8} B: median {med:7.3f} s  "
        f"{count / med:>10,.0f} frames/s  {count * frame_size / med / 1e6:8.1f} MB/s  "
        f"(runs: {', '.join(f'{t:.3f}' for t in times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=100_000, help="number of small frames")
    parser.add_argument("--small-size", type=int, default=200)
    parser.add_argument("--large", type=int, default=2_000, help="number of large frames")
    parser.add_argument("--large-size", type=int, default=1024 * 1024)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()

    async def all_benches() -> None:
        await bench(args.small, args.small_size, args.runs)
        await bench(args.large, args.large_size, args.runs)

    print(f"event loop: {args.loop}")
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(all_benches())
    else:
        asyncio.run(all_benches())


if __name__ == "__main__":
    main()
