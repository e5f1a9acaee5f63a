"""docs/finance.md must not drift from the code: its vectors are recomputed here, once with
finance/identity and finance/kyc, once from the page alone (hashlib, coincurve, cryptography)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from finance import errors
from finance.identity.commitment import SaltedDocument
from finance.identity.disclosure import Disclosure, Predicate, create_disclosure, verify_disclosure
from finance.kyc.envelope import (
    compute_application_digest,
    compute_ref,
    compute_withdraw_digest,
    decrypt_with,
    encrypt_to,
)
from node.types.crypto import PrivateKey, keccak256, to_checksum_address
from tests.doc_vectors import read_vectors

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text(encoding="utf-8")
V = read_vectors(DOC)
DOCUMENT = {"given_name": "Anna", "family_name": "Schmidt", "birth_date": "1990-05-17", "country": "DE",
            "document_number": "C01X00T47"}
SALTS = {n: bytes([i + 1]) * 16 for i, n in enumerate(sorted(DOCUMENT))}
SUBJECT = PrivateKey((7).to_bytes(32, "big"))


def _disclosure_json() -> dict:
    section = DOC.split("## Commitment and disclosure format", 1)[1].split("## Application format", 1)[0]
    body = re.findall(r"^```json\n(.*?)^```$", section, re.M | re.S)
    assert len(body) == 1
    return json.loads(body[0])


def _claim(root: bytes, status: str = "ok") -> dict:
    return {"status": status, "commitment": "0x" + root.hex(), "issuer": "0x" + "11" * 20, "expiry_height": "99"}


def test_commitment_vectors_match_the_code():
    doc = SaltedDocument.create(DOCUMENT, SALTS)
    assert ",".join(doc.names()) == V["id.order"]
    for field, leaf in zip(doc.fields, doc.leaves(), strict=True):
        assert leaf.hex() == V[f"id.leaf.{field.name}"]
    assert doc.root().hex() == V["id.root"]
    assert to_checksum_address(SUBJECT.address) == V["id.subject"]
    country = create_disclosure(doc, "country", SUBJECT, "kyc.basic")
    assert ",".join(p.hex() for p in country.path) == V["id.path.country"]
    quoted = _disclosure_json()
    made = create_disclosure(doc, "birth_date", SUBJECT, "kyc.basic", "verifier-nonce-42",
                             Predicate("before", "2008-01-01"))
    assert made.to_json() == quoted
    verified = verify_disclosure(Disclosure.from_json(quoted), _claim(doc.root()), "verifier-nonce-42")
    assert (verified.value, verified.predicate) == ("1990-05-17", "birth_date before 2008-01-01")


def _independent_root(fields: dict[str, str], salts: dict[str, bytes]) -> tuple[bytes, list[bytes]]:
    leaves = []
    for name in sorted(fields, key=str.encode):
        n, v = name.encode(), fields[name].encode()
        leaves.append(hashlib.sha256(b"FINCHAIN_ID_LEAF_V1" + salts[name] + bytes([len(n)]) + n
                                     + len(v).to_bytes(2, "big") + v).digest())
    level = leaves
    while len(level) > 1:
        pairs = [hashlib.sha256(b"FINCHAIN_ID_NODE_V1" + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return hashlib.sha256(b"FINCHAIN_ID_ROOT_V1" + len(leaves).to_bytes(2, "big") + level[0]).digest(), leaves


def _independent_verify(proof: dict, commitment: bytes, challenge: str) -> bool:
    """Steps 1-6 of the page's verification, written from the page."""
    n_, v_ = proof["field"].encode(), proof["value"].encode()
    leaf = hashlib.sha256(b"FINCHAIN_ID_LEAF_V1" + bytes.fromhex(proof["salt"][2:]) + bytes([len(n_)]) + n_
                          + len(v_).to_bytes(2, "big") + v_).digest()
    h, i, n, path = leaf, proof["index"], proof["count"], [bytes.fromhex(p[2:]) for p in proof["path"]]
    while n > 1:
        if i % 2 == 1:
            h = hashlib.sha256(b"FINCHAIN_ID_NODE_V1" + path.pop(0) + h).digest()
        elif i + 1 < n:
            h = hashlib.sha256(b"FINCHAIN_ID_NODE_V1" + h + path.pop(0)).digest()
        i, n = i // 2, (n + 1) // 2
    root = hashlib.sha256(b"FINCHAIN_ID_ROOT_V1" + proof["count"].to_bytes(2, "big") + h).digest()
    if path or root != commitment:
        return False
    subject = bytes.fromhex(proof["subject"][2:])
    t, c = proof["topic"].encode(), proof["challenge"].encode()
    digest = hashlib.sha256(b"FINCHAIN_ID_PRESENT_V1" + subject + bytes([len(t)]) + t + root + leaf
                            + len(c).to_bytes(2, "big") + c).digest()
    pub = coincurve.PublicKey.from_signature_and_message(bytes.fromhex(proof["signature"][2:]), digest, hasher=None)
    signer = keccak256(pub.format(compressed=False)[1:])[-20:]
    return signer == subject and proof["challenge"] == challenge and proof["value"] < proof["predicate"]["value"]


def test_independent_implementation_from_the_page():
    root, leaves = _independent_root(DOCUMENT, SALTS)
    assert root.hex() == V["id.root"]
    assert [x.hex() for x in leaves] == [V[f"id.leaf.{n}"] for n in V["id.order"].split(",")]
    proof = _disclosure_json()
    assert _independent_verify(proof, root, "verifier-nonce-42")
    assert not _independent_verify({**proof, "value": "2009-01-01"}, root, "verifier-nonce-42")


def test_application_vectors_from_the_page():
    issuer, applicant, eph = (PrivateKey(n.to_bytes(32, "big")) for n in (9, 7, 11))
    plaintext = (b'{"fields":[{"name":"country","salt":"0x02020202020202020202020202020202","value":"DE"}],'
                 b'"version":1}')
    assert issuer.public_key.hex() == V["app.issuer_pub"]
    envelope = encrypt_to(issuer.public_key, applicant.address, plaintext, ephemeral=eph, nonce=bytes(range(12)))
    assert envelope.hex() == V["app.envelope"]
    # From the page alone: ECDH, HKDF, AES-256-GCM.
    raw = bytes.fromhex(V["app.envelope"])
    e_pub, nonce, body = raw[1:34], raw[34:46], raw[46:]
    shared = coincurve.PrivateKey(issuer.secret).ecdh(e_pub)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=e_pub + issuer.public_key,
               info=b"FINCHAIN_KYC_ECIES_V1").derive(shared)
    assert AESGCM(key).decrypt(nonce, body, b"FINCHAIN_KYC_ECIES_V1" + applicant.address) == plaintext
    assert decrypt_with(issuer, applicant.address, raw) == plaintext
    topics = ("kyc.basic", "country")
    digest = compute_application_digest(issuer.address, applicant.address, 1_700_000_000_000, topics, raw)
    by_hand = hashlib.sha256(b"FINCHAIN_KYC_APPLICATION_V1" + issuer.address + applicant.address
                             + (1_700_000_000_000).to_bytes(8, "big") + bytes([2]) + b"\x09kyc.basic"
                             + b"\x07country" + hashlib.sha256(raw).digest()).digest()
    assert digest.hex() == by_hand.hex() == V["app.id"]
    assert applicant.sign(digest).hex() == V["app.signature"]
    assert compute_ref(digest, "kyc.basic").hex() == V["app.ref.kyc.basic"]
    assert compute_withdraw_digest(digest).hex() == V["app.withdraw"]


def test_reason_table_lists_every_code_of_ours():
    table = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.split("## Reason codes", 1)[1], re.M))
    ours = {cls.reason for cls in errors.ALL_ERRORS if cls is not errors.ClaimInvalid}
    missing = ours - table
    assert not missing, f"reason codes not in docs/finance.md: {sorted(missing)}"
    assert {"node_unreachable", "invalid_params"} <= table


@pytest.mark.parametrize("op,value,field,holds", [
    ("before", "2008-01-01", "1990-05-17", True), ("before", "2008-01-01", "2008-01-01", False),
    ("after", "2000-01-01", "1990-05-17", False), ("equals", "DE", "DE", True), ("in", "DE,FR", "FR", True),
    ("in", "DE,FR", "ES", False),
])
def test_predicates(op, value, field, holds):
    assert Predicate(op, value).holds(field) is holds
