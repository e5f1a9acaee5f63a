"""Double-sign protection: the last signed (height, round, step), persisted before a signature leaves.

As CometBFT's privval: a request at a lower (height, round, step) is refused; the same
step again is answered only for the identical message, with the signature given before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from node.storage.files import write_atomic
from node.types.block import PRECOMMIT, PREVOTE, proposal_sign_bytes, vote_sign_bytes
from node.types.crypto import PrivateKey

log = logging.getLogger("finchain.signer")

STEP_PROPOSE = 1
STEP_PREVOTE = 2
STEP_PRECOMMIT = 3


class DoubleSignRefused(Exception):
    """Signing this would conflict with something already signed."""


class SignerStateError(Exception):
    """The last-signed state file exists but cannot be read: the node must not start signing."""


@dataclass(frozen=True, slots=True)
class LastSigned:
    height: int = 0
    round: int = -1
    step: int = 0
    digest: bytes = b""
    signature: bytes = b""


class Signer:
    def __init__(self, key: PrivateKey, chain_id: str, state_path: Path) -> None:
        self.key = key
        self.address = key.address
        self.chain_id = chain_id
        self.state_path = state_path
        self.last = self._load()

    def _load(self) -> LastSigned:
        if not self.state_path.exists():
            return LastSigned()
        try:
            d = json.loads(self.state_path.read_text())
            return LastSigned(
                int(d["height"]),
                int(d["round"]),
                int(d["step"]),
                bytes.fromhex(d["digest"]),
                bytes.fromhex(d["signature"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Starting over from zero could sign twice; an operator must look.
            raise SignerStateError(f"{self.state_path} is unreadable ({exc}); refusing to sign without it") from exc

    def _sign(self, height: int, round_: int, step: int, digest: bytes) -> bytes:
        last = self.last
        hrs = (height, round_, step)
        last_hrs = (last.height, last.round, last.step)
        if hrs < last_hrs:
            raise DoubleSignRefused(f"asked to sign {hrs}, already signed up to {last_hrs}")
        if hrs == last_hrs:
            if digest == last.digest:
                return last.signature
            raise DoubleSignRefused(f"asked to sign a different message at {hrs}")
        signature = self.key.sign(digest)
        record = {
            "height": height,
            "round": round_,
            "step": step,
            "digest": digest.hex(),
            "signature": signature.hex(),
        }
        write_atomic(self.state_path, json.dumps(record).encode())
        self.last = LastSigned(height, round_, step, digest, signature)
        return signature

    def sign_proposal(self, height: int, round_: int, block_hash: bytes, valid_round: int) -> bytes:
        digest = proposal_sign_bytes(self.chain_id, height, round_, block_hash, valid_round)
        return self._sign(height, round_, STEP_PROPOSE, digest)

    def sign_vote(self, vote_type: int, height: int, round_: int, block_hash: bytes | None) -> bytes:
        step = STEP_PREVOTE if vote_type == PREVOTE else STEP_PRECOMMIT
        if vote_type not in (PREVOTE, PRECOMMIT):
            raise ValueError("unknown vote type")
        digest = vote_sign_bytes(self.chain_id, vote_type, height, round_, block_hash)
        return self._sign(height, round_, step, digest)
