"""Resource attacks on a devnet's validators, as a real process:

    python -m devnet.flood junk-votes --home DEVNET_DIR [--duration 30] [--source 127.0.0.2]
    python -m devnet.flood idle --home DEVNET_DIR [--duration 30] [--per-validator 36]

junk-votes: dials every validator (its real P2P address, not the fault proxy) and sends prevotes
at the height the node announces, each from a made-up validator address with a made-up
signature, as fast as the socket drains. Each session uses a fresh node key; a closed session
is redialed every RETRY_S from `--source` (127.0.0.2 stands for another machine: a node bans
the addresses of banned peers, but never its own listen host). It counts the votes sent, the
sessions the node admitted (it sent us a message) and the ones it refused.

idle: holds `--per-validator` TCP connections to every validator that never send a byte (each
takes a pending-handshake slot); one the node closes is reopened at once.

Stdout gets one JSON `summary` line; the process stops by itself after `--duration` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.errors import DevnetError
from devnet.junk_peer import Validator, load_target
from node.types.crypto import PrivateKey
from p2p.address import compute_node_id
from p2p.errors import P2PError
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, handshake, node_pubkey
from p2p.messages import NewRoundStepMsg, Ping, Pong, VoteMsg, encode_message
from p2p.secret_connection import SecretConnection

RETRY_S = 0.2
CONNECT_TIMEOUT_S = 3.0
HANDSHAKE_TIMEOUT_S = 3.0
BATCH = 200  # votes sealed per write
PREVOTE = 1


@dataclass(slots=True)
class FloodStats:
    sent: int = 0
    attempts: int = 0
    admitted: int = 0  # sessions in which the node sent us at least one message
    refused: int = 0  # dials or handshakes that failed, or sessions closed before the node said anything
    first_close_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "attempts": self.attempts, "admitted": self.admitted, "refused": self.refused,
                "first_close_s": self.first_close_s}


@dataclass(slots=True)
class JunkVotes:
    validators: tuple[Validator, ...]
    chain_id: str
    genesis_hash: bytes
    duration_s: float
    source: str
    stats: dict[str, FloodStats] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def _left(self) -> float:
        return self.duration_s - (time.monotonic() - self.started)

    async def run(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self.stats = {v.name: FloodStats() for v in self.validators}
        async with asyncio.TaskGroup() as tg:
            for v in self.validators:
                tg.create_task(self._link(v))
        return {"event": "summary", "attack": "junk-votes", "elapsed_s": round(time.monotonic() - self.started, 2),
                "sent": sum(s.sent for s in self.stats.values()),
                "peers": {k: s.to_json() for k, s in self.stats.items()}}

    async def _link(self, v: Validator) -> None:
        stats = self.stats[v.name]
        while self._left() > 0:
            stats.attempts += 1
            try:
                async with asyncio.timeout(max(0.01, self._left())):
                    talked = await self._session(v, stats)
            except TimeoutError:
                return  # our deadline
            except (OSError, P2PError):
                talked = False
            if not talked:
                stats.refused += 1
            if stats.first_close_s is None and stats.admitted:
                stats.first_close_s = round(time.monotonic() - self.started, 2)
            await asyncio.sleep(min(RETRY_S, max(0.0, self._left())))

    async def _session(self, v: Validator, stats: FloodStats) -> bool:
        key = PrivateKey.generate()  # a fresh identity every time: the id ban alone would not stop us
        node_id = compute_node_id(node_pubkey(key.secret))
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(v.host, v.port, local_addr=(self.source, 0))
        height: list[int] = []  # the node's announced height, once it talked to us
        try:
            info = NodeInfo(node_id, self.chain_id, self.genesis_hash, PROTOCOL_VERSION, "", "flood")
            session = await handshake(reader, writer, key.secret, info, expected_id=v.node_id,
                                      timeout=HANDSHAKE_TIMEOUT_S)
            conn = session.conn
            reading = asyncio.create_task(self._read(reader, writer, conn, height))
            try:
                while not reading.done():
                    if not height:
                        await asyncio.sleep(0.01)
                        continue
                    out: list[bytes] = []
                    for _ in range(BATCH):
                        vote = VoteMsg(PREVOTE, height[0], 0, os.urandom(32), os.urandom(20), os.urandom(65))
                        conn.seal_payload(encode_message(vote), out)
                    writer.writelines(out)
                    await writer.drain()
                    stats.sent += BATCH
            finally:
                reading.cancel()
        except (OSError, P2PError):
            pass  # the node closed the session (as it should)
        finally:
            writer.transport.abort()
        if height:
            stats.admitted += 1
        return bool(height)

    @staticmethod
    async def _read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: SecretConnection,
                    height: list[int]) -> None:
        while data := await reader.read(65536):
            conn.receive_data(data)
            while (msg := conn.next_message()) is not None:
                if isinstance(msg, NewRoundStepMsg):
                    height[:] = [msg.height]
                elif isinstance(msg, Ping):
                    out: list[bytes] = []
                    conn.seal_payload(encode_message(Pong(msg.nonce)), out)
                    writer.writelines(out)


async def idle(validators: tuple[Validator, ...], per_validator: int, duration_s: float) -> dict[str, Any]:
    """Hold `per_validator` silent connections to each validator; count how often the node closed one."""
    closed = {v.name: 0 for v in validators}
    started = time.monotonic()

    async def hold(v: Validator) -> None:
        while (left := duration_s - (time.monotonic() - started)) > 0:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    reader, writer = await asyncio.open_connection(v.host, v.port)
            except (OSError, TimeoutError):
                await asyncio.sleep(RETRY_S)
                continue
            try:
                async with asyncio.timeout(left):
                    while await reader.read(65536):
                        pass  # the node's handshake frame: never answered
                closed[v.name] += 1
            except TimeoutError:
                return
            except OSError:
                closed[v.name] += 1
            finally:
                writer.transport.abort()

    async with asyncio.TaskGroup() as tg:
        for v in validators:
            for _ in range(per_validator):
                tg.create_task(hold(v))
    return {"event": "summary", "attack": "idle", "per_validator": per_validator, "closed_by_node": closed,
            "elapsed_s": round(time.monotonic() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.flood", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="attack", required=True)
    junk = sub.add_parser("junk-votes", help="votes from made-up validators with made-up signatures, flat out")
    junk.add_argument("--source", default="127.0.0.2", help="local address to dial from (default 127.0.0.2)")
    idle_p = sub.add_parser("idle", help="silent connections holding pending-handshake slots")
    idle_p.add_argument("--per-validator", type=int, default=36)
    for p in (junk, idle_p):
        p.add_argument("--home", required=True, help="the devnet folder (holding devnet.json)")
        p.add_argument("--duration", type=float, default=30.0, help="seconds to attack, then stop (default 30)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600:
        parser.error("--duration: between 0 and 3600 seconds")
    try:
        validators, genesis = load_target(Path(args.home))
    except (DevnetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.attack == "junk-votes":
        summary = asyncio.run(JunkVotes(validators, genesis.chain_id, genesis.hash(), args.duration,
                                        args.source).run())
    else:
        if not 0 < args.per_validator <= 1000:
            parser.error("--per-validator: between 1 and 1000")
        summary = asyncio.run(idle(validators, args.per_validator, args.duration))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
