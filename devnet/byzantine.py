"""Misbehaving peers for end-to-end tests, as real processes:

    python -m devnet.byzantine junk-precommits --home DEVNET_DIR [--duration 30]
    python -m devnet.byzantine validator --home DEVNET_DIR --as node3 [--modes equivocate,...] [--phase 6]

`validator` runs a byzantine validator in a stopped node's place (devnet/byzantine_validator.py). The rest of
this module is `junk-precommits`:

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

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.byzantine_validator import ALL_MODES, parse_modes
from devnet.byzantine_validator import serve as serve_validator
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


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.byzantine", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="attack", required=True)
    junk = sub.add_parser("junk-precommits", help="precommits signed by a non-validator key, to every validator")
    junk.add_argument("--home", required=True, help="the devnet folder (holding devnet.json)")
    junk.add_argument("--duration", type=float, default=30.0, help="seconds to attack, then stop (default 30)")
    val = sub.add_parser("validator", help="a byzantine validator in a stopped validator's place")
    val.add_argument("--home", required=True, help="the devnet folder (holding devnet.json)")
    val.add_argument("--as", dest="name", required=True, help="the stopped validator to stand in for, e.g. node3")
    val.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma-separated, in turn (default: all: "
                     f"{','.join(ALL_MODES)})")
    val.add_argument("--phase", type=float, default=6.0, help="seconds per mode (default 6)")
    args = parser.parse_args(argv)
    if args.attack == "validator":
        try:
            modes = parse_modes(args.modes)
            if not 0 < args.phase <= 3600:
                raise DevnetError("--phase: between 0 and 3600 seconds")
            asyncio.run(serve_validator(Path(args.home), args.name, modes, args.phase))
        except DevnetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if not 0 < args.duration <= 3600:
        parser.error("--duration: between 0 and 3600 seconds")
    try:
        validators, genesis = load_target(Path(args.home))
    except (DevnetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    attack = JunkPrecommits(validators, genesis.chain_id, genesis.hash(), args.duration, _print_json)
    asyncio.run(attack.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
