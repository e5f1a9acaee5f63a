"""The fault proxy against an echo server on 127.0.0.1: forwarding, delay, partition, drop, control API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from devnet.errors import DevnetError
from devnet.faults import Faults, with_delay, with_drop, with_partition
from devnet.ports import free_block
from devnet.proxy import FaultProxy, Link
from devnet.proxy_control import ProxyClient, ProxyThread

pytestmark = pytest.mark.timeout(30)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def proxied() -> AsyncIterator[tuple[FaultProxy, int]]:
    """A link 0->1 whose target is an echo server; yields the proxy and the port to dial."""
    listen, = free_block(1)
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target = server.sockets[0].getsockname()[1]
    proxy = FaultProxy([Link(0, 1, listen, target)], nodes=2, seed=3)
    task = asyncio.create_task(proxy.run())
    await asyncio.wait_for(proxy.wait_ready(), 5)
    try:
        yield proxy, listen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 5)


async def test_bytes_pass_unchanged():
    async with proxied() as (proxy, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = bytes(range(256)) * 1000
        assert await _roundtrip(reader, writer, payload) == payload
        st = proxy.state()["links"][0]
        assert st["open"] == 1 and st["bytes_fwd"] == len(payload) == st["bytes_back"]
        writer.close()


async def test_delay_holds_each_direction_and_keeps_order():
    async with proxied() as (proxy, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _roundtrip(reader, writer, b"warm")
        proxy.set_faults(with_delay(Faults(), 1, 150, 100, 2))
        t0 = time.monotonic()
        pieces = [f"{i:04d}".encode() for i in range(100)]
        for p in pieces:  # many chunks with jitter: order must survive
            writer.write(p)
            await writer.drain()
            await asyncio.sleep(0.002)
        got = await asyncio.wait_for(reader.readexactly(400), 10)
        assert got == b"".join(pieces)
        assert time.monotonic() - t0 >= 0.1  # at least twice the smallest jittered delay (50 ms each way)
        proxy.set_faults(Faults())
        t1 = time.monotonic()
        await _roundtrip(reader, writer, b"fast")
        assert time.monotonic() - t1 < 0.5
        writer.close()


async def test_partition_closes_then_holds_until_heal():
    async with proxied() as (proxy, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _roundtrip(reader, writer, b"before")
        proxy.set_faults(with_partition(Faults(), [[0], [1]], 2))
        assert await asyncio.wait_for(reader.read(10), 2) == b""  # cut at once
        # A new connection is accepted but nothing passes.
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
        writer2.write(b"held")
        await writer2.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader2.readexactly(4), 0.5)
        assert proxy.state()["links"][0]["held"] == 1
        proxy.set_faults(Faults())  # heal: the held connection goes through, its bytes included
        assert await asyncio.wait_for(reader2.readexactly(4), 2) == b"held"
        writer2.close()


async def test_drop_closes_links_of_that_node():
    async with proxied() as (proxy, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _roundtrip(reader, writer, b"x")
        proxy.set_faults(with_drop(Faults(), 0, 100, 2))
        assert await asyncio.wait_for(reader.read(10), 3) == b""
        assert proxy.state()["links"][0]["closed_by_fault"] == 1


def test_control_endpoint_applies_and_refuses():
    links = free_block(2)
    control, listen = links
    runner = ProxyThread(FaultProxy([Link(0, 1, listen, 1)], nodes=3), control)
    runner.start()
    try:
        client = ProxyClient(f"http://127.0.0.1:{control}")
        state = client.request("partition", {"groups": [[0], [1, 2]]})
        assert state["faults"]["partition"] == [[0], [1, 2]]
        assert client.request("delay", {"node": 2, "ms": 200, "jitter_ms": 50})["faults"]["delays"] == {
            "2": {"ms": 200, "jitter_ms": 50}}
        assert client.request("drop", {"node": 1, "percent": 5})["faults"]["drops"] == {"1": 5.0}
        assert client.request("heal", {})["faults"] == Faults().to_json()
        with pytest.raises(DevnetError, match="no node 9"):
            client.request("delay", {"node": 9, "ms": 1})
        with pytest.raises(DevnetError, match="unknown action"):
            client.request("explode", {})
        assert runner.request("drop", {"node": 0, "percent": 1})["faults"]["drops"] == {"0": 1.0}
    finally:
        runner.stop()
    with pytest.raises(DevnetError, match="does not answer"):
        ProxyClient(f"http://127.0.0.1:{control}", timeout=1).state()
