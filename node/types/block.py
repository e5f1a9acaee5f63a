"""Blocks, headers, commits, votes as signed on the wire, and receipts.

The header's `state_root` is the state root **after** executing this block's
transactions: validators execute a proposal before they prevote, so a committed
header always names the state it produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.types import codec
from node.types.codec import DecodeError
from node.types.crypto import (
    TAG_COMMIT,
    TAG_HEADER,
    TAG_PROPOSAL,
    TAG_RECEIPT,
    TAG_VOTE,
    PrivateKey,
    sha256,
    tagged_hash,
)

ZERO_HASH = b"\x00" * 32
MAX_BLOCK_BYTES_LIMIT = 64 * 1024 * 1024
PREVOTE = 1
PRECOMMIT = 2


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash: leaf = H(0x00 || d), node = H(0x01 || l || r)."""
    if not leaves:
        return sha256(b"")
    level = [sha256(b"\x00" + leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [sha256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


@dataclass(frozen=True, slots=True)
class Header:
    chain_id: str
    height: int
    time_ms: int
    prev_hash: bytes  # the genesis hash at height 1
    tx_root: bytes
    results_root: bytes
    state_root: bytes
    validators_hash: bytes
    proposer: bytes
    last_commit_hash: bytes
    evidence_root: bytes

    def to_list(self) -> list[Any]:
        return [
            self.chain_id,
            self.height,
            self.time_ms,
            self.prev_hash,
            self.tx_root,
            self.results_root,
            self.state_root,
            self.validators_hash,
            self.proposer,
            self.last_commit_hash,
            self.evidence_root,
        ]

    def hash(self) -> bytes:
        return tagged_hash(TAG_HEADER, codec.encode(self.to_list()))

    @staticmethod
    def from_list(obj: Any) -> Header:
        f = codec.expect_list(obj, 11, "header")
        return Header(
            chain_id=codec.expect_str(f[0], "chain_id", 64),
            height=codec.expect_uint(f[1], "height"),
            time_ms=codec.expect_uint(f[2], "time_ms"),
            prev_hash=codec.expect_bytes(f[3], "prev_hash", 32),
            tx_root=codec.expect_bytes(f[4], "tx_root", 32),
            results_root=codec.expect_bytes(f[5], "results_root", 32),
            state_root=codec.expect_bytes(f[6], "state_root", 32),
            validators_hash=codec.expect_bytes(f[7], "validators_hash", 32),
            proposer=codec.expect_bytes(f[8], "proposer", 20),
            last_commit_hash=codec.expect_bytes(f[9], "last_commit_hash", 32),
            evidence_root=codec.expect_bytes(f[10], "evidence_root", 32),
        )


def vote_sign_bytes(chain_id: str, vote_type: int, height: int, round_: int, block_hash: bytes | None) -> bytes:
    """Digest a validator signs for a prevote or precommit (nil is the empty byte string)."""
    return tagged_hash(TAG_VOTE, codec.encode([chain_id, vote_type, height, round_, block_hash or b""]))


def proposal_sign_bytes(chain_id: str, height: int, round_: int, block_hash: bytes, valid_round: int) -> bytes:
    return tagged_hash(TAG_PROPOSAL, codec.encode([chain_id, height, round_, block_hash, valid_round]))


@dataclass(frozen=True, slots=True)
class CommitSig:
    validator: bytes
    signature: bytes

    def to_list(self) -> list[Any]:
        return [self.validator, self.signature]


@dataclass(frozen=True, slots=True)
class Commit:
    """The precommits (more than 2/3 of the power) that finalized block `block_hash` at `height`."""

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSig, ...]

    def to_list(self) -> list[Any]:
        return [self.height, self.round, self.block_hash, [s.to_list() for s in self.signatures]]

    def encode(self) -> bytes:
        return codec.encode(self.to_list())

    def hash(self) -> bytes:
        return tagged_hash(TAG_COMMIT, self.encode())

    @staticmethod
    def from_list(obj: Any) -> Commit:
        f = codec.expect_list(obj, 4, "commit")
        if not isinstance(f[3], list) or len(f[3]) > 10_000:
            raise DecodeError("commit signatures: expected an array of at most 10000")
        sigs = []
        for item in f[3]:
            pair = codec.expect_list(item, 2, "commit signature")
            sigs.append(
                CommitSig(
                    codec.expect_bytes(pair[0], "validator", 20), codec.expect_bytes(pair[1], "signature", 65)
                )
            )
        return Commit(
            height=codec.expect_uint(f[0], "commit height"),
            round=codec.expect_uint(f[1], "commit round"),
            block_hash=codec.expect_bytes(f[2], "commit block_hash", 32),
            signatures=tuple(sigs),
        )


def sign_vote(
    key: PrivateKey, chain_id: str, vote_type: int, height: int, round_: int, block_hash: bytes | None
) -> bytes:
    return key.sign(vote_sign_bytes(chain_id, vote_type, height, round_, block_hash))


@dataclass(frozen=True, slots=True)
class Block:
    header: Header
    txs: tuple[bytes, ...]  # raw signed transactions
    last_commit: Commit | None  # None only at the first height
    evidence: tuple[bytes, ...] = ()

    def to_list(self) -> list[Any]:
        return [
            self.header.to_list(),
            list(self.txs),
            self.last_commit.to_list() if self.last_commit else None,
            list(self.evidence),
        ]

    def encode(self) -> bytes:
        return codec.encode(self.to_list())

    def hash(self) -> bytes:
        return self.header.hash()

    @property
    def height(self) -> int:
        return self.header.height


def decode_block(raw: bytes, max_bytes: int = MAX_BLOCK_BYTES_LIMIT) -> Block:
    f = codec.expect_list(codec.decode(raw, max_bytes), 4, "block")
    if not isinstance(f[1], list) or not all(isinstance(t, bytes) for t in f[1]):
        raise DecodeError("block txs: expected an array of bytes")
    if not isinstance(f[3], list) or not all(isinstance(e, bytes) for e in f[3]):
        raise DecodeError("block evidence: expected an array of bytes")
    return Block(
        header=Header.from_list(f[0]),
        txs=tuple(f[1]),
        last_commit=None if f[2] is None else Commit.from_list(f[2]),
        evidence=tuple(f[3]),
    )


def decode_block_hash(raw: bytes) -> bytes:
    """The hash of a block's header, decoding no more than the header."""
    obj = codec.decode(raw, MAX_BLOCK_BYTES_LIMIT)
    if not isinstance(obj, list) or not obj:
        raise DecodeError("block: expected an array")
    return Header.from_list(obj[0]).hash()


STATUS_FAILED = 0
STATUS_OK = 1


@dataclass(frozen=True, slots=True)
class Event:
    address: bytes
    name: str
    data: list[Any]

    def to_list(self) -> list[Any]:
        return [self.address, self.name, self.data]


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    status: int
    gas_used: int
    fee: int
    error: str  # empty on success; a reason such as "insufficient_funds" or a revert message
    events: tuple[Event, ...] = ()
    output: Any = None

    def to_list(self) -> list[Any]:
        return [
            self.tx_hash,
            self.status,
            self.gas_used,
            codec.u256_to_bytes(self.fee),
            self.error,
            [e.to_list() for e in self.events],
            self.output,
        ]

    def encode(self) -> bytes:
        # Its typed fields need no canonical walk (once per transaction per node, it cost more than
        # the packing); contract events carry values of the VM, and those are walked.
        if self.events:
            return codec.encode(self.to_list())
        return codec.encode_unchecked(self.to_list())

    def hash(self) -> bytes:
        return tagged_hash(TAG_RECEIPT, self.encode())

    @staticmethod
    def from_list(obj: Any) -> Receipt:
        f = codec.expect_list(obj, 7, "receipt")
        events = tuple(Event(e[0], e[1], e[2]) for e in f[5])
        return Receipt(f[0], f[1], f[2], codec.bytes_to_u256(f[3], "fee"), f[4], events, f[6])
