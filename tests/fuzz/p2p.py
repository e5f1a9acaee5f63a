"""Fuzz target for a node's p2p port: frames and messages behind a real handshake.

An input is one of:
- `("msg", payload)`: an encoded message (valid, mutated, or junk), sealed into a frame of an
  authenticated session with the node, then a Ping; the Pong says the node took the frame and
  kept the session, a closed connection that it refused the frame (and banned that node id);
- `("frame", payload)`: a valid message in a damaged frame (a flipped ciphertext bit, a wrong
  length prefix);
- `("auth", payload)`: a handshake whose AuthMsg is mutated before it is sealed with the
  session's real keys (the node's checks of signature, node id, chain and version);
- `("raw", bytes)`: bytes on a fresh connection, before any handshake.

Sessions are reused across inputs while the node keeps them; a cut session is replaced by a
new one under a fresh node key (bans are per node id on 127.0.0.1). Oracle: every message the
node sends us decodes under the strict decoder, no input takes longer than the time bound, and
the node keeps running, answering RPC and committing (tests/fuzz/live.py).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from node.types.tx import Transfer, TxBody
from p2p.address import compute_node_id
from p2p.errors import PeerProtocolError
from p2p.handshake import (
    HANDSHAKE_MAX_FRAME,
    PROTOCOL_VERSION,
    NodeInfo,
    compute_session_keys,
    handshake,
    make_auth,
    node_pubkey,
)
from p2p.messages import (
    BlockRequest,
    BlockResponse,
    EvidenceMsg,
    HasVoteMsg,
    NewRoundStepMsg,
    NoBlockResponse,
    PexAddrs,
    PexRequest,
    Ping,
    Pong,
    ProposalMsg,
    StatusRequest,
    StatusResponse,
    TxsMsg,
    VoteMsg,
    encode_message,
    encode_message_fields,
)
from p2p.secret_connection import SecretConnection
from p2p.wire import FrameDecoder, encode_frame
from tests.fuzz.driver import OracleFailure
from tests.fuzz.mutate import mutate_bytes, mutate_tree, pack_loose
from tests.node.helpers import CHAIN_ID, key

Item = tuple[str, bytes]
READ = 65536
PONG_WAIT = 1.5


def seed_messages(height: int) -> list[bytes]:
    h, a, s = b"\xab" * 32, key(250).address, b"\x33" * 65
    txs = tuple(TxBody(CHAIN_ID, 0, 21_000, 10**10, 1, 0, Transfer(key(1).address, n + 1)).sign(key(5 + n)).raw
                for n in range(3))  # real transfers: the node admits and commits them
    msgs = [
        Ping(1), Pong(2), ProposalMsg(height + 1, 0, h, -1, a, s, b"\x94\x01"), VoteMsg(1, height + 1, 0, h, a, s),
        VoteMsg(2, height, 1, b"", a, s), NewRoundStepMsg(height + 1, 0, 1), HasVoteMsg(height + 1, 0, 1, a),
        EvidenceMsg(b"\x92\x01\x02"), TxsMsg(txs), TxsMsg((txs[0], b"\x01")), StatusRequest(), StatusResponse(1, 3),
        BlockRequest(1), BlockRequest(height), BlockRequest(10**9), BlockResponse(1, b"\x01", b"\x02"),
        NoBlockResponse(2), PexRequest(), PexAddrs((f"{'ab' * 20}@127.0.0.1:26656",)),
    ]
    return [encode_message(m) for m in msgs]


@dataclass(slots=True)
class _Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: SecretConnection

    def close(self) -> None:
        self.writer.transport.abort()


def _identity(chain_id: str, genesis_hash: bytes) -> tuple[bytes, NodeInfo]:
    node_key = secrets.token_bytes(32)
    return node_key, NodeInfo(compute_node_id(node_pubkey(node_key)), chain_id, genesis_hash, PROTOCOL_VERSION,
                              "", "fuzz")


class P2PTarget:
    name = "p2p"
    time_bound = 15.0
    rss_bound_mb = 250.0

    def __init__(self, port: int, chain_id: str, genesis_hash: bytes, live: Any, height: int = 1) -> None:
        self.port = port
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.live = live
        self._seeds: list[Item] = [("msg", m) for m in seed_messages(height)]
        self._seeds += [("frame", encode_message(Ping(7))), ("raw", b"\x00\x00\x00\x20" + b"\x11" * 32)]
        self._seeds.append(("auth", b""))  # an honest handshake, then its AuthMsg mutated in mutate()
        self._sessions: dict[int, _Session] = {}
        self._nonce = 1000
        self.frames = 0
        self.sessions = 0

    def seeds(self) -> list[Item]:
        return list(self._seeds)

    def render(self, item: Item) -> str:
        return f"{item[0]}:{item[1][:300].hex()}"

    def rss_pid(self) -> int | None:
        return self.live.pid()

    async def check_alive(self) -> str | None:
        return await self.live.check_alive()

    async def __aenter__(self) -> P2PTarget:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for s in self._sessions.values():
            s.close()

    # -- mutation ------------------------------------------------------------------------------

    def mutate(self, rng: random.Random, item: Item, corpus: list[Item]) -> Item:
        kind, payload = item
        r = rng.random()
        # Few raw and auth inputs: an incomplete handshake costs the node's 3 s timeout to close.
        if r < 0.01:
            return ("raw", self._raw_bytes(rng))
        if r < 0.03:
            return ("auth", self._auth_mutation(rng))
        if r < 0.06:
            return ("frame", rng.choice(self._seeds)[1] if kind != "msg" else payload)
        if kind != "msg":
            kind, payload = rng.choice([s for s in self._seeds if s[0] == "msg"])
        if r < 0.35 or not payload:
            return ("msg", mutate_bytes(rng, payload, [c[1] for c in corpus[:50]]) or b"\x90")
        try:
            tree = msgpack.unpackb(payload, raw=False)
        except Exception:
            return ("msg", mutate_bytes(rng, payload))
        if rng.random() < 0.3 and isinstance(tree, list) and len(tree) > 2:
            # Keep channel and type, change one field: the message decodes, the node must judge it.
            k = rng.randrange(2, len(tree))
            changed = mutate_tree(rng, [tree[k]], exotic=False)
            tree[k] = changed[0] if isinstance(changed, list) and changed else changed
            return ("msg", pack_loose(rng, tree, p=0.0))
        return ("msg", pack_loose(rng, mutate_tree(rng, tree, exotic=rng.random() < 0.2),
                                  p=0.0 if rng.random() < 0.8 else 0.3))

    def _raw_bytes(self, rng: random.Random) -> bytes:
        return rng.choice((
            lambda: rng.randbytes(rng.randrange(1, 300)),
            lambda: b"\x00\x00\x00\x20" + rng.randbytes(32) + rng.randbytes(rng.randrange(0, 100)),
            lambda: (2**31).to_bytes(4, "big") + b"x",
            lambda: b"\x00\x00\x00\x00",
            lambda: b"\x00\x00\x08\x01" + rng.randbytes(100),  # one byte over the handshake frame limit
            lambda: b"\x00\x00\x00\x20" + b"\x00" * 32,  # a low-order point
        ))()

    def _auth_mutation(self, rng: random.Random) -> bytes:
        """A recipe for the AuthMsg: which field to change and how (the keys are known only at run time)."""
        return bytes([rng.randrange(256) for _ in range(8)])

    # -- running -------------------------------------------------------------------------------

    async def run(self, item: Item) -> str:
        kind, payload = item
        if kind == "raw":
            return await self._raw(payload)
        if kind == "auth":
            return await self._auth(payload)
        session = await self._session()
        if session is None:
            return "rejected:handshake"
        out: list[bytes] = []
        if kind == "frame":
            session.conn.seal_payload(payload, out)
            frame = bytearray(b"".join(out))
            rng = random.Random(len(frame) + self._nonce)
            if rng.random() < 0.8:
                frame[rng.randrange(4, len(frame))] ^= 0x01  # a ciphertext or tag bit
            else:  # a shorter length: the tag is read from the wrong bytes (a longer one only waits for more)
                frame[:4] = (len(frame) - 4 - rng.randrange(1, 16)).to_bytes(4, "big")
            out = [bytes(frame)]
        else:
            session.conn.seal_payload(payload, out)
        self._nonce += 1
        nonce = self._nonce
        session.conn.seal_payload(encode_message(Ping(nonce)), out)
        self.frames += 1
        try:
            session.writer.writelines(out)
            await session.writer.drain()
            # A node that banned us stops reading at once but may close later, still gossiping to us
            # meanwhile: a Pong that does not come in this time counts as the session cut.
            async with asyncio.timeout(PONG_WAIT):
                return await self._until_pong(session, nonce)
        except TimeoutError:
            self._drop()
            return "rejected:silent"
        except (ConnectionError, OSError):
            self._drop()
            return "rejected:closed"

    async def _until_pong(self, session: _Session, nonce: int) -> str:
        while True:
            try:
                msg = session.conn.next_message()
            except PeerProtocolError as exc:
                raise OracleFailure(f"the node sent a frame or message that does not decode: {exc}") from None
            if msg is None:
                data = await session.reader.read(READ)
                if not data:
                    self._drop()
                    return "rejected:closed"
                session.conn.receive_data(data)
                continue
            if isinstance(msg, Pong) and msg.nonce == nonce:
                return "accepted"
            if isinstance(msg, Ping):  # keepalive: answer it, or the node would drop us as dead
                out: list[bytes] = []
                session.conn.seal_payload(encode_message(Pong(msg.nonce)), out)
                session.writer.writelines(out)

    def _drop(self) -> None:
        s = self._sessions.pop(id(asyncio.current_task()), None)
        if s is not None:
            s.close()

    async def _session(self) -> _Session | None:
        task = id(asyncio.current_task())
        s = self._sessions.get(task)
        if s is not None and not s.writer.is_closing():
            return s
        node_key, info = _identity(self.chain_id, self.genesis_hash)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            sess = await handshake(reader, writer, node_key, info, timeout=10)
        except Exception:
            writer.transport.abort()
            return None
        self.sessions += 1
        s = _Session(reader, writer, sess.conn)
        self._sessions[task] = s
        return s

    async def _raw(self, payload: bytes) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(payload)
            await writer.drain()
            async with asyncio.timeout(10):  # the node's handshake timeout is 3 s; slack for a loaded machine
                while await reader.read(READ):
                    pass
            return "rejected:raw-closed"
        except TimeoutError:
            raise OracleFailure("a connection that never completed its handshake was kept past 10 s") from None
        except (ConnectionError, OSError):
            return "rejected:raw-reset"
        finally:
            writer.transport.abort()

    async def _auth(self, recipe: bytes) -> str:
        """A handshake done by hand, its AuthMsg changed by `recipe` before it is sealed."""
        node_key, info = _identity(self.chain_id, self.genesis_hash)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            ephemeral = X25519PrivateKey.generate()
            ours = ephemeral.public_key().public_bytes_raw()
            writer.write(encode_frame(ours))
            frames = FrameDecoder(HANDSHAKE_MAX_FRAME)
            theirs = await _read_frame(reader, frames)
            keys = compute_session_keys(ephemeral.exchange(X25519PublicKey.from_public_bytes(theirs)), ours, theirs)
            conn = SecretConnection(keys.send_key, keys.recv_key, frames=frames)
            fields = msgpack.unpackb(encode_message_fields(make_auth(node_key, info, keys.transcript)), raw=False)
            if recipe:
                rng = random.Random(recipe)
                k = rng.randrange(2, len(fields))
                changed = mutate_tree(rng, [fields[k]], exotic=rng.random() < 0.2)
                fields[k] = changed[0] if isinstance(changed, list) and changed else changed
            payload = pack_loose(random.Random(recipe), fields, p=0.0 if not recipe or recipe[0] < 200 else 0.3)
            out: list[bytes] = []
            conn.seal_payload(payload, out)
            writer.writelines(out)
            await writer.drain()
            try:
                await _read_frame(reader, frames)  # the node's AuthMsg
                while True:
                    data = await reader.read(READ)
                    if not data:
                        return "rejected:auth-closed"
                    conn.receive_data(data)
                    if conn.next_message() is not None:
                        return "accepted:auth"  # the node took it and talks to us
            except PeerProtocolError:
                return "rejected:auth-closed"
        except (ConnectionError, OSError, ValueError):
            return "rejected:auth-reset"
        finally:
            writer.transport.abort()


async def _read_frame(reader: asyncio.StreamReader, frames: FrameDecoder) -> bytes:
    while True:
        frame = frames.next_frame()
        if frame is not None:
            return frame
        data = await reader.read(READ)
        if not data:
            raise ConnectionError("closed during the handshake")
        frames.receive_data(data)
