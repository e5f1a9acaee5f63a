"""A compact sparse Merkle tree: the state root committed in block headers.

The root commits to a set of (key, value) byte strings. A batch of changes costs time in
proportion to the keys changed times log(state size), and any key has a membership or
non-membership proof of at most 256 sibling hashes (about log2(n) in practice).

Specification (an independent implementation must reproduce roots from this alone)
----------------------------------------------------------------------------------
* ``path(key) = sha256(key)``: 256 bits, read most significant bit of byte 0 first. Bit
  ``d`` of the path picks the child at depth ``d``: 0 = left, 1 = right.
* The hash ``H(S, d)`` of a set ``S`` of (key, value) pairs whose paths all share their first
  ``d`` bits is:

  - ``|S| = 0``: ``EMPTY_ROOT``, 32 zero bytes;
  - ``|S| = 1``: the leaf hash ``sha256(0x00 || path(key) || sha256(value))``;
  - ``|S| >= 2``: ``sha256(0x01 || H(L, d + 1) || H(R, d + 1))``, where L and R are the
    pairs whose path bit ``d`` is 0 and 1. One of them may be empty: two keys whose paths
    share 20 bits sit under a chain of 20 internal nodes, each with one EMPTY_ROOT child.

  The state root is ``H(all pairs, 0)``. A subtree with one pair is its leaf, placed at the
  shortest prefix that tells it apart, and every internal node has >= 2 leaves below; so
  the root is a function of the set alone, never of the order of inserts and deletes.
* Leaves (0x00) and internal nodes (0x01) are domain-separated, and both preimages are
  65 bytes. The leaf commits to the value's hash, so a proof never has to carry a value.

Storage
-------
Nodes are content-addressed and immutable: ``node hash -> canonical encoding``
(node/types/codec.py), a leaf as ``[0, key, value]`` and an internal node as
``[1, left_hash, right_hash]``. EMPTY_ROOT is never stored. The leaf keeps the original
key and the whole value, so ``get`` needs no second lookup and reads at any past root
work: nothing is ever deleted. ``update`` writes nothing itself; it returns the new nodes
and the caller puts them in the same write batch as the block.

Proofs
------
A proof lists the sibling hashes on the key's path from the root down and says how the path
ends: at the key's own leaf (membership), at an empty subtree, or at the leaf of another
key whose path shares the prefix walked so far (both non-membership). The verifier
rebuilds the end hash and folds the siblings back up to the root. Wire form (codec):
``[end, [sibling, ...], other_path, other_value_hash]`` with end 0 = the key's leaf,
1 = empty subtree, 2 = another key's leaf; an EMPTY_ROOT sibling is written as b"" (its
only form); other_path (32 bytes, that key's path) and other_value_hash (32 bytes) are b""
unless end is 2.

Caching and persistence
-----------------------
Decoded nodes are cached (``cache_size`` nodes). The nodes an update() creates are readable
through the same tree object at once and are pinned until its next update(); the caller
must have persisted them by then to be sure of reading that root later, and in any case
before relying on it across a restart.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol, TypeAlias

import msgpack

from node.types.codec import DecodeError, decode, encode, expect_bytes, expect_list, expect_uint

EMPTY_ROOT = bytes(32)
HASH_SIZE = 32
PATH_BITS = 256
LEAF_TAG = b"\x00"
INTERNAL_TAG = b"\x01"
LEAF_KIND = 0
INTERNAL_KIND = 1

# encode([1, left, right]) for 32-byte hashes is always fixarray(3), int 1, bin8(32) x 2. Building
# it by concatenation skips the generic encoder on the hottest path; a test pins the equality.
_INTERNAL_HEAD = b"\x93\x01\xc4\x20"
_BIN32 = b"\xc4\x20"

# Decoded nodes as kept in the cache. Tuples, not classes: they are created and unpacked
# tens of thousands of times per block. An internal node is (left, right); a leaf is
# (path as int, key, value). The tuple length tells the kinds apart.
Internal: TypeAlias = tuple[bytes, bytes]
Leaf: TypeAlias = tuple[int, bytes, bytes]
Node: TypeAlias = Internal | Leaf
# A change being applied: (path as int, path bytes or None, key, new value or None = delete,
# leaf hash if the leaf already exists in the tree, else None).
_Row: TypeAlias = tuple[int, bytes | None, bytes, bytes | None, bytes | None]

_sha256 = hashlib.sha256


class TrieError(Exception):
    """Base class of the errors raised while reading the tree's storage."""


class MissingNode(TrieError):
    """A node hash is referenced but not in storage: the DB is corrupt or was pruned,
    or the root was never written."""

    def __init__(self, node_hash: bytes) -> None:
        super().__init__(f"trie node {node_hash.hex()} not found in storage")
        self.node_hash = node_hash


class CorruptNode(TrieError):
    """A stored node does not decode, or does not hash to the key it is stored under."""

    def __init__(self, node_hash: bytes, reason: str) -> None:
        super().__init__(f"trie node {node_hash.hex()} is corrupt: {reason}")
        self.node_hash = node_hash


class NodeReader(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """The encoding stored under a node hash, or None."""
        ...


def compute_path(key: bytes) -> bytes:
    return _sha256(key).digest()


def compute_leaf_hash(path: bytes, value_hash: bytes) -> bytes:
    return _sha256(LEAF_TAG + path + value_hash).digest()


def compute_internal_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(INTERNAL_TAG + left + right).digest()


def _bit(path: bytes, depth: int) -> int:
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


# -- proofs ------------------------------------------------------------------------------


class ProofEnd(IntEnum):
    """How the key's path ends."""

    LEAF = 0  # at the key's own leaf: the key is present
    EMPTY = 1  # at an empty subtree: the key is absent
    OTHER_LEAF = 2  # at the leaf of another key sharing the path so far: the key is absent


@dataclass(frozen=True, slots=True)
class Proof:
    """Siblings from the root down, and how the path ends. siblings[d] is the child of the
    path's internal node at depth d (the root is depth 0) that the path does not take. For
    OTHER_LEAF, that leaf's path and value hash; empty bytes otherwise."""

    siblings: tuple[bytes, ...]
    end: ProofEnd
    other_path: bytes = b""
    other_value_hash: bytes = b""

    def to_bytes(self) -> bytes:
        # Empty siblings are common (chains under long shared prefixes) and cost 1 byte as b"".
        siblings = [b"" if s == EMPTY_ROOT else s for s in self.siblings]
        return encode([int(self.end), siblings, self.other_path, self.other_value_hash])

    @staticmethod
    def from_bytes(data: bytes) -> Proof:
        """Decode a proof; raises DecodeError on any malformed or non-canonical input."""
        fields = expect_list(decode(data), 4, "proof")
        end_raw = expect_uint(fields[0], "proof.end", maximum=max(ProofEnd))
        end = ProofEnd(end_raw)
        raw_siblings = fields[1]
        if not isinstance(raw_siblings, list) or len(raw_siblings) > PATH_BITS:
            raise DecodeError(f"proof.siblings: expected an array of at most {PATH_BITS} hashes")
        siblings: list[bytes] = []
        for item in raw_siblings:
            sibling = expect_bytes(item, "proof.siblings[]")
            if sibling == b"":
                siblings.append(EMPTY_ROOT)
            elif len(sibling) != HASH_SIZE or sibling == EMPTY_ROOT:
                # EMPTY_ROOT has exactly one form (b""), so a proof has exactly one encoding.
                raise DecodeError("proof.siblings[]: expected b'' or a non-zero 32-byte hash")
            else:
                siblings.append(sibling)
        size = HASH_SIZE if end == ProofEnd.OTHER_LEAF else 0
        other_path = expect_bytes(fields[2], "proof.other_path", length=size)
        other_value_hash = expect_bytes(fields[3], "proof.other_value_hash", length=size)
        return Proof(tuple(siblings), end, other_path, other_value_hash)


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True when `proof` shows that `key` maps to `value` under `root` (value None: that
    `key` is absent). Never raises on a malformed proof; it just does not verify."""
    siblings = proof.siblings
    depth = len(siblings)
    if depth > PATH_BITS or any(len(s) != HASH_SIZE for s in siblings):
        return False
    path = compute_path(key)
    if proof.end == ProofEnd.LEAF:
        if value is None:
            return False
        node = compute_leaf_hash(path, _sha256(value).digest())
    elif proof.end == ProofEnd.EMPTY:
        if value is not None:
            return False
        node = EMPTY_ROOT
    elif proof.end == ProofEnd.OTHER_LEAF:
        other = proof.other_path
        if value is not None or len(other) != HASH_SIZE or len(proof.other_value_hash) != HASH_SIZE:
            return False
        # The other leaf must sit where our path leads, so it shares the prefix walked so
        # far; and it must really be another key.
        prefix_shift = PATH_BITS - depth
        if other == path or (int.from_bytes(other) >> prefix_shift) != (int.from_bytes(path) >> prefix_shift):
            return False
        node = compute_leaf_hash(other, proof.other_value_hash)
    else:  # pragma: no cover - ProofEnd is closed
        return False
    for d in range(depth - 1, -1, -1):
        sibling = siblings[d]
        node = compute_internal_hash(sibling, node) if _bit(path, d) else compute_internal_hash(node, sibling)
    return node == root


# -- the tree ----------------------------------------------------------------------------


class SparseMerkleTree:
    """Reads and batch updates over immutable nodes in a NodeReader (a plyvel DB, a prefixed
    view of one, or a dict in tests). The tree holds no root: every call names one.

    Decoded nodes are cached in two generations of plain dicts, an LRU approximation that
    costs one dict lookup per hit: hits in the old generation move to the new one, and when
    the new one holds cache_size / 2 nodes the old one is dropped whole. A node used within
    the last cache_size / 2 cache insertions is always kept. (An OrderedDict's move_to_end
    and popitem per node cost more than the rest of a cached walk.)

    Not thread-safe: the cache is shared mutable state; give each thread its own tree.
    """

    def __init__(self, nodes: NodeReader, cache_size: int = 200_000) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._nodes = nodes
        self._half = cache_size // 2
        self._hot: dict[bytes, Node] = {}
        self._cold: dict[bytes, Node] = {}
        # The nodes created by the latest update(), pinned until the next update() so that its
        # root stays fully readable until the caller has persisted them, however small the cache.
        self._fresh: dict[bytes, Node] = {}

    # -- node access -----------------------------------------------------------------------

    def _load(self, node_hash: bytes) -> Node:
        node = self._hot.get(node_hash)
        if node is None:
            node = self._miss(node_hash)
            if len(self._hot) > self._half:
                self._rotate()
        return node

    def _miss(self, node_hash: bytes) -> Node:
        """A node not in the new generation: from the old one, the pinned batch or storage.
        Never rotates, so an update may hold on to the new generation's dict."""
        node = self._cold.get(node_hash)
        if node is None:
            node = self._fresh.get(node_hash)
            if node is None:
                data = self._nodes.get(node_hash)
                if data is None:
                    raise MissingNode(node_hash)
                node = _parse_node(node_hash, data)
        self._hot[node_hash] = node
        return node

    def _rotate(self) -> None:
        self._cold = self._hot
        self._hot = {}

    # -- reads -----------------------------------------------------------------------------

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """The value of `key` in the state with root `root`, or None if absent."""
        path = int.from_bytes(compute_path(key))
        node_hash = root
        depth = 0
        while node_hash != EMPTY_ROOT:
            node = self._load(node_hash)
            if len(node) == 3:
                return node[2] if node[1] == key else None
            node_hash = node[(path >> (255 - depth)) & 1]
            depth += 1
        return None

    def prove(self, root: bytes, key: bytes) -> Proof:
        """A proof of the value of `key` under `root`, or of its absence."""
        path = int.from_bytes(compute_path(key))
        siblings: list[bytes] = []
        node_hash = root
        depth = 0
        while node_hash != EMPTY_ROOT:
            node = self._load(node_hash)
            if len(node) == 3:
                if node[1] == key:
                    return Proof(tuple(siblings), ProofEnd.LEAF)
                other_path = node[0].to_bytes(32)
                return Proof(tuple(siblings), ProofEnd.OTHER_LEAF, other_path, _sha256(node[2]).digest())
            bit = (path >> (255 - depth)) & 1
            siblings.append(node[1 - bit])
            node_hash = node[bit]
            depth += 1
        return Proof(tuple(siblings), ProofEnd.EMPTY)

    def items(self, root: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) under `root`, in path order. For debugging and tests: it reads
        the whole state."""
        stack = [root]
        while stack:
            node_hash = stack.pop()
            if node_hash == EMPTY_ROOT:
                continue
            node = self._load(node_hash)
            if len(node) == 3:
                yield node[1], node[2]
            else:
                stack.append(node[1])
                stack.append(node[0])

    # -- the batch update ------------------------------------------------------------------

    def update(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> tuple[bytes, dict[bytes, bytes]]:
        """Apply all `changes` (value None deletes the key) to the state at `root`.

        Returns the new root and the nodes to persist (hash -> encoding). Nothing is written.
        The new nodes are readable through this tree at once, and stay so at least until the
        next update() call (after that they are only cached, and may be evicted); the caller
        must persist them, normally in the block's write batch, before relying on the new
        root after the next update or a restart.
        """
        # The previous update's nodes are the caller's to have persisted by now.
        self._fresh = {}
        if not changes:
            return root, {}
        rows: list[_Row] = []
        has_deletes = False
        for key, value in changes.items():
            if not isinstance(key, bytes) or not (value is None or isinstance(value, bytes)):
                raise TypeError("trie keys must be bytes, and values bytes or None")
            has_deletes = has_deletes or value is None
            path = _sha256(key).digest()
            rows.append((int.from_bytes(path), path, key, value, None))
        # Sorted by path, the rows under any subtree are one contiguous range, split in two
        # by a binary search at each internal node.
        rows.sort(key=_first)
        new_root, new_nodes, decoded = _apply_batch(root, rows, has_deletes, self._hot.get, self._miss)
        self._fresh = decoded
        # A batch larger than the cache (a genesis) stays pinned but would only flush the cache.
        if len(decoded) <= self._half:
            self._hot.update(decoded)
        if len(self._hot) > self._half:
            self._rotate()
        return new_root, new_nodes


def _first(row: _Row) -> int:
    return row[0]


def _bin_header(size: int) -> bytes:
    """msgpack's bin8/bin16/bin32 header, as node/codec.encode writes it."""
    if size < 0x100:
        return b"\xc4" + size.to_bytes(1)
    if size < 0x10000:
        return b"\xc5" + size.to_bytes(2)
    return b"\xc6" + size.to_bytes(4)


def _encode_leaf(key: bytes, value: bytes) -> bytes:
    # Byte-identical to encode([0, key, value]) (a test pins it) without its generic checks.
    return b"\x93\x00" + _bin_header(len(key)) + key + _bin_header(len(value)) + value


def _parse_node(node_hash: bytes, data: bytes) -> Node:
    """Decode a stored node and check that it hashes to `node_hash`.

    The check runs on every storage read (cache hits skip it): a flipped bit would otherwise
    return wrong values while roots, built from stored hashes, still looked right. Because of
    it the codec's canonical-form check, there for peer input, adds nothing here, and the
    fixed layout of internal nodes is sliced rather than decoded."""
    if len(data) == 70 and data[:4] == _INTERNAL_HEAD and data[36:38] == _BIN32:
        left, right = data[4:36], data[38:]
        if _sha256(INTERNAL_TAG + left + right).digest() != node_hash:
            raise CorruptNode(node_hash, "content does not match its hash")
        return (left, right)
    try:
        fields = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except Exception as exc:  # msgpack raises a zoo of ValueError/TypeError/its own subclasses
        raise CorruptNode(node_hash, f"not valid msgpack: {exc}") from exc
    if (
        not isinstance(fields, list)
        or len(fields) != 3
        or type(fields[0]) is not int
        or fields[0] != LEAF_KIND
        or not isinstance(fields[1], bytes)
        or not isinstance(fields[2], bytes)
    ):
        raise CorruptNode(node_hash, "expected [1, left_hash, right_hash] or [0, key, value]")
    key, value = fields[1], fields[2]
    path = _sha256(key).digest()
    if _sha256(LEAF_TAG + path + _sha256(value).digest()).digest() != node_hash:
        raise CorruptNode(node_hash, "content does not match its hash")
    return (int.from_bytes(path), key, value)


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError("extension types are not allowed")


def _apply_batch(
    root: bytes,
    rows: list[_Row],
    has_deletes: bool,
    cached: Callable[[bytes], Node | None],
    miss: Callable[[bytes], Node],
) -> tuple[bytes, dict[bytes, bytes], dict[bytes, Node]]:
    """One update(): walks the affected part of the tree once, depth first, visiting each
    node on a changed path exactly once however many changes pass through it. Returns the
    new root, the new nodes' encodings and the new nodes decoded.

    Written as closures over locals because this is the per-block hot path: a local or cell
    lookup is cheaper than an attribute lookup, and the recursion is per node."""
    paths = [row[0] for row in rows]
    new_nodes: dict[bytes, bytes] = {}
    decoded: dict[bytes, Node] = {}
    sha256 = _sha256
    empty = EMPTY_ROOT

    def load(node_hash: bytes) -> Node:
        node = cached(node_hash)
        return miss(node_hash) if node is None else node

    def internal(left: bytes, right: bytes) -> bytes:
        node_hash = sha256(b"\x01" + left + right).digest()
        new_nodes[node_hash] = b"\x93\x01\xc4\x20" + left + b"\xc4\x20" + right
        decoded[node_hash] = (left, right)
        return node_hash

    def is_leaf(node_hash: bytes) -> bool:
        node = decoded.get(node_hash)
        return len(load(node_hash) if node is None else node) == 3

    def join(new_left: bytes, new_right: bytes) -> bytes:
        """The subtree over two changed children, re-collapsed: a subtree left with a single
        leaf is that leaf, which then floats up as far as its siblings are empty."""
        if new_left == empty:
            if new_right == empty or is_leaf(new_right):
                return new_right
        elif new_right == empty and is_leaf(new_left):
            return new_left
        return internal(new_left, new_right)

    def update(node_hash: bytes, depth: int, lo: int, hi: int) -> bytes:
        """The new hash of the subtree `node_hash` at `depth` after rows[lo:hi] (hi > lo),
        which all lead into it."""
        if hi - lo == 1:
            return update_one(node_hash, depth, rows[lo])
        if node_hash == empty:
            if not has_deletes:
                return build(rows, paths, lo, hi, depth)
            inserts = [row for row in rows[lo:hi] if row[3] is not None]
            return build(inserts, [row[0] for row in inserts], 0, len(inserts), depth)
        node = load(node_hash)
        if len(node) == 3:
            return update_leaf(node_hash, node, rows[lo:hi], depth)  # type: ignore[arg-type]
        left, right = node  # type: ignore[misc]
        shift = 255 - depth
        # First row whose bit `depth` is 1: the rows share all the bits above it.
        mid = bisect_left(paths, ((paths[lo] >> shift) | 1) << shift, lo, hi)
        new_left = update(left, depth + 1, lo, mid) if mid > lo else left
        new_right = update(right, depth + 1, mid, hi) if hi > mid else right
        if new_left == left and new_right == right:
            return node_hash
        return join(new_left, new_right)

    def update_one(node_hash: bytes, depth: int, row: _Row) -> bytes:
        """update() for a single row: below the top levels every change walks alone, so this
        loop (no recursion, no binary search) does most of the work."""
        path = row[0]
        start = node_hash
        trail: list[tuple[Node, int]] = []
        while True:
            if node_hash == empty:
                new = empty if row[3] is None else build([row], [path], 0, 1, depth)
                break
            node = cached(node_hash)
            if node is None:
                node = miss(node_hash)
            if len(node) == 3:
                new = update_leaf(node_hash, node, [row], depth)  # type: ignore[arg-type]
                break
            bit = (path >> (255 - depth)) & 1
            trail.append((node, bit))
            node_hash = node[bit]
            depth += 1
        for node, bit in reversed(trail):
            if new == node[bit]:
                return start  # nothing changed below, so nothing above changes either
            new = join(node[0], new) if bit else join(new, node[1])
        return new

    def update_leaf(node_hash: bytes, leaf: Leaf, batch: list[_Row], depth: int) -> bytes:
        """A leaf is a whole subtree: rebuild it from the leaf plus the rows, reusing the
        leaf's hash (no new node) when its key is untouched or set to the same value."""
        leaf_path, leaf_key, leaf_value = leaf
        existing: _Row = (leaf_path, None, leaf_key, leaf_value, node_hash)
        merged: list[_Row] = []
        placed = False
        for row in batch:
            if not placed and row[0] >= leaf_path:
                placed = True
                if row[0] == leaf_path:
                    if row[3] is not None:
                        merged.append(existing if row[3] == leaf_value else row)
                    continue
                merged.append(existing)
            if row[3] is not None:
                merged.append(row)
        if not placed:
            merged.append(existing)
        return build(merged, [row[0] for row in merged], 0, len(merged), depth)

    def build(items: list[_Row], keys: list[int], lo: int, hi: int, depth: int) -> bytes:
        """The hash of a fresh subtree at `depth` holding items[lo:hi] (all inserts)."""
        count = hi - lo
        if count == 1:
            row = items[lo]
            if row[4] is not None:
                return row[4]
            path, key, value = row[1], row[2], row[3]
            if path is None or value is None:  # pragma: no cover - new rows carry both
                raise RuntimeError("internal error: a new leaf without a path or value")
            node_hash = sha256(b"\x00" + path + sha256(value).digest()).digest()
            new_nodes[node_hash] = _encode_leaf(key, value)
            decoded[node_hash] = (row[0], key, value)
            return node_hash
        if count == 0:
            return empty
        first = keys[lo]
        # Sorted rows: the first and last differ at the first bit where any of them differ.
        split = PATH_BITS - (first ^ keys[hi - 1]).bit_length()
        shift = 255 - split
        mid = bisect_left(keys, ((first >> shift) | 1) << shift, lo, hi)
        node_hash = internal(build(items, keys, lo, mid, split + 1), build(items, keys, mid, hi, split + 1))
        # The shared bits above the split are a chain of one-sided internal nodes, built
        # bottom-up in a loop rather than one recursion level each.
        for d in range(split - 1, depth - 1, -1):
            node_hash = internal(empty, node_hash) if (first >> (255 - d)) & 1 else internal(node_hash, empty)
        return node_hash

    return update(root, 0, 0, len(rows)), new_nodes, decoded
