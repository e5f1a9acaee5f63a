from __future__ import annotations

import hashlib
import random
from pathlib import Path

import plyvel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.state.trie import (
    EMPTY_ROOT,
    CorruptNode,
    MissingNode,
    Proof,
    ProofEnd,
    SparseMerkleTree,
    verify_proof,
)
from node.types.codec import DecodeError, encode


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(state: dict[bytes, bytes]) -> bytes:
    """The root straight from the specification in node/state/trie.py, recomputed from scratch."""

    def bit(path: bytes, depth: int) -> int:
        return (path[depth // 8] >> (7 - depth % 8)) & 1

    def subtree(pairs: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not pairs:
            return bytes(32)
        if len(pairs) == 1:
            path, value_hash = pairs[0]
            return sha(b"\x00" + path + value_hash)
        left = [p for p in pairs if bit(p[0], depth) == 0]
        right = [p for p in pairs if bit(p[0], depth) == 1]
        return sha(b"\x01" + subtree(left, depth + 1) + subtree(right, depth + 1))

    return subtree([(sha(k), sha(v)) for k, v in state.items()], 0)


class Store:
    """A dict NodeReader plus the caller's side of the contract: persist what update returns."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.tree = SparseMerkleTree(self.nodes)

    def apply(self, root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
        new_root, new_nodes = self.tree.update(root, changes)
        self.nodes.update(new_nodes)
        return new_root


def apply_to_dict(state: dict[bytes, bytes], changes: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    out = dict(state)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def keys_sharing_prefix(bits: int) -> tuple[bytes, bytes]:
    """Two keys whose paths share at least `bits` leading bits (a birthday search)."""
    seen: dict[int, bytes] = {}
    for i in range(1 << 20):
        key = i.to_bytes(4, "big")
        prefix = int.from_bytes(sha(key)[:4], "big") >> (32 - bits)
        if prefix in seen:
            return seen[prefix], key
        seen[prefix] = key
    raise AssertionError("no pair found")


# -- unit cases --------------------------------------------------------------------------


def test_empty_tree() -> None:
    store = Store()
    assert store.tree.get(EMPTY_ROOT, b"a") is None
    assert list(store.tree.items(EMPTY_ROOT)) == []
    assert store.tree.update(EMPTY_ROOT, {}) == (EMPTY_ROOT, {})
    assert store.tree.update(EMPTY_ROOT, {b"a": None}) == (EMPTY_ROOT, {})
    proof = store.tree.prove(EMPTY_ROOT, b"a")
    assert proof == Proof((), ProofEnd.EMPTY)
    assert verify_proof(EMPTY_ROOT, b"a", None, proof)
    assert not verify_proof(EMPTY_ROOT, b"a", b"x", proof)


def test_one_key() -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, {b"alice": b"100"})
    assert root == sha(b"\x00" + sha(b"alice") + sha(b"100"))
    assert store.nodes == {root: encode([0, b"alice", b"100"])}
    assert store.tree.get(root, b"alice") == b"100"
    assert store.tree.get(root, b"bob") is None
    assert list(store.tree.items(root)) == [(b"alice", b"100")]


def test_golden_roots() -> None:
    """Frozen values: a change here is a consensus-breaking format change."""
    store = Store()
    root = store.apply(EMPTY_ROOT, {b"a": b"1", b"b": b"2", b"c": b"3"})
    assert root.hex() == "8e2a164a410203f51300d7c6645b7a37f549768457be109acc126c63573a9e0a"
    assert root == reference_root({b"a": b"1", b"b": b"2", b"c": b"3"})


def test_internal_encoding_matches_codec() -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    left, right = store.tree._load(root)  # type: ignore[misc]
    assert store.nodes[root] == encode([1, left, right])
    assert root == sha(b"\x01" + left + right)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65535, 65536, 70000])
def test_leaf_encoding_matches_codec(size: int) -> None:
    store = Store()
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for key in [b"", b"k" * size]:
        root = store.apply(EMPTY_ROOT, {key: value})
        assert store.nodes[root] == encode([0, key, value])
        assert SparseMerkleTree(store.nodes).get(root, key) == value  # and it parses back


def test_two_keys_sharing_a_long_prefix() -> None:
    k1, k2 = keys_sharing_prefix(20)
    store = Store()
    root = store.apply(EMPTY_ROOT, {k1: b"one", k2: b"two"})
    assert root == reference_root({k1: b"one", k2: b"two"})
    shared = 256 - (int.from_bytes(sha(k1), "big") ^ int.from_bytes(sha(k2), "big")).bit_length()
    assert shared >= 20
    # A chain of `shared` one-sided nodes above the split node, plus the split node and 2 leaves.
    assert len(store.nodes) == shared + 3
    assert store.tree.get(root, k1) == b"one" and store.tree.get(root, k2) == b"two"
    proof = store.tree.prove(root, k1)
    assert len(proof.siblings) == shared + 1
    assert verify_proof(root, k1, b"one", proof)
    # Deleting one key collapses the whole chain back into the remaining leaf.
    root2 = store.apply(root, {k1: None})
    assert root2 == sha(b"\x00" + sha(k2) + sha(b"two"))
    assert store.apply(root2, {k2: None}) == EMPTY_ROOT


def test_delete_back_to_empty() -> None:
    store = Store()
    keys = [bytes([i]) for i in range(50)]
    root = store.apply(EMPTY_ROOT, {k: k * 3 for k in keys})
    for k in keys[:-1]:
        root = store.apply(root, {k: None})
        assert root == reference_root({kk: kk * 3 for kk in keys[keys.index(k) + 1 :]})
    assert store.apply(root, {keys[-1]: None}) == EMPTY_ROOT


def test_update_to_same_value_is_a_no_op() -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, {bytes([i]): b"v" for i in range(100)})
    new_root, new_nodes = store.tree.update(root, {bytes([5]): b"v", bytes([7]): b"v", b"absent": None})
    assert new_root == root
    assert new_nodes == {}


def test_new_nodes_readable_before_persisting() -> None:
    nodes: dict[bytes, bytes] = {}
    tree = SparseMerkleTree(nodes, cache_size=0)  # nothing cached: only the pin keeps them
    root, new_nodes = tree.update(EMPTY_ROOT, {bytes([i]): b"x" for i in range(20)})
    assert nodes == {}  # update writes nothing itself
    assert tree.get(root, bytes([3])) == b"x"
    assert verify_proof(root, bytes([3]), b"x", tree.prove(root, bytes([3])))
    # Once the next update runs, the caller must have persisted the previous batch.
    tree.update(EMPTY_ROOT, {b"other": b"y"})
    with pytest.raises(MissingNode):
        tree.get(root, bytes([3]))
    nodes.update(new_nodes)
    assert tree.get(root, bytes([3])) == b"x"


def test_missing_and_corrupt_nodes() -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    fresh = SparseMerkleTree(store.nodes)
    with pytest.raises(MissingNode) as info:
        fresh.get(b"\x11" * 32, b"a")
    assert info.value.node_hash == b"\x11" * 32
    left, _right = fresh._load(root)  # type: ignore[misc]
    store.nodes[left] = encode([0, b"a", b"tampered"])
    with pytest.raises(CorruptNode, match="does not match"):
        SparseMerkleTree(store.nodes).items(root).__next__()
    store.nodes[left] = b"\xc1"
    with pytest.raises(CorruptNode, match="not valid msgpack"):
        list(SparseMerkleTree(store.nodes).items(root))


def test_rejects_bad_types() -> None:
    tree = SparseMerkleTree({})
    with pytest.raises(TypeError):
        tree.update(EMPTY_ROOT, {"a": b"1"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        tree.update(EMPTY_ROOT, {b"a": 1})  # type: ignore[dict-item]


def test_proof_encoding() -> None:
    k1, k2 = keys_sharing_prefix(12)
    store = Store()
    root = store.apply(EMPTY_ROOT, {k1: b"1", k2: b"2", b"x": b"3"})
    for key, value in [(k1, b"1"), (b"x", b"3"), (b"nope", None), (b"other", None)]:
        proof = store.tree.prove(root, key)
        data = proof.to_bytes()
        assert Proof.from_bytes(data) == proof
        assert verify_proof(root, key, value, Proof.from_bytes(data))
    # EMPTY_ROOT siblings travel as b"" and 32 zero bytes are refused: one encoding per proof.
    proof = store.tree.prove(root, k1)
    assert EMPTY_ROOT in proof.siblings
    bad = encode([0, [bytes(32)], b"", b""])
    with pytest.raises(DecodeError):
        Proof.from_bytes(bad)
    for bad in [
        encode([3, [], b"", b""]),
        encode([0, [b"\x01" * 31], b"", b""]),
        encode([0, [b"\x01" * 32] * 257, b"", b""]),
        encode([2, [], b"", b""]),
        encode([0, [], b"\x01" * 32, b""]),
        encode([0, []]),
        b"",
    ]:
        with pytest.raises(DecodeError):
            Proof.from_bytes(bad)


def test_forged_absence_proofs_fail() -> None:
    store = Store()
    state = {bytes([i]): bytes([i]) for i in range(64)}
    root = store.apply(EMPTY_ROOT, state)
    present = bytes([9])
    proof = store.tree.prove(root, present)
    # Claiming absence with the leaf's own path dressed as "another key" must not verify.
    forged = Proof(proof.siblings, ProofEnd.OTHER_LEAF, sha(present), sha(present))
    assert not verify_proof(root, present, None, forged)
    # Another leaf that does not lie on this key's path.
    other = store.tree.prove(root, bytes([10]))
    misplaced = Proof(proof.siblings, ProofEnd.OTHER_LEAF, sha(bytes([10])), sha(bytes([10])))
    assert not verify_proof(root, present, None, misplaced)
    assert not verify_proof(root, present, None, Proof(proof.siblings, ProofEnd.EMPTY))
    assert not verify_proof(root, present, None, other)
    assert not verify_proof(root, present, b"\x09", Proof(proof.siblings[:-1], ProofEnd.LEAF))
    assert not verify_proof(root, present, b"\x09", Proof((*proof.siblings, b"x"), ProofEnd.LEAF))


def test_persisted_nodes_reload_from_leveldb(tmp_path: Path) -> None:
    rng = random.Random(7)
    state = {rng.randbytes(20): rng.randbytes(rng.randrange(0, 80)) for _ in range(2000)}
    db = plyvel.DB(str(tmp_path / "state"), create_if_missing=True)
    tree = SparseMerkleTree(db)
    root1, nodes1 = tree.update(EMPTY_ROOT, state)
    with db.write_batch() as batch:
        for node_hash, data in nodes1.items():
            batch.put(node_hash, data)
    changes: dict[bytes, bytes | None] = {k: None for k in list(state)[:300]}
    changes.update({rng.randbytes(20): b"new" for _ in range(300)})
    root2, nodes2 = tree.update(root1, changes)
    with db.write_batch() as batch:
        for node_hash, data in nodes2.items():
            batch.put(node_hash, data)
    db.close()

    db = plyvel.DB(str(tmp_path / "state"))
    try:
        reloaded = SparseMerkleTree(db, cache_size=100)
        state2 = apply_to_dict(state, changes)
        assert dict(reloaded.items(root1)) == state
        assert dict(reloaded.items(root2)) == state2
        assert root2 == reference_root(state2)
        for key in list(state)[:400]:
            assert reloaded.get(root1, key) == state[key]
            assert reloaded.get(root2, key) == state2.get(key)
            assert verify_proof(root2, key, state2.get(key), reloaded.prove(root2, key))
    finally:
        db.close()


# -- properties --------------------------------------------------------------------------

keys = st.binary(min_size=0, max_size=3)
values = st.binary(min_size=0, max_size=6)
changesets = st.dictionaries(keys, st.none() | values, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=60))
def test_root_matches_reference(state: dict[bytes, bytes]) -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, state)
    assert root == reference_root(state)
    assert dict(store.tree.items(root)) == state


@settings(max_examples=200, deadline=None)
@given(st.lists(changesets, max_size=8), st.randoms(use_true_random=False))
def test_root_independent_of_order_and_batching(
    batches: list[dict[bytes, bytes | None]], rng: random.Random
) -> None:
    store = Store()
    root = EMPTY_ROOT
    state: dict[bytes, bytes] = {}
    history = [(root, dict(state))]
    for changes in batches:
        root = store.apply(root, changes)
        state = apply_to_dict(state, changes)
        assert root == reference_root(state)
        history.append((root, dict(state)))
    # The same end state in one batch from scratch, and key by key in a shuffled order.
    assert store.apply(EMPTY_ROOT, state) == root
    one_by_one = EMPTY_ROOT
    flat = list(state.items())
    rng.shuffle(flat)
    for key, value in flat:
        one_by_one = store.apply(one_by_one, {key: value})
    assert one_by_one == root
    # Every old root still reads its old values.
    for old_root, old_state in history:
        assert dict(store.tree.items(old_root)) == old_state
        for key in old_state:
            assert store.tree.get(old_root, key) == old_state[key]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, values, max_size=40), keys, values)
def test_proofs(state: dict[bytes, bytes], probe: bytes, wrong: bytes) -> None:
    store = Store()
    root = store.apply(EMPTY_ROOT, state)
    other_root = store.apply(root, {b"\xff" * 4: b"changed"})
    for key in [*state, probe]:
        value = state.get(key)
        proof = store.tree.prove(root, key)
        assert verify_proof(root, key, value, proof)
        assert Proof.from_bytes(proof.to_bytes()) == proof
        assert not verify_proof(other_root, key, value, proof)
        if value is None:
            assert not verify_proof(root, key, wrong, proof)
        else:
            assert not verify_proof(root, key, None, proof)
            if wrong != value:
                assert not verify_proof(root, key, wrong, proof)
