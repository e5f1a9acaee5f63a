"""aiohttp adapter for `node.rpc.registry`: JSON-RPC over HTTP POST, a health probe, and WebSocket
requests with topic subscriptions.

Routes: `POST /` (JSON-RPC), `GET /health`, `GET /ws` (JSON-RPC plus `subscribe`/`unsubscribe`), and
`GET /metrics` when the node serves its metrics here (node/metrics/http.py).

WebSocket messages are served concurrently (up to `max_ws_inflight` per connection), so
responses may arrive in another order than their requests; match them by id.

Hostile clients (node.rpc.limits): TCP connections are capped in total and per client
address (beyond a cap a connection gets 503 and is closed); a connection with no request in
progress for `idle_timeout` seconds is closed, whether silent or sending headers slowly; a
body must arrive within `body_timeout`; WebSocket client frames must be masked (RFC 6455);
what waits to be sent to a WebSocket is bounded in bytes and a client that does not read
is dropped; subscriptions are capped per connection and in total.

Browsers can send cross-site POSTs with any content type and open WebSockets to 127.0.0.1
(CSRF, DNS rebinding). Since the content type is not enforced, a request whose `Origin`
header is not in `cors_origins` is refused with 403; non-browser clients send no `Origin`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web

from node.rpc.limits import ConnectionCounter, ConnectionLimits, GuardedSite, warn_if_fds_short
from node.rpc.pubsub import (
    MAX_FILTERS,
    NOTIFICATION_METHOD,
    Normalize,
    Notification,
    SendBuffer,
    Subscription,
    Topic,
    TopicIndex,
)
from node.rpc.registry import (
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    PARSE_ERROR,
    Method,
    Param,
    Registry,
    RpcError,
    invalid_params,
)

log = logging.getLogger(__name__)

READ_CHUNK: Final = 64 * 1024
WS_HEARTBEAT_SECONDS: Final = 30.0
WS_CLOSE_TIMEOUT_SECONDS: Final = 5.0
# A WebSocket write that cannot finish in this time means the client stopped reading.
WS_SEND_TIMEOUT_SECONDS: Final = 10.0
LINGER_SECONDS: Final = 2.0
HEALTH_TIMEOUT_SECONDS: Final = 5.0
JSON_CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True, slots=True)
class HttpContext:
    """What a `takes_context` handler receives for an HTTP request."""

    remote: str | None


@dataclass(slots=True)
class WsContext:
    """What a `takes_context` handler receives for a WebSocket message (one per message)."""

    remote: str | None
    connection: _Connection
    # Subscriptions made by this message, switched on once its response is queued, so that no
    # notification can reach the client before the id that names it.
    created: list[Subscription] = field(default_factory=list)


class _Connection:
    """One WebSocket client: its byte-bounded send buffer, its subscriptions, its close reason."""

    def __init__(self, ws: web.WebSocketResponse, remote: str | None, max_send_bytes: int, max_inflight: int):
        self.ws = ws
        self.remote = remote
        self.outgoing = SendBuffer(max_send_bytes)
        self.inflight = asyncio.Semaphore(max_inflight)
        self.subscriptions: dict[str, Subscription] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()
        self.close_code: int = WSCloseCode.OK
        self.close_reason = ""

    def end(self, code: int = WSCloseCode.OK, reason: str = "") -> None:
        """Ask the connection to close; the first reason given wins."""
        if not self.done.is_set():
            self.close_code = code
            self.close_reason = reason
            self.done.set()


def _error_body(code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": None}).encode()


class RpcServer:
    def __init__(
        self,
        registry: Registry,
        *,
        host: str = "127.0.0.1",
        port: int = 8545,
        max_body_bytes: int = 1 << 20,
        health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        cors_origins: Sequence[str] = (),
        max_ws_send_bytes: int = 4 << 20,
        max_subscriptions: int = 100,
        max_subscriptions_total: int = 10_000,
        max_ws_inflight: int = 16,
        shutdown_timeout: float = 5.0,
        max_connections: int = 1024,
        max_connections_per_client: int = 64,
        idle_timeout: float = 10.0,
        body_timeout: float = 30.0,
        metrics: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
    ) -> None:
        self._registry = registry
        self._metrics = metrics
        self._host = host
        self._requested_port = port
        self._max_body = max_body_bytes
        self._health = health
        self._cors = frozenset(cors_origins)
        self._max_ws_send_bytes = max_ws_send_bytes
        self._max_subscriptions = max_subscriptions
        self._max_subscriptions_total = max_subscriptions_total
        self._subscription_count = 0
        self._max_ws_inflight = max_ws_inflight
        self._shutdown_timeout = shutdown_timeout
        self._counter = ConnectionCounter(ConnectionLimits(max_connections, max_connections_per_client))
        self._idle_timeout = idle_timeout
        self._body_timeout = body_timeout
        self._topics: dict[str, TopicIndex] = {}
        self._connections: set[_Connection] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = False
        self._ws_registry = registry.with_methods(self._ws_methods())

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def ws_connections(self) -> int:
        """Open WebSocket connections (for metrics and tests)."""
        return len(self._connections)

    @property
    def tcp_connections(self) -> int:
        """Open TCP connections, HTTP and WebSocket (for metrics and tests)."""
        return self._counter.total

    @property
    def subscriptions(self) -> int:
        return self._subscription_count

    def subscriptions_by_topic(self) -> dict[str, int]:
        """Open subscriptions of each registered topic (for metrics)."""
        return {name: index.count for name, index in self._topics.items()}

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the RPC server is not started")
        return self._port

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the RPC server is already started")
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post("/", self._on_post)
        app.router.add_route("OPTIONS", "/", self._on_preflight)
        app.router.add_get("/health", self._on_health)
        app.router.add_get("/ws", self._on_ws)
        if self._metrics is not None:
            app.router.add_get("/metrics", self._metrics)
        # keepalive_timeout also bounds a connection that sends nothing or its headers slowly:
        # aiohttp closes one that has no complete request when it fires.
        # lingering_time bounds how long the unread rest of a refused body is drained.
        handler_kwargs: dict[str, Any] = {"keepalive_timeout": self._idle_timeout, "access_log": None,
                                          "lingering_time": LINGER_SECONDS}
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=self._shutdown_timeout, **handler_kwargs)
        await runner.setup()
        warn_if_fds_short(self._counter.limits.max_total)
        try:
            site = GuardedSite(runner, self._host, self._requested_port, self._counter, handler_kwargs)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._stopping = False
        self._port = runner.addresses[0][1]
        log.info("JSON-RPC listening on %s:%d", self._host, self._port)

    async def stop(self) -> None:
        runner = self._runner
        if runner is None:
            return
        self._stopping = True
        # WebSocket handlers never return on their own; end them first so cleanup need not wait.
        for conn in list(self._connections):
            conn.end(WSCloseCode.GOING_AWAY, "server shutting down")
        await runner.cleanup()
        self._runner = None
        self._port = None

    # --- topics --------------------------------------------------------------------------------

    def register_topic(
        self,
        topic: str,
        validate: Callable[[dict[str, Any]], None] | None = None,
        filters: Mapping[str, Normalize] | None = None,
        *,
        method: str = NOTIFICATION_METHOD,
        named: bool = True,
    ) -> None:
        """Declare a topic clients may subscribe to.

        `validate(params)` raises (RpcError, ValueError or TypeError) when a subscription's params
        are invalid. `filters` names the params a subscription may filter on and how to compare
        them: a payload goes to a subscription when, for every filter it set, the payload's field
        of that name normalizes to the same value (see node.rpc.pubsub).
        """
        if topic in self._topics:
            raise ValueError(f"topic {topic!r} is already registered")
        filters = dict(filters or {})
        if len(filters) > MAX_FILTERS:
            raise ValueError(f"a topic has at most {MAX_FILTERS} filter fields")
        self._topics[topic] = TopicIndex(Topic(topic, validate, filters, method, named))

    def add_ws_methods(self, methods: list[Method]) -> None:
        """More WebSocket-only methods (e.g. eth_subscribe), beside subscribe and unsubscribe."""
        self._ws_registry = self._ws_registry.with_methods(methods)

    def has_subscribers(self, topic: str) -> bool:
        """Whether anyone subscribed to `topic`, so a publisher can skip building payloads."""
        index = self._topics.get(topic)
        return index is not None and index.count > 0

    def publish(self, topic: str, payload: Any) -> int:
        """Queue `payload` for every active subscriber of `topic` it matches; never blocks.

        Costs O(matching subscriptions). A subscriber whose send buffer is full is disconnected
        (1008) rather than buffered without bound. Returns how many were queued. Raises KeyError
        for an unregistered topic and TypeError/ValueError for a payload that is not JSON.
        """
        index = self._topics.get(topic)
        if index is None:
            raise KeyError(f"unknown topic {topic!r}")
        subs = [s for s in index.matching(payload) if s.active and not s.connection.done.is_set()
                and (s.accept is None or s.accept(payload))]
        if not subs:
            return 0
        # Encoded once and shared by every queued notification; only the envelope differs.
        result = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        head = json.dumps(topic) if index.topic.named else None
        queued = 0
        for sub in subs:
            conn = sub.connection
            if conn.outgoing.offer(Notification(sub.id, head, result, index.topic.method)):
                queued += 1
            else:
                log.warning("disconnecting slow WebSocket subscriber %s", conn.remote)
                conn.end(WSCloseCode.POLICY_VIOLATION, "subscriber too slow")
                self._forget(conn)
        return queued

    def drop_subscribers(self, code: int, reason: str) -> None:
        """Close every WebSocket that holds a subscription (its notifications cannot be kept)."""
        for conn in list(self._connections):
            if conn.subscriptions:
                conn.end(code, reason)
                self._forget(conn)

    # --- WebSocket-only methods ----------------------------------------------------------------

    def _ws_methods(self) -> list[Method]:
        return [
            Method(
                name="subscribe",
                handler=self._subscribe,
                params=(
                    Param("topic", {"type": "string"}, description="A topic the node publishes."),
                    Param("params", {"type": "object"}, required=False, description="Topic filter."),
                ),
                result={"name": "subscription", "type": "string"},
                summary="Subscribes this WebSocket to a topic (WebSocket only).",
                takes_context=True,
            ),
            Method(
                name="unsubscribe",
                handler=self._unsubscribe,
                params=(Param("id", {"type": "string"}),),
                result={"name": "removed", "type": "boolean"},
                summary="Cancels a subscription of this WebSocket (WebSocket only).",
                takes_context=True,
            ),
        ]

    async def _subscribe(self, topic: str, context: WsContext, params: dict[str, Any] | None = None) -> str:
        index = self._topics.get(topic)
        if index is None:
            raise invalid_params(f"unknown topic '{topic}'", {"param": "topic"})
        params = params or {}
        validate = index.topic.validate
        try:
            if validate is not None:
                validate(params)
            key = index.key_of(params)
        except (ValueError, TypeError, AttributeError) as exc:
            raise invalid_params(f"invalid params for topic '{topic}': {exc}", {"param": "params"}) from exc
        return self.add_subscription(topic, params, key, context)

    def add_subscription(self, topic: str, params: dict[str, Any], key: tuple[Any, ...], context: WsContext,
                         accept: Callable[[Any], bool] | None = None) -> str:
        """File a subscription whose params are already checked; `key` as TopicIndex.key_of makes it."""
        conn = context.connection
        if len(conn.subscriptions) >= self._max_subscriptions:
            raise RpcError(LIMIT_EXCEEDED, f"too many subscriptions (limit {self._max_subscriptions})")
        if self._subscription_count >= self._max_subscriptions_total:
            raise RpcError(LIMIT_EXCEEDED,
                           f"too many subscriptions on this node (limit {self._max_subscriptions_total})")
        if conn.done.is_set():  # dropped while this message was served: nothing may hold it
            raise RpcError(LIMIT_EXCEEDED, "connection is closing")
        index = self._topics[topic]
        sub = Subscription(id="0x" + secrets.token_hex(16), topic=topic, params=params, key=key, connection=conn,
                           accept=accept)
        conn.subscriptions[sub.id] = sub
        index.add(sub)
        self._subscription_count += 1
        context.created.append(sub)
        return sub.id

    def index_key(self, topic: str, params: dict[str, Any]) -> tuple[Any, ...]:
        return self._topics[topic].key_of(params)

    def remove_subscription(self, id: str, context: WsContext) -> bool:
        sub = context.connection.subscriptions.pop(id, None)
        if sub is None:
            return False
        self._drop(sub)
        return True

    async def _unsubscribe(self, id: str, context: WsContext) -> bool:
        return self.remove_subscription(id, context)

    def _drop(self, sub: Subscription) -> None:
        self._topics[sub.topic].remove(sub)
        self._subscription_count -= 1

    # --- HTTP ----------------------------------------------------------------------------------

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or "*" in self._cors or origin in self._cors

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None:
            return {}
        return {"Access-Control-Allow-Origin": "*" if "*" in self._cors else origin, "Vary": "Origin"}

    def _forbidden(self) -> web.Response:
        return web.Response(
            status=403,
            body=_error_body(INVALID_REQUEST, "origin not allowed"),
            content_type=JSON_CONTENT_TYPE,
        )

    def _too_large(self) -> web.Response:
        return web.Response(
            status=413,
            body=_error_body(INVALID_REQUEST, f"request body too large (limit {self._max_body} bytes)"),
            content_type=JSON_CONTENT_TYPE,
        )

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None when it exceeds the limit (checked before and while reading)."""
        length = request.content_length
        if length is not None and length > self._max_body:
            return None
        body = bytearray()
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            body += chunk
            if len(body) > self._max_body:
                return None
        return bytes(body)

    def _undecodable(self, exc: web.RequestPayloadError) -> web.Response:
        resp = web.Response(
            status=400,
            body=_error_body(PARSE_ERROR, f"request body could not be decoded: {str(exc).strip()}"),
            content_type=JSON_CONTENT_TYPE,
        )
        resp.force_close()
        return resp

    def _timed_out(self) -> web.Response:
        resp = web.Response(
            status=408,
            body=_error_body(INVALID_REQUEST, f"request body not received within {self._body_timeout:g} s"),
            content_type=JSON_CONTENT_TYPE,
        )
        resp.force_close()
        return resp

    async def _on_post(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            return self._forbidden()
        # The content type is not checked on purpose (curl and friends send form types); the
        # body must still be JSON, which the registry enforces.
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await self._read_body(request)
        except web.RequestPayloadError as exc:
            # A body that its Content-Encoding cannot decode, or a broken chunked framing.
            return self._undecodable(exc)
        except TimeoutError:
            # A slow body holds a connection and a buffer: answer, then close (aiohttp's bounded
            # lingering read lets the client see the answer rather than a reset).
            return self._timed_out()
        if body is None:
            # aiohttp then reads and discards the rest for a bounded lingering time, so that
            # the client, still sending, can read this answer instead of a connection reset.
            return self._too_large()
        reply = await self._registry.handle(body, HttpContext(remote=request.remote))
        headers = self._cors_headers(request)
        if reply is None:
            return web.Response(status=204, headers=headers)
        return web.Response(body=reply, content_type=JSON_CONTENT_TYPE, headers=headers)

    async def _on_preflight(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") is None or not self._origin_allowed(request):
            raise web.HTTPMethodNotAllowed("OPTIONS", ["POST"])
        headers = self._cors_headers(request)
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            }
        )
        return web.Response(status=204, headers=headers)

    async def _on_health(self, request: web.Request) -> web.StreamResponse:
        if self._health is None:
            return web.json_response({"status": "ok"})
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                report = await self._health()
            if not isinstance(report, dict):
                raise TypeError(f"health callback returned {type(report).__name__}, not dict")
            report = {"status": "ok", **report}
            body = json.dumps(report, allow_nan=False)
        except Exception:
            log.exception("health check failed")
            return web.json_response({"status": "error"}, status=503)
        status = 200 if report["status"] == "ok" else 503
        return web.Response(status=status, text=body, content_type=JSON_CONTENT_TYPE)

    # --- WebSocket -----------------------------------------------------------------------------

    async def _on_ws(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            return self._forbidden()
        if self._stopping:
            raise web.HTTPServiceUnavailable()
        # No compression: it costs CPU per notification and would let small frames inflate.
        ws = web.WebSocketResponse(
            max_msg_size=self._max_body,
            heartbeat=WS_HEARTBEAT_SECONDS,
            compress=False,
            timeout=WS_CLOSE_TIMEOUT_SECONDS,
        )
        await ws.prepare(request)
        conn = _Connection(ws, request.remote, self._max_ws_send_bytes, self._max_ws_inflight)
        self._connections.add(conn)
        if self._stopping:  # stop() began while this handshake was under way
            conn.end(WSCloseCode.GOING_AWAY, "server shutting down")
        try:
            await self._serve_ws(conn, request)
        finally:
            self._forget(conn)
            await self._close_ws(conn, request)
        return ws

    def _forget(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        for sub in conn.subscriptions.values():
            self._drop(sub)
        conn.subscriptions.clear()

    async def _serve_ws(self, conn: _Connection, request: web.Request) -> None:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(self._write_loop(conn))
            reader = group.create_task(self._read_loop(conn, group))
            await conn.done.wait()
            # Forget the connection at once: publish stops queueing to it while the close
            # handshake below may still wait for a slow client to drain what was sent.
            self._forget(conn)
            writer.cancel()
            for task in list(conn.tasks):
                task.cancel()
            if not reader.done():
                # Closing wakes the reader out of receive(); then it ends by itself.
                await self._close_ws(conn, request)
                reader.cancel()

    async def _close_ws(self, conn: _Connection, request: web.Request) -> None:
        if conn.ws.closed:
            return
        try:
            async with asyncio.timeout(WS_CLOSE_TIMEOUT_SECONDS):
                await conn.ws.close(code=conn.close_code, message=conn.close_reason.encode())
        except TimeoutError:
            # A client that reads nothing cannot receive the close frame either.
            if request.transport is not None:
                request.transport.abort()

    async def _read_loop(self, conn: _Connection, group: asyncio.TaskGroup) -> None:
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    # The semaphore bounds the calls in flight; the reader waits, the socket backs up.
                    await conn.inflight.acquire()
                    task = group.create_task(self._on_ws_text(conn, msg.data))
                    conn.tasks.add(task)
                    task.add_done_callback(conn.tasks.discard)
                elif msg.type == WSMsgType.BINARY:
                    await conn.outgoing.put(
                        _error_body(INVALID_REQUEST, "Invalid Request: binary frames are not supported")
                    )
                elif msg.type == WSMsgType.ERROR:
                    log.debug("WebSocket error from %s: %s", conn.remote, conn.ws.exception())
                    break
        finally:
            conn.end(conn.ws.close_code or WSCloseCode.OK)

    async def _on_ws_text(self, conn: _Connection, data: str) -> None:
        context = WsContext(remote=conn.remote, connection=conn)
        try:
            reply = await self._ws_registry.handle(data, context)
            if reply is not None:
                # Our own responses wait for room (backpressure) instead of being dropped.
                await conn.outgoing.put(reply)
            for sub in context.created:
                sub.active = True
        except Exception:
            log.exception("WebSocket message from %s failed", conn.remote)
            conn.end(WSCloseCode.INTERNAL_ERROR, "internal error")
        finally:
            conn.inflight.release()

    async def _write_loop(self, conn: _Connection) -> None:
        try:
            while True:
                item = await conn.outgoing.get()
                # Sent as a text frame from bytes: no decode and encode again of a large answer.
                data = item.text().encode() if isinstance(item, Notification) else item
                del item
                async with asyncio.timeout(WS_SEND_TIMEOUT_SECONDS):
                    await conn.ws.send_frame(data, WSMsgType.TEXT)
                del data
        except TimeoutError:
            log.warning("disconnecting WebSocket client %s: it does not read", conn.remote)
            conn.end(WSCloseCode.POLICY_VIOLATION, "client does not read")
        except ConnectionError:
            conn.end(WSCloseCode.GOING_AWAY)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("WebSocket writer for %s failed", conn.remote)
            conn.end(WSCloseCode.INTERNAL_ERROR, "internal error")


__all__ = ["HttpContext", "RpcServer", "WsContext"]
