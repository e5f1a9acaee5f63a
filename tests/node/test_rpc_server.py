"""node.rpc.server against a real aiohttp server on 127.0.0.1, port 0, with toy methods."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from node.rpc.registry import INVALID_PARAMS, INVALID_REQUEST, LIMIT_EXCEEDED, METHOD_NOT_FOUND, Method, Param, Registry
from node.rpc.server import RpcServer

TIMEOUT = 10.0
MAX_BODY = 64 * 1024


def toy_registry() -> Registry:
    registry = Registry()

    async def echo(value: Any) -> Any:
        return value

    async def add(a: int, b: int) -> int:
        return a + b

    registry.add(Method("echo", echo, (Param("value", {}),)))
    registry.add(Method("add", add, (Param("a", {"type": "integer"}), Param("b", {"type": "integer"}))))
    return registry


def validate_txs(params: dict[str, Any]) -> None:
    if set(params) - {"account"}:
        raise ValueError("only 'account' is allowed")
    if "account" in params and not isinstance(params["account"], str):
        raise ValueError("account must be a string")


ServerFactory = Callable[..., Awaitable[RpcServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[RpcServer] = []

    async def make(**kwargs: Any) -> RpcServer:
        kwargs.setdefault("max_body_bytes", MAX_BODY)
        kwargs.setdefault("shutdown_timeout", 2.0)
        server = RpcServer(kwargs.pop("registry", toy_registry()), host="127.0.0.1", port=0, **kwargs)
        server.register_topic("blocks")
        server.register_topic("txs", validate=validate_txs, filters={"account": str})
        async with asyncio.timeout(TIMEOUT):
            await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        async with asyncio.timeout(TIMEOUT):
            await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> RpcServer:
    return await make_server()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as s:
        yield s


def url(server: RpcServer, path: str = "/") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def post(
    session: aiohttp.ClientSession, server: RpcServer, data: Any, **kwargs: Any
) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
    async with asyncio.timeout(TIMEOUT), session.post(url(server), data=data, **kwargs) as resp:
        return resp.status, await resp.read(), resp.headers


def req(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        request["params"] = params
    return request


# --- HTTP ---------------------------------------------------------------------------------------


async def test_port_zero_binds_a_real_port(server: RpcServer) -> None:
    assert server.port > 0


async def test_http_request_response(server: RpcServer, session: aiohttp.ClientSession) -> None:
    status, body, headers = await post(
        session, server, json.dumps(req("add", [2, 3])), headers={"Content-Type": "application/json"}
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"jsonrpc": "2.0", "result": 5, "id": 1}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_content_type_is_lenient(
    server: RpcServer, session: aiohttp.ClientSession, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, body, _ = await post(session, server, json.dumps(req("echo", ["x"])).encode(), headers=headers)
    assert status == 200 and json.loads(body)["result"] == "x"


async def test_http_errors_and_batches(server: RpcServer, session: aiohttp.ClientSession) -> None:
    status, body, _ = await post(session, server, b'{"jsonrpc": "2.0", "method": "foobar, "params"')
    assert status == 200 and json.loads(body)["error"]["code"] == -32700
    status, body, _ = await post(session, server, b"[]")
    assert status == 200 and json.loads(body)["error"]["code"] == INVALID_REQUEST
    batch = [req("add", [1, 1], id="a"), {"jsonrpc": "2.0", "method": "echo", "params": [1]}, req("nope", id=3)]
    status, body, _ = await post(session, server, json.dumps(batch))
    replies = json.loads(body)
    assert status == 200 and [r["id"] for r in replies] == ["a", 3]
    assert replies[0]["result"] == 2 and replies[1]["error"]["code"] == METHOD_NOT_FOUND
    # subscribe exists only on the WebSocket.
    status, body, _ = await post(session, server, json.dumps(req("subscribe", ["blocks"])))
    assert json.loads(body)["error"]["code"] == METHOD_NOT_FOUND


async def test_notifications_get_204(server: RpcServer, session: aiohttp.ClientSession) -> None:
    for payload in (
        {"jsonrpc": "2.0", "method": "echo", "params": [1]},
        [{"jsonrpc": "2.0", "method": "echo", "params": [1]}, {"jsonrpc": "2.0", "method": "nope"}],
    ):
        status, body, _ = await post(session, server, json.dumps(payload))
        assert status == 204 and body == b""


async def test_non_post_is_405(server: RpcServer, session: aiohttp.ClientSession) -> None:
    for method in ("GET", "PUT", "DELETE"):
        async with asyncio.timeout(TIMEOUT), session.request(method, url(server)) as resp:
            assert resp.status == 405


async def assert_too_large(status: int, body: bytes) -> None:
    assert status == 413
    reply = json.loads(body)
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None
    assert reply["error"]["code"] == INVALID_REQUEST
    assert reply["error"]["message"].startswith("request body too large")


async def test_ten_megabyte_body_is_413_and_server_survives(server: RpcServer, session: aiohttp.ClientSession) -> None:
    big = json.dumps(req("echo", ["x" * (10 * 1024 * 1024)])).encode()
    # Its own session: closing it lets the server's lingering read of the unread body end. A
    # stop() racing that read waits for shutdown_timeout (aiohttp quirk); the pause only spares
    # the teardown those seconds, correctness does not depend on it.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as own:
        await assert_too_large(*(await post(own, server, big))[:2])
    await asyncio.sleep(0.5)
    status, body, _ = await post(session, server, json.dumps(req("add", [1, 2])))
    assert status == 200 and json.loads(body)["result"] == 3


async def test_chunked_body_over_the_limit_is_413(server: RpcServer, session: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc":"2.0","method":"echo","params":["'
        for _ in range(64):  # 4 MB in all, without a Content-Length
            yield b"x" * 65536
        yield b'"],"id":1}'

    await assert_too_large(*(await post(session, server, chunks()))[:2])
    status, body, _ = await post(session, server, json.dumps(req("add", [1, 2])))
    assert status == 200 and json.loads(body)["result"] == 3


async def test_body_just_under_the_limit_is_served(server: RpcServer, session: aiohttp.ClientSession) -> None:
    envelope = json.dumps(req("echo", [""]))
    payload = json.dumps(req("echo", ["y" * (MAX_BODY - len(envelope))])).encode()
    assert len(payload) == MAX_BODY
    status, body, _ = await post(session, server, payload)
    assert status == 200 and len(json.loads(body)["result"]) == MAX_BODY - len(envelope)


async def test_foreign_origin_is_refused(make_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    server = await make_server(cors_origins=("https://wallet.example",))
    data = json.dumps(req("add", [1, 2]))
    status, _, _ = await post(session, server, data, headers={"Origin": "https://evil.example"})
    assert status == 403
    status, _, headers = await post(session, server, data, headers={"Origin": "https://wallet.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://wallet.example"
    async with (
        asyncio.timeout(TIMEOUT),
        session.options(
            url(server), headers={"Origin": "https://wallet.example", "Access-Control-Request-Method": "POST"}
        ) as resp,
    ):
        assert resp.status == 204 and "POST" in resp.headers["Access-Control-Allow-Methods"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with asyncio.timeout(TIMEOUT):
            await session.ws_connect(url(server, "/ws"), headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


# --- health -------------------------------------------------------------------------------------


async def get_health(session: aiohttp.ClientSession, server: RpcServer) -> tuple[int, Any]:
    async with asyncio.timeout(TIMEOUT), session.get(url(server, "/health")) as resp:
        return resp.status, await resp.json()


async def test_health(make_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    assert await get_health(session, await make_server()) == (200, {"status": "ok"})

    async def good() -> dict[str, Any]:
        return {"height": 12, "peers": 3}

    assert await get_health(session, await make_server(health=good)) == (
        200,
        {"status": "ok", "height": 12, "peers": 3},
    )

    async def syncing() -> dict[str, Any]:
        return {"status": "syncing", "height": 1}

    assert await get_health(session, await make_server(health=syncing)) == (503, {"status": "syncing", "height": 1})

    async def broken() -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    assert await get_health(session, await make_server(health=broken)) == (503, {"status": "error"})


# --- WebSocket ----------------------------------------------------------------------------------


async def ws_connect(session: aiohttp.ClientSession, server: RpcServer) -> aiohttp.ClientWebSocketResponse:
    async with asyncio.timeout(TIMEOUT):
        return await session.ws_connect(url(server, "/ws"))


async def ws_call(ws: aiohttp.ClientWebSocketResponse, request: Any) -> Any:
    await ws.send_str(json.dumps(request))
    return await ws.receive_json(timeout=TIMEOUT)


async def test_ws_request_response(server: RpcServer, session: aiohttp.ClientSession) -> None:
    ws = await ws_connect(session, server)
    assert await ws_call(ws, req("add", [20, 22])) == {"jsonrpc": "2.0", "result": 42, "id": 1}
    replies = await ws_call(ws, [req("echo", ["a"], id=1), req("echo", ["b"], id=2)])
    assert [r["result"] for r in replies] == ["a", "b"]
    assert (await ws_call(ws, req("nope")))["error"]["code"] == METHOD_NOT_FOUND
    await ws.send_str("{not json")
    assert (await ws.receive_json(timeout=TIMEOUT))["error"]["code"] == -32700
    await ws.send_bytes(json.dumps(req("add", [1, 1])).encode())
    assert (await ws.receive_json(timeout=TIMEOUT))["error"]["code"] == INVALID_REQUEST
    # A notification gets nothing: the next message is the answer to the next request.
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "echo", "params": [1]}))
    assert (await ws_call(ws, req("echo", ["after"], id=9)))["id"] == 9
    discovered = await ws_call(ws, req("rpc.discover"))
    assert {"subscribe", "unsubscribe", "add"} <= {m["name"] for m in discovered["result"]["methods"]}
    await ws.close()


async def next_notification(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive_json(timeout=TIMEOUT)
    assert message["method"] == "subscription" and "id" not in message
    return message["params"]


async def test_subscribe_publish_unsubscribe_with_filter(server: RpcServer, session: aiohttp.ClientSession) -> None:
    alice_ws = await ws_connect(session, server)
    all_ws = await ws_connect(session, server)
    alice_sub = (await ws_call(alice_ws, req("subscribe", ["txs", {"account": "0xa"}])))["result"]
    all_sub = (await ws_call(all_ws, req("subscribe", {"topic": "txs"})))["result"]
    assert isinstance(alice_sub, str) and re.fullmatch("0x[0-9a-f]{32}", alice_sub), alice_sub
    assert alice_sub != all_sub

    server.publish("txs", {"account": "0xb", "n": 1})
    server.publish("txs", {"account": "0xa", "n": 2})
    server.publish("blocks", {"height": 1})  # nobody subscribed to blocks

    assert await next_notification(alice_ws) == {
        "subscription": alice_sub,
        "topic": "txs",
        "result": {"account": "0xa", "n": 2},
    }
    assert [(await next_notification(all_ws))["result"]["n"] for _ in range(2)] == [1, 2]

    # A payload without the filtered field goes only to subscriptions without that filter.
    server.publish("txs", {"n": 3})
    assert (await next_notification(all_ws))["result"]["n"] == 3

    assert (await ws_call(alice_ws, req("unsubscribe", [alice_sub])))["result"] is True
    assert (await ws_call(alice_ws, req("unsubscribe", [alice_sub])))["result"] is False
    # Subscriptions belong to their connection.
    assert (await ws_call(alice_ws, req("unsubscribe", [all_sub])))["result"] is False
    server.publish("txs", {"account": "0xa", "n": 4})
    assert (await next_notification(all_ws))["result"]["n"] == 4
    # Alice gets nothing more: her next message is the answer to her next request.
    assert (await ws_call(alice_ws, req("echo", ["done"], id=5)))["id"] == 5
    await alice_ws.close()
    await all_ws.close()


async def test_subscribe_errors(make_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    server = await make_server(max_subscriptions=2)
    ws = await ws_connect(session, server)
    unknown = await ws_call(ws, req("subscribe", ["mempool"]))
    assert unknown["error"]["code"] == INVALID_PARAMS and "mempool" in unknown["error"]["message"]
    bad = await ws_call(ws, req("subscribe", ["txs", {"colour": "red"}]))
    assert bad["error"]["code"] == INVALID_PARAMS and "only 'account'" in bad["error"]["message"]
    assert (await ws_call(ws, req("subscribe", ["txs", "0xa"])))["error"]["code"] == INVALID_PARAMS
    assert "result" in await ws_call(ws, req("subscribe", ["blocks"]))
    assert "result" in await ws_call(ws, req("subscribe", ["blocks"]))
    assert (await ws_call(ws, req("subscribe", ["blocks"])))["error"]["code"] == LIMIT_EXCEEDED
    await ws.close()


async def test_slow_subscriber_is_disconnected(make_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    server = await make_server(max_ws_send_bytes=800_000)
    slow = await ws_connect(session, server)
    fast = await ws_connect(session, server)
    await ws_call(slow, req("subscribe", ["blocks"]))
    await ws_call(fast, req("subscribe", ["blocks"]))
    received: list[int] = []

    async def read_fast() -> None:
        while True:
            message = await fast.receive_json(timeout=TIMEOUT)
            received.append(message["params"]["result"]["n"])

    reader = asyncio.create_task(read_fast())
    filler = "z" * 100_000
    published = 0
    try:
        async with asyncio.timeout(30):
            # `slow` reads nothing: once the socket buffers are full its queue overflows.
            while server.ws_connections == 2 and published < 5_000:
                server.publish("blocks", {"n": published, "filler": filler})
                published += 1
                await asyncio.sleep(0)
                while len(received) < published - 4:  # the fast reader keeps up
                    await asyncio.sleep(0.001)
        assert server.ws_connections == 1, "the slow subscriber was never disconnected"
        # Draining what was buffered, the slow client finds the close frame and its reason.
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await slow.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert slow.close_code == 1008
        # The fast subscriber is unaffected and keeps receiving in order.
        server.publish("blocks", {"n": published, "filler": ""})
        async with asyncio.timeout(TIMEOUT):
            while len(received) < published + 1:
                await asyncio.sleep(0.005)
        assert received == list(range(published + 1))
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    await fast.close()


async def test_ws_message_too_large_closes(server: RpcServer, session: aiohttp.ClientSession) -> None:
    ws = await ws_connect(session, server)
    await ws.send_str(json.dumps(req("echo", ["x" * (MAX_BODY + 1)])))
    message = await ws.receive(timeout=TIMEOUT)
    assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009
    status, _, _ = await post(session, server, json.dumps(req("add", [1, 2])))
    assert status == 200


async def test_stop_closes_websockets(make_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    server = await make_server()
    ws = await ws_connect(session, server)
    await ws_call(ws, req("subscribe", ["blocks"]))
    async with asyncio.timeout(TIMEOUT):
        stopping = asyncio.create_task(server.stop())
        message = await ws.receive(timeout=TIMEOUT)
        await stopping
    assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1001
    assert server.ws_connections == 0
    server.publish("blocks", {"height": 2})  # no subscribers left, nothing to do
