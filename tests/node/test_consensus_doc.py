"""docs/consensus.md must not drift from the code.

Every `vector <name>: <hex>` line in a fenced block of the page is recomputed with the real
implementation (node.types.evidence, node.types.block, node.host.wal, consensus.types); a vector no test checks
fails `test_every_vector_is_checked`. The priv_validator_state.json example is produced by the
real Signer, and the numbers quoted in the prose are compared with the constants they come from.
`test_independent_*` rebuild the WAL records and the evidence hash from the page alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from pathlib import Path

from consensus.types import TimeoutKind, TimeoutParams, Validator, ValidatorSet
from node.config import NodeConfig
from node.host import wal as wal_mod
from node.host.engine import EngineConfig
from node.host.signer import Signer
from node.host.wal import WAL, read_records
from node.types import evidence as evidence_mod
from node.types.block import PRECOMMIT, PREVOTE, Commit, CommitSig, sign_vote, vote_sign_bytes
from node.types.crypto import PrivateKey, recover_address
from node.types.evidence import DuplicateVoteEvidence, SignedVote, decode_evidence, validate_evidence
from node.types.genesis import TimeoutsMs
from tests.doc_vectors import read_vectors

DOC = (Path(__file__).resolve().parents[2] / "docs" / "consensus.md").read_text(encoding="utf-8")

CHAIN_ID = "finchain-devnet"
HASH_AB, HASH_CD = b"\xab" * 32, b"\xcd" * 32
INPUTS = {"validator.private"}


VECTORS = read_vectors(DOC)
CHECKED: set[str] = set()


def vb(name: str) -> bytes:
    return bytes.fromhex(VECTORS[name])


def check(name: str, actual: bytes | str) -> None:
    expected = VECTORS[name]
    got = actual.hex() if isinstance(actual, bytes) else actual
    assert got == expected, f"vector {name}: the page says {expected}, the code gives {got}"
    CHECKED.add(name)


def _key() -> PrivateKey:
    return PrivateKey(vb("validator.private"))


def _prevote(value: bytes) -> SignedVote:
    key = _key()
    return SignedVote(PREVOTE, 5, 0, value, key.address, sign_vote(key, CHAIN_ID, PREVOTE, 5, 0, value))


# -- vectors against the real code -------------------------------------------------------------


def test_evidence_vectors():
    check("validator.address", _key().address)
    cd, ab = _prevote(HASH_CD), _prevote(HASH_AB)
    check("vote_cd.signature", cd.signature)
    check("vote_ab.signature", ab.signature)
    ev = DuplicateVoteEvidence.of(cd, ab)
    assert ev.first == ab, "the page says the ab vote comes first"
    check("evidence.encoding", ev.encode())
    check("evidence.hash", ev.hash())
    assert decode_evidence(vb("evidence.encoding")) == ev
    powers = {_key().address: 10}
    validate_evidence(ev, CHAIN_ID, powers, 4, lambda h: False)


def test_commit_vectors():
    key = _key()
    commit = Commit(5, 0, HASH_AB, (CommitSig(key.address, sign_vote(key, CHAIN_ID, PRECOMMIT, 5, 0, HASH_AB)),))
    check("commit.encoding", commit.encode())
    check("commit.hash", commit.hash())


def test_wal_vectors(tmp_path):
    path = tmp_path / "wal"
    wal = WAL(path)
    wal.start_height(5)
    records = [["T", int(TimeoutKind.PROPOSE), 5, 0], ["V", PREVOTE, 5, 0, HASH_AB, _key().address,
                                                       _prevote(HASH_AB).signature]]
    for record in records:
        wal.append(record)
    wal.close()
    data = path.read_bytes()
    h, t = len(vb("wal.h")), len(vb("wal.t"))
    check("wal.h", data[:h])
    check("wal.t", data[h : h + t])
    check("wal.v", data[h + t :])
    assert read_records(path) == ([["H", 5], *records], len(data))


def test_proposer_vector():
    vs = ValidatorSet.new([Validator(b"\x0a" * 20, 1), Validator(b"\x0b" * 20, 2), Validator(b"\x0c" * 20, 3)])
    rounds = b"".join(vs.proposer_for_round(r).address[:1] for r in range(10))
    check("proposer.rounds", rounds)
    assert all(vs.increment(r).proposer == vs.proposer_for_round(r) for r in range(10))


def test_signer_state_example(tmp_path):
    start = DOC.index("<!-- example priv_validator_state -->")
    example = re.search(r"^```json\n(.*?)\n^```$", DOC[start:], re.M | re.S).group(1)
    signer = Signer(_key(), CHAIN_ID, tmp_path / "priv_validator_state.json")
    signature = signer.sign_vote(PREVOTE, 5, 0, HASH_AB)
    assert (tmp_path / "priv_validator_state.json").read_text() == example
    doc = json.loads(example)
    assert bytes.fromhex(doc["digest"]) == vote_sign_bytes(CHAIN_ID, PREVOTE, 5, 0, HASH_AB)
    assert bytes.fromhex(doc["signature"]) == signature == vb("vote_ab.signature")


# -- numbers quoted on the page ---------------------------------------------------------------------


def test_numbers_quoted_on_the_page():
    t = TimeoutsMs()
    assert (t.propose, t.propose_delta, t.prevote, t.prevote_delta, t.precommit, t.precommit_delta, t.commit) == (
        1000, 500, 500, 250, 500, 250, 1000)
    params = TimeoutParams(t.propose, t.propose_delta, t.prevote, t.prevote_delta, t.precommit, t.precommit_delta)
    assert params.duration_ms(TimeoutKind.PROPOSE, 3) == 1000 + 3 * 500
    assert params.duration_ms(TimeoutKind.PRECOMMIT, 2) == 500 + 2 * 250
    assert (evidence_mod.MAX_EVIDENCE_AGE, evidence_mod.MAX_EVIDENCE_PER_BLOCK, evidence_mod.MAX_EVIDENCE_BYTES) == (
        10_000, 50, 1024)
    assert wal_mod.MAX_RECORD == 64 * 1024 * 1024
    cfg = EngineConfig()
    assert (cfg.create_empty_blocks, cfg.empty_block_interval_s, cfg.build_budget_s) == (True, 30.0, 0.3)
    assert NodeConfig(Path("home")).build_budget_ms == 300


# -- an independent implementation, from the page alone ------------------------------------------------


def _record(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload


def test_independent_wal_records():
    assert _record(bytes.fromhex("92a14805")) == vb("wal.h")
    assert _record(bytes.fromhex("94a154010500")) == vb("wal.t")
    # ["V", 1, 5, 0, ab..ab, validator, signature]: fixarray 7, fixstr "V", three fixints, three bin 8.
    vote = (b"\x97\xa1V\x01\x05\x00\xc4\x20" + HASH_AB + b"\xc4\x14" + vb("validator.address")
            + b"\xc4\x41" + vb("vote_ab.signature"))
    assert _record(vote) == vb("wal.v")


def test_independent_evidence_hash():
    def signed_vote(value: bytes, sig: bytes) -> bytes:
        return b"\x96\x01\x05\x00\xc4\x20" + value + b"\xc4\x14" + vb("validator.address") + b"\xc4\x41" + sig

    encoding = b"\x92" + signed_vote(HASH_AB, vb("vote_ab.signature")) + signed_vote(HASH_CD, vb("vote_cd.signature"))
    assert encoding == vb("evidence.encoding")
    assert hashlib.sha256(b"\x06" + encoding).digest() == vb("evidence.hash")
    for value, sig in ((HASH_AB, "vote_ab.signature"), (HASH_CD, "vote_cd.signature")):
        assert recover_address(vote_sign_bytes(CHAIN_ID, PREVOTE, 5, 0, value), vb(sig)) == vb("validator.address")


def test_every_vector_is_checked(tmp_path):
    """A vector added to the page must also be checked by a test here."""
    test_evidence_vectors()
    test_commit_vectors()
    test_wal_vectors(tmp_path)
    test_proposer_vector()
    unchecked = set(VECTORS) - CHECKED - INPUTS
    assert not unchecked, f"vectors on the page that no test checks: {sorted(unchecked)}"
    assert INPUTS <= set(VECTORS)
