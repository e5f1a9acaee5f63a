"""Fuzz targets for the JSON-RPC server of a node, over HTTP POST and over WebSocket.

Seeds are valid calls of every method the node lists in `rpc.discover` (and `subscribe` on the
WebSocket), with parameters that name real things: funded accounts, a committed transfer and
contract call, a deployed contract, signed native and Ethereum transactions. Mutations work on
the JSON (a nasty or nearby value anywhere, keys dropped or added, batches, notifications, odd
ids) and on the bytes (cut, flipped, nested ten thousand deep).

Oracle: no answer is -32603 (internal error) or an HTTP 5xx, no WebSocket is closed with 1011
(internal error), every answer comes within the time bound; and the node under test keeps
running, answering and committing, within a bound on its memory (see tests/fuzz/live.py).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp

from node.types.tx import Transfer, TxBody
from tests.fuzz.codec_txs import _eth_sign
from tests.fuzz.driver import OracleFailure
from tests.fuzz.mutate import mutate_bytes, mutate_json
from tests.node.helpers import CHAIN_ID, key

INTERNAL_ERROR = -32603
WS_INTERNAL_ERROR = 1011
TOPICS = ("newHeads", "tx", "events", "logs", "newPendingTransactions", "")


def _param_values(name: str, schema: dict[str, Any], facts: dict[str, Any]) -> list[Any]:
    """Valid values for a parameter, by its name first, then its schema's type."""
    native = TxBody(CHAIN_ID, 50, 21_000, 10**10, 1, 0, Transfer(key(1).address, 5)).sign(key(4)).raw
    eth = _eth_sign([0, 10**10, 21_000, key(1).address, 7, b""], 0, 5)
    by_name: dict[str, list[Any]] = {
        "address": [facts.get("address"), facts.get("contract")],
        "sender": [facts.get("address")],
        "to": [facts.get("to")],
        "block": [1, "latest", facts.get("height", 1), "0x1", "earliest"],
        "full": [True, False],
        "hash": [facts.get("tx_hash"), facts.get("call_hash")],
        "tx_hash": [facts.get("tx_hash")],
        "raw": ["0x" + native.hex(), "0x" + eth.hex()],
        "data": ["0x" + eth.hex()],
        "method": ["bump", "count"],
        "args": [[1], []],
        "limit": [5, 1],
        "cursor": [""],
        "gas": [100_000],
        "value": ["0", 0],
        "from_height": [0, 1],
        "topic": list(TOPICS[:3]),
        "tx": [{"from": facts.get("address"), "to": facts.get("to"), "value": "1"},
               {"from": facts.get("address"), "to": facts.get("contract"), "method": "bump", "args": [1]},
               {"from": facts.get("address"), "to": facts.get("to"), "value": "0x1", "data": "0x"}],
        "position": ["0x0"],
        "filter": [{"address": facts.get("contract")}, {"fromBlock": "0x1", "toBlock": "latest"}],
        "id": ["0x1"],
    }
    known = [v for v in by_name.get(name, []) if v is not None]
    if known:
        return known
    kind = schema.get("type") or (schema.get("oneOf") or [{}])[0].get("type")
    return {"integer": [1], "string": ["0x1"], "boolean": [True], "object": [{}], "array": [[]]}.get(kind, [None])


def seed_requests(methods: list[dict[str, Any]], facts: dict[str, Any], ws: bool = False) -> list[bytes]:
    out: list[bytes] = []
    rng = random.Random(0)
    for n, m in enumerate(methods):
        params = m.get("params", [])
        for variant in range(2):
            args = []
            for p in params:
                if not p.get("required", False) and variant == 0:
                    break  # the first variant: required parameters only
                values = _param_values(p["name"], p.get("schema", {}), facts)
                args.append(values[variant % len(values)] if variant else rng.choice(values))
            out.append(json.dumps({"jsonrpc": "2.0", "id": n * 2 + variant, "method": m["name"],
                                   "params": args}).encode())
    if ws:
        for t in TOPICS[:3]:
            out.append(json.dumps({"jsonrpc": "2.0", "id": "s", "method": "subscribe", "params": [t]}).encode())
        out.append(json.dumps({"jsonrpc": "2.0", "id": "e", "method": "eth_subscribe",
                               "params": ["newHeads"]}).encode())
    out.append(b'[{"jsonrpc":"2.0","id":1,"method":"node_status"},{"jsonrpc":"2.0","method":"node_status"}]')
    return sorted(set(out), key=out.index)


def mutate_request(rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
    r = rng.random()
    if r < 0.15:
        return mutate_bytes(rng, item, corpus, max_size=1 << 20)
    try:
        doc = json.loads(item)
    except ValueError:
        return mutate_bytes(rng, item, corpus)
    if r < 0.7:
        donors = []
        for _ in range(2):
            try:
                d = json.loads(rng.choice(corpus))
                donors += d.get("params", []) if isinstance(d, dict) and isinstance(d.get("params"), list) else []
            except ValueError:
                pass
        if isinstance(doc, dict) and isinstance(doc.get("params"), list) and rng.random() < 0.6:
            doc["params"] = mutate_json(rng, doc["params"], donors)  # the envelope intact: into the handler
        else:
            doc = mutate_json(rng, doc, donors)
    elif r < 0.8:  # a batch of requests from the corpus
        batch = []
        for _ in range(rng.choice((0, 1, 2, 5, 101))):
            try:
                batch.append(json.loads(rng.choice(corpus)))
            except ValueError:
                batch.append(None)
        doc = batch
    elif r < 0.88 and isinstance(doc, dict):  # notifications and odd ids
        choice = rng.randrange(4)
        if choice == 0:
            doc.pop("id", None)
        else:
            doc["id"] = rng.choice((None, 1.5, [], {}, "x" * 300, 2**70, True))
    elif r < 0.93:  # deep nesting inside params
        depth = rng.choice((30, 200, 10_000))
        return (b'{"jsonrpc":"2.0","id":1,"method":"node_status","params":' + b"[" * depth + b"]" * depth + b"}")
    else:  # parameters by name, some of them wrong
        if isinstance(doc, dict) and isinstance(doc.get("params"), list):
            doc["params"] = {rng.choice(("address", "block", "raw", "hash", "x", "tx")): p for p in doc["params"]}
    try:
        return json.dumps(doc).encode()
    except (TypeError, ValueError):
        return item


def _codes(reply: Any) -> list[int | None]:
    items = reply if isinstance(reply, list) else [reply]
    return [(it.get("error") or {}).get("code") if isinstance(it, dict) else None for it in items]


def _label(reply: Any) -> str:
    codes = _codes(reply)
    if INTERNAL_ERROR in codes:
        raise OracleFailure(f"internal error -32603 in {json.dumps(reply)[:500]}")
    if any(c is None for c in codes):
        return "accepted"
    return f"rejected:{codes[0]}"


class _Live:
    """What the RPC targets need of the system under test (a LiveNode, or an in-process server)."""

    def pid(self) -> int | None: ...

    async def check_alive(self) -> str | None: ...


class HttpTarget:
    name = "rpc-http"
    time_bound = 15.0
    rss_bound_mb = 250.0

    def __init__(self, url: str, methods: list[dict[str, Any]], facts: dict[str, Any], live: _Live) -> None:
        self.url = url
        self.live = live
        self._seeds = seed_requests(methods, facts)
        self.session: aiohttp.ClientSession | None = None

    def seeds(self) -> list[bytes]:
        return list(self._seeds)

    def mutate(self, rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
        return mutate_request(rng, item, corpus)

    def render(self, item: bytes) -> str:
        return item[:600].decode("utf-8", "replace")

    def rss_pid(self) -> int | None:
        return self.live.pid()

    async def check_alive(self) -> str | None:
        return await self.live.check_alive()

    async def __aenter__(self) -> HttpTarget:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def run(self, item: bytes) -> str:
        assert self.session is not None
        async with self.session.post(self.url, data=item, headers={"Content-Type": "application/json"}) as resp:
            body = await resp.read()
            if resp.status >= 500:
                raise OracleFailure(f"HTTP {resp.status}: {body[:300]!r}")
            if resp.status == 204:
                return "accepted:notification"
            if resp.status != 200:
                return f"rejected:http-{resp.status}"
        try:
            reply = json.loads(body)
        except ValueError:
            raise OracleFailure(f"an answer that is not JSON: {body[:300]!r}") from None
        return _label(reply)


class WsTarget:
    """One WebSocket per worker; after each input a sentinel call, so every answer to the input
    (none for a notification) is read before the next input goes."""

    name = "rpc-ws"
    time_bound = 15.0
    rss_bound_mb = 250.0

    def __init__(self, url: str, methods: list[dict[str, Any]], facts: dict[str, Any], live: _Live) -> None:
        self.url = url.rstrip("/") + "/ws"
        self.live = live
        self._seeds = seed_requests(methods, facts, ws=True)
        self.session: aiohttp.ClientSession | None = None
        self._sockets: dict[int, aiohttp.ClientWebSocketResponse] = {}
        self._sentinel = 0

    def seeds(self) -> list[bytes]:
        return list(self._seeds)

    def mutate(self, rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
        out = mutate_request(rng, item, corpus)
        if rng.random() < 0.05:  # a subscription to some topic, with or without a filter
            params: list[Any] = [rng.choice(TOPICS)]
            if rng.random() < 0.5:
                params.append(rng.choice(({"address": "0x" + "00" * 20}, {"hash": "0x1"}, {"name": 5}, [], {"x": 1})))
            out = json.dumps({"jsonrpc": "2.0", "id": 9, "method": rng.choice(("subscribe", "eth_subscribe",
                                                                               "unsubscribe")),
                              "params": params}).encode()
        return out

    def render(self, item: bytes) -> str:
        return item[:600].decode("utf-8", "replace")

    def rss_pid(self) -> int | None:
        return self.live.pid()

    async def check_alive(self) -> str | None:
        return await self.live.check_alive()

    async def __aenter__(self) -> WsTarget:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self._sockets.values():
            await ws.close()
        assert self.session is not None
        await self.session.close()

    async def _socket(self) -> aiohttp.ClientWebSocketResponse:
        task = id(asyncio.current_task())
        ws = self._sockets.get(task)
        if ws is None or ws.closed:
            assert self.session is not None
            ws = await self.session.ws_connect(self.url, max_msg_size=0, heartbeat=None)
            self._sockets[task] = ws
        return ws

    async def run(self, item: bytes) -> str:
        ws = await self._socket()
        self._sentinel += 1
        sentinel = f"sentinel-{self._sentinel}"
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError:
            await ws.send_bytes(item)  # binary frames: refused with an error object, the socket stays
            text = None
        if text is not None:
            await ws.send_str(text)
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "node_status"}))
        labels = []
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.ERROR):
                code = ws.close_code
                if code == WS_INTERNAL_ERROR:
                    raise OracleFailure(f"WebSocket closed with 1011 (internal error): {msg.extra}")
                return f"rejected:closed-{code}"
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise OracleFailure(f"an answer of type {msg.type!r}")
            reply = json.loads(msg.data)
            if isinstance(reply, dict) and "id" not in reply and "method" in reply:
                continue  # a notification of some subscription
            if isinstance(reply, dict) and reply.get("id") == sentinel:
                if "result" not in reply:
                    raise OracleFailure(f"the sentinel call failed: {msg.data[:300]}")
                return labels[0] if labels else "accepted:no-answer"
            labels.append(_label(reply))
