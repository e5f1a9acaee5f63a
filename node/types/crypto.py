"""Hashes, secp256k1 keys, recoverable low-S signatures and EIP-55 addresses."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import coincurve
from Crypto.Hash import keccak

# One-byte domain tags: a signature or hash of one kind can never pass as another.
TAG_TX = b"\x01"
TAG_HEADER = b"\x02"
TAG_VOTE = b"\x03"
TAG_PROPOSAL = b"\x04"
TAG_COMMIT = b"\x05"
TAG_EVIDENCE = b"\x06"
TAG_RECEIPT = b"\x07"
TAG_GENESIS = b"\x08"
TAG_TX_ID = b"\x09"

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
SIGNATURE_SIZE = 65
ADDRESS_SIZE = 20


class SignatureError(ValueError):
    """A signature is malformed, high-S, or does not recover to a public key."""


class AddressError(ValueError):
    """An address string is malformed or fails its EIP-55 checksum."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    return hashlib.sha256(tag + data).digest()


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


_address_cache: dict[bytes, bytes] = {}


def address_of_pubkey(pubkey: coincurve.PublicKey) -> bytes:
    # Keccak costs more than the lookup, and senders repeat: remember recent keys.
    raw = pubkey.format(compressed=False)
    address = _address_cache.get(raw)
    if address is None:
        if len(_address_cache) >= 100_000:
            _address_cache.clear()
        address = _address_cache[raw] = keccak256(raw[1:])[-ADDRESS_SIZE:]
    return address


@dataclass(frozen=True, slots=True)
class PrivateKey:
    secret: bytes

    @staticmethod
    def generate() -> PrivateKey:
        while True:
            candidate = secrets.token_bytes(32)
            if 0 < int.from_bytes(candidate, "big") < SECP256K1_N:
                return PrivateKey(candidate)

    @staticmethod
    def from_hex(text: str) -> PrivateKey:
        raw = bytes.fromhex(text.removeprefix("0x"))
        if len(raw) != 32 or not 0 < int.from_bytes(raw, "big") < SECP256K1_N:
            raise ValueError("a private key is 32 bytes in the range 1..n-1")
        return PrivateKey(raw)

    def _key(self) -> coincurve.PrivateKey:
        return coincurve.PrivateKey(self.secret)

    @property
    def public_key(self) -> bytes:
        """33-byte compressed public key."""
        return self._key().public_key.format(compressed=True)

    @property
    def address(self) -> bytes:
        return address_of_pubkey(self._key().public_key)

    def sign(self, digest: bytes) -> bytes:
        """65-byte r || s || v signature of a 32-byte digest; libsecp256k1 emits low-S."""
        if len(digest) != 32:
            raise ValueError("sign a 32-byte digest")
        return self._key().sign_recoverable(digest, hasher=None)


def validate_signature_shape(signature: bytes) -> None:
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"signature must be {SIGNATURE_SIZE} bytes")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise SignatureError("signature r or s out of range")
    if s > HALF_N:
        raise SignatureError("high-S signature (malleable form) rejected")
    if signature[64] not in (0, 1):
        raise SignatureError("recovery id must be 0 or 1")


def recover_pubkey(digest: bytes, signature: bytes) -> coincurve.PublicKey:
    validate_signature_shape(signature)
    try:
        return coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception subclasses
        raise SignatureError("signature does not recover to a public key") from exc


def recover_address(digest: bytes, signature: bytes) -> bytes:
    return address_of_pubkey(recover_pubkey(digest, signature))


def verify_signature(digest: bytes, signature: bytes, public_key: bytes) -> bool:
    """True when `signature` over `digest` was made by the compressed `public_key`."""
    try:
        recovered = recover_pubkey(digest, signature)
    except SignatureError:
        return False
    return recovered.format(compressed=True) == public_key


def to_checksum_address(address: bytes) -> str:
    if len(address) != ADDRESS_SIZE:
        raise AddressError("an address is 20 bytes")
    hex_addr = address.hex()
    digest = keccak256(hex_addr.encode()).hex()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(hex_addr)
    )


def parse_address(text: str) -> bytes:
    """Parse `0x`-prefixed hex; mixed case must carry a valid EIP-55 checksum."""
    if not isinstance(text, str) or not text.startswith(("0x", "0X")) or len(text) != 42:
        raise AddressError("an address is 0x followed by 40 hex digits")
    body = text[2:]
    try:
        raw = bytes.fromhex(body)
    except ValueError as exc:
        raise AddressError("an address is 0x followed by 40 hex digits") from exc
    if body != body.lower() and body != body.upper() and to_checksum_address(raw) != "0x" + body:
        raise AddressError("address checksum (EIP-55) does not match")
    return raw
