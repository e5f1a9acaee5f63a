"""A misbehaving peer that is no validator (`python -m devnet.byzantine junk-precommits`, devnet/byzantine.py):

It dials every validator of the devnet (their real P2P addresses in devnet.json, not the fault proxy) with a
fresh node key, and holds a fresh signing key that is no validator's. From the proposals and votes the
validators broadcast it learns which block each height and round is deciding, and at once sends every
validator a correctly signed precommit for it from that key: junk a correct node must drop without keeping
it anywhere, and a reason to penalise the sender, since an honest node never relays a non-validator's vote.

A dropped connection is redialed every RETRY_S. A session the node closes before sending us anything (or a
failed handshake) after we had been connected counts as a refused reconnection: a node that banned us
completes the handshake, then closes at once, while an admitted peer hears the node's round step within
about 50 ms. Stdout gets one JSON object per line (events, then a `summary`); the process stops by itself
after `--duration` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.errors import DevnetError
from devnet.homes import Manifest
from node.types.block import PRECOMMIT, sign_vote
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.genesis import Genesis, load_genesis
from p2p.address import compute_node_id, parse_peer_address
from p2p.errors import HandshakeError, P2PError
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, handshake, node_pubkey
from p2p.messages import Message, Ping, Pong, ProposalMsg, VoteMsg, encode_message
from p2p.secret_connection import SecretConnection

RETRY_S = 0.5
CONNECT_TIMEOUT_S = 3.0
HANDSHAKE_TIMEOUT_S = 5.0
READ_CHUNK = 65536
MAX_TARGETS = 10_000  # bounded memory: older targets are forgotten, they are behind the chain anyway


@dataclass(frozen=True, slots=True)
class Target:
    """A value a height and round is deciding, as a validator's message names it."""

    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class Validator:
    name: str
    node_id: str
    host: str
    port: int


def target_of(msg: Message) -> Target | None:
    """What a message says is being decided: a proposal's block, or the block of a non-nil vote."""
    match msg:
        case ProposalMsg(height=h, round=r, block_hash=value):
            return Target(h, r, value)
        case VoteMsg(height=h, round=r, block_hash=value) if value:
            return Target(h, r, value)
    return None


def junk_precommit(key: PrivateKey, chain_id: str, target: Target) -> VoteMsg:
    """A precommit for `target`, correctly signed by `key` (signature and all as a validator's would be)."""
    sig = sign_vote(key, chain_id, PRECOMMIT, target.height, target.round, target.block_hash)
    return VoteMsg(PRECOMMIT, target.height, target.round, target.block_hash, key.address, sig)


@dataclass(slots=True)
class LinkStats:
    """What happened on the connection to one validator (mutable counters, reported as JSON)."""

    sessions: int = 0  # sessions in which the node sent us at least one message
    sent: int = 0  # junk precommits queued on this link
    disconnects: int = 0  # admitted sessions the node closed
    first_disconnect_s: float | None = None
    attempts_after_disconnect: int = 0
    refused: int = 0  # attempts after a disconnect that the node closed before any message, or failed to set up
    readmitted: int = 0  # sessions after a disconnect in which the node did talk to us again
    last_close: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "sent": self.sent, "disconnects": self.disconnects,
                "first_disconnect_s": self.first_disconnect_s, "attempts_after_disconnect":
                self.attempts_after_disconnect, "refused": self.refused, "readmitted": self.readmitted,
                "last_close": self.last_close}


@dataclass(slots=True)
class _Live:
    conn: SecretConnection
    writer: asyncio.StreamWriter
    closed: bool = False

    def send(self, msg: Message) -> bool:
        if self.closed or self.writer.is_closing():
            return False
        out: list[bytes] = []
        self.conn.seal_payload(encode_message(msg), out)
        self.writer.writelines(out)  # small frames: the transport buffers them, no drain needed
        return True


@dataclass(slots=True)
class JunkPrecommits:
    validators: tuple[Validator, ...]
    chain_id: str
    genesis_hash: bytes
    duration_s: float
    emit: Callable[[dict[str, Any]], None]
    node_key: PrivateKey = field(default_factory=PrivateKey.generate)
    signing_key: PrivateKey = field(default_factory=PrivateKey.generate)
    stats: dict[str, LinkStats] = field(default_factory=dict)
    live: dict[str, _Live] = field(default_factory=dict)
    done: set[Target] = field(default_factory=set)
    highest: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def node_id(self) -> str:
        return compute_node_id(node_pubkey(self.node_key.secret))

    def _now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    async def run(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self.stats = {v.name: LinkStats() for v in self.validators}
        self.emit({"event": "start", "node_id": self.node_id, "signer": to_checksum_address(self.signing_key.address),
                   "validators": [v.name for v in self.validators], "duration_s": self.duration_s})
        async with asyncio.TaskGroup() as tg:
            for v in self.validators:
                tg.create_task(self._link(v))
        heights = {t.height for t in self.done}
        summary = {"event": "summary", "node_id": self.node_id,
                   "signer": to_checksum_address(self.signing_key.address), "elapsed_s": self._now(),
                   "precommits": sum(s.sent for s in self.stats.values()), "targets": len(self.done),
                   "heights": len(heights), "highest": self.highest,
                   "peers": {name: s.to_json() for name, s in self.stats.items()}}
        self.emit(summary)
        return summary

    def _left(self) -> float:
        return self.duration_s - (time.monotonic() - self.started)

    async def _link(self, v: Validator) -> None:
        stats = self.stats[v.name]
        while self._left() > 0:
            after_disconnect = stats.disconnects > 0
            if after_disconnect:
                stats.attempts_after_disconnect += 1
            outcome = await self._session(v, stats)
            if outcome == "silent" and after_disconnect:
                stats.refused += 1
                self.emit({"event": "refused", "peer": v.name, "at_s": self._now(), "how": stats.last_close})
            await asyncio.sleep(max(0.0, min(RETRY_S, self._left())))

    async def _session(self, v: Validator, stats: LinkStats) -> str:
        """One connection: "talked" if the node sent us anything, "silent" if not, "ended" at our deadline."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(v.host, v.port)
        except (OSError, TimeoutError) as exc:
            stats.last_close = f"dial failed: {exc!r}"
            return "silent"
        info = NodeInfo(self.node_id, self.chain_id, self.genesis_hash, PROTOCOL_VERSION, "", "byzantine")
        try:
            session = await handshake(reader, writer, self.node_key.secret, info, expected_id=v.node_id,
                                      timeout=HANDSHAKE_TIMEOUT_S)
        except (HandshakeError, P2PError) as exc:
            writer.transport.abort()
            stats.last_close = f"handshake failed: {type(exc).__name__}: {exc}"
            return "silent"
        link = _Live(session.conn, writer)
        talked = False
        ended = False
        try:
            while True:
                left = self._left()
                if left <= 0:
                    ended = True
                    break
                try:
                    async with asyncio.timeout(left):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    ended = True
                    break
                if not data:
                    stats.last_close = "closed by the node"
                    break
                session.conn.receive_data(data)
                while (msg := session.conn.next_message()) is not None:
                    if not talked:
                        talked = True
                        self._admitted(v, stats, link)
                    self._on_message(link, msg)
        except (OSError, P2PError) as exc:
            stats.last_close = f"connection error: {exc!r}"
        finally:
            link.closed = True
            if self.live.get(v.name) is link:
                del self.live[v.name]
            writer.transport.abort()
        if ended:
            return "ended"
        if talked:
            stats.disconnects += 1
            if stats.first_disconnect_s is None:
                stats.first_disconnect_s = self._now()
            self.emit({"event": "disconnected", "peer": v.name, "at_s": self._now(), "how": stats.last_close})
            return "talked"
        return "silent"

    def _admitted(self, v: Validator, stats: LinkStats, link: _Live) -> None:
        stats.sessions += 1
        if stats.disconnects:
            stats.readmitted += 1
        self.live[v.name] = link
        self.emit({"event": "connected", "peer": v.name, "at_s": self._now(),
                   "after_disconnect": stats.disconnects > 0})

    def _on_message(self, link: _Live, msg: Message) -> None:
        if isinstance(msg, Ping):
            link.send(Pong(msg.nonce))  # an unanswered ping would close the link for a reason not ours
            return
        target = target_of(msg)
        if target is None or target.height < self.highest or target in self.done:
            return
        if target.height > self.highest:
            self.highest = target.height
            if len(self.done) > MAX_TARGETS:
                self.done = {t for t in self.done if t.height >= self.highest}
        self.done.add(target)
        vote = junk_precommit(self.signing_key, self.chain_id, target)
        to = []
        for name, peer in self.live.items():
            if peer.send(vote):
                self.stats[name].sent += 1
                to.append(name)
        self.emit({"event": "precommit", "at_s": self._now(), "height": target.height, "round": target.round,
                   "block_hash": "0x" + target.block_hash.hex(), "to": to})


def validators_of(manifest: Manifest) -> tuple[Validator, ...]:
    out = []
    for n in manifest.nodes:
        if n.role == "validator":
            addr = parse_peer_address(n.p2p)
            out.append(Validator(n.name, addr.node_id, addr.host, addr.port))
    return tuple(out)


def load_target(home: Path) -> tuple[tuple[Validator, ...], Genesis]:
    """The validators to attack and the genesis to handshake with, from a devnet folder."""
    manifest = Manifest.load(home)
    validators = validators_of(manifest)
    if not validators:
        raise DevnetError(f"{home}: the devnet has no validator")
    return validators, load_genesis(Path(manifest.nodes[0].home) / "config" / "genesis.json")
