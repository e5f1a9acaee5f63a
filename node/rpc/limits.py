"""What keeps hostile JSON-RPC clients from exhausting the node: connection caps, a frame
check aiohttp leaves out, and a bounded budget of expensive calls run off the event loop.

Counting is per client address (the TCP peer's IP): everything a client opens from one
address shares one budget.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import resource
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

T = TypeVar("T")

# Sent, before any request is read, to a connection beyond a cap; then the socket is closed.
_BUSY_BODY: Final = '{"jsonrpc":"2.0","error":{"code":-32050,"message":"too many connections"},"id":null}'
REFUSAL: Final = (
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n{_BUSY_BODY}"
).encode()
# A server-to-client Close frame (unmasked, FIN) with 1002 protocol error (RFC 6455 §5.5.1).
_UNMASKED_REASON: Final = bytes("unmasked client frame", "ascii")
UNMASKED_CLOSE: Final = bytes([0x88, 2 + len(_UNMASKED_REASON)]) + struct.pack("!H", 1002) + _UNMASKED_REASON
# File descriptors the node needs besides RPC sockets: LevelDB, the WAL, P2P peers, logs.
FD_RESERVE: Final = 256


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_total: int
    max_per_client: int


class ConnectionCounter:
    """Open TCP connections, in total and per client address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        if limits.max_total < 1 or limits.max_per_client < 1:
            raise ValueError("connection limits must be at least 1")
        self.limits = limits
        self.total = 0
        self._per_client: dict[str, int] = {}

    def admit(self, client: str) -> bool:
        count = self._per_client.get(client, 0)
        if self.total >= self.limits.max_total or count >= self.limits.max_per_client:
            return False
        self.total += 1
        self._per_client[client] = count + 1
        return True

    def release(self, client: str) -> None:
        self.total -= 1
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            # Drop empty entries: one per address ever seen would itself grow without bound.
            del self._per_client[client]


def warn_if_fds_short(max_connections: int) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections + FD_RESERVE > soft:
        log.warning("rpc.max_connections=%d leaves fewer than %d of the %d file descriptors allowed "
                    "(ulimit -n) to the rest of the node", max_connections, FD_RESERVE, soft)


class _MaskCheck:
    """Sits in front of aiohttp's WebSocket parser and fails the connection at the first
    client frame without the mask bit, which RFC 6455 §5.1 requires and aiohttp does not check.

    It follows frame boundaries by their headers only; payload bytes are passed through."""

    def __init__(self, parser: Any, on_unmasked: Callable[[], None]) -> None:
        self._parser = parser
        self._on_unmasked = on_unmasked
        self._header = bytearray()  # a frame header split across reads
        self._skip = 0  # payload bytes of the current frame still to come
        self._failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def _header_length(self) -> int | None:
        """The full header length once enough is buffered to know it, else None."""
        h = self._header
        if len(h) < 2:
            return None
        flag = h[1] & 0x7F
        return 2 + (2 if flag == 126 else 8 if flag == 127 else 0) + (4 if h[1] & 0x80 else 0)

    def _scan(self, data: bytes) -> bool:
        """False at an unmasked frame."""
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            self._header.append(data[pos])
            pos += 1
            if len(self._header) == 2 and not self._header[1] & 0x80:
                return False
            need = self._header_length()
            if need is None or len(self._header) < need:
                continue
            flag = self._header[1] & 0x7F
            if flag == 126:
                self._skip = int.from_bytes(self._header[2:4])
            elif flag == 127:
                self._skip = int.from_bytes(self._header[2:10])
            else:
                self._skip = flag
            self._header.clear()
        return True

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return False, b""
        if not self._scan(data):
            self._failed = True
            self._on_unmasked()
            return False, b""
        return self._parser.feed_data(data)  # type: ignore[no-any-return]


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler with a connection cap and the WebSocket mask check."""

    def __init__(self, counter: ConnectionCounter, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counter = counter
        self._client: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        if not self._counter.admit(client):
            # Refused before anything is read: no parser, no task, one write and the close.
            self._refused = True
            stream = cast(asyncio.Transport, transport)  # a TCP server's transports are streams
            stream.write(REFUSAL)
            stream.close()
            return
        self._client = client
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        if self._client is not None:
            self._counter.release(self._client)
            self._client = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def set_parser(self, parser: Any, data_received_cb: Callable[[], None] | None = None) -> None:
        super().set_parser(_MaskCheck(parser, self._fail_unmasked), data_received_cb)

    def _fail_unmasked(self) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(UNMASKED_CLOSE)
        self.force_close()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections are `GuardedHandler`s sharing one counter."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, counter: ConnectionCounter,
                 handler_kwargs: dict[str, Any]) -> None:
        super().__init__(runner, host, port)
        self._counter = counter
        self._handler_kwargs = handler_kwargs

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        factory = functools.partial(GuardedHandler, self._counter, server, loop=loop, **self._handler_kwargs)
        self._server = await loop.create_server(factory, self._host, self._port, reuse_address=True)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


# --- expensive calls -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallLimits:
    max_total: int
    max_per_client: int


class CallLimiter:
    """At most `max_per_client` expensive calls of one client address at a time and
    `max_total` in all; the others wait their turn (a batch counts as its members).

    Waiting is cheap and bounded by what can be in flight: connections per client times
    the batch limit."""

    def __init__(self, limits: CallLimits) -> None:
        if limits.max_total < 1 or limits.max_per_client < 1:
            raise ValueError("call limits must be at least 1")
        self.limits = limits
        self._total = asyncio.Semaphore(limits.max_total)
        self._per_client: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, context: Any) -> AsyncIterator[None]:
        client = str(getattr(context, "remote", None) or "")
        entry = self._per_client.get(client)
        if entry is None:
            entry = self._per_client[client] = (asyncio.Semaphore(self.limits.max_per_client), [0])
        sem, users = entry
        users[0] += 1
        try:
            async with sem, self._total:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._per_client[client]


class ReadPool:
    """Threads for reads that would stall the event loop (VM dry runs, decoding and encoding
    large blocks and receipts).

    A thread cannot be stopped, so a slot is held until the thread's work ends even when
    its caller gave up: abandoned work cannot pile up behind the pool."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("the read pool needs at least one worker")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc-read")
        self._slots = asyncio.Semaphore(workers)

    async def run(self, fn: Callable[[], T]) -> T:
        await self._slots.acquire()
        try:
            future = self._pool.submit(fn)
        except BaseException:
            self._slots.release()
            raise
        loop = asyncio.get_running_loop()

        def done(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed while the thread ran
                loop.call_soon_threadsafe(self._slots.release)

        future.add_done_callback(done)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["CallLimiter", "CallLimits", "ConnectionCounter", "ConnectionLimits", "GuardedSite",
           "ReadPool", "warn_if_fds_short"]
