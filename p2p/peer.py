"""One authenticated connection: bounded per-channel send queues, a reader, a writer and a keepalive.

The Peer is a thin asyncio adapter over the pure SecretConnection. It owns three tasks in its own TaskGroup;
whichever finds a problem records a reason (and, if it is the peer's fault, the error) and sets `_closed`,
which ends them all. `send` never blocks: a full queue drops the message and counts it, so one slow peer
cannot stall the node or the other peers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from p2p.config import SwitchConfig
from p2p.errors import LocalProtocolError, P2PError, PeerProtocolError
from p2p.handshake import NodeInfo, SecureSession
from p2p.messages import Channel, Message, Ping, Pong, encode_message

log = logging.getLogger("p2p.peer")

# Strict priority when filling a write batch: liveness first, then consensus, then the bulk channels.
CHANNEL_PRIORITY: tuple[int, ...] = (
    Channel.CONTROL,
    Channel.CONSENSUS,
    Channel.BLOCKSYNC,
    Channel.MEMPOOL,
    Channel.PEX,
)


@dataclass(frozen=True, slots=True)
class PeerStatus:
    node_id: str
    address: str  # remote host:port of the TCP connection
    listen_addr: str  # what the peer advertised in its NodeInfo
    moniker: str
    outbound: bool
    persistent: bool
    connected_since: float  # wall-clock seconds since the epoch
    bytes_in: int
    bytes_out: int
    frames_in: int
    frames_out: int
    dropped: int  # messages dropped because a send queue was full
    score: float


class TokenBucket:
    """Classic token bucket on the monotonic clock; `take` returns how long to wait to be back in budget."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate, self._burst, self._tokens, self._last = rate, burst, burst, now

    def take(self, amount: float, now: float) -> float:
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class _SendQueue:
    __slots__ = ("bytes", "items")

    def __init__(self) -> None:
        self.items: deque[bytes] = deque()
        self.bytes = 0


class Peer:
    def __init__(
        self,
        session: SecureSession,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
        persistent: bool,
        config: SwitchConfig,
        on_message: Callable[[Peer, Message], None],
        on_fault: Callable[[Peer, str, int], None],
    ) -> None:
        self.session = session
        self.info: NodeInfo = session.peer_info
        self.node_id = session.peer_info.node_id
        self.outbound = outbound
        self.persistent = persistent
        self._conn = session.conn
        self._reader = reader
        self._writer = writer
        self._cfg = config
        self._on_message = on_message
        self._on_fault = on_fault
        peer = writer.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.connected_since = time.time()
        self.bytes_in = 0
        self.dropped = 0
        self.close_reason = ""
        self.fault: PeerProtocolError | None = None
        self.replaced = False  # set by the switch when a better duplicate connection takes this one's place
        self._queues: dict[int, _SendQueue] = {int(c): _SendQueue() for c in Channel}
        self._wakeup = asyncio.Event()
        self._closed = asyncio.Event()
        self._ping_nonce: int | None = None
        self._ping_sent_at = 0.0
        self.rtt: float | None = None
        now = time.monotonic()
        self._byte_bucket = TokenBucket(config.recv_rate_bytes, config.recv_burst_bytes, now)
        self._msg_bucket = TokenBucket(config.recv_rate_msgs, config.recv_burst_msgs, now)

    # ------------------------------------------------------------------------------------------ sending

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    def enqueue(self, channel: int, payload: bytes) -> bool:
        """Queue one encoded message; False (and counted) when the channel's queue is full or we are closing."""
        if self._closed.is_set():
            self.dropped += 1
            return False
        queue = self._queues[channel]
        if len(queue.items) >= self._cfg.send_queue_msgs or queue.bytes + len(payload) > self._cfg.send_queue_bytes:
            self.dropped += 1
            return False
        queue.items.append(payload)
        queue.bytes += len(payload)
        self._wakeup.set()
        return True

    def is_full(self, channel: int) -> bool:
        """True when nothing more can be queued on `channel`: callers skip encoding a message bound to be dropped."""
        queue = self._queues[channel]
        return len(queue.items) >= self._cfg.send_queue_msgs or queue.bytes >= self._cfg.send_queue_bytes

    def send(self, msg: Message) -> bool:
        if self.is_full(msg.CHANNEL):
            self.dropped += 1
            return False
        return self.enqueue(msg.CHANNEL, encode_message(msg, self._cfg.max_message_size))

    def queued_bytes(self) -> int:
        return sum(q.bytes for q in self._queues.values())

    def _take_batch(self) -> list[bytes]:
        out: list[bytes] = []
        size, limit = 0, self._cfg.write_batch_bytes
        for channel in CHANNEL_PRIORITY:
            queue = self._queues[channel]
            while queue.items and size < limit:
                payload = queue.items.popleft()
                queue.bytes -= len(payload)
                size += self._conn.seal_payload(payload, out)
            if size >= limit:
                break
        return out

    # ------------------------------------------------------------------------------------------ lifecycle

    def close(self, reason: str, fault: PeerProtocolError | None = None) -> None:
        """Ask the peer's tasks to stop; the first reason wins."""
        if self._closed.is_set():
            return
        self.close_reason = reason
        self.fault = fault
        self._closed.set()

    def status(self, score: float) -> PeerStatus:
        return PeerStatus(
            node_id=self.node_id,
            address=self.address,
            listen_addr=self.info.listen_addr,
            moniker=self.info.moniker,
            outbound=self.outbound,
            persistent=self.persistent,
            connected_since=self.connected_since,
            bytes_in=self.bytes_in,
            bytes_out=self._conn.bytes_out,
            frames_in=self._conn.frames_in,
            frames_out=self._conn.frames_out,
            dropped=self.dropped,
            score=score,
        )

    async def run(self) -> None:
        """Serve the connection until it closes; the caller reads close_reason and fault afterwards."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._guard(self._read_loop()), name=f"peer-read-{self.node_id[:8]}"),
                    tg.create_task(self._guard(self._write_loop()), name=f"peer-write-{self.node_id[:8]}"),
                    tg.create_task(self._guard(self._ping_loop()), name=f"peer-ping-{self.node_id[:8]}"),
                ]
                await self._closed.wait()
                for task in tasks:
                    task.cancel()
        finally:
            if not self._closed.is_set():
                self.close("stopped")
            # abort, not close: a peer that stopped reading must not keep our buffers (or this task) alive.
            self._writer.transport.abort()

    async def _guard(self, loop: Awaitable[None]) -> None:
        try:
            await loop
        except asyncio.CancelledError:
            raise
        except PeerProtocolError as exc:
            self.close(f"protocol error: {exc}", exc)
        except LocalProtocolError as exc:  # e.g. nonce exhaustion: our side must stop using this connection
            self.close(f"local protocol error: {exc}")
        except TimeoutError:  # before OSError, of which it is a subclass
            self.close("write timeout: the peer is not reading")
        except (ConnectionError, OSError) as exc:
            self.close(f"connection error: {exc!r}")
        except P2PError as exc:
            self.close(f"p2p error: {exc}")

    async def _read_loop(self) -> None:
        conn, reader, chunk = self._conn, self._reader, self._cfg.read_chunk
        data = b""
        while not self._closed.is_set():
            # Serve what is buffered before reading more: frames that came in the same read as the
            # peer's AuthMsg are already in the decoder when the session starts. Bounded: at most
            # one chunk's worth of frames is buffered.
            while (msg := conn.next_message()) is not None:
                now = time.monotonic()
                if self._msg_bucket.take(1, now) > 0:
                    self._on_fault(self, "message flood: receive rate limit exceeded", self._cfg.flood_severity)
                    continue
                if isinstance(msg, Ping):
                    self.enqueue(Channel.CONTROL, encode_message(Pong(msg.nonce)))
                elif isinstance(msg, Pong):
                    if msg.nonce == self._ping_nonce:
                        self._ping_nonce = None
                        self.rtt = now - self._ping_sent_at
                else:
                    self._on_message(self, msg)
                if self._closed.is_set():
                    return
            delay = self._byte_bucket.take(len(data), time.monotonic()) if data else 0.0
            if delay > 0:
                # Throttle instead of punishing: not reading pushes back through TCP to the sender.
                await asyncio.sleep(min(delay, 1.0))
            data = await reader.read(chunk)
            if not data:
                self.close("connection closed by the peer")
                return
            self.bytes_in += len(data)
            conn.receive_data(data)

    async def _write_loop(self) -> None:
        writer = self._writer
        while not self._closed.is_set():
            await self._wakeup.wait()
            self._wakeup.clear()
            while batch := self._take_batch():
                if writer.transport.is_closing():
                    # Closed under us (a reset seen by the reader): uvloop raises RuntimeError on a write
                    # to a closed handle, so end here as the connection error it is.
                    raise ConnectionResetError("the connection closed before the write")
                writer.writelines(batch)
                async with asyncio.timeout(self._cfg.write_timeout):
                    await writer.drain()

    async def _ping_loop(self) -> None:
        interval, timeout = self._cfg.ping_interval, self._cfg.ping_timeout
        while not self._closed.is_set():
            await asyncio.sleep(min(interval, timeout))
            now = time.monotonic()
            if self._ping_nonce is not None:
                if now - self._ping_sent_at >= timeout:
                    self.close(f"no pong within {timeout:g}s")
                    return
                continue
            if now - self._ping_sent_at >= interval:
                self._ping_nonce = secrets.randbits(63)
                self._ping_sent_at = now
                self.enqueue(Channel.CONTROL, encode_message(Ping(self._ping_nonce)))
