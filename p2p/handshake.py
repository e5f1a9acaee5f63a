"""The secure handshake: ephemeral X25519, HKDF-SHA256 keys, then authenticated node identities.

1. Each side sends a plaintext frame with a fresh 32-byte X25519 public key.
2. Both compute the shared secret and, with lo/hi the two ephemeral keys sorted bytewise,
   transcript = SHA-256("finchain/p2p/v1/transcript" || lo || hi),
   HKDF-SHA256(ikm=shared, salt=transcript, info="finchain/p2p/v1/keys", 64 bytes) = key_lo || key_hi,
   where key_lo encrypts what the owner of `lo` sends. Every later frame is ChaCha20-Poly1305 sealed.
3. Inside the encrypted channel each side sends AuthMsg: its 33-byte compressed secp256k1 node key, a 65-byte
   recoverable low-S signature of SHA-256("finchain/p2p/v1/auth" || transcript), and its NodeInfo.
Because the transcript covers both fresh ephemeral keys, a handshake recorded from another session cannot be
replayed: the keys differ, the recorded auth frame fails to decrypt and its signature covers another transcript.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from p2p.address import compute_node_id, is_node_id
from p2p.errors import (
    AuthenticationError,
    HandshakeError,
    HandshakeTimeout,
    IncompatiblePeer,
    PeerProtocolError,
    SelfConnection,
    UnexpectedPeer,
)
from p2p.messages import DEFAULT_MAX_MESSAGE_SIZE, Bin, Kind, Text, UInt, decode_registered, encode_message_fields
from p2p.secret_connection import SecretConnection
from p2p.wire import AEAD_TAG_SIZE, FrameDecoder, encode_frame

PROTOCOL_VERSION = 1
TRANSCRIPT_TAG = b"finchain/p2p/v1/transcript"
KEYS_INFO = b"finchain/p2p/v1/keys"
AUTH_TAG = b"finchain/p2p/v1/auth"
EPHEMERAL_SIZE = 32
PUBKEY_SIZE = 33
SIGNATURE_SIZE = 65
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
# The handshake frames are small: a peer cannot make us buffer megabytes before it authenticated.
HANDSHAKE_MAX_FRAME = 2048
READ_CHUNK = 65536
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    chain_id: str
    genesis_hash: bytes
    protocol_version: int
    listen_addr: str
    moniker: str


@dataclass(frozen=True, slots=True)
class AuthMsg:
    CHANNEL: ClassVar[int] = 0
    TYPE: ClassVar[int] = 0  # only ever valid as the first encrypted frame: not in the message registry
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("pubkey", Bin((PUBKEY_SIZE,))),
        ("signature", Bin((SIGNATURE_SIZE,))),
        ("node_id", Text(64)),
        ("chain_id", Text(128)),
        ("genesis_hash", Bin(max_len=64)),
        ("protocol_version", UInt(2**32 - 1)),
        ("listen_addr", Text(300)),
        ("moniker", Text(128)),
    )
    pubkey: bytes
    signature: bytes
    node_id: str
    chain_id: str
    genesis_hash: bytes
    protocol_version: int
    listen_addr: str
    moniker: str

    @property
    def info(self) -> NodeInfo:
        return NodeInfo(
            self.node_id, self.chain_id, self.genesis_hash, self.protocol_version, self.listen_addr, self.moniker
        )


_AUTH_REGISTRY: dict[tuple[int, int], type[Any]] = {(AuthMsg.CHANNEL, AuthMsg.TYPE): AuthMsg}


@dataclass(frozen=True, slots=True)
class SessionKeys:
    send_key: bytes
    recv_key: bytes
    transcript: bytes


@dataclass(frozen=True, slots=True)
class SecureSession:
    """The outcome of a successful handshake: who the peer is and the encrypted channel to it."""

    peer_info: NodeInfo
    peer_pubkey: bytes
    conn: SecretConnection
    transcript: bytes


def node_pubkey(node_key: bytes) -> bytes:
    return coincurve.PrivateKey(node_key).public_key.format(compressed=True)


def compute_session_keys(shared: bytes, our_ephemeral: bytes, their_ephemeral: bytes) -> SessionKeys:
    """Directional keys and the transcript hash from the X25519 secret and both ephemeral public keys."""
    if our_ephemeral == their_ephemeral:
        # Our own key reflected back: both directions would share a key and nonces.
        raise AuthenticationError("peer echoed our ephemeral key")
    lo, hi = sorted((our_ephemeral, their_ephemeral))
    transcript = hashlib.sha256(TRANSCRIPT_TAG + lo + hi).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=transcript, info=KEYS_INFO).derive(shared)
    key_lo, key_hi = okm[:32], okm[32:]
    if our_ephemeral == lo:
        return SessionKeys(key_lo, key_hi, transcript)
    return SessionKeys(key_hi, key_lo, transcript)


def compute_auth_digest(transcript: bytes) -> bytes:
    return hashlib.sha256(AUTH_TAG + transcript).digest()


def make_auth(node_key: bytes, info: NodeInfo, transcript: bytes) -> AuthMsg:
    key = coincurve.PrivateKey(node_key)
    signature = key.sign_recoverable(compute_auth_digest(transcript), hasher=None)  # libsecp256k1 emits low-S
    return AuthMsg(
        key.public_key.format(compressed=True),
        signature,
        info.node_id,
        info.chain_id,
        info.genesis_hash,
        info.protocol_version,
        info.listen_addr,
        info.moniker,
    )


def validate_auth(auth: AuthMsg, transcript: bytes, ours: NodeInfo, expected_id: str | None) -> None:
    """Raise a typed HandshakeError unless the peer proved its key and belongs to our network."""
    sig = auth.signature
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and sig[64] in (0, 1)):
        raise AuthenticationError("malformed or high-S handshake signature")
    try:
        recovered = coincurve.PublicKey.from_signature_and_message(sig, compute_auth_digest(transcript), hasher=None)
    except Exception as exc:  # coincurve raises plain Exception subclasses for unrecoverable signatures
        raise AuthenticationError("handshake signature does not recover to a key") from exc
    if recovered.format(compressed=True) != auth.pubkey:
        raise AuthenticationError("handshake signature was not made by the presented node key")
    if not is_node_id(auth.node_id) or auth.node_id != compute_node_id(auth.pubkey):
        raise AuthenticationError(f"claimed node id {auth.node_id[:40]!r} does not match its key")
    if expected_id is not None and auth.node_id != expected_id:
        raise UnexpectedPeer(f"dialed {expected_id} but {auth.node_id} answered")
    if auth.node_id == ours.node_id:
        raise SelfConnection("connected to ourselves")
    if auth.chain_id != ours.chain_id:
        raise IncompatiblePeer(f"chain id {auth.chain_id!r} differs from ours {ours.chain_id!r}")
    if auth.genesis_hash != ours.genesis_hash:
        raise IncompatiblePeer(f"genesis hash {auth.genesis_hash.hex()} differs from ours {ours.genesis_hash.hex()}")
    if auth.protocol_version != ours.protocol_version:
        raise IncompatiblePeer(f"protocol version {auth.protocol_version} differs from ours {ours.protocol_version}")


async def _read_frame(reader: asyncio.StreamReader, frames: FrameDecoder) -> bytes:
    # Bounded by the caller's timeout and by the decoder's small frame limit.
    while True:
        frame = frames.next_frame()
        if frame is not None:
            return frame
        data = await reader.read(READ_CHUNK)
        if not data:
            if frames.buffered == 0:
                raise HandshakeError("connection closed during the handshake")
            frames.receive_data(b"")
        else:
            frames.receive_data(data)


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: bytes,
    info: NodeInfo,
    expected_id: str | None,
    max_message_size: int,
) -> SecureSession:
    ephemeral = X25519PrivateKey.generate()
    our_pub = ephemeral.public_key().public_bytes_raw()
    writer.write(encode_frame(our_pub))
    await writer.drain()
    frames = FrameDecoder(HANDSHAKE_MAX_FRAME)
    their_pub = await _read_frame(reader, frames)
    if len(their_pub) != EPHEMERAL_SIZE:
        raise AuthenticationError(f"ephemeral key must be {EPHEMERAL_SIZE} bytes, got {len(their_pub)}")
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(their_pub))
    except ValueError as exc:  # low-order point: an all-zero shared secret
        raise AuthenticationError("peer sent a degenerate ephemeral key") from exc
    keys = compute_session_keys(shared, our_pub, their_pub)
    conn = SecretConnection(keys.send_key, keys.recv_key, max_message_size=max_message_size, frames=frames)
    auth = make_auth(node_key, info, keys.transcript)
    out: list[bytes] = []
    conn.seal_payload(encode_message_fields(auth), out)
    writer.writelines(out)
    await writer.drain()
    sealed_auth = await _read_frame(reader, frames)  # opened by the decoder with the receive key
    peer_auth: AuthMsg = decode_registered(sealed_auth, _AUTH_REGISTRY, HANDSHAKE_MAX_FRAME)
    validate_auth(peer_auth, keys.transcript, info, expected_id)
    # Authenticated: from now on frames may be as large as the protocol allows.
    frames.set_max_frame_size(max_message_size + AEAD_TAG_SIZE)
    # Traffic counters start with the session proper, not the handshake frames.
    frames.frames_in = conn.frames_out = conn.bytes_out = 0
    return SecureSession(peer_auth.info, peer_auth.pubkey, conn, keys.transcript)


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: bytes,
    info: NodeInfo,
    *,
    expected_id: str | None = None,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> SecureSession:
    """Run the handshake on an open stream; raises a HandshakeError subclass (or PeerProtocolError) on failure.

    The caller owns the stream and closes it on failure.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _handshake(reader, writer, node_key, info, expected_id, max_message_size)
    except TimeoutError:
        raise HandshakeTimeout(f"handshake not completed within {timeout:g}s") from None
    except PeerProtocolError as exc:
        if isinstance(exc, HandshakeError):
            raise
        raise AuthenticationError(f"handshake protocol violation: {exc}") from exc
    except (ConnectionError, OSError) as exc:
        raise HandshakeError(f"connection failed during the handshake: {exc}") from exc
