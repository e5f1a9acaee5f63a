"""Applications to a KYC issuer: the encrypted identity document and the applicant's signature.

The wallet encrypts its salted document to the issuer's secp256k1 key (ECIES):

    e        ephemeral secp256k1 key;  E = its 33-byte compressed public key
    shared   = SHA-256(compressed point e * issuer_pub)        (libsecp256k1's default ECDH hash)
    key      = HKDF-SHA256(ikm=shared, salt=E || issuer_pub, info=ECIES_INFO, length=32)
    envelope = 0x01 || E || nonce[12] || AES-256-GCM(key, nonce, plaintext, aad=ECIES_INFO || applicant[20])

The applicant is in the AEAD's associated data, so a ciphertext lifted into someone else's
application no longer decrypts. The application is signed by the applicant's key over
`compute_application_digest`, which is also the application's id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from finance.errors import BadApplication, BadApplicationSignature, BadCiphertext
from node.types.crypto import PrivateKey, SignatureError, parse_address, recover_address, to_checksum_address

ECIES_VERSION = 1
ECIES_INFO = b"FINCHAIN_KYC_ECIES_V1"
APPLICATION_TAG = b"FINCHAIN_KYC_APPLICATION_V1"
WITHDRAW_TAG = b"FINCHAIN_KYC_WITHDRAW_V1"
REF_TAG = b"FINCHAIN_KYC_REF_V1"
NONCE_SIZE = 12
MAX_CIPHERTEXT_BYTES = 16 * 1024
MAX_TOPICS = 8


def _derive_key(shared: bytes, ephemeral: bytes, issuer_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + issuer_pub, info=ECIES_INFO).derive(shared)


def encrypt_to(issuer_pub: bytes, applicant: bytes, plaintext: bytes, *, ephemeral: PrivateKey | None = None,
               nonce: bytes | None = None) -> bytes:
    """ECIES-encrypt `plaintext` to the issuer; `ephemeral` and `nonce` are given only by test vectors."""
    eph = ephemeral or PrivateKey.generate()
    nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_SIZE)
    try:
        shared = coincurve.PrivateKey(eph.secret).ecdh(issuer_pub)
    except (ValueError, TypeError) as exc:
        raise BadApplication(f"not an issuer public key: {exc}") from None
    key = _derive_key(shared, eph.public_key, issuer_pub)
    body = AESGCM(key).encrypt(nonce, plaintext, ECIES_INFO + applicant)
    return bytes([ECIES_VERSION]) + eph.public_key + nonce + body


def decrypt_with(issuer: PrivateKey, applicant: bytes, envelope: bytes) -> bytes:
    if len(envelope) < 1 + 33 + NONCE_SIZE + 16 or envelope[0] != ECIES_VERSION:
        raise BadCiphertext("the ciphertext is not a version-1 envelope")
    eph, nonce, body = envelope[1:34], envelope[34:34 + NONCE_SIZE], envelope[34 + NONCE_SIZE:]
    try:
        shared = coincurve.PrivateKey(issuer.secret).ecdh(eph)
    except (ValueError, TypeError):
        raise BadCiphertext("the envelope's ephemeral key is not a secp256k1 point") from None
    try:
        return AESGCM(_derive_key(shared, eph, issuer.public_key)).decrypt(nonce, body, ECIES_INFO + applicant)
    except InvalidTag:
        raise BadCiphertext("the ciphertext does not decrypt with this issuer's key for this applicant") from None


def compute_application_digest(issuer: bytes, applicant: bytes, created_ms: int, topics: tuple[str, ...],
                               ciphertext: bytes) -> bytes:
    parts = [APPLICATION_TAG, issuer, applicant, created_ms.to_bytes(8, "big"), len(topics).to_bytes(1, "big")]
    for t in topics:
        raw = t.encode()
        parts += [len(raw).to_bytes(1, "big"), raw]
    parts.append(hashlib.sha256(ciphertext).digest())
    return hashlib.sha256(b"".join(parts)).digest()


def compute_withdraw_digest(application_id: bytes) -> bytes:
    return hashlib.sha256(WITHDRAW_TAG + application_id).digest()


def compute_ref(application_id: bytes, topic: str) -> bytes:
    """The 32-byte `ref` of the attestation of one topic for one application (never reused)."""
    raw = topic.encode()
    return hashlib.sha256(REF_TAG + application_id + len(raw).to_bytes(1, "big") + raw).digest()


@dataclass(frozen=True, slots=True)
class Application:
    issuer: bytes
    applicant: bytes
    created_ms: int
    topics: tuple[str, ...]
    ciphertext: bytes
    signature: bytes

    @property
    def digest(self) -> bytes:
        return compute_application_digest(self.issuer, self.applicant, self.created_ms, self.topics,
                                          self.ciphertext)

    @property
    def id(self) -> str:
        return "0x" + self.digest.hex()

    def validate_signature(self) -> None:
        try:
            signer = recover_address(self.digest, self.signature)
        except SignatureError as exc:
            raise BadApplicationSignature(f"the application's signature is malformed: {exc}") from None
        if signer != self.applicant:
            raise BadApplicationSignature("the application is not signed by the applicant's key")

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "issuer": to_checksum_address(self.issuer),
                "applicant": to_checksum_address(self.applicant), "created_ms": self.created_ms,
                "topics": list(self.topics), "ciphertext": "0x" + self.ciphertext.hex(),
                "signature": "0x" + self.signature.hex()}

    @staticmethod
    def from_json(obj: Any) -> Application:
        """Parse and check the shape (not the signature, not the ciphertext): BadApplication."""
        keys = {"version", "issuer", "applicant", "created_ms", "topics", "ciphertext", "signature"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise BadApplication(f"an application is a JSON object with exactly: {', '.join(sorted(keys))}")
        if obj["version"] != 1:
            raise BadApplication("application version must be 1")
        try:
            issuer, applicant = parse_address(obj["issuer"]), parse_address(obj["applicant"])
        except ValueError as exc:
            raise BadApplication(f"issuer or applicant: {exc}") from None
        created = obj["created_ms"]
        if type(created) is not int or not 0 < created < 2**63:
            raise BadApplication("created_ms: milliseconds since the epoch")
        topics = obj["topics"]
        if (not isinstance(topics, list) or not 1 <= len(topics) <= MAX_TOPICS
                or not all(isinstance(t, str) and 0 < len(t.encode()) <= 64 for t in topics)
                or len(set(topics)) != len(topics)):
            raise BadApplication(f"topics: 1 to {MAX_TOPICS} distinct non-empty strings")
        return Application(issuer, applicant, created, tuple(topics), _hex(obj["ciphertext"], "ciphertext"),
                           _hex(obj["signature"], "signature"))


def _hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise BadApplication(f"{what}: 0x-prefixed hex expected")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BadApplication(f"{what}: not hex") from None


def build_application(key: PrivateKey, issuer: bytes, issuer_pub: bytes, topics: tuple[str, ...],
                      salted_document: dict[str, Any], created_ms: int) -> Application:
    """The wallet's side: encrypt the salted document to the issuer and sign."""
    plaintext = json.dumps(salted_document, sort_keys=True, separators=(",", ":")).encode()
    ciphertext = encrypt_to(issuer_pub, key.address, plaintext)
    digest = compute_application_digest(issuer, key.address, created_ms, topics, ciphertext)
    return Application(issuer, key.address, created_ms, topics, ciphertext, key.sign(digest))
