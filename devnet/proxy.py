"""The fault proxy: every P2P link of a devnet passes through it, so the devnet can cut, delay and drop links
without root or Docker.

One listening port per ordered pair (i dials j). Node i's `persistent_peers` name j by j's node id at that
port, and the proxy forwards bytes unchanged to j's real P2P port: the encrypted handshake passes through
as it is, so identity checks still hold (the proxy cannot read or forge anything, only delay or cut).

What each fault does to the bytes is decided by `devnet.faults.Faults`; here is only the asyncio plumbing:
- a cut link (partition): its open connections are closed at once; a new connection is accepted but held
  silent, nothing forwarded, as in a real partition where packets are lost. On heal a held connection is
  connected through, so the dialer's pending handshake completes at once instead of waiting out its
  reconnect backoff; the dialer gives up on its own handshake timeout otherwise (and we after HOLD_MAX_S).
- delay: each chunk is stamped with its release time when read and written once that time has come, never
  before an earlier chunk (order preserved).
- drop: once per second each open connection is closed with the link's drop probability.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field

from devnet.faults import Faults

log = logging.getLogger("devnet.proxy")

CHUNK = 64 * 1024
QUEUE_CHUNKS = 256  # per direction: at most 16 MiB held back by a delay, then the reader waits (TCP back-pressure)
CONNECT_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 30.0
HOLD_MAX_S = 30.0
DROP_TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class Link:
    src: int  # the dialing node
    dst: int  # the node dialed
    listen: int  # the proxy's port for this pair
    target: int  # dst's real P2P port

    def to_json(self) -> dict:
        return {"from": self.src, "to": self.dst, "listen": self.listen, "target": self.target}

    @staticmethod
    def from_json(d: dict) -> Link:
        return Link(int(d["from"]), int(d["to"]), int(d["listen"]), int(d["target"]))


@dataclass(slots=True)
class LinkStats:
    accepted: int = 0
    closed_by_fault: int = 0
    bytes_fwd: int = 0  # src -> dst
    bytes_back: int = 0  # dst -> src


@dataclass(eq=False, slots=True)
class _Conn:
    link: Link
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    held: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def close(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.reason = reason
        self.closed.set()
        # abort, not close: a cut link must not flush what is still buffered.
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


class FaultProxy:
    def __init__(self, links: list[Link], nodes: int, *, host: str = "127.0.0.1", seed: int | None = None) -> None:
        self.host = host
        self.nodes = nodes
        self.links: list[Link] = []
        self.stats: dict[tuple[int, int], LinkStats] = {}
        self._pending = list(links)
        self._faults = Faults()
        self._rng = random.Random(seed)
        self._conns: set[_Conn] = set()
        self._servers: list[asyncio.Server] = []
        self._tg: asyncio.TaskGroup | None = None
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()

    # -- faults ---------------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Apply at once: cut links lose their connections, healed links release their held ones."""
        self._faults = faults
        for conn in list(self._conns):
            if not conn.held and faults.is_cut(conn.link.src, conn.link.dst):
                self.stats[(conn.link.src, conn.link.dst)].closed_by_fault += 1
                conn.close("partition")
        # Wake every held connection so that it looks at the new faults.
        self._changed.set()
        self._changed = asyncio.Event()
        log.info("faults: %s", faults.to_json())

    def state(self) -> dict:
        links = []
        for link in self.links:
            st = self.stats[(link.src, link.dst)]
            conns = [c for c in self._conns if c.link == link]
            links.append({**link.to_json(), "open": sum(not c.held for c in conns), "held": sum(c.held for c in conns),
                          "accepted": st.accepted, "closed_by_fault": st.closed_by_fault,
                          "bytes_fwd": st.bytes_fwd, "bytes_back": st.bytes_back})
        return {"faults": self._faults.to_json(), "nodes": self.nodes, "links": links}

    # -- running --------------------------------------------------------------------------------------

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        """Listen on every link port and forward until cancelled. Raises OSError if a port is taken."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                await self.add_links(self._pending)
                self._pending = []
                self._ready.set()
                tg.create_task(self._drop_loop())
        finally:
            self._tg = None
            for server in self._servers:
                server.close()
            for conn in list(self._conns):
                conn.close("proxy stopped")

    async def add_links(self, links: list[Link], nodes: int | None = None) -> None:
        """Open more links (a node that joins late); the proxy must be running."""
        if nodes is not None:
            self.nodes = max(self.nodes, nodes)
        for link in links:
            server = await asyncio.start_server(lambda r, w, link=link: self._on_accept(link, r, w),
                                                self.host, link.listen)
            self._servers.append(server)
            self.links.append(link)
            self.stats[(link.src, link.dst)] = LinkStats()

    def _on_accept(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function on purpose: asyncio would run a coroutine callback as a task nobody owns.
        if self._tg is None:
            writer.transport.abort()
            return
        self._tg.create_task(self._serve(link, reader, writer))

    async def _serve(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_conn(link, reader, writer)
        except Exception:  # a bug in one connection must not take every link of the devnet down
            log.exception("link %d->%d: connection handler failed", link.src, link.dst)

    async def _serve_conn(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(link, writer)
        self._conns.add(conn)
        self.stats[(link.src, link.dst)].accepted += 1
        try:
            if not await self._wait_uncut(conn):
                return
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    up_reader, up_writer = await asyncio.open_connection(self.host, link.target)
            except (OSError, TimeoutError) as exc:
                log.debug("link %d->%d: cannot reach port %d: %r", link.src, link.dst, link.target, exc)
                return
            conn.upstream = up_writer
            if conn.closed.is_set():  # a partition arrived while we were connecting
                return
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._guard(conn, self._forward(conn, reader, up_writer, forward=True))),
                    tg.create_task(self._guard(conn, self._forward(conn, up_reader, writer, forward=False))),
                ]
                await conn.closed.wait()
                for task in tasks:
                    task.cancel()
        finally:
            conn.close(conn.reason or "done")
            if conn.upstream is not None:  # connected after a partition had already closed this connection
                conn.upstream.transport.abort()
            self._conns.discard(conn)

    async def _wait_uncut(self, conn: _Conn) -> bool:
        """Hold a connection of a cut link until heal (True) or until it is closed or held too long (False)."""
        link = conn.link
        if not self._faults.is_cut(link.src, link.dst):
            return True
        conn.held = True
        try:
            async with asyncio.timeout(HOLD_MAX_S):
                while self._faults.is_cut(link.src, link.dst):
                    changed = self._changed
                    closed = asyncio.ensure_future(conn.closed.wait())
                    woke = asyncio.ensure_future(changed.wait())
                    try:
                        await asyncio.wait((closed, woke), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        closed.cancel()
                        woke.cancel()
                    if conn.closed.is_set():
                        return False
        except TimeoutError:
            conn.close("held too long behind a partition")
            return False
        finally:
            conn.held = False
        return True

    async def _guard(self, conn: _Conn, work: Awaitable[None]) -> None:
        try:
            await work
        except (ConnectionError, OSError, TimeoutError) as exc:
            conn.reason = conn.reason or f"{exc!r}"
        finally:
            # Either direction ending ends the connection: p2p peers never half-close.
            conn.close(conn.reason or "closed by an endpoint")

    async def _forward(self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       *, forward: bool) -> None:
        """Copy one direction through a queue of (release time, chunk); ends at EOF or on the first error."""
        link = conn.link
        stats = self.stats[(link.src, link.dst)]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            last = 0.0
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    await queue.put(None)
                    return
                if forward:
                    stats.bytes_fwd += len(data)
                else:
                    stats.bytes_back += len(data)
                # Never before an earlier chunk: with jitter, order is still preserved.
                last = max(loop.time() + self._faults.link_delay_s(link.src, link.dst, self._rng), last)
                await queue.put((last, data))

        async def write() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                at, data = item
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await writer.drain()

        # Not a TaskGroup: its ExceptionGroup would hide a plain connection reset from `_guard`. Both halves
        # are awaited here, so neither outlives this call.
        reading, writing = asyncio.ensure_future(read()), asyncio.ensure_future(write())
        try:
            done, _ = await asyncio.wait((reading, writing), return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raise the connection error, if any
            await writing  # EOF read: let the queued chunks out before the connection closes
        finally:
            for task in (reading, writing):
                task.cancel()
            await asyncio.gather(reading, writing, return_exceptions=True)

    async def _drop_loop(self) -> None:
        while True:
            await asyncio.sleep(DROP_TICK_S)
            if not self._faults.drops:
                continue
            for conn in list(self._conns):
                p = self._faults.drop_probability(conn.link.src, conn.link.dst)
                if not conn.held and p > 0 and self._rng.random() < p:
                    self.stats[(conn.link.src, conn.link.dst)].closed_by_fault += 1
                    log.info("drop: closing link %d->%d", conn.link.src, conn.link.dst)
                    conn.close("drop")


async def serve_forever(proxy: FaultProxy, stop: asyncio.Event) -> None:
    """Run the proxy until `stop` is set."""
    task = asyncio.ensure_future(proxy.run())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises what stopped the proxy early (a taken port)
