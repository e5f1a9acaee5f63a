"""Travel-rule data (FATF Recommendation 16) of cross-border payments: encrypted off chain, named on chain by hash.

The originator's wallet writes the R.16 fields (docs/finance.md, "Cross-border payments") as
JSON, encrypts them to the beneficiary's key AND its own key with the KYC envelope's ECIES
(finance/kyc/envelope.py), stores the ciphertext with a KYC issuer service (`travel_submit`)
and puts only `travel_ref = SHA-256(ciphertext)` in the payment. Nothing that identifies a
person reaches the chain, encrypted or not. The beneficiary fetches by ref (`travel_get`,
signed with its key), checks the hash and decrypts.

    ciphertext = 0x01 || originator_pub[33] || beneficiary_pub[33] || u16be(len(env_o)) || env_o || env_b
    env_x      = ECIES envelope of the plaintext to key x, aad tag = TRAVEL_TAG || originator_pub || beneficiary_pub

Public keys come from the payments contract (`set_encryption_key`, view `encryption_key`):
each party publishes its own; this library checks that a published key is the account's
own key (its address is the account), so a wrong key is refused before anything is sent.
A read request signs `SHA-256(GET_TAG || ref || u64be(created_ms))`; the service answers
only a signature by one of the two keys in the ciphertext's header, made within max_age_s.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import coincurve

from finance.errors import BadCiphertext, BadTravelData, TravelMismatch
from finance.kyc.envelope import decrypt_with, encrypt_to
from node.client.sdk import Client
from node.types.crypto import PrivateKey, address_of_pubkey, to_checksum_address

TRAVEL_VERSION = 1
TRAVEL_TAG = b"FINCHAIN_TRAVEL_V1"
GET_TAG = b"FINCHAIN_TRAVEL_GET_V1"
KEY_BYTES = 33
MAX_TRAVEL_BYTES = 16 * 1024
MAX_FIELD_BYTES = 256
# R.16: the originator's name, account, and address or national id or birth date and place;
# the beneficiary's name and account.
PARTY_FIELDS = {"originator": ("name", "account", "address", "national_id", "customer_id", "birth_date",
                               "birth_place", "institution"),
                "beneficiary": ("name", "account", "address", "institution")}
REQUIRED = {"originator": ("name", "account"), "beneficiary": ("name", "account")}
OPTIONAL_TOP = ("payment",)


def validate_travel_data(data: Any) -> dict[str, Any]:
    """Check the R.16 document: originator and beneficiary objects of known string fields."""
    if not isinstance(data, dict) or not {"originator", "beneficiary"} <= set(data) or \
            set(data) - {"originator", "beneficiary", *OPTIONAL_TOP}:
        raise BadTravelData("travel data is an object with originator, beneficiary and optionally payment")
    for party, fields in PARTY_FIELDS.items():
        obj = data[party]
        if not isinstance(obj, dict) or set(obj) - set(fields):
            raise BadTravelData(f"{party}: an object of {', '.join(fields)}")
        for name in REQUIRED[party]:
            if not obj.get(name):
                raise BadTravelData(f"{party}.{name} is required (FATF R.16)")
        for name, value in obj.items():
            if not isinstance(value, str) or len(value.encode()) > MAX_FIELD_BYTES:
                raise BadTravelData(f"{party}.{name}: a string of at most {MAX_FIELD_BYTES} bytes")
        if party == "originator" and not ({"address", "national_id", "customer_id", "birth_date"} & set(obj)):
            raise BadTravelData("originator: also address, national_id, customer_id or birth_date (FATF R.16)")
    payment = data.get("payment", {})
    if not isinstance(payment, dict) or not all(isinstance(v, str) for v in payment.values()):
        raise BadTravelData("payment: an object of strings")
    return data


def _aad(originator_pub: bytes, beneficiary_pub: bytes) -> bytes:
    return TRAVEL_TAG + originator_pub + beneficiary_pub


def encrypt_travel(data: dict[str, Any], originator_pub: bytes, beneficiary_pub: bytes) -> bytes:
    plaintext = json.dumps(validate_travel_data(data), sort_keys=True, separators=(",", ":")).encode()
    for pub in (originator_pub, beneficiary_pub):
        if len(pub) != KEY_BYTES:
            raise BadTravelData("a party's key is a 33-byte compressed secp256k1 public key")
    aad = _aad(originator_pub, beneficiary_pub)
    env_o = encrypt_to(originator_pub, aad, plaintext)
    env_b = encrypt_to(beneficiary_pub, aad, plaintext)
    out = bytes([TRAVEL_VERSION]) + originator_pub + beneficiary_pub + len(env_o).to_bytes(2, "big") + env_o + env_b
    if len(out) > MAX_TRAVEL_BYTES:
        raise BadTravelData(f"the encrypted travel data is over {MAX_TRAVEL_BYTES} bytes")
    return out


def parse_header(ciphertext: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(originator_pub, beneficiary_pub, env_o, env_b); BadTravelData when malformed."""
    head = 1 + 2 * KEY_BYTES + 2
    if len(ciphertext) < head or ciphertext[0] != TRAVEL_VERSION or len(ciphertext) > MAX_TRAVEL_BYTES:
        raise BadTravelData("not a version-1 travel envelope")
    o_pub, b_pub = ciphertext[1:34], ciphertext[34:67]
    n = int.from_bytes(ciphertext[67:69], "big")
    env_o, env_b = ciphertext[head:head + n], ciphertext[head + n:]
    if len(env_o) != n or not env_b:
        raise BadTravelData("the travel envelope's lengths do not add up")
    return o_pub, b_pub, env_o, env_b


def decrypt_travel(key: PrivateKey, ciphertext: bytes) -> dict[str, Any]:
    o_pub, b_pub, env_o, env_b = parse_header(ciphertext)
    pub = key.public_key
    if pub not in (o_pub, b_pub):
        raise TravelMismatch("this key is neither the originator's nor the beneficiary's")
    try:
        plaintext = decrypt_with(key, _aad(o_pub, b_pub), env_o if pub == o_pub else env_b)
    except BadCiphertext as exc:
        raise TravelMismatch(str(exc)) from None
    return validate_travel_data(json.loads(plaintext))


def compute_travel_ref(ciphertext: bytes) -> bytes:
    return hashlib.sha256(ciphertext).digest()


def compute_get_digest(ref: bytes, created_ms: int) -> bytes:
    return hashlib.sha256(GET_TAG + ref + created_ms.to_bytes(8, "big")).digest()


def check_published_key(account: bytes, key: bytes) -> bytes:
    """A key published in the payments contract, refused unless it is the account's own key."""
    if len(key) != KEY_BYTES:
        raise BadTravelData(f"{to_checksum_address(account)} has published no encryption key "
                            "(payments set_encryption_key)")
    try:
        if address_of_pubkey(coincurve.PublicKey(key)) != account:
            raise BadTravelData(f"the key published by {to_checksum_address(account)} is not its own")
    except ValueError:
        raise BadTravelData("the published key is not a secp256k1 point") from None
    return key


class TravelClient(Client):
    """`travel_submit` and `travel_get` of a KYC issuer service."""

    def submit(self, ciphertext: bytes) -> bytes:
        out = self.call("travel_submit", "0x" + ciphertext.hex())
        ref = bytes.fromhex(out["ref"][2:])
        if ref != compute_travel_ref(ciphertext):
            raise TravelMismatch("the service answered another ref than the ciphertext's hash")
        return ref

    def fetch(self, ref: bytes, key: PrivateKey, now_ms: int | None = None) -> bytes:
        created = now_ms if now_ms is not None else int(time.time() * 1000)
        sig = key.sign(compute_get_digest(ref, created))
        out = self.call("travel_get", "0x" + ref.hex(), created, "0x" + sig.hex())
        ciphertext = bytes.fromhex(out["ciphertext"][2:])
        if compute_travel_ref(ciphertext) != ref:
            raise TravelMismatch("the ciphertext the service returned does not hash to the payment's travel_ref")
        return ciphertext


def read_travel(url: str, ref: bytes, key: PrivateKey) -> dict[str, Any]:
    """The beneficiary's (or originator's) side: fetch by ref, check the hash, decrypt."""
    return decrypt_travel(key, TravelClient(url).fetch(ref, key))


def send_travel(url: str, data: dict[str, Any], originator_pub: bytes, beneficiary_pub: bytes) -> bytes:
    """The originator's side: encrypt to both parties, store with the service; the travel_ref."""
    return TravelClient(url).submit(encrypt_travel(data, originator_pub, beneficiary_pub))
