"""Hostile clients against a real aiohttp server on 127.0.0.1: connection caps, idle and slow
connections, unmasked WebSocket frames, byte bounds on answers and on WebSocket send buffers,
subscription caps and the subscription index."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from node.rpc.registry import LIMIT_EXCEEDED, Method, Param, Registry
from node.rpc.server import RpcServer
from tests.node.test_rpc_server import TIMEOUT, req

MB = 1 << 20


def big_registry(max_response_bytes: int = 4 * MB) -> Registry:
    registry = Registry(max_response_bytes=max_response_bytes)

    async def blob(size: int) -> str:
        return "x" * size

    registry.add(Method("blob", blob, (Param("size", {"type": "integer"}),)))
    return registry


@pytest.fixture
async def servers() -> AsyncIterator[list[RpcServer]]:
    made: list[RpcServer] = []
    yield made
    for server in made:
        async with asyncio.timeout(TIMEOUT):
            await server.stop()


async def start(made: list[RpcServer], **kwargs: Any) -> RpcServer:
    server = RpcServer(kwargs.pop("registry", big_registry()), host="127.0.0.1", port=0, shutdown_timeout=2.0,
                       **kwargs)
    server.register_topic("blocks")
    server.register_topic("events", filters={"address": str.lower})
    await server.start()
    made.append(server)
    return server


async def raw_exchange(port: int, data: bytes, read_for: float = TIMEOUT) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(read_for):
            return await reader.read()
    finally:
        writer.close()


async def test_connections_beyond_the_cap_get_503_and_the_server_keeps_serving(servers: list[RpcServer]) -> None:
    server = await start(servers, max_connections=50, max_connections_per_client=20)
    idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(20)]
    try:
        async with asyncio.timeout(TIMEOUT):
            while server.tcp_connections < 20:
                await asyncio.sleep(0.01)
        answer = await raw_exchange(server.port, b"")
        assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
    finally:
        for _, writer in idle:
            writer.close()
    async with asyncio.timeout(TIMEOUT):
        while server.tcp_connections:
            await asyncio.sleep(0.01)
    body = json.dumps(req("blob", [3])).encode()
    request = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    assert b'"result":"xxx"' in await raw_exchange(server.port, request)


async def test_idle_and_slow_header_connections_are_closed(servers: list[RpcServer]) -> None:
    server = await start(servers, idle_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        async with asyncio.timeout(TIMEOUT):
            for _ in range(40):  # a header byte every 0.1 s: never a full request
                slow_writer.write(b"X")
                await slow_writer.drain()
                await asyncio.sleep(0.1)
                if slow_reader.at_eof():
                    break
            assert await reader.read() == b""  # the silent one is closed too
            assert await slow_reader.read() == b""
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed while we wrote: what is asserted
    finally:
        writer.close()
        slow_writer.close()
    async with asyncio.timeout(TIMEOUT):
        while server.tcp_connections:
            await asyncio.sleep(0.01)


async def test_slow_body_gets_408(servers: list[RpcServer]) -> None:
    server = await start(servers, body_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 408")
            await reader.read()  # and the connection ends (after a bounded lingering read)
    finally:
        writer.close()


def _post(body: bytes, encoding: str) -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: " + encoding.encode()
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


async def test_a_body_its_content_encoding_cannot_decode_is_a_parse_error(servers: list[RpcServer]) -> None:
    server = await start(servers, max_body_bytes=64 * 1024)
    call = b'{"jsonrpc":"2.0","id":1,"method":"blob","params":[3]}'
    answer = await raw_exchange(server.port, _post(call, "gzip"))  # claims gzip, is not
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == -32700
    # Real gzip still works, and a small bomb is cut at the body limit counted after decoding.
    answer = await raw_exchange(server.port, _post(gzip.compress(call), "gzip"))
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["result"] == "xxx"
    bomb = gzip.compress(b" " * (8 * MB) + call)
    assert len(bomb) < 64 * 1024
    assert (await raw_exchange(server.port, _post(bomb, "gzip"))).startswith(b"HTTP/1.1 413")


def _frame(payload: bytes, masked: bool) -> bytes:
    head = bytes([0x81, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_unmasked_client_frames_fail_the_connection(servers: list[RpcServer]) -> None:
    server = await start(servers)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
            call = json.dumps(req("blob", [2])).encode()
            writer.write(_frame(call, masked=True))  # a masked frame is served
            reply = await reader.readexactly(2)
            body = await reader.readexactly(reply[1] & 0x7F)
            assert json.loads(body)["result"] == "xx"
            writer.write(_frame(call, masked=False))
            rest = await reader.read()
    finally:
        writer.close()
    assert rest[:1] == b"\x88" and struct.unpack("!H", rest[2:4])[0] == 1002  # close, protocol error


async def test_a_batch_answer_is_bounded_in_bytes(servers: list[RpcServer]) -> None:
    server = await start(servers, registry=big_registry(max_response_bytes=4 * MB))
    batch = [req("blob", [MB], id=i) for i in range(8)]
    async with aiohttp.ClientSession() as session, session.post(f"http://127.0.0.1:{server.port}/",
                                                                json=batch) as resp:
        answers = await resp.json()
        size = resp.content_length
    assert size is not None and size <= 4 * MB
    fitted = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert len(fitted) == 3 and len(refused) == 5
    assert all(a["error"]["code"] == LIMIT_EXCEEDED and "response too large" in a["error"]["message"]
               for a in refused)
    assert sorted(a["id"] for a in answers) == list(range(8))
    # A single answer over the limit is one error.
    async with aiohttp.ClientSession() as session, session.post(f"http://127.0.0.1:{server.port}/",
                                                                json=req("blob", [5 * MB])) as resp:
        assert (await resp.json())["error"]["code"] == LIMIT_EXCEEDED


async def test_a_subscriber_that_does_not_read_is_dropped_at_the_byte_bound(servers: list[RpcServer]) -> None:
    server = await start(servers, max_ws_send_bytes=2 * MB)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
        await ws.send_json(req("subscribe", ["blocks"]))
        assert "result" in await ws.receive_json(timeout=TIMEOUT)
        published = 0
        async with asyncio.timeout(30):
            # The client reads nothing: socket buffers fill, then the 2 MiB bound is reached.
            while server.ws_connections and published < 200:
                server.publish("blocks", {"filler": "z" * MB})
                published += 1
                await asyncio.sleep(0.01)
        assert server.ws_connections == 0 and server.subscriptions == 0
        assert published < 200
        await ws.close()


async def test_subscriptions_are_capped_in_total_and_published_by_index(servers: list[RpcServer]) -> None:
    server = await start(servers, max_subscriptions=50, max_subscriptions_total=60)
    async with aiohttp.ClientSession() as session:
        a = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
        b = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
        for n in range(50):
            await a.send_json(req("subscribe", ["events", {"address": f"0x{n:040x}"}], id=n))
            assert "result" in await a.receive_json(timeout=TIMEOUT)
        for n in range(10):
            await b.send_json(req("subscribe", ["events", {"address": f"0x{n:040X}"}], id=n))
            assert "result" in await b.receive_json(timeout=TIMEOUT)
        await b.send_json(req("subscribe", ["blocks"], id=99))
        refused = await b.receive_json(timeout=TIMEOUT)
        assert refused["error"]["code"] == LIMIT_EXCEEDED and "on this node" in refused["error"]["message"]
        # One matching subscription per connection is found among 60, case-insensitively.
        assert server.publish("events", {"address": f"0x{3:040x}", "n": 1}) == 2
        assert server.publish("events", {"address": f"0x{70:040x}", "n": 2}) == 0
        assert (await a.receive_json(timeout=TIMEOUT))["params"]["result"]["n"] == 1
        assert (await b.receive_json(timeout=TIMEOUT))["params"]["result"]["n"] == 1
        await a.close()
        await b.close()


def test_config_writes_and_reads_every_rpc_limit(tmp_path) -> None:
    from node.config import ConfigError, NodeConfig, init_home, load_config

    init_home(tmp_path / "home")
    loaded = load_config(tmp_path / "home")
    defaults = NodeConfig(home=tmp_path / "home")
    for name in ("max_connections", "max_connections_per_ip", "idle_timeout_s", "body_timeout_s",
                 "max_response_bytes", "max_expensive_calls", "max_expensive_calls_per_ip", "read_threads",
                 "ws_max_send_bytes", "ws_max_subscriptions", "ws_max_subscriptions_total"):
        assert getattr(loaded, f"rpc_{name}") == getattr(defaults, f"rpc_{name}")
        assert f"\n{name} = " in (tmp_path / "home" / "config" / "config.toml").read_text()
    path = tmp_path / "home" / "config" / "config.toml"
    path.write_text(path.read_text().replace("max_connections = 1024", "max_connections = 0"))
    with pytest.raises(ConfigError, match=r"rpc\.max_connections must be at least 1"):
        load_config(tmp_path / "home")
