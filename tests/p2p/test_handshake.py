"""The secure handshake over real 127.0.0.1 sockets, and the encrypted framing after it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

import coincurve
import pytest

from p2p.errors import (
    AuthenticationError,
    HandshakeError,
    HandshakeTimeout,
    IncompatiblePeer,
    NonceOverflow,
    PeerProtocolError,
    SelfConnection,
    UnexpectedPeer,
)
from p2p.handshake import (
    SECP256K1_N,
    NodeInfo,
    SecureSession,
    compute_session_keys,
    handshake,
    make_auth,
    validate_auth,
)
from p2p.messages import BlockResponse, Ping, TxsMsg, decode_message
from p2p.secret_connection import MAX_COUNTER, CipherState, SecretConnection
from p2p.wire import encode_frame
from tests.p2p.util import Relay, make_identity

pytestmark = pytest.mark.timeout(30)


class Server:
    """Accepts connections and runs the handshake as (key, info); results land in `outcomes`."""

    def __init__(self, key: bytes, info: NodeInfo, timeout: float = 2.0) -> None:
        self.key, self.info, self.timeout = key, info, timeout
        self.outcomes: asyncio.Queue[SecureSession | BaseException] = asyncio.Queue()
        self.writers: list[asyncio.StreamWriter] = []
        self.readers: list[asyncio.StreamReader] = []
        self.port = 0

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.readers.append(reader)
        try:
            self.outcomes.put_nowait(await handshake(reader, writer, self.key, self.info, timeout=self.timeout))
        except (HandshakeError, PeerProtocolError) as exc:
            self.outcomes.put_nowait(exc)

    async def outcome(self) -> SecureSession | BaseException:
        return await asyncio.wait_for(self.outcomes.get(), 5)


@contextlib.asynccontextmanager
async def serving(key: bytes, info: NodeInfo, timeout: float = 2.0) -> AsyncIterator[Server]:
    server = Server(key, info, timeout)
    srv = await asyncio.start_server(server._on_conn, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        srv.close()
        for w in server.writers:
            w.transport.abort()


async def dial(
    port: int, key: bytes, info: NodeInfo, expected_id: str | None = None, timeout: float = 2.0
) -> tuple[SecureSession, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        session = await handshake(reader, writer, key, info, expected_id=expected_id, timeout=timeout)
    except BaseException:
        writer.transport.abort()
        raise
    return session, reader, writer


async def test_handshake_authenticates_both_sides_and_carries_messages() -> None:
    (ka, ia), (kb, ib) = make_identity(moniker="a"), make_identity(moniker="b")
    async with serving(kb, ib) as server:
        session, _reader, writer = await dial(server.port, ka, ia, expected_id=ib.node_id)
        theirs = await server.outcome()
        assert isinstance(theirs, SecureSession)
        assert session.peer_info == ib and theirs.peer_info == ia
        assert session.transcript == theirs.transcript
        assert session.peer_pubkey == coincurve.PrivateKey(kb).public_key.format(compressed=True)
        writer.write(session.conn.seal_message(TxsMsg((b"hello",))) + session.conn.seal_message(Ping(3)))
        data = await asyncio.wait_for(server.readers[0].read(65536), 5)
        theirs.conn.receive_data(data)
        assert theirs.conn.next_message() == TxsMsg((b"hello",))
        assert theirs.conn.next_message() == Ping(3)
        writer.transport.abort()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"chain_id": "other-chain"}, "chain id"),
        ({"genesis_hash": b"\x00" * 32}, "genesis hash"),
        ({"protocol_version": 99}, "protocol version"),
    ],
)
async def test_incompatible_peer_rejected_by_both_sides(change: dict[str, object], match: str) -> None:
    (ka, ia), (kb, ib) = make_identity(), make_identity()
    ib = dataclasses.replace(ib, **change)  # type: ignore[arg-type]
    async with serving(kb, ib) as server:
        with pytest.raises(IncompatiblePeer, match=match):
            await dial(server.port, ka, ia, expected_id=ib.node_id)
        assert isinstance(await server.outcome(), IncompatiblePeer)


async def test_impersonation_dial_id_answered_by_another_key() -> None:
    (ka, ia), (kb, ib), (_kc, ic) = make_identity(), make_identity(), make_identity()
    async with serving(kb, ib) as server:
        # We believe node C lives at this address, but B's key answers.
        with pytest.raises(UnexpectedPeer, match=f"dialed {ic.node_id} but {ib.node_id} answered"):
            await dial(server.port, ka, ia, expected_id=ic.node_id)


async def test_claimed_node_id_must_match_the_key() -> None:
    (ka, ia), (kb, ib), (_kc, ic) = make_identity(), make_identity(), make_identity()
    liar = dataclasses.replace(ib, node_id=ic.node_id)  # B's key, C's id
    async with serving(kb, liar) as server:
        with pytest.raises(AuthenticationError, match="does not match its key"):
            await dial(server.port, ka, ia, expected_id=ic.node_id)


async def test_connecting_to_ourselves_is_rejected() -> None:
    ka, ia = make_identity()
    async with serving(ka, ia) as server:
        with pytest.raises(SelfConnection):
            await dial(server.port, ka, ia)
        assert isinstance(await server.outcome(), SelfConnection)


async def test_replayed_handshake_fails() -> None:
    (ka, ia), (kb, ib) = make_identity(), make_identity()
    async with serving(kb, ib) as server:
        async with Relay(server.port) as relay:
            session, _r, writer = await dial(relay.port, ka, ia, expected_id=ib.node_id)
            writer.write(session.conn.seal_message(Ping(1)))
            await writer.drain()
            assert isinstance(await server.outcome(), SecureSession)
            await asyncio.wait_for(_until(lambda: len(relay.up) > 32 + 4 + 100), 5)
            recorded = bytes(relay.up)
            writer.transport.abort()
        # An attacker replays A's side of the recorded session to B: B's fresh ephemeral key changes every key.
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(recorded)
        outcome = await server.outcome()
        assert isinstance(outcome, AuthenticationError), outcome
        assert "authentication" in str(outcome)
        writer.transport.abort()


async def _until(pred: Callable[[], bool]) -> None:
    while not pred():  # bounded by the caller's wait_for
        await asyncio.sleep(0.01)


async def test_handshake_times_out_when_the_peer_is_silent() -> None:
    kb, ib = make_identity()
    async with serving(kb, ib, timeout=0.3) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        outcome = await server.outcome()
        assert isinstance(outcome, HandshakeTimeout)
        writer.transport.abort()


@pytest.mark.parametrize("first_frame", [b"\x01" * 31, b"\x01" * 33, b"\x00" * 32])
async def test_bad_ephemeral_key_rejected(first_frame: bytes) -> None:
    kb, ib = make_identity()
    async with serving(kb, ib) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_frame(first_frame))
        outcome = await server.outcome()
        assert isinstance(outcome, AuthenticationError), outcome
        writer.transport.abort()


async def test_oversized_handshake_frame_rejected_early() -> None:
    kb, ib = make_identity()
    async with serving(kb, ib) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write((10_000_000).to_bytes(4, "big"))
        outcome = await server.outcome()
        assert isinstance(outcome, AuthenticationError) and "exceeds" in str(outcome)
        writer.transport.abort()


async def test_peer_closing_mid_handshake() -> None:
    kb, ib = make_identity()
    async with serving(kb, ib) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x00\x00")
        writer.close()
        outcome = await server.outcome()
        assert isinstance(outcome, HandshakeError)


def test_high_s_and_foreign_signatures_rejected() -> None:
    (ka, ia), (kb, ib) = make_identity(), make_identity()
    transcript = b"\x07" * 32
    auth = make_auth(kb, ib, transcript)
    validate_auth(auth, transcript, ia, ib.node_id)
    sig = auth.signature
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    with pytest.raises(AuthenticationError, match="high-S"):
        validate_auth(dataclasses.replace(auth, signature=high), transcript, ia, ib.node_id)
    with pytest.raises(AuthenticationError, match="not made by"):
        validate_auth(auth, b"\x08" * 32, ia, ib.node_id)  # signature of another transcript
    other_key = coincurve.PrivateKey(ka).public_key.format(compressed=True)
    with pytest.raises(AuthenticationError, match="not made by"):
        validate_auth(dataclasses.replace(auth, pubkey=other_key), transcript, ia, ib.node_id)


def test_session_keys_are_directional_and_symmetric() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    ka = compute_session_keys(b"s" * 32, a, b)
    kb = compute_session_keys(b"s" * 32, b, a)
    assert ka.send_key == kb.recv_key and ka.recv_key == kb.send_key and ka.send_key != ka.recv_key
    assert ka.transcript == kb.transcript
    with pytest.raises(AuthenticationError, match="echoed"):
        compute_session_keys(b"s" * 32, a, a)


def test_tampered_reordered_and_replayed_frames_fail() -> None:
    k1, k2 = b"\x01" * 32, b"\x02" * 32
    tx, rx = SecretConnection(k1, k2), SecretConnection(k2, k1)
    f1, f2 = tx.seal_message(Ping(1)), tx.seal_message(Ping(2))
    # reordered
    rx.receive_data(f2)
    with pytest.raises(AuthenticationError):
        rx.next_message()
    # tampered
    rx = SecretConnection(k2, k1)
    bad = bytearray(f1)
    bad[-1] ^= 1
    rx.receive_data(bytes(bad))
    with pytest.raises(AuthenticationError):
        rx.next_message()
    # replayed
    rx = SecretConnection(k2, k1)
    rx.receive_data(f1 + f1)
    assert rx.next_message() == Ping(1)
    with pytest.raises(AuthenticationError):
        rx.next_message()


def test_nonce_counter_overflow_closes_instead_of_reusing() -> None:
    state = CipherState(b"\x01" * 32, counter=MAX_COUNTER)
    state.seal(b"last one")
    with pytest.raises(NonceOverflow):
        state.seal(b"one too many")


async def test_bytes_after_the_handshake_are_not_plaintext_frames() -> None:
    (ka, ia), (kb, ib) = make_identity(), make_identity()
    marker = b"PLAINTEXT-MARKER-" * 8
    async with serving(kb, ib) as server, Relay(server.port) as relay:
        session, _r, writer = await dial(relay.port, ka, ia, expected_id=ib.node_id)
        theirs = await server.outcome()
        assert isinstance(theirs, SecureSession)
        writer.write(session.conn.seal_message(BlockResponse(1, marker, b"")))
        server.writers[0].write(theirs.conn.seal_message(TxsMsg((marker,))))
        await asyncio.wait_for(_until(lambda: len(relay.up) > 4 * 36 and len(relay.down) > 4 * 36), 5)
        writer.transport.abort()
        for stream in (bytes(relay.up), bytes(relay.down)):
            assert marker[:16] not in stream
            frames = split_frames(stream)
            assert len(frames[0]) == 32  # the ephemeral key is the only plaintext
            assert len(frames) >= 3
            for body in frames[1:]:
                with pytest.raises(PeerProtocolError):
                    decode_message(body)


def split_frames(stream: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos + 4 <= len(stream):
        size = int.from_bytes(stream[pos : pos + 4], "big")
        frames.append(stream[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return frames
