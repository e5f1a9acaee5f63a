"""The identity document commitment: a Merkle root over per-field salted hashes (docs/finance.md).

A document is a flat JSON object of string fields. The wallet gives every field a fresh
16-byte salt and keeps the salted document; the issuer anchors only the root on chain. One
field is later disclosed with its salt and Merkle path, which proves it against the root
and says nothing about the other fields (each is hidden behind its own salt).

    leaf  = SHA-256(LEAF_TAG || salt[16] || u8(len(name)) || name || u16be(len(value)) || value)
    node  = SHA-256(NODE_TAG || left || right)
    root  = SHA-256(ROOT_TAG || u16be(count) || top)

Leaves are ordered by field name (bytewise). At each level pairs are hashed left to right;
an odd last node is carried up unchanged (never paired with itself, so no two documents of
different sizes share a tree), and the root binds the leaf count.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finance.errors import BadDisclosure, BadDocument

LEAF_TAG = b"FINCHAIN_ID_LEAF_V1"
NODE_TAG = b"FINCHAIN_ID_NODE_V1"
ROOT_TAG = b"FINCHAIN_ID_ROOT_V1"
SALT_SIZE = 16
MAX_FIELDS = 64
MAX_NAME_BYTES = 64
MAX_VALUE_BYTES = 1024
NAME_RE = re.compile(r"[a-z][a-z0-9_.]{0,63}")


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def validate_field(name: Any, value: Any) -> tuple[bytes, bytes]:
    """The canonical bytes of a field's name and value, or BadDocument."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadDocument(f"field name {name!r:.80}: lowercase letters, digits, '_' or '.', starting with a letter, "
                          f"at most {MAX_NAME_BYTES} characters")
    if not isinstance(value, str):
        raise BadDocument(f"field {name}: values are JSON strings (got {type(value).__name__})")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadDocument(f"field {name}: the value is not valid Unicode text") from None
    if len(raw) > MAX_VALUE_BYTES:
        raise BadDocument(f"field {name}: the value is {len(raw)} bytes, at most {MAX_VALUE_BYTES}")
    return name.encode("ascii"), raw


def compute_leaf(salt: bytes, name: str, value: str) -> bytes:
    if len(salt) != SALT_SIZE:
        raise BadDocument(f"field {name}: a salt is {SALT_SIZE} bytes")
    n, v = validate_field(name, value)
    return _h(LEAF_TAG, salt, len(n).to_bytes(1, "big"), n, len(v).to_bytes(2, "big"), v)


def compute_node(left: bytes, right: bytes) -> bytes:
    return _h(NODE_TAG, left, right)


def compute_root_of_leaves(leaves: list[bytes]) -> bytes:
    if not 1 <= len(leaves) <= MAX_FIELDS:
        raise BadDocument(f"a document has 1 to {MAX_FIELDS} fields, not {len(leaves)}")
    level = list(leaves)
    while len(level) > 1:
        nxt = [compute_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return _h(ROOT_TAG, len(leaves).to_bytes(2, "big"), level[0])


def compute_path(leaves: list[bytes], index: int) -> list[bytes]:
    """The siblings from leaf `index` up to the top, skipping the levels where it is carried up."""
    path: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        nxt = [compute_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, index = nxt, index // 2
    return path


def compute_root_from_path(leaf: bytes, index: int, count: int, path: list[bytes]) -> bytes:
    """The root a leaf at `index` of `count` proves with `path`; BadDisclosure if the path has the wrong length."""
    if not 1 <= count <= MAX_FIELDS or not 0 <= index < count:
        raise BadDisclosure(f"index {index} of count {count}: need 0 <= index < count <= {MAX_FIELDS}")
    h, i, n, used = leaf, index, count, 0
    while n > 1:
        if i % 2 == 1 or i + 1 < n:
            if used >= len(path):
                raise BadDisclosure("the Merkle path is too short for this index and count")
            h = compute_node(path[used], h) if i % 2 else compute_node(h, path[used])
            used += 1
        i, n = i // 2, (n + 1) // 2
    if used != len(path):
        raise BadDisclosure("the Merkle path is too long for this index and count")
    return _h(ROOT_TAG, count.to_bytes(2, "big"), h)


@dataclass(frozen=True, slots=True)
class SaltedField:
    name: str
    value: str
    salt: bytes


@dataclass(frozen=True, slots=True)
class SaltedDocument:
    """A document with one salt per field, fields in canonical (name) order. The wallet keeps it."""

    fields: tuple[SaltedField, ...]

    @staticmethod
    def create(document: Mapping[str, Any], salts: Mapping[str, bytes] | None = None) -> SaltedDocument:
        """Salt a plain document; fresh random salts unless given (test vectors give them)."""
        if not isinstance(document, Mapping):
            raise BadDocument("an identity document is a JSON object of string fields")
        if not 1 <= len(document) <= MAX_FIELDS:
            raise BadDocument(f"a document has 1 to {MAX_FIELDS} fields, not {len(document)}")
        fields = []
        for name in sorted(document, key=lambda n: n.encode() if isinstance(n, str) else b""):
            validate_field(name, document[name])
            salt = salts[name] if salts is not None else secrets.token_bytes(SALT_SIZE)
            fields.append(SaltedField(name, document[name], salt))
        doc = SaltedDocument(tuple(fields))
        doc.leaves()  # salt sizes
        return doc

    def leaves(self) -> list[bytes]:
        return [compute_leaf(f.salt, f.name, f.value) for f in self.fields]

    def root(self) -> bytes:
        return compute_root_of_leaves(self.leaves())

    def index_of(self, name: str) -> int:
        for i, f in enumerate(self.fields):
            if f.name == name:
                return i
        raise BadDocument(f"the document has no field {name!r:.80} (fields: {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def plain(self) -> dict[str, str]:
        return {f.name: f.value for f in self.fields}

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "fields": [{"name": f.name, "value": f.value, "salt": "0x" + f.salt.hex()}
                                         for f in self.fields]}

    @staticmethod
    def from_json(obj: Any) -> SaltedDocument:
        if not isinstance(obj, dict) or obj.get("version") != 1 or not isinstance(obj.get("fields"), list):
            raise BadDocument('a salted document is {"version": 1, "fields": [{"name", "value", "salt"}, ...]}')
        fields = []
        for item in obj["fields"]:
            if not isinstance(item, dict) or set(item) != {"name", "value", "salt"}:
                raise BadDocument("each salted field is {name, value, salt}")
            fields.append(SaltedField(item["name"], item["value"], parse_hex(item["salt"], "salt", SALT_SIZE,
                                                                           BadDocument)))
        names = [f.name for f in fields]
        if any(not isinstance(n, str) for n in names):
            raise BadDocument("field names are strings")
        if names != sorted(names, key=lambda n: n.encode()) or len(set(names)) != len(names):
            raise BadDocument("salted fields must be unique and in name order")
        doc = SaltedDocument(tuple(fields))
        doc.root()  # validates every field and the count
        return doc


def parse_hex(text: Any, what: str, size: int | None, error: type[BadDocument] | type[BadDisclosure]) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise error(f"{what}: 0x-prefixed hex expected")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise error(f"{what}: not hex") from None
    if size is not None and len(raw) != size:
        raise error(f"{what}: {size} bytes expected, got {len(raw)}")
    return raw
