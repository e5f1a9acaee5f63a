"""The Switch: listens, dials, authenticates and supervises peers, and routes messages to the node.

All tasks (the listener's connection handlers, dials, peers, the dialer loop) live in the TaskGroup of
`run()`. The node talks to the switch through non-blocking calls (`send`, `broadcast`, `report`, `dial`) and
receives through `on_message`, called synchronously from the peer's read task. Ping/Pong and peer exchange
are handled here and never delivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from p2p.addrbook import AddrBook
from p2p.address import AddressError, PeerAddress, compute_node_id, parse_hostport, parse_peer_address
from p2p.config import SwitchConfig
from p2p.errors import (
    DuplicatePeer,
    HandshakeError,
    IncompatiblePeer,
    LocalProtocolError,
    PeerProtocolError,
    PeerRejected,
    SelfConnection,
    UnexpectedPeer,
)
from p2p.handshake import NodeInfo, SecureSession, handshake, node_pubkey
from p2p.messages import Message, PexAddrs, PexRequest, encode_message
from p2p.peer import Peer, PeerStatus

log = logging.getLogger("p2p.switch")


def _noop(_peer_id: str) -> None:
    return None


@dataclass(slots=True)
class _Backoff:
    attempts: int = 0
    next_at: float = 0.0


@dataclass(slots=True)
class _Pending:
    """An inbound connection still in its handshake."""

    host: str
    since: float
    writer: asyncio.StreamWriter


@dataclass(slots=True)
class _Score:
    value: float = 0.0
    updated: float = 0.0


class Switch:
    def __init__(
        self,
        node_key: bytes,
        info: NodeInfo,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 26656,
        persistent_peers: Sequence[str] = (),
        seeds: Sequence[str] = (),
        max_inbound: int = 40,
        max_outbound: int = 10,
        addrbook_path: Path | None = None,
        on_message: Callable[[str, Message], None],
        on_peer_up: Callable[[str], None] = _noop,
        on_peer_down: Callable[[str], None] = _noop,
        config: SwitchConfig | None = None,
    ) -> None:
        if len(node_key) != 32:
            raise ValueError("node_key is a 32-byte secp256k1 secret")
        our_id = compute_node_id(node_pubkey(node_key))
        if info.node_id != our_id:
            raise ValueError(f"info.node_id {info.node_id!r} is not the id of node_key ({our_id})")
        self._key = node_key
        self._info = info
        self.node_id = our_id
        self._host = listen_host
        self._port = listen_port
        self._persistent = {a.node_id: a for a in map(parse_peer_address, persistent_peers)}
        self._seeds = {a.node_id: a for a in map(parse_peer_address, seeds)}
        self._max_in = max_inbound
        self._max_out = max_outbound
        self._cfg = config or SwitchConfig()
        self._on_message = on_message
        self._on_peer_up = on_peer_up
        self._on_peer_down = on_peer_down
        self._book = AddrBook(our_id, addrbook_path, self._cfg.addrbook_max)
        self._peers: dict[str, Peer] = {}
        self._dialing: set[str] = set()
        self._dial_requests: list[PeerAddress] = []
        self._backoff: dict[str, _Backoff] = {}
        self._bans: dict[str, float] = {}
        self._scores: dict[str, _Score] = {}
        self._pex_asked: dict[str, float] = {}  # peer id -> when we sent it a PexRequest
        self._pex_answered: dict[str, float] = {}  # peer id -> when we last answered its PexRequest
        self._pending: dict[int, _Pending] = {}  # accept sequence number -> connection in its handshake
        self._accepted = 0
        self.evicted_pending = 0  # pending handshakes aborted to make room (for status and tests)
        self._addr_bans: dict[str, float] = {}  # remote host -> banned until (monotonic)
        # Hosts never banned by address: ours and the persistent peers' (a loopback devnet shares one).
        self._unbannable_hosts = {listen_host} | {a.host for a in self._persistent.values()}
        self._tg: asyncio.TaskGroup | None = None
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()
        self._rng = random.SystemRandom()

    # ------------------------------------------------------------------------------------------ public API

    @property
    def listen_port(self) -> int:
        """The bound port (the real one when 0 was asked), valid once `wait_listening` returned."""
        return self._port

    @property
    def info(self) -> NodeInfo:
        return self._info

    @property
    def addrbook(self) -> AddrBook:
        return self._book

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def send(self, peer_id: str, msg: Message) -> bool:
        """Queue `msg` for one peer without blocking; False if there is no such peer or its queue is full."""
        peer = self._peers.get(peer_id)
        if peer is None:
            return False
        return peer.send(msg)

    def broadcast(self, msg: Message, exclude: str | None = None) -> int:
        """Queue `msg` for every peer but `exclude` (encoded once); returns how many peers accepted it."""
        payload = encode_message(msg, self._cfg.max_message_size)
        channel = msg.CHANNEL
        return sum(peer.enqueue(channel, payload) for pid, peer in self._peers.items() if pid != exclude)

    def peers(self) -> list[PeerStatus]:
        now = time.monotonic()
        return [peer.status(self._current_score(pid, now)) for pid, peer in self._peers.items()]

    def banned(self) -> dict[str, float]:
        """Node id -> seconds left of its ban, for every peer banned now."""
        now = time.monotonic()
        return {pid: round(until - now, 1) for pid, until in self._bans.items() if until > now}

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self._peers

    def is_banned(self, peer_id: str) -> bool:
        until = self._bans.get(peer_id)
        return until is not None and until > time.monotonic()

    def is_address_banned(self, host: str) -> bool:
        until = self._addr_bans.get(host)
        return until is not None and until > time.monotonic()

    def report(self, peer_id: str, fault: str, severity: int = 10) -> None:
        """The node found invalid data from `peer_id`; enough accumulated severity disconnects and bans it."""
        self._penalize(peer_id, fault, severity)

    def dial(self, addr: str) -> None:
        """Ask to connect to `id@host:port` (raises AddressError if malformed); the dialer loop does the work."""
        self._dial_requests.append(parse_peer_address(addr))
        self._wake.set()

    # ------------------------------------------------------------------------------------------ run

    async def run(self) -> None:
        """Listen and dial until cancelled; every task of the switch lives in this TaskGroup."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                server = await asyncio.start_server(self._on_accept, self._host, self._port)
                try:
                    self._port = server.sockets[0].getsockname()[1]
                    if not self._info.listen_addr or self._info.listen_addr.endswith(":0"):
                        # Advertise the port we really got, so peer exchange hands out a dialable address.
                        self._info = replace(self._info, listen_addr=f"{self._host}:{self._port}")
                    self._listening.set()
                    log.info("p2p %s listening on %s:%d", self.node_id[:8], self._host, self._port)
                    await self._dial_loop()
                finally:
                    server.close()
        finally:
            self._tg = None
            self._save_book()

    def _on_accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function on purpose: asyncio would run a coroutine callback as a task nobody owns.
        peername = writer.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) else str(peername)
        if self._tg is None or self.is_address_banned(host):
            writer.transport.abort()
            return
        self._make_pending_room(host)
        self._accepted += 1
        key = self._accepted
        self._pending[key] = _Pending(host, time.monotonic(), writer)
        self._tg.create_task(self._serve_inbound(key, reader, writer))

    def _make_pending_room(self, host: str) -> None:
        """Abort the oldest handshake in the way of a new one from `host`: its address's own when
        that address is at its bound, else (all slots taken) the address holding the most."""
        by_host: dict[str, list[int]] = {}
        for key, pending in self._pending.items():  # in accept order: oldest first
            by_host.setdefault(pending.host, []).append(key)
        victim: int | None = None
        if len(by_host.get(host, ())) >= self._cfg.max_pending_per_address:
            victim = by_host[host][0]
        elif len(self._pending) >= self._cfg.max_pending_inbound:
            victim = max(by_host.values(), key=len)[0]
        if victim is not None:
            pending = self._pending.pop(victim)
            self.evicted_pending += 1
            log.debug("aborting the pending handshake from %s (%.1fs old) to make room", pending.host,
                      time.monotonic() - pending.since)
            pending.writer.transport.abort()

    async def _serve_inbound(self, key: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            session = await self._handshake(reader, writer, None)
        finally:
            self._pending.pop(key, None)  # already gone if it was evicted
        if session is None:
            return
        peer = self._admit(session, reader, writer, outbound=False)
        if peer is not None:
            await self._run_peer(peer)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expected_id: str | None
    ) -> SecureSession | None:
        try:
            return await handshake(
                reader,
                writer,
                self._key,
                self._info,
                expected_id=expected_id,
                timeout=self._cfg.handshake_timeout,
                max_message_size=self._cfg.max_message_size,
            )
        except (HandshakeError, PeerProtocolError) as exc:
            log.info("handshake with %s failed: %s: %s", writer.get_extra_info("peername"), type(exc).__name__, exc)
            writer.transport.abort()
            if expected_id is not None:
                self._dial_failed(expected_id, exc)
            return None

    def _admit(
        self, session: SecureSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, outbound: bool
    ) -> Peer | None:
        peer_id = session.peer_info.node_id
        peername = writer.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) else str(peername)
        try:
            self._check_admission(peer_id, outbound, host)
        except HandshakeError as exc:
            log.info("rejecting %s: %s", peer_id[:8], exc)
            writer.transport.abort()
            return None
        peer = Peer(
            session,
            reader,
            writer,
            outbound=outbound,
            persistent=peer_id in self._persistent,
            config=self._cfg,
            on_message=self._deliver,
            on_fault=self._on_peer_fault,
        )
        self._peers[peer_id] = peer
        self._backoff.pop(peer_id, None)
        self._book.mark_good(peer_id)
        if not outbound and self._cfg.pex:
            self._learn_listen_addr(session.peer_info)
        log.info("peer %s up (%s, %s)", peer_id[:8], "out" if outbound else "in", peer.address)
        self._call(self._on_peer_up, peer_id)
        if outbound:
            self._ask_pex(peer)
        return peer

    def _check_admission(self, peer_id: str, outbound: bool, host: str) -> None:
        if self.is_banned(peer_id):
            raise PeerRejected("banned")
        if peer_id not in self._persistent and self.is_address_banned(host):
            raise PeerRejected(f"address {host} banned")
        existing = self._peers.get(peer_id)
        if existing is not None:
            # Both sides may dial each other at once: both keep the connection dialed by the lower node id.
            new_dialer = self.node_id if outbound else peer_id
            old_dialer = self.node_id if existing.outbound else peer_id
            if new_dialer == old_dialer or new_dialer != min(self.node_id, peer_id):
                raise DuplicatePeer("already connected")
            existing.replaced = True
            existing.close("replaced by the connection dialed by the lower node id")
            del self._peers[peer_id]
            self._call(self._on_peer_down, peer_id)
            return
        if peer_id in self._persistent:
            return  # persistent peers always get a slot
        if outbound and self._count(outbound=True) >= self._max_out:
            raise PeerRejected("outbound slots full")
        if not outbound and self._count(outbound=False) >= self._max_in:
            raise PeerRejected("inbound slots full")

    def _count(self, *, outbound: bool) -> int:
        return sum(1 for p in self._peers.values() if p.outbound == outbound and not p.persistent)

    async def _run_peer(self, peer: Peer) -> None:
        try:
            await peer.run()
        except Exception:  # a bug in a peer task must not take the switch (and every other peer) down
            log.exception("peer %s task failed", peer.node_id[:8])
            peer.close("internal error")
        finally:
            if self._peers.get(peer.node_id) is peer:
                del self._peers[peer.node_id]
                if not peer.replaced:
                    self._call(self._on_peer_down, peer.node_id)
            self._pex_asked.pop(peer.node_id, None)
            log.info("peer %s down: %s", peer.node_id[:8], peer.close_reason)
            if peer.fault is not None:
                # Malformed, undecryptable or oversized frames: never sent by an honest node.
                self._penalize(peer.node_id, f"protocol violation: {peer.fault}", self._cfg.ban_threshold)
            elif peer.persistent:
                self._schedule_retry(peer.node_id)
            self._wake.set()

    # ------------------------------------------------------------------------------------------ dialing

    async def _dial_loop(self) -> None:
        last_pex = time.monotonic()
        last_save = time.monotonic()
        while True:
            now = time.monotonic()
            self._dial_some(now)
            if now - last_pex >= self._cfg.pex_interval:
                last_pex = now
                self._pex_round()
            if self._book.dirty and now - last_save >= self._cfg.addrbook_save_interval:
                last_save = now
                self._save_book()
            self._wake.clear()
            # Wake early on dial() or a peer going down; jitter keeps a cluster from dialing in lockstep.
            tick = self._cfg.dial_interval * self._rng.uniform(0.8, 1.2)
            try:
                async with asyncio.timeout(tick):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _dial_some(self, now: float) -> None:
        requests, self._dial_requests = self._dial_requests, []
        for addr in requests:
            self._start_dial(addr, now, force=True)
        for addr in self._persistent.values():
            self._start_dial(addr, now)
        free = self._max_out - self._count(outbound=True) - len(self._dialing)
        if free <= 0:
            return
        busy = set(self._peers) | self._dialing | {self.node_id}
        if self._cfg.pex:
            for addr in self._book.candidates(busy):
                if free <= 0:
                    break
                if self._start_dial(addr, now):
                    free -= 1
        # Seeds bootstrap the book: dial one while we know fewer addresses than we want peers.
        if free > 0 and len(self._book) < self._max_out and not any(s in busy for s in self._seeds):
            for addr in self._rng.sample(list(self._seeds.values()), len(self._seeds)):
                if self._start_dial(addr, now):
                    break

    def _start_dial(self, addr: PeerAddress, now: float, *, force: bool = False) -> bool:
        pid = addr.node_id
        if pid == self.node_id or pid in self._peers or pid in self._dialing or self.is_banned(pid):
            return False
        backoff = self._backoff.get(pid)
        if backoff is not None and now < backoff.next_at and not force:
            return False
        if self._tg is None:
            return False
        self._dialing.add(pid)
        self._tg.create_task(self._dial(addr), name=f"dial-{pid[:8]}")
        return True

    async def _dial(self, addr: PeerAddress) -> None:
        pid = addr.node_id
        try:
            try:
                async with asyncio.timeout(self._cfg.dial_timeout):
                    reader, writer = await asyncio.open_connection(addr.host, addr.port)
            except (OSError, TimeoutError) as exc:
                log.debug("dial %s failed: %r", addr, exc)
                self._dial_failed(pid, exc)
                return
            session = await self._handshake(reader, writer, pid)
            if session is None:
                return
            peer = self._admit(session, reader, writer, outbound=True)
        finally:
            self._dialing.discard(pid)
        if peer is not None:
            await self._run_peer(peer)

    def _dial_failed(self, pid: str, exc: BaseException) -> None:
        if isinstance(exc, UnexpectedPeer | SelfConnection | IncompatiblePeer):
            # The address is wrong for good (someone else answers, it is us, or another network): forget it.
            self._book.remove(pid)
        else:
            self._book.mark_failed(pid)
        if not isinstance(exc, DuplicatePeer):
            self._schedule_retry(pid)

    def _schedule_retry(self, pid: str) -> None:
        backoff = self._backoff.setdefault(pid, _Backoff())
        delay = min(self._cfg.backoff_cap, self._cfg.backoff_base * 2**backoff.attempts)
        backoff.attempts = min(backoff.attempts + 1, 32)  # bounded exponent
        backoff.next_at = time.monotonic() + delay * self._rng.uniform(0.5, 1.0)  # "equal jitter"

    # ------------------------------------------------------------------------------------------ messages, PEX

    def _deliver(self, peer: Peer, msg: Message) -> None:
        if isinstance(msg, PexRequest):
            self._on_pex_request(peer)
        elif isinstance(msg, PexAddrs):
            self._on_pex_addrs(peer, msg)
        else:
            try:
                self._on_message(peer.node_id, msg)
            except Exception:  # the node's bug, not the peer's fault: log it and keep the connection
                log.exception("on_message failed for %s from %s", type(msg).__name__, peer.node_id[:8])

    def _ask_pex(self, peer: Peer) -> None:
        if not self._cfg.pex:
            return
        self._pex_asked[peer.node_id] = time.monotonic()
        peer.send(PexRequest())

    def _pex_round(self) -> None:
        # Keep learning while the book is smaller than what we would like to dial.
        if self._peers and len(self._book) < self._cfg.addrbook_max // 2:
            self._ask_pex(self._rng.choice(list(self._peers.values())))

    def _on_pex_request(self, peer: Peer) -> None:
        now = time.monotonic()
        last = self._pex_answered.get(peer.node_id)
        if last is not None and now - last < self._cfg.pex_interval / 2:
            self._penalize(peer.node_id, "peer exchange requests too frequent", 2)
            return
        self._pex_answered[peer.node_id] = now
        if not self._cfg.pex:
            peer.send(PexAddrs(()))
            return
        exclude = {peer.node_id, self.node_id}
        addrs: list[str] = []
        for other in self._peers.values():
            if other.node_id not in exclude and (addr := self._listen_addr(other.info)) is not None:
                addrs.append(str(addr))
                exclude.add(other.node_id)
        addrs += [str(a) for a in self._book.sample(self._cfg.pex_max_addrs, exclude)]
        self._rng.shuffle(addrs)
        peer.send(PexAddrs(tuple(addrs[: self._cfg.pex_max_addrs])))

    def _on_pex_addrs(self, peer: Peer, msg: PexAddrs) -> None:
        if self._pex_asked.pop(peer.node_id, None) is None:
            self._penalize(peer.node_id, "unsolicited peer exchange addresses", 10)
            return
        added = sum(self._book.add(a, source=peer.node_id) for a in msg.addrs)
        if added:
            log.debug("learned %d addresses from %s", added, peer.node_id[:8])
            self._wake.set()

    @staticmethod
    def _listen_addr(info: NodeInfo) -> PeerAddress | None:
        try:
            host, port = parse_hostport(info.listen_addr)
        except AddressError:
            return None
        if host in ("0.0.0.0", "::"):
            return None  # a wildcard bind is not an address anyone can dial
        return PeerAddress(info.node_id, host, port)

    def _learn_listen_addr(self, info: NodeInfo) -> None:
        addr = self._listen_addr(info)
        if addr is not None:
            self._book.add(addr, source=info.node_id)

    # ------------------------------------------------------------------------------------------ misbehaviour

    def _current_score(self, peer_id: str, now: float) -> float:
        score = self._scores.get(peer_id)
        if score is None:
            return 0.0
        # Linear decay: occasional honest mistakes are forgiven, sustained misbehaviour is not.
        score.value = max(0.0, score.value - (now - score.updated) * self._cfg.score_decay_per_s)
        score.updated = now
        return score.value

    def _on_peer_fault(self, peer: Peer, fault: str, severity: int) -> None:
        self._penalize(peer.node_id, fault, severity)

    def _penalize(self, peer_id: str, fault: str, severity: int) -> None:
        if severity <= 0:
            raise LocalProtocolError("severity must be positive")
        now = time.monotonic()
        value = self._current_score(peer_id, now) + severity
        self._scores[peer_id] = _Score(value, now)
        log.info("peer %s misbehaved (+%d = %.0f): %s", peer_id[:8], severity, value, fault)
        if value < self._cfg.ban_threshold:
            return
        self._bans[peer_id] = now + self._cfg.ban_seconds
        self._scores.pop(peer_id, None)
        log.warning("banning peer %s for %gs: %s", peer_id[:8], self._cfg.ban_seconds, fault)
        peer = self._peers.get(peer_id)
        if peer is not None:
            host = peer.address.rpartition(":")[0].strip("[]")
            if self._cfg.ban_addresses and not peer.persistent and host not in self._unbannable_hosts:
                # A fresh key from the same address must not walk straight back in.
                self._addr_bans[host] = now + self._cfg.ban_seconds
                log.warning("banning address %s for %gs along with peer %s", host, self._cfg.ban_seconds,
                            peer_id[:8])
            peer.close(f"banned: {fault}")
        # A banned persistent peer is retried only once the ban is over.
        self._backoff[peer_id] = _Backoff(attempts=0, next_at=now + self._cfg.ban_seconds)
        if len(self._bans) > 10 * self._cfg.addrbook_max:  # bounded: forget expired bans
            self._bans = {k: v for k, v in self._bans.items() if v > now}
        if len(self._addr_bans) > 10 * self._cfg.addrbook_max:
            self._addr_bans = {k: v for k, v in self._addr_bans.items() if v > now}

    # ------------------------------------------------------------------------------------------ helpers

    def _call(self, callback: Callable[[str], None], peer_id: str) -> None:
        try:
            callback(peer_id)
        except Exception:
            log.exception("peer callback %s failed for %s", getattr(callback, "__name__", callback), peer_id[:8])

    def _save_book(self) -> None:
        try:
            self._book.save()
        except OSError as exc:
            log.warning("could not save the address book: %s", exc)
