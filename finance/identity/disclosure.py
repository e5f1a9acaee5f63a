"""Disclosure of one field of a committed identity document, and its verification (docs/finance.md).

A disclosure carries the field's value, salt and Merkle path, the subject's address and the
claim topic whose commitment it proves against, and the subject's signature over the leaf,
the root and a verifier's challenge: a copied disclosure cannot be replayed to a verifier
who asks for a fresh challenge, since only the subject's key can sign it.

A predicate such as "born before 2008-01-01" is shown by disclosing the birth date field and
letting the verifier evaluate the predicate: the verifier learns the whole date.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from finance.errors import (
    BadDisclosure,
    BadHolderSignature,
    ChallengeMismatch,
    ClaimInvalid,
    DisclosureMismatch,
    PredicateFalse,
)
from finance.identity.commitment import (
    MAX_FIELDS,
    SALT_SIZE,
    SaltedDocument,
    compute_leaf,
    compute_path,
    compute_root_from_path,
    parse_hex,
)
from node.types.crypto import PrivateKey, SignatureError, parse_address, recover_address, to_checksum_address

PRESENT_TAG = b"FINCHAIN_ID_PRESENT_V1"
MAX_CHALLENGE_BYTES = 256
PREDICATE_OPS = ("before", "after", "equals", "in")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def compute_presentation_digest(subject: bytes, topic: str, root: bytes, leaf: bytes, challenge: str) -> bytes:
    t, c = topic.encode(), challenge.encode()
    return hashlib.sha256(PRESENT_TAG + subject + len(t).to_bytes(1, "big") + t + root + leaf
                          + len(c).to_bytes(2, "big") + c).digest()


@dataclass(frozen=True, slots=True)
class Predicate:
    op: str
    value: str

    def validate(self) -> None:
        if self.op not in PREDICATE_OPS:
            raise BadDisclosure(f"predicate op {self.op!r:.40}: one of {', '.join(PREDICATE_OPS)}")
        if self.op in ("before", "after"):
            _date(self.value, "predicate value")

    def holds(self, value: str) -> bool:
        if self.op == "equals":
            return value == self.value
        if self.op == "in":
            return value in self.value.split(",")
        field_date = _date(value, "the disclosed value")
        bound = _date(self.value, "predicate value")
        return field_date < bound if self.op == "before" else field_date > bound

    def describe(self, field: str) -> str:
        return f"{field} {self.op} {self.value}"


def _date(text: str, what: str) -> datetime.date:
    if not DATE_RE.fullmatch(text):
        raise BadDisclosure(f"{what} {text!r:.40} is not a date (YYYY-MM-DD)")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise BadDisclosure(f"{what} {text!r:.40} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class Disclosure:
    subject: bytes
    topic: str
    field: str
    value: str
    salt: bytes
    index: int
    count: int
    path: tuple[bytes, ...]
    challenge: str
    signature: bytes
    predicate: Predicate | None = None

    def leaf(self) -> bytes:
        try:
            return compute_leaf(self.salt, self.field, self.value)
        except Exception as exc:  # BadDocument: a disclosure's field breaks the document rules
            raise BadDisclosure(str(exc)) from None

    def root(self) -> bytes:
        return compute_root_from_path(self.leaf(), self.index, self.count, list(self.path))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": 1, "subject": to_checksum_address(self.subject), "topic": self.topic, "field": self.field,
            "value": self.value, "salt": "0x" + self.salt.hex(), "index": self.index, "count": self.count,
            "path": ["0x" + p.hex() for p in self.path], "challenge": self.challenge,
            "signature": "0x" + self.signature.hex(),
        }
        if self.predicate is not None:
            out["predicate"] = {"op": self.predicate.op, "value": self.predicate.value}
        return out

    @staticmethod
    def from_json(obj: Any) -> Disclosure:
        keys = {"version", "subject", "topic", "field", "value", "salt", "index", "count", "path", "challenge",
                "signature"}
        if not isinstance(obj, dict) or not keys <= set(obj) or not set(obj) <= keys | {"predicate"}:
            raise BadDisclosure(f"a disclosure is a JSON object with exactly: {', '.join(sorted(keys))} "
                                "(and optionally predicate)")
        if obj["version"] != 1:
            raise BadDisclosure(f"disclosure version {obj['version']!r:.20} is not 1")
        try:
            subject = parse_address(obj["subject"])
        except ValueError as exc:
            raise BadDisclosure(f"subject: {exc}") from None
        for name in ("topic", "field", "value", "challenge"):
            if not isinstance(obj[name], str):
                raise BadDisclosure(f"{name}: a string expected")
        if len(obj["topic"].encode()) > 255 or len(obj["challenge"].encode()) > MAX_CHALLENGE_BYTES:
            raise BadDisclosure(f"topic at most 255 bytes, challenge at most {MAX_CHALLENGE_BYTES}")
        for name in ("index", "count"):
            if type(obj[name]) is not int:
                raise BadDisclosure(f"{name}: an integer expected")
        if not isinstance(obj["path"], list) or len(obj["path"]) > MAX_FIELDS:
            raise BadDisclosure("path: a list of 32-byte hashes")
        predicate = None
        if "predicate" in obj:
            p = obj["predicate"]
            if not isinstance(p, dict) or set(p) != {"op", "value"} or not all(isinstance(v, str) for v in p.values()):
                raise BadDisclosure('predicate: {"op": ..., "value": ...} with string members')
            predicate = Predicate(p["op"], p["value"])
            predicate.validate()
        return Disclosure(
            subject, obj["topic"], obj["field"], obj["value"], parse_hex(obj["salt"], "salt", SALT_SIZE, BadDisclosure),
            obj["index"], obj["count"], tuple(parse_hex(h, "path", 32, BadDisclosure) for h in obj["path"]),
            obj["challenge"], parse_hex(obj["signature"], "signature", 65, BadDisclosure), predicate,
        )


def create_disclosure(doc: SaltedDocument, field: str, key: PrivateKey, topic: str, challenge: str = "",
                      predicate: Predicate | None = None) -> Disclosure:
    """Disclose `field` of the subject's own document, signed by the subject's key."""
    if predicate is not None:
        predicate.validate()
    index = doc.index_of(field)
    leaves = doc.leaves()
    f = doc.fields[index]
    digest = compute_presentation_digest(key.address, topic, doc.root(), leaves[index], challenge)
    return Disclosure(key.address, topic, f.name, f.value, f.salt, index, len(leaves),
                      tuple(compute_path(leaves, index)), challenge, key.sign(digest), predicate)


@dataclass(frozen=True, slots=True)
class Verified:
    subject: str
    topic: str
    field: str
    value: str
    issuer: str
    expiry_height: int
    predicate: str | None

    def to_json(self) -> dict[str, Any]:
        return {"valid": True, "subject": self.subject, "topic": self.topic, "field": self.field,
                "value": self.value, "issuer": self.issuer, "expiry_height": self.expiry_height,
                "predicate": self.predicate}


def verify_disclosure(d: Disclosure, claim: dict[str, Any], expected_challenge: str | None = None) -> Verified:
    """Check a disclosure against the subject's on-chain claim (the registry's get_claim answer).

    Raises the first failing check's error: the claim's own status (not_verified,
    claim_expired, ...), a root that is not the claim's commitment, a signature not made by
    the subject, a challenge other than the verifier's, or a predicate that does not hold.
    """
    root = d.root()
    status = claim.get("status", "not_verified") if isinstance(claim, dict) else "not_verified"
    if status != "ok":
        raise ClaimInvalid(str(status), f"the claim {d.topic!r} of {to_checksum_address(d.subject)} does not hold: "
                                        f"{status}")
    commitment = claim.get("commitment")
    if not isinstance(commitment, str) or commitment.lower() != "0x" + root.hex():
        raise DisclosureMismatch("the disclosed field does not prove the commitment of the on-chain claim")
    digest = compute_presentation_digest(d.subject, d.topic, root, d.leaf(), d.challenge)
    try:
        signer = recover_address(digest, d.signature)
    except SignatureError:
        signer = b""
    if signer != d.subject:
        raise BadHolderSignature("the disclosure is not signed by its subject's key")
    if expected_challenge is not None and d.challenge != expected_challenge:
        raise ChallengeMismatch(f"the disclosure answers challenge {d.challenge!r:.60}, not the verifier's")
    predicate = None
    if d.predicate is not None:
        if not d.predicate.holds(d.value):
            raise PredicateFalse(f"the predicate {d.predicate.describe(d.field)} does not hold")
        predicate = d.predicate.describe(d.field)
    return Verified(to_checksum_address(d.subject), d.topic, d.field, d.value, str(claim.get("issuer", "")),
                    int(claim.get("expiry_height", 0)), predicate)
