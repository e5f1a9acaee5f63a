"""Evidence of equivocation: two signed votes by one validator for one (height, round, type).

Any node that sees it keeps it, gossips it, and the next proposer puts it in a block, so
the misbehaviour is on chain for everyone. Evidence is canonical (the two votes ordered by
block hash), so the same misbehaviour has one hash and is committed at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from node.types import codec
from node.types.block import PRECOMMIT, PREVOTE, vote_sign_bytes
from node.types.codec import DecodeError
from node.types.crypto import TAG_EVIDENCE, SignatureError, recover_address, tagged_hash

MAX_EVIDENCE_AGE = 10_000  # heights: older misbehaviour is no longer accepted
MAX_EVIDENCE_PER_BLOCK = 50
MAX_EVIDENCE_BYTES = 1024


class InvalidEvidence(ValueError):
    """Evidence that is malformed, unsigned, not a conflict, too old or already committed."""


@dataclass(frozen=True, slots=True)
class SignedVote:
    vote_type: int
    height: int
    round: int
    block_hash: bytes  # b"" for nil
    validator: bytes
    signature: bytes

    def to_list(self) -> list[Any]:
        return [self.vote_type, self.height, self.round, self.block_hash, self.validator, self.signature]

    @staticmethod
    def from_list(obj: Any) -> SignedVote:
        f = codec.expect_list(obj, 6, "vote")
        vote_type = codec.expect_uint(f[0], "vote type")
        if vote_type not in (PREVOTE, PRECOMMIT):
            raise DecodeError("vote type must be 1 (prevote) or 2 (precommit)")
        block_hash = codec.expect_bytes(f[3], "block_hash", max_length=32)
        if len(block_hash) not in (0, 32):
            raise DecodeError("block_hash: 0 or 32 bytes")
        return SignedVote(vote_type, codec.expect_uint(f[1], "height"), codec.expect_uint(f[2], "round"), block_hash,
                          codec.expect_bytes(f[4], "validator", 20), codec.expect_bytes(f[5], "signature", 65))


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    first: SignedVote
    second: SignedVote

    @staticmethod
    def of(a: SignedVote, b: SignedVote) -> DuplicateVoteEvidence:
        first, second = sorted((a, b), key=lambda v: v.block_hash)
        return DuplicateVoteEvidence(first, second)

    def encode(self) -> bytes:
        return codec.encode([self.first.to_list(), self.second.to_list()])

    def hash(self) -> bytes:
        return tagged_hash(TAG_EVIDENCE, self.encode())

    @property
    def height(self) -> int:
        return self.first.height

    @property
    def validator(self) -> bytes:
        return self.first.validator


def decode_evidence(raw: bytes) -> DuplicateVoteEvidence:
    try:
        pair = codec.expect_list(codec.decode(raw, MAX_EVIDENCE_BYTES), 2, "evidence")
        ev = DuplicateVoteEvidence(SignedVote.from_list(pair[0]), SignedVote.from_list(pair[1]))
    except DecodeError as exc:
        raise InvalidEvidence(f"evidence does not decode: {exc}") from exc
    if ev.first.block_hash >= ev.second.block_hash:
        raise InvalidEvidence("evidence votes must differ and be ordered by block hash")
    return ev


def validate_evidence(
    ev: DuplicateVoteEvidence, chain_id: str, powers: Mapping[bytes, int], current_height: int,
    is_committed: Callable[[bytes], bool],
) -> None:
    a, b = ev.first, ev.second
    if (a.vote_type, a.height, a.round, a.validator) != (b.vote_type, b.height, b.round, b.validator):
        raise InvalidEvidence("the two votes are not for the same validator, height, round and type")
    if a.block_hash == b.block_hash:
        raise InvalidEvidence("the two votes agree: no conflict")
    if a.validator not in powers:
        raise InvalidEvidence("the validator is not in the validator set")
    if a.height > current_height + 1:
        raise InvalidEvidence(f"evidence is about height {a.height}, beyond the chain")
    if a.height + MAX_EVIDENCE_AGE < current_height:
        raise InvalidEvidence(f"evidence about height {a.height} is too old (more than {MAX_EVIDENCE_AGE} heights)")
    for v in (a, b):
        digest = vote_sign_bytes(chain_id, v.vote_type, v.height, v.round, v.block_hash or None)
        try:
            if recover_address(digest, v.signature) != v.validator:
                raise InvalidEvidence("a vote's signature is not the validator's")
        except SignatureError as exc:
            raise InvalidEvidence(f"a vote's signature is invalid: {exc}") from exc
    if is_committed(ev.hash()):
        raise InvalidEvidence("evidence is already committed")


MAX_PENDING_EVIDENCE = 1_000


class EvidencePool:
    """Valid evidence not yet in a block, in arrival order: one item per offence (validator,
    height, round, vote type), since one proves it and an equivocator can make endless pairs;
    at most MAX_PENDING_EVIDENCE items."""

    def __init__(self) -> None:
        self.pending: dict[bytes, DuplicateVoteEvidence] = {}
        self._offences: set[tuple[bytes, int, int, int]] = set()

    @staticmethod
    def _offence(ev: DuplicateVoteEvidence) -> tuple[bytes, int, int, int]:
        v = ev.first
        return (v.validator, v.height, v.round, v.vote_type)

    def add(self, ev: DuplicateVoteEvidence) -> bool:
        h = ev.hash()
        offence = self._offence(ev)
        if h in self.pending or offence in self._offences or len(self.pending) >= MAX_PENDING_EVIDENCE:
            return False
        self.pending[h] = ev
        self._offences.add(offence)
        return True

    def take(self, limit: int = MAX_EVIDENCE_PER_BLOCK) -> list[DuplicateVoteEvidence]:
        return list(self.pending.values())[:limit]

    def remove(self, hashes: list[bytes]) -> None:
        for h in hashes:
            self.pending.pop(h, None)
        self._offences = {self._offence(ev) for ev in self.pending.values()}

    def prune(self, keep: Callable[[DuplicateVoteEvidence], bool]) -> None:
        self.pending = {h: ev for h, ev in self.pending.items() if keep(ev)}
        self._offences = {self._offence(ev) for ev in self.pending.values()}
