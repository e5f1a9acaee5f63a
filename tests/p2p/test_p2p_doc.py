"""docs/p2p.md must not drift from the code.

Every `vector <name>: <hex>` line in a fenced block of the page is recomputed here with the real
implementation (p2p.handshake, p2p.secret_connection, p2p.messages); a vector on the page that no
test checks fails `test_every_vector_is_checked`. The message table is compared with the registry,
the numbers quoted in the prose with the constants they come from, and `test_independent_*`
re-derive the key schedule and a sealed frame from the page alone (hmac/hashlib and a bare
ChaCha20-Poly1305), so the page is enough to interoperate.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from node.net import blocksync, network
from p2p import handshake as hs
from p2p.address import MAX_ADDR_LEN, compute_node_id
from p2p.config import SwitchConfig
from p2p.handshake import (
    AuthMsg,
    NodeInfo,
    compute_auth_digest,
    compute_session_keys,
    make_auth,
    node_pubkey,
    validate_auth,
)
from p2p.messages import (
    DEFAULT_MAX_MESSAGE_SIZE,
    REGISTRY,
    BlockRequest,
    BlockResponse,
    Channel,
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
    decode_message,
    decode_registered,
    encode_message,
    encode_message_fields,
)
from p2p.peer import CHANNEL_PRIORITY
from p2p.secret_connection import CipherState, SecretConnection
from p2p.wire import AEAD_TAG_SIZE, FrameDecoder, encode_frame
from tests.doc_vectors import read_vectors

DOC = (Path(__file__).resolve().parents[2] / "docs" / "p2p.md").read_text(encoding="utf-8")

INPUTS = {"eph_a.private", "eph_b.private", "node_key.private", "frame.key"}
# The NodeInfo of side A in section 10.1.
CHAIN_ID = "finchain-devnet"
GENESIS_HASH = b"\x11" * 32
LISTEN = "127.0.0.1:26656"
MONIKER = "node0"
FRAME_COUNTER = 7
H, A, S = b"\xab" * 32, b"\x22" * 20, b"\x33" * 65
NONCE = 0x0102030405060708


VECTORS = read_vectors(DOC)
CHECKED: set[str] = set()


def vb(name: str) -> bytes:
    return bytes.fromhex(VECTORS[name])


def check(name: str, actual: bytes | str) -> None:
    expected = VECTORS[name]
    got = actual.hex() if isinstance(actual, bytes) else actual
    assert got == expected, f"vector {name}: the page says {expected}, the code gives {got}"
    CHECKED.add(name)


def _ephemeral(name: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(vb(name))


def _info() -> NodeInfo:
    node_id = compute_node_id(node_pubkey(vb("node_key.private")))
    return NodeInfo(node_id, CHAIN_ID, GENESIS_HASH, hs.PROTOCOL_VERSION, LISTEN, MONIKER)


def _messages() -> dict[str, object]:
    return {
        "msg.ping": Ping(NONCE),
        "msg.pong": Pong(NONCE),
        "msg.proposal": ProposalMsg(5, 0, H, -1, A, S, b"\x01\x02\x03"),
        "msg.vote": VoteMsg(2, 5, 0, H, A, S),
        "msg.vote_nil": VoteMsg(1, 5, 1, b"", A, S),
        "msg.new_round_step": NewRoundStepMsg(5, 1, 2),
        "msg.has_vote": HasVoteMsg(5, 0, 2, A),
        "msg.evidence": EvidenceMsg(b"\x01\x02"),
        "msg.txs": TxsMsg((b"\x01", b"\x02\x03")),
        "msg.status_request": StatusRequest(),
        "msg.status_response": StatusResponse(1, 42),
        "msg.block_request": BlockRequest(43),
        "msg.block_response": BlockResponse(43, b"\x01", b"\x02"),
        "msg.no_block_response": NoBlockResponse(43),
        "msg.pex_request": PexRequest(),
        "msg.pex_addrs": PexAddrs(("eae10cdd2f289bdad44615809cb422d2fabe9622@127.0.0.1:26656",)),
    }


# -- vectors against the real code -------------------------------------------------------------


def test_handshake_vectors():
    a, b = _ephemeral("eph_a.private"), _ephemeral("eph_b.private")
    a_pub, b_pub = a.public_key().public_bytes_raw(), b.public_key().public_bytes_raw()
    check("eph_a.public", a_pub)
    check("eph_b.public", b_pub)
    check("eph_a.frame", encode_frame(a_pub))
    shared = a.exchange(b.public_key())
    assert shared == b.exchange(a.public_key())
    check("shared", shared)
    keys_a = compute_session_keys(shared, a_pub, b_pub)
    keys_b = compute_session_keys(shared, b_pub, a_pub)
    check("transcript", keys_a.transcript)
    assert a_pub < b_pub, "the page says A is lo"
    check("key_lo", keys_a.send_key)
    check("key_hi", keys_a.recv_key)
    assert (keys_b.send_key, keys_b.recv_key, keys_b.transcript) == (keys_a.recv_key, keys_a.send_key,
                                                                     keys_a.transcript)
    check("auth_digest", compute_auth_digest(keys_a.transcript))
    node_key = vb("node_key.private")
    check("node_key.public", node_pubkey(node_key))
    check("node_key.id", compute_node_id(node_pubkey(node_key)))
    auth = make_auth(node_key, _info(), keys_a.transcript)
    check("auth.signature", auth.signature)
    encoded = encode_message_fields(auth)
    check("auth.encoding", encoded)
    out: list[bytes] = []
    SecretConnection(keys_a.send_key, keys_a.recv_key).seal_payload(encoded, out)
    check("auth.frame", b"".join(out))


def test_auth_frame_opens_and_validates_on_side_b():
    """B opens A's auth frame with its receive key and counter 0, and accepts it."""
    keys_b = compute_session_keys(vb("shared"), vb("eph_b.public"), vb("eph_a.public"))
    frames = FrameDecoder(hs.HANDSHAKE_MAX_FRAME, CipherState(keys_b.recv_key).open)
    frames.receive_data(vb("auth.frame"))
    plaintext = frames.next_frame()
    assert plaintext == vb("auth.encoding")
    auth: AuthMsg = decode_registered(plaintext, {(0, 0): AuthMsg}, hs.HANDSHAKE_MAX_FRAME)
    b_id = compute_node_id(node_pubkey((4).to_bytes(32, "big")))
    ours = NodeInfo(b_id, CHAIN_ID, GENESIS_HASH, hs.PROTOCOL_VERSION, "127.0.0.1:26657", "b")
    validate_auth(auth, keys_b.transcript, ours, expected_id=VECTORS["node_key.id"])
    assert auth.info == _info()


def test_sealed_frame_vector():
    key = vb("frame.key")
    check("frame.nonce", FRAME_COUNTER.to_bytes(12, "little"))
    conn = SecretConnection(key, b"\x00" * 32)
    conn.send_cipher.counter = FRAME_COUNTER
    out: list[bytes] = []
    conn.seal_payload(encode_message(Ping(NONCE)), out)
    check("frame.sealed", b"".join(out))
    receiver = SecretConnection(b"\x00" * 32, key)
    receiver.recv_cipher.counter = FRAME_COUNTER
    receiver.receive_data(vb("frame.sealed"))
    assert receiver.next_message() == Ping(NONCE)


def test_message_vectors():
    for name, msg in _messages().items():
        check(name, encode_message(msg))
        assert decode_message(vb(name)) == msg


# -- the page's tables and numbers -----------------------------------------------------------------


def _table(marker: str) -> list[list[str]]:
    start = DOC.index(f"<!-- table {marker} -->")
    rows = []
    for line in DOC[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[2:]


def test_message_table_matches_the_registry():
    rows = {(int(r[0]), int(r[1])): r[2] for r in _table("messages")}
    assert rows.pop((0, 0)) == AuthMsg.__name__
    assert rows == {key: cls.__name__ for key, cls in REGISTRY.items()}


def test_numbers_quoted_on_the_page():
    cfg = SwitchConfig()
    assert (hs.TRANSCRIPT_TAG, hs.KEYS_INFO, hs.AUTH_TAG) == (
        b"finchain/p2p/v1/transcript", b"finchain/p2p/v1/keys", b"finchain/p2p/v1/auth")
    assert hs.HANDSHAKE_MAX_FRAME == 2048 and hs.PROTOCOL_VERSION == 1
    assert DEFAULT_MAX_MESSAGE_SIZE == 4_259_840 and DEFAULT_MAX_MESSAGE_SIZE + AEAD_TAG_SIZE == 4_259_856
    assert MAX_ADDR_LEN == 300
    assert [int(c) for c in Channel] == [0, 1, 2, 3, 4]
    assert CHANNEL_PRIORITY == (Channel.CONTROL, Channel.CONSENSUS, Channel.BLOCKSYNC, Channel.MEMPOOL, Channel.PEX)
    assert (cfg.handshake_timeout, cfg.dial_timeout, cfg.ping_interval, cfg.ping_timeout, cfg.write_timeout) == (
        3.0, 5.0, 10.0, 20.0, 30.0)
    assert (cfg.send_queue_msgs, cfg.send_queue_bytes, cfg.write_batch_bytes, cfg.read_chunk) == (
        4096, 16 << 20, 256 * 1024, 256 * 1024)
    assert (cfg.recv_rate_bytes, cfg.recv_burst_bytes, cfg.recv_rate_msgs, cfg.recv_burst_msgs) == (
        64 << 20, 128 << 20, 20_000, 40_000)
    assert (cfg.flood_severity, cfg.ban_threshold, cfg.ban_seconds, cfg.score_decay_per_s) == (5, 100, 600, 0.5)
    assert (cfg.backoff_base, cfg.backoff_cap, cfg.dial_interval) == (0.5, 60.0, 1.0)
    assert (cfg.pex_interval, cfg.pex_max_addrs, cfg.max_pending_inbound, cfg.addrbook_max) == (30.0, 30, 32, 1000)
    assert cfg.addrbook_save_interval == 10.0
    assert (network.GOSSIP_INTERVAL_S, network.STALE_PEER_S, network.TX_BATCH_MAX, network.VOTES_PER_TICK) == (
        0.05, 2.0, 500, 400)
    assert (blocksync.WINDOW, blocksync.REQUEST_TIMEOUT_S, blocksync.STATUS_INTERVAL_S,
            blocksync.PER_PEER_IN_FLIGHT) == (64, 5.0, 1.0, 16)


# -- an independent implementation, from the page alone ------------------------------------------------


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def test_independent_key_schedule():
    lo, hi = sorted((vb("eph_a.public"), vb("eph_b.public")))
    transcript = hashlib.sha256(b"finchain/p2p/v1/transcript" + lo + hi).digest()
    assert transcript == vb("transcript")
    okm = _hkdf_sha256(vb("shared"), transcript, b"finchain/p2p/v1/keys", 64)
    assert (okm[:32], okm[32:]) == (vb("key_lo"), vb("key_hi"))
    digest = hashlib.sha256(b"finchain/p2p/v1/auth" + transcript).digest()
    assert digest == vb("auth_digest")
    pub = coincurve.PublicKey.from_signature_and_message(vb("auth.signature"), digest, hasher=None)
    assert pub.format(compressed=True) == vb("node_key.public")
    assert hashlib.sha256(vb("node_key.public")).digest()[:20].hex() == VECTORS["node_key.id"]


def test_independent_frames():
    sealed = ChaCha20Poly1305(vb("frame.key")).encrypt(vb("frame.nonce"), vb("msg.ping"), None)
    assert len(sealed).to_bytes(4, "big") + sealed == vb("frame.sealed")
    auth = vb("auth.frame")
    assert int.from_bytes(auth[:4], "big") == len(auth) - 4
    opened = ChaCha20Poly1305(vb("key_lo")).decrypt(bytes(12), auth[4:], None)
    assert opened == vb("auth.encoding")
    assert vb("eph_a.frame") == (32).to_bytes(4, "big") + vb("eph_a.public")


def test_every_vector_is_checked():
    """A vector added to the page must also be checked by a test here."""
    for test in (test_handshake_vectors, test_sealed_frame_vector, test_message_vectors):
        test()
    unchecked = set(VECTORS) - CHECKED - INPUTS
    assert not unchecked, f"vectors on the page that no test checks: {sorted(unchecked)}"
    assert INPUTS <= set(VECTORS)
