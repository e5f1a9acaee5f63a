"""The pure decoder: bytes in, messages out, and every malformed input rejected as the peer's fault."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p.errors import LocalProtocolError, PeerProtocolError
from p2p.messages import (
    MESSAGE_TYPES,
    PEX_MAX_ADDRS,
    TXS_MAX_COUNT,
    BlockRequest,
    BlockResponse,
    Channel,
    EvidenceMsg,
    HasVoteMsg,
    Message,
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
    encode_message,
)
from p2p.wire import FrameDecoder, MessageDecoder, encode_frame, frame_message

NODE = "ab" * 20
SAMPLES: list[Message] = [
    Ping(0),
    Pong(2**64 - 1),
    ProposalMsg(7, 2, b"\x11" * 32, -1, b"\x22" * 20, b"\x33" * 65, b"block bytes"),
    VoteMsg(1, 7, 0, b"", b"\x22" * 20, b"\x44" * 65),
    VoteMsg(2, 7, 3, b"\x55" * 32, b"\x22" * 20, b"\x44" * 65),
    NewRoundStepMsg(9, 1, 3),
    HasVoteMsg(9, 1, 2, b"\x66" * 20),
    EvidenceMsg(b"evidence"),
    TxsMsg((b"tx1", b"", b"tx3" * 100)),
    TxsMsg(()),
    StatusRequest(),
    StatusResponse(1, 100),
    BlockRequest(5),
    BlockResponse(5, b"B" * 1000, b"C" * 100),
    NoBlockResponse(6),
    PexRequest(),
    PexAddrs((f"{NODE}@127.0.0.1:26656", f"{'cd' * 20}@[::1]:1", f"{'ef' * 20}@node.example:65535")),
]


def raw(*items: object) -> bytes:
    return msgpack.packb(list(items), use_bin_type=True)


def decode_all(data: bytes, chunk: int | None = None) -> list[Message]:
    dec = MessageDecoder()
    out: list[Message] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        dec.receive_data(piece)
        while (msg := dec.next_message()) is not None:
            out.append(msg)
    return out


def test_every_message_type_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_roundtrip(msg: Message) -> None:
    data = encode_message(msg)
    assert data[:1] in (bytes([0x90 + len(msg.SPEC) + 2]),)
    assert decode_message(data) == msg


def test_stream_of_frames_in_any_chunking() -> None:
    stream = b"".join(frame_message(m) for m in SAMPLES)
    for chunk in (None, 1, 3, 7, 64):
        assert decode_all(stream, chunk) == SAMPLES


def test_next_message_returns_none_until_complete() -> None:
    frame = frame_message(Ping(5))
    dec = MessageDecoder()
    for b in frame[:-1]:
        dec.receive_data(bytes([b]))
        assert dec.next_message() is None
    dec.receive_data(frame[-1:])
    assert dec.next_message() == Ping(5)
    assert dec.next_message() is None


def test_channels_and_ids_are_stable() -> None:
    # The wire ids are a protocol constant: changing one breaks compatibility with deployed nodes.
    assert encode_message(VoteMsg(1, 2, 3, b"", b"\x00" * 20, b"\x00" * 65))[1:3] == bytes([Channel.CONSENSUS, 2])
    assert encode_message(TxsMsg(()))[1:3] == bytes([Channel.MEMPOOL, 1])
    assert encode_message(PexAddrs(()))[1:3] == bytes([Channel.PEX, 2])


# ---------------------------------------------------------------------------------------------- framing faults


def test_truncated_length_prefix_at_eof() -> None:
    dec = MessageDecoder()
    dec.receive_data(b"\x00\x00")
    assert dec.next_message() is None
    dec.receive_data(b"")
    with pytest.raises(PeerProtocolError, match="length prefix"):
        dec.next_message()


def test_truncated_frame_at_eof() -> None:
    dec = MessageDecoder()
    dec.receive_data(frame_message(Ping(1))[:-1])
    assert dec.next_message() is None
    dec.receive_data(b"")
    with pytest.raises(PeerProtocolError, match="inside a frame"):
        dec.next_message()


def test_clean_eof_is_not_an_error() -> None:
    dec = MessageDecoder()
    dec.receive_data(frame_message(Ping(1)))
    dec.receive_data(b"")
    assert dec.next_message() == Ping(1)
    assert dec.next_message() is None


def test_oversized_length_prefix_rejected_before_the_body_arrives() -> None:
    dec = MessageDecoder(max_message_size=1000)
    dec.receive_data(struct.pack(">I", 1001))
    with pytest.raises(PeerProtocolError, match="exceeds"):
        dec.next_message()


def test_huge_length_prefix() -> None:
    dec = MessageDecoder()
    dec.receive_data(b"\xff\xff\xff\xff")
    with pytest.raises(PeerProtocolError, match="exceeds"):
        dec.next_message()


def test_empty_frame() -> None:
    dec = MessageDecoder()
    dec.receive_data(b"\x00\x00\x00\x00")
    with pytest.raises(PeerProtocolError, match="empty"):
        dec.next_message()


def test_decoder_stays_failed() -> None:
    dec = MessageDecoder()
    dec.receive_data(encode_frame(raw(99, 1)))
    with pytest.raises(PeerProtocolError):
        dec.next_message()
    dec.receive_data(frame_message(Ping(1)))
    with pytest.raises(PeerProtocolError):
        dec.next_message()


def test_data_after_eof_is_our_misuse() -> None:
    dec = FrameDecoder()
    dec.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        dec.receive_data(b"x")


# ---------------------------------------------------------------------------------------------- message faults

BAD_MESSAGES = {
    "unknown channel": (raw(9, 1), "unknown channel"),
    "unknown type": (raw(Channel.CONSENSUS, 42, 1), "unknown message type"),
    "negative channel": (raw(-1, 1), "unknown channel"),
    "not an array": (msgpack.packb(5), "array"),
    "a map": (msgpack.packb({0: 1}), "array"),
    "empty array": (raw(), r"\[channel"),
    "channel as bytes": (raw(b"\x00", 1, 1), r"\[channel"),
    "bool channel": (raw(False, 1, 1), r"\[channel"),
    "missing field": (raw(0, 1), "expected 1 fields"),
    "extra field": (raw(0, 1, 5, 6), "expected 1 fields"),
    "trailing bytes": (raw(0, 1, 5) + b"\x00", "undecodable"),
    "float nonce": (raw(0, 1, 1.5), "integer"),
    "bool nonce": (raw(0, 1, True), "integer"),
    "str where bytes": (raw(2, 1, ("tx",)), "bytes"),
    "bytes where int": (raw(0, 1, b"\x01"), "integer"),
    "negative height": (raw(3, 3, -1), "outside"),
    "u64 overflow": (b"\x93\x00\x01\xd3" + (-5).to_bytes(8, "big", signed=True), "outside"),
    "negative round": (raw(1, 3, 1, -2, 0), "outside"),
    "valid_round below -1": (raw(1, 1, 1, 0, b"h" * 32, -2, b"p" * 20, b"s" * 65, b""), "outside"),
    "step above a byte": (raw(1, 3, 1, 1, 256), "outside"),
    "short block hash": (raw(1, 1, 1, 0, b"h" * 31, -1, b"p" * 20, b"s" * 65, b""), "length 31"),
    "short validator": (raw(1, 2, 1, 1, 0, b"", b"v" * 19, b"s" * 65), "length 19"),
    "long signature": (raw(1, 2, 1, 1, 0, b"", b"v" * 20, b"s" * 66), "length 66"),
    "vote hash of 5 bytes": (raw(1, 2, 1, 1, 0, b"12345", b"v" * 20, b"s" * 65), "length 5"),
    "evidence too big": (raw(1, 5, b"e" * 70_000), "exceeds"),
    "too many txs": (raw(2, 1, tuple(b"" for _ in range(TXS_MAX_COUNT + 1))), "undecodable|exceeds"),
    "txs not a list": (raw(2, 1, b"tx"), "array"),
    "too many addrs": (raw(4, 2, tuple(f"{NODE}@h:{i + 1}" for i in range(PEX_MAX_ADDRS + 1))), "exceeds"),
    "bad addr": (raw(4, 2, ("nobody@host:1",)), "40-hex"),
    "addr bad port": (raw(4, 2, (f"{NODE}@host:0",)), "port"),
    "invalid utf-8": (b"\x93\x04\x02\x91\xa2\xff\xfe", "undecodable"),
    "ext type": (msgpack.packb([0, 1, msgpack.ExtType(1, b"x")]), "undecodable"),
    "nested map": (msgpack.packb([0, 1, {1: 2}]), "undecodable"),
    "empty nested map": (msgpack.packb([0, 1, {}]), "integer"),
    "non-minimal int": (b"\x93\x00\x01\xcd\x00\x05", "canonical"),
    "bin16 for short bytes": (b"\x93\x01\x05\xc5\x00\x01x", "canonical"),
}


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_malformed_message(name: str) -> None:
    data, pattern = BAD_MESSAGES[name]
    with pytest.raises(PeerProtocolError, match=pattern):
        decode_message(data)
    dec = MessageDecoder()
    dec.receive_data(encode_frame(data))
    with pytest.raises(PeerProtocolError):
        dec.next_message()


def test_message_larger_than_the_limit() -> None:
    data = encode_message(BlockResponse(1, b"x" * 5000, b""))
    with pytest.raises(PeerProtocolError, match="exceeds"):
        decode_message(data, max_size=4096)


def test_encoding_an_invalid_message_is_our_fault() -> None:
    with pytest.raises(LocalProtocolError, match="length 3"):
        encode_message(VoteMsg(1, 1, 1, b"abc", b"v" * 20, b"s" * 65))
    with pytest.raises(LocalProtocolError, match="outside"):
        encode_message(BlockRequest(-1))
    with pytest.raises(LocalProtocolError, match="integer"):
        encode_message(Ping(True))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="not a p2p message"):
        encode_message(object())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="above"):
        encode_message(BlockResponse(1, b"x" * 5000, b""), max_size=1000)
    with pytest.raises(LocalProtocolError):
        encode_frame(b"")


# ---------------------------------------------------------------------------------------------- fuzzing

# Each fuzz test below also checks that valid input among the fuzz still decodes: without that, a
# decoder that rejected everything would pass them.

VALID_STREAM = b"".join(frame_message(m) for m in SAMPLES)
FRAME_ENDS = [len(b"".join(frame_message(m) for m in SAMPLES[: i + 1])) for i in range(len(SAMPLES))]

MESSAGES = st.one_of(
    st.builds(Ping, st.integers(0, 2**64 - 1)),
    st.builds(TxsMsg, st.lists(st.binary(max_size=100), max_size=20).map(tuple)),
    st.builds(StatusResponse, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    st.builds(
        VoteMsg,
        st.integers(0, 255),
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**31 - 1),
        st.sampled_from([b"", b"\x01" * 32]),
        st.binary(min_size=20, max_size=20),
        st.binary(min_size=65, max_size=65),
    ),
)


def feed(data: bytes, chunk: int) -> tuple[list[Message], PeerProtocolError | None]:
    """The messages decoded from `data` fed in pieces of `chunk`, and the peer error that stopped
    the decoder, if one did; any other exception escapes."""
    dec = MessageDecoder(max_message_size=64 * 1024)
    out: list[Message] = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    try:
        for piece in [*pieces, b""]:
            dec.receive_data(piece)
            for _ in range(len(data) + 1):  # bounded: at most one message per byte
                msg = dec.next_message()
                if msg is None:
                    break
                out.append(msg)
    except PeerProtocolError as exc:
        return out, exc
    return out, None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.integers(1, 64), MESSAGES)
def test_random_bytes_only_raise_peer_protocol_error(data: bytes, chunk: int, first: Message) -> None:
    feed(data, chunk)
    # A valid frame before the same garbage is still decoded, before the garbage is refused.
    decoded, _ = feed(frame_message(first) + data, chunk)
    assert decoded[:1] == [first]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2**16), MESSAGES)
def test_random_frame_bodies_only_raise_peer_protocol_error(body: bytes, seed: int, msg: Message) -> None:
    for data in (body, bytes([0x90 + seed % 16]) + body, raw(seed % 6, seed % 7) + body):
        try:
            decode_message(data)
        except PeerProtocolError:
            pass
    # The same bytes as the field of a valid message, and a generated message, decode as encoded.
    for valid in (EvidenceMsg(body), TxsMsg((body, bytes([seed % 256]))), msg):
        assert decode_message(encode_message(valid)) == valid


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_valid_frames_only_raise_peer_protocol_error(data: st.DataObject) -> None:
    stream = bytearray(VALID_STREAM)
    intact = len(stream)  # bytes before every mutation's position are unchanged
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(stream) - 1)))
        intact = min(intact, pos)
        if op == "flip" and stream:
            stream[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            stream[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and stream:
            del stream[pos : pos + data.draw(st.integers(1, 8))]
        elif op == "truncate":
            del stream[pos:]
    chunk = data.draw(st.integers(1, 200))
    decoded, _ = feed(bytes(stream), chunk)
    # Every frame that ends before the first mutation decodes to its message.
    whole = sum(1 for end in FRAME_ENDS if end <= intact)
    assert decoded[:whole] == SAMPLES[:whole]
    assert feed(VALID_STREAM, chunk) == (SAMPLES, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(MESSAGES, max_size=20), st.integers(1, 50))
def test_generated_messages_roundtrip(msgs: list[Message], chunk: int) -> None:
    stream = b"".join(frame_message(m) for m in msgs)
    assert decode_all(stream, chunk) == msgs


LARGE = [
    BlockResponse(2**40, b"\x01" * 70_000, b"\x02" * 20_000),
    ProposalMsg(300, 70_000, b"\x11" * 32, -1, b"\x22" * 20, b"\x33" * 65, b"b" * 100_000),
    TxsMsg(tuple(bytes([i]) * (i * 300) for i in range(100))),
    BlockResponse(1, b"x" * (1 << 20), b""),
]


@pytest.mark.parametrize("msg", LARGE, ids=lambda m: type(m).__name__)
def test_large_messages_use_the_same_canonical_bytes(msg: Message) -> None:
    data = encode_message(msg)
    values = [getattr(msg, name) for name, _ in msg.SPEC]
    assert data == msgpack.packb([msg.CHANNEL, msg.TYPE, *values], use_bin_type=True)
    assert decode_message(data) == msg


@pytest.mark.parametrize(
    "data",
    [
        # bin32 header for a payload that fits bin16
        b"\x95\x03\x04\x05\xc6" + (20_000).to_bytes(4, "big") + b"x" * 20_000 + b"\xc4\x00",
        # a positive height as int16 instead of uint16 (same length!)
        b"\x95\x03\x04\xd1\x01\x2c\xc5" + (20_000).to_bytes(2, "big") + b"x" * 20_000 + b"\xc4\x00",
        # array16 header for five items
        b"\xdc\x00\x05\x03\x04\x05\xc5" + (20_000).to_bytes(2, "big") + b"x" * 20_000 + b"\xc4\x00",
    ],
    ids=["bin32", "int16", "array16"],
)
def test_non_canonical_large_messages_rejected(data: bytes) -> None:
    assert msgpack.unpackb(data)[:3] in ([3, 4, 5], [3, 4, 300])  # well-formed msgpack, just not canonical
    with pytest.raises(PeerProtocolError, match="canonical"):
        decode_message(data)
