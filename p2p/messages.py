"""Typed p2p messages and their canonical msgpack encoding.

Every message is the msgpack array `[channel, type, *fields]`: positional, integers only, bytes as bin, no maps,
no floats, no ext types. Decoding is strict: the array must have exactly the right arity, every field its exact
type and bounds, and the input must be the one canonical encoding (re-encoding gives the same bytes), so two
peers that agree on a message agree on its bytes. Payloads that belong to the node (blocks, commits, evidence,
transactions) are opaque bytes here: p2p knows bytes and peers, not blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeAlias

import msgpack

from p2p.address import MAX_ADDR_LEN, AddressError, parse_peer_address
from p2p.errors import LocalProtocolError, P2PError, PeerProtocolError

MiB = 1024 * 1024
# A block of up to 4 MiB plus its commit and the message envelope must fit one frame.
DEFAULT_MAX_MESSAGE_SIZE = 4 * MiB + 64 * 1024

U64_MAX = 2**64 - 1
I32_MAX = 2**31 - 1
HASH_SIZE = 32
ADDRESS_SIZE = 20
SIGNATURE_SIZE = 65
MAX_BLOCK_BYTES = DEFAULT_MAX_MESSAGE_SIZE
MAX_COMMIT_BYTES = 1 * MiB
MAX_EVIDENCE_BYTES = 64 * 1024
TXS_MAX_COUNT = 4096
TX_MAX_BYTES = 1 * MiB
PEX_MAX_ADDRS = 100
MAX_TEXT_LEN = 256


class Channel(IntEnum):
    CONTROL = 0
    CONSENSUS = 1
    MEMPOOL = 2
    BLOCKSYNC = 3
    PEX = 4


# ---------------------------------------------------------------------------------------------- field kinds
# Each kind validates one decoded field; `err` is PeerProtocolError when decoding and LocalProtocolError when
# encoding our own message, so the same rules blame the right side.


@dataclass(frozen=True, slots=True)
class UInt:
    max: int = U64_MAX

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not int:  # bool is an int subclass: reject it too
            raise err(f"{name}: expected an integer, got {type(value).__name__}")
        if not 0 <= value <= self.max:
            raise err(f"{name}: {value} outside 0..{self.max}")


@dataclass(frozen=True, slots=True)
class SInt:
    min: int
    max: int

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not int:
            raise err(f"{name}: expected an integer, got {type(value).__name__}")
        if not self.min <= value <= self.max:
            raise err(f"{name}: {value} outside {self.min}..{self.max}")


@dataclass(frozen=True, slots=True)
class Bin:
    sizes: tuple[int, ...] = ()  # allowed exact lengths; empty = any length up to max_len
    max_len: int = 0

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not bytes:
            raise err(f"{name}: expected bytes, got {type(value).__name__}")
        if self.sizes:
            if len(value) not in self.sizes:
                raise err(f"{name}: length {len(value)} not in {self.sizes}")
        elif len(value) > self.max_len:
            raise err(f"{name}: {len(value)} bytes exceeds {self.max_len}")


@dataclass(frozen=True, slots=True)
class Text:
    max_len: int = MAX_TEXT_LEN

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not str:
            raise err(f"{name}: expected a string, got {type(value).__name__}")
        if len(value) > self.max_len or not value.isprintable():
            raise err(f"{name}: longer than {self.max_len} or not printable")


@dataclass(frozen=True, slots=True)
class BinList:
    max_count: int
    max_item: int

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not tuple:
            raise err(f"{name}: expected an array, got {type(value).__name__}")
        if len(value) > self.max_count:
            raise err(f"{name}: {len(value)} items exceeds {self.max_count}")
        for item in value:
            if type(item) is not bytes:
                raise err(f"{name}: items must be bytes, got {type(item).__name__}")
            if len(item) > self.max_item:
                raise err(f"{name}: item of {len(item)} bytes exceeds {self.max_item}")


@dataclass(frozen=True, slots=True)
class AddrList:
    max_count: int

    def check(self, name: str, value: Any, err: type[P2PError]) -> None:
        if type(value) is not tuple:
            raise err(f"{name}: expected an array, got {type(value).__name__}")
        if len(value) > self.max_count:
            raise err(f"{name}: {len(value)} addresses exceeds {self.max_count}")
        for item in value:
            if type(item) is not str or len(item) > MAX_ADDR_LEN:
                raise err(f"{name}: addresses are strings of at most {MAX_ADDR_LEN} characters")
            try:
                parse_peer_address(item)
            except AddressError as exc:
                raise err(f"{name}: {exc}") from None


Kind: TypeAlias = UInt | SInt | Bin | Text | BinList | AddrList

HEIGHT = UInt()
ROUND = UInt(I32_MAX)
BYTE = UInt(255)
HASH = Bin((HASH_SIZE,))
ADDR20 = Bin((ADDRESS_SIZE,))
SIG = Bin((SIGNATURE_SIZE,))

# ---------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Ping:
    CHANNEL: ClassVar[Channel] = Channel.CONTROL
    TYPE: ClassVar[int] = 1
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("nonce", UInt()),)
    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    CHANNEL: ClassVar[Channel] = Channel.CONTROL
    TYPE: ClassVar[int] = 2
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("nonce", UInt()),)
    nonce: int


@dataclass(frozen=True, slots=True)
class ProposalMsg:
    CHANNEL: ClassVar[Channel] = Channel.CONSENSUS
    TYPE: ClassVar[int] = 1
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("height", HEIGHT),
        ("round", ROUND),
        ("block_hash", HASH),
        ("valid_round", SInt(-1, I32_MAX)),  # -1 = no valid round (paper's nil)
        ("proposer", ADDR20),
        ("signature", SIG),
        ("block", Bin(max_len=MAX_BLOCK_BYTES)),
    )
    height: int
    round: int
    block_hash: bytes
    valid_round: int
    proposer: bytes
    signature: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class VoteMsg:
    CHANNEL: ClassVar[Channel] = Channel.CONSENSUS
    TYPE: ClassVar[int] = 2
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("vote_type", BYTE),
        ("height", HEIGHT),
        ("round", ROUND),
        ("block_hash", Bin((0, HASH_SIZE))),  # b"" is a vote for nil
        ("validator", ADDR20),
        ("signature", SIG),
    )
    vote_type: int
    height: int
    round: int
    block_hash: bytes
    validator: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class NewRoundStepMsg:
    CHANNEL: ClassVar[Channel] = Channel.CONSENSUS
    TYPE: ClassVar[int] = 3
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("height", HEIGHT), ("round", ROUND), ("step", BYTE))
    height: int
    round: int
    step: int


@dataclass(frozen=True, slots=True)
class HasVoteMsg:
    CHANNEL: ClassVar[Channel] = Channel.CONSENSUS
    TYPE: ClassVar[int] = 4
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("height", HEIGHT),
        ("round", ROUND),
        ("vote_type", BYTE),
        ("validator", ADDR20),
    )
    height: int
    round: int
    vote_type: int
    validator: bytes


@dataclass(frozen=True, slots=True)
class EvidenceMsg:
    CHANNEL: ClassVar[Channel] = Channel.CONSENSUS
    TYPE: ClassVar[int] = 5
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("evidence", Bin(max_len=MAX_EVIDENCE_BYTES)),)
    evidence: bytes


@dataclass(frozen=True, slots=True)
class TxsMsg:
    CHANNEL: ClassVar[Channel] = Channel.MEMPOOL
    TYPE: ClassVar[int] = 1
    # The total size is bounded by the frame size; the count bounds per-message work.
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("txs", BinList(TXS_MAX_COUNT, TX_MAX_BYTES)),)
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class StatusRequest:
    CHANNEL: ClassVar[Channel] = Channel.BLOCKSYNC
    TYPE: ClassVar[int] = 1
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = ()


@dataclass(frozen=True, slots=True)
class StatusResponse:
    CHANNEL: ClassVar[Channel] = Channel.BLOCKSYNC
    TYPE: ClassVar[int] = 2
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("base_height", HEIGHT), ("height", HEIGHT))
    base_height: int
    height: int


@dataclass(frozen=True, slots=True)
class BlockRequest:
    CHANNEL: ClassVar[Channel] = Channel.BLOCKSYNC
    TYPE: ClassVar[int] = 3
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("height", HEIGHT),)
    height: int


@dataclass(frozen=True, slots=True)
class BlockResponse:
    CHANNEL: ClassVar[Channel] = Channel.BLOCKSYNC
    TYPE: ClassVar[int] = 4
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (
        ("height", HEIGHT),
        ("block", Bin(max_len=MAX_BLOCK_BYTES)),
        ("commit", Bin(max_len=MAX_COMMIT_BYTES)),
    )
    height: int
    block: bytes
    commit: bytes


@dataclass(frozen=True, slots=True)
class NoBlockResponse:
    CHANNEL: ClassVar[Channel] = Channel.BLOCKSYNC
    TYPE: ClassVar[int] = 5
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("height", HEIGHT),)
    height: int


@dataclass(frozen=True, slots=True)
class PexRequest:
    CHANNEL: ClassVar[Channel] = Channel.PEX
    TYPE: ClassVar[int] = 1
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = ()


@dataclass(frozen=True, slots=True)
class PexAddrs:
    CHANNEL: ClassVar[Channel] = Channel.PEX
    TYPE: ClassVar[int] = 2
    SPEC: ClassVar[tuple[tuple[str, Kind], ...]] = (("addrs", AddrList(PEX_MAX_ADDRS)),)
    addrs: tuple[str, ...]


Message: TypeAlias = (
    Ping
    | Pong
    | ProposalMsg
    | VoteMsg
    | NewRoundStepMsg
    | HasVoteMsg
    | EvidenceMsg
    | TxsMsg
    | StatusRequest
    | StatusResponse
    | BlockRequest
    | BlockResponse
    | NoBlockResponse
    | PexRequest
    | PexAddrs
)

MESSAGE_TYPES: tuple[type[Message], ...] = (
    Ping,
    Pong,
    ProposalMsg,
    VoteMsg,
    NewRoundStepMsg,
    HasVoteMsg,
    EvidenceMsg,
    TxsMsg,
    StatusRequest,
    StatusResponse,
    BlockRequest,
    BlockResponse,
    NoBlockResponse,
    PexRequest,
    PexAddrs,
)
REGISTRY: dict[tuple[int, int], type[Message]] = {(cls.CHANNEL, cls.TYPE): cls for cls in MESSAGE_TYPES}
CHANNELS: frozenset[int] = frozenset(int(c) for c in Channel)

# ---------------------------------------------------------------------------------------------- codec


def encode_message(msg: Message, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes:
    """Canonical bytes of one of our messages; LocalProtocolError if it breaks the rules the peer would check."""
    cls = type(msg)
    if REGISTRY.get((getattr(cls, "CHANNEL", -1), getattr(cls, "TYPE", -1))) is not cls:
        raise LocalProtocolError(f"not a p2p message: {cls.__name__}")
    return encode_message_fields(msg, max_size)


def encode_message_fields(msg: Any, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes:
    """`[CHANNEL, TYPE, *fields]` of any class with a SPEC, each field checked as the peer will check it."""
    cls = type(msg)
    values = [getattr(msg, name) for name, _ in cls.SPEC]
    for (label, kind), value in zip(_labelled_spec(cls), values, strict=True):
        kind.check(label, value, LocalProtocolError)
    items = [int(cls.CHANNEL), cls.TYPE, *values]
    if any(type(v) is bytes and len(v) >= LARGE_BIN for v in values):
        parts: list[bytes] = []
        _canonical_parts(items, parts)
        data = b"".join(parts)  # one copy of the payload, where msgpack's growing buffer makes several
    else:
        data = msgpack.packb(items, use_bin_type=True)
    if len(data) > max_size:
        raise LocalProtocolError(f"{cls.__name__} encodes to {len(data)} bytes, above the {max_size}-byte limit")
    return data


def decode_message(data: bytes, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> Message:
    """Strictly decode one message; anything but the canonical encoding of a known message is PeerProtocolError."""
    return decode_registered(data, REGISTRY, max_size)


def decode_registered(data: bytes, registry: dict[tuple[int, int], type[Any]], max_size: int) -> Any:
    """Strictly decode `[channel, type, *fields]` into the registry's class for (channel, type)."""
    if len(data) == 0:
        raise PeerProtocolError("empty message")
    if len(data) > max_size:
        raise PeerProtocolError(f"message of {len(data)} bytes exceeds {max_size}")
    # Only arrays can start a message: checking the first byte rejects scalars and maps before any allocation.
    first = data[0]
    if not (0x90 <= first <= 0x9F or first in (0xDC, 0xDD)):
        raise PeerProtocolError(f"a message must be a msgpack array, first byte 0x{first:02x}")
    try:
        items = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,
            max_bin_len=max_size,
            max_str_len=MAX_ADDR_LEN,
            max_array_len=TXS_MAX_COUNT + 2,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises ValueError subclasses, UnicodeDecodeError, StackError...: all the peer's
        raise PeerProtocolError(f"undecodable msgpack: {type(exc).__name__}: {exc}") from None
    if type(items) is not tuple or len(items) < 2 or type(items[0]) is not int or type(items[1]) is not int:
        raise PeerProtocolError("a message is [channel:int, type:int, ...fields]")
    channel, msg_type = items[0], items[1]
    cls = registry.get((channel, msg_type))
    if cls is None:
        if channel not in CHANNELS:
            raise PeerProtocolError(f"unknown channel {channel}")
        raise PeerProtocolError(f"unknown message type {msg_type} on channel {Channel(channel).name}")
    fields = items[2:]
    if len(fields) != len(cls.SPEC):
        raise PeerProtocolError(f"{cls.__name__}: expected {len(cls.SPEC)} fields, got {len(fields)}")
    for (label, kind), value in zip(_labelled_spec(cls), fields, strict=True):
        kind.check(label, value, PeerProtocolError)
    # Non-minimal ints, str-for-bin and similar variants decode to the same values: only the canonical form passes.
    if len(data) >= LARGE_BIN:
        canonical = _canonical_end(items, data, 0) == len(data)
    else:
        canonical = msgpack.packb(items, use_bin_type=True) == data
    if not canonical:
        raise PeerProtocolError(f"{cls.__name__}: not the canonical encoding")
    return cls(*fields)


@functools.cache
def _labelled_spec(cls: type[Any]) -> tuple[tuple[str, Kind], ...]:
    # Error labels ("VoteMsg.signature") built once per class, not once per field per message.
    return tuple((f"{cls.__name__}.{name}", kind) for name, kind in cls.SPEC)


# Above this size the canonical form is built and checked piecewise, so large payloads are never re-serialized.
LARGE_BIN = 16 * 1024


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _bin_header(n: int) -> bytes:
    if n < 0x100:
        return b"\xc4" + bytes((n,))
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _canonical_parts(values: Sequence[Any], out: list[bytes]) -> None:
    """The same bytes msgpack.packb(use_bin_type=True) produces, as parts that reference the payloads."""
    out.append(_array_header(len(values)))
    for value in values:
        if type(value) is bytes:
            out.append(_bin_header(len(value)))
            out.append(value)
        elif type(value) is tuple:
            _canonical_parts(value, out)
        else:
            out.append(msgpack.packb(value, use_bin_type=True))


def _canonical_end(values: Sequence[Any], data: bytes, offset: int) -> int:
    """Check that `data` holds the canonical encoding of `values` at `offset`; the end offset, or -1 if not.

    Bin payloads are skipped, not compared: they were decoded from exactly these positions, so once every
    header matches its minimal form the whole encoding is the canonical one.
    """
    header = _array_header(len(values))
    if data[offset : offset + len(header)] != header:
        return -1
    offset += len(header)
    for value in values:
        if type(value) is bytes:
            header = _bin_header(len(value))
            if data[offset : offset + len(header)] != header:
                return -1
            offset += len(header) + len(value)
        elif type(value) is tuple:
            offset = _canonical_end(value, data, offset)
            if offset < 0:
                return -1
        else:
            packed = msgpack.packb(value, use_bin_type=True)
            if data[offset : offset + len(packed)] != packed:
                return -1
            offset += len(packed)
    return offset
