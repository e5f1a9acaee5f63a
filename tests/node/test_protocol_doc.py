"""docs/protocol.md must not drift from the code.

Every `vector <name>: <value>` line in a fenced block of the page is recomputed here with the
real implementation, the annotated byte tables are reassembled, the error table is compared
with node/types/errors.py, and the JSON-RPC answers quoted on the page are replayed on a real chain.

`test_independent_*` re-implement the formats from the page alone (hand-built msgpack bytes,
hashlib, coincurve and pycryptodome's Keccak) and compare with the node's output: the page is
enough to write a wallet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

import coincurve
import pytest
from Crypto.Hash import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain import Chain, compute_validators_hash
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.mempool.pool import Mempool, MempoolConfig
from node.mempool.verifier import TxVerifier
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.state.execution import Account, account_key
from node.state.fees import FeeRecord, next_base_fee
from node.state.trie import EMPTY_ROOT, SparseMerkleTree
from node.storage.kv import LevelDBKV
from node.storage.schema import FEE_KEY
from node.storage.store import Store
from node.types import codec
from node.types.block import (
    PRECOMMIT,
    PREVOTE,
    Commit,
    CommitSig,
    Header,
    Receipt,
    merkle_root,
    proposal_sign_bytes,
    sign_vote,
    vote_sign_bytes,
)
from node.types.crypto import PrivateKey, parse_address, recover_address, to_checksum_address
from node.types.errors import TX_ERRORS
from node.types.genesis import genesis_from_json
from node.types.tx import Transfer, TxBody, decode_tx
from tests.doc_vectors import read_vectors

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

# The inputs of the worked example (docs/protocol.md section 5).
CHAIN_ID = "finchain-devnet"
NONCE = 7
GAS_LIMIT = 21_000
MAX_FEE = 2_000_000_000
PRIORITY_FEE = 1_000_000_000
BASE_FEE = 10**9  # the page's genesis `params.min_base_fee`: both blocks of 7.6 pay the floor
PAID_PRICE = min(MAX_FEE, BASE_FEE + PRIORITY_FEE)  # per gas, section 4.3
EXPIRY = 0
AMOUNT = 1_500_000_000_000_000_000
COIN = 10**18
VOTE_HASH = b"\xab" * 32
VALIDATOR_KEY = PrivateKey((2).to_bytes(32, "big"))

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# -- reading the page --------------------------------------------------------------------


def _fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(offset of the opening fence, info string, body) of each fenced block."""
    return [(m.start(), m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


VECTORS = read_vectors(DOC)


def vb(name: str) -> bytes:
    return bytes.fromhex(VECTORS[name])


def _table(marker: str) -> list[list[str]]:
    """The body rows of the markdown table that follows `<!-- table marker -->`."""
    start = DOC.index(f"<!-- table {marker} -->")
    rows = []
    for line in DOC[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert len(rows) > 2, f"table {marker} not found"
    return rows[2:]  # skip the heading and the |---| line


def _example_body() -> TxBody:
    to = parse_address(VECTORS["to.address_eip55"])
    return TxBody(CHAIN_ID, NONCE, GAS_LIMIT, MAX_FEE, PRIORITY_FEE, EXPIRY, Transfer(to, AMOUNT))


def _key() -> PrivateKey:
    return PrivateKey(vb("key.private"))


CHECKED: set[str] = set()


def check(name: str, actual: bytes | str) -> None:
    expected = VECTORS[name]
    got = actual.hex() if isinstance(actual, bytes) else actual
    assert got == expected, f"vector {name}: the page says {expected}, the code gives {got}"
    CHECKED.add(name)


# -- vectors against the real code ---------------------------------------------------------


def test_keys_and_addresses():
    key = _key()
    check("key.public_compressed", key.public_key)
    check("key.public_uncompressed", coincurve.PrivateKey(key.secret).public_key.format(compressed=False))
    check("key.address", key.address)
    check("key.address_eip55", to_checksum_address(key.address))
    to = parse_address(VECTORS["to.address_eip55"])
    check("to.address", to)
    check("to.address_eip55", to_checksum_address(to))


def test_transaction_vectors():
    body = _example_body()
    tx = body.sign(_key())
    check("tx.body", body.encode())
    check("tx.signing_hash", body.signing_hash())
    check("tx.signature", tx.signature)
    check("tx.signature_r", tx.signature[:32])
    check("tx.signature_s", tx.signature[32:64])
    check("tx.signature_v", tx.signature[64:])
    check("tx.raw", tx.raw)
    check("tx.id", tx.hash)
    decoded = decode_tx(vb("tx.raw"))
    assert decoded.body == body
    assert decoded.sender == _key().address
    assert decoded.hash == vb("tx.id")


@pytest.mark.parametrize(("marker", "vector"), [("tx.body", "tx.body"), ("tx.raw", "tx.raw")])
def test_annotated_byte_tables(marker, vector):
    """The Bytes column, read top to bottom, is the vector; the Offset column adds up."""
    offset = 0
    out = b""
    for row in _table(marker):
        assert int(row[0]) == offset, f"table {marker}: row {row} should start at offset {offset}"
        chunk = bytes.fromhex(row[1].strip("`"))
        out += chunk
        offset += len(chunk)
    assert out == vb(vector)


def test_vote_and_proposal_vectors():
    check("vote.encoding", codec.encode([CHAIN_ID, PRECOMMIT, 5, 0, VOTE_HASH]))
    digest = vote_sign_bytes(CHAIN_ID, PRECOMMIT, 5, 0, VOTE_HASH)
    check("vote.digest", digest)
    assert hashlib.sha256(b"\x03" + vb("vote.encoding")).digest() == digest
    sig = sign_vote(_key(), CHAIN_ID, PRECOMMIT, 5, 0, VOTE_HASH)
    check("vote.signature", sig)
    assert recover_address(digest, sig) == _key().address
    check("vote.nil_prevote_digest", vote_sign_bytes(CHAIN_ID, PREVOTE, 5, 0, None))
    assert hashlib.sha256(b"\x03" + codec.encode([CHAIN_ID, 1, 5, 0, b""])).digest() == vb("vote.nil_prevote_digest")
    check("proposal.encoding", codec.encode([CHAIN_ID, 5, 0, VOTE_HASH, -1]))
    check("proposal.digest", proposal_sign_bytes(CHAIN_ID, 5, 0, VOTE_HASH, -1))


def _receipt() -> Receipt:
    return Receipt(vb("tx.id"), 1, 21_000, 21_000 * PAID_PRICE, "")


def test_receipt_and_merkle_vectors():
    check("receipt.encoding", _receipt().encode())
    check("receipt.hash", _receipt().hash())
    check("merkle.empty", merkle_root([]))
    check("merkle.one_tx", merkle_root([vb("tx.id")]))
    check("merkle.three", merkle_root([bytes([i]) * 32 for i in range(3)]))
    check("block2.results_root", merkle_root([vb("receipt.hash")]))


def test_state_vectors():
    key = _key()
    to = vb("to.address")
    genesis_value = Account(100 * COIN, 0).encode()
    check("state.genesis_key", account_key(key.address))
    check("state.genesis_value", genesis_value)
    check("state.genesis_path", hashlib.sha256(account_key(key.address)).digest())
    check("state.genesis_value_hash", hashlib.sha256(genesis_value).digest())
    tree = SparseMerkleTree({})
    root, _ = tree.update(EMPTY_ROOT, {account_key(key.address): genesis_value})
    check("state.genesis_root", root)

    sender = Account(100 * COIN - 8 * COIN - COIN // 2 - 8 * 21_000 * PAID_PRICE, 8).encode()
    recipient = Account(8 * COIN + COIN // 2, 0).encode()
    check("state.sender_value", sender)
    check("state.recipient_key", account_key(to))
    check("state.recipient_value", recipient)
    check("state.recipient_path", hashlib.sha256(account_key(to)).digest())
    check("state.sender_leaf", _leaf(account_key(key.address), sender))
    check("state.recipient_leaf", _leaf(account_key(to), recipient))
    proposer = Account(8 * 21_000 * (PAID_PRICE - BASE_FEE), 0).encode()
    fees = FeeRecord(BASE_FEE, 21_000, 8 * 21_000 * BASE_FEE).encode()
    check("state.proposer_value", proposer)
    check("state.fee_key", FEE_KEY)
    check("state.fee_value", fees)
    pairs = {account_key(key.address): sender, account_key(to): recipient,
             account_key(VALIDATOR_KEY.address): proposer, FEE_KEY: fees}
    root, _ = tree.update(EMPTY_ROOT, pairs)
    check("state.block2_root", root)


def _genesis_json() -> dict[str, Any]:
    start = DOC.index("<!-- genesis.json example")
    for offset, info, body in _fenced_blocks(DOC):
        if offset > start and info == "json":
            return json.loads(body)
    raise AssertionError("genesis.json example not found")


def test_genesis_vectors():
    genesis = genesis_from_json(_genesis_json())
    assert genesis.validators[0].address == VALIDATOR_KEY.address
    assert genesis.validators[0].pub_key == VALIDATOR_KEY.public_key
    assert genesis.to_json() == _genesis_json()
    check("genesis.hash", genesis.hash())
    check("genesis.validators_hash", compute_validators_hash(genesis))


def _precommit(height: int, block_hash: bytes) -> Commit:
    sig = sign_vote(VALIDATOR_KEY, CHAIN_ID, PRECOMMIT, height, 0, block_hash)
    return Commit(height, 0, block_hash, (CommitSig(VALIDATOR_KEY.address, sig),))


def test_block_scenario_and_rpc_answers(tmp_path):
    """Section 7.6 and the JSON-RPC answers of section 6, replayed on a real chain."""
    genesis = genesis_from_json(_genesis_json())
    params = genesis.params
    verifier = TxVerifier(params.max_tx_bytes)
    chain = Chain(Store(LevelDBKV(tmp_path / "db")), genesis, verifier.decode)
    mempool = Mempool(MempoolConfig(), chain.next_view(),
                      chain, verifier, lambda: 0.0)
    assert chain.state_root == vb("state.genesis_root")
    assert chain.genesis_hash == vb("genesis.hash")
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))
    key = _key()
    to = vb("to.address")
    sender = to_checksum_address(key.address)

    def call(method: str, *params: Any) -> str:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = asyncio.run(registry.handle(request))
        assert answer is not None
        text = answer.decode()
        assert f"<-- {text}\n" in DOC, f"the page does not quote this answer of {method}:\n{text}"
        return text

    def commit_block(height: int, txs: list, last_commit: Commit | None, time_ms: int) -> tuple[bytes, Commit]:
        executed = chain.build_block(VALIDATOR_KEY.address, txs, last_commit, time_ms)
        assert len(executed.txs) == len(txs)
        commit = _precommit(height, executed.hash)
        chain.commit_block(executed, commit)
        mempool.update(chain.next_view(), executed.txs)
        return executed.hash, commit

    first = [TxBody(CHAIN_ID, n, GAS_LIMIT, MAX_FEE, PRIORITY_FEE, 0, Transfer(to, COIN)).sign(key) for n in range(7)]
    block1_hash, commit1 = commit_block(1, first, None, 1_700_000_001_000)
    check("block1.hash", block1_hash)
    check("block1.commit", commit1.encode())
    check("block1.commit_hash", commit1.hash())

    tx = _example_body().sign(key)
    call("account_get", sender)
    assert json.loads(call("tx_send", "0x" + vb("tx.raw").hex()))["result"] == "0x" + VECTORS["tx.id"]
    call("tx_send", "0x" + vb("tx.raw").hex())  # already_known
    call("tx_get", "0x" + VECTORS["tx.id"])  # pending
    stale = TxBody(CHAIN_ID, 3, GAS_LIMIT, MAX_FEE, PRIORITY_FEE, 0, Transfer(to, 1)).sign(key)
    call("tx_send", "0x" + stale.raw.hex())  # nonce_too_low
    call("tx_send", "0x1234")  # malformed

    block2_hash, _ = commit_block(2, [tx], commit1, 1_700_000_002_000)
    check("block2.hash", block2_hash)
    header = chain.store.get_block(2).header
    check("block2.header", codec.encode(header.to_list()))
    call("tx_get", "0x" + VECTORS["tx.id"])  # committed
    call("account_get", sender)
    call("chain_getBlock", 2)
    call("chain_getBlockSummaries", 2, 2, 1)  # section 6.9
    call("chain_feeInfo")


def test_base_fee_vectors():
    def after(base: int, used: int) -> int:
        return next_base_fee(base, used, 420_000_000, 10**9)

    check("fee.next_full", str(after(10**9, 420_000_000)))
    check("fee.next_empty", str(after(10**9, 0)))
    check("fee.next_at_target", str(after(10**9, 210_000_000)))
    check("fee.next_three_quarters", str(after(10**9, 315_000_000)))
    check("fee.from_2e9_empty", str(after(2 * 10**9, 0)))
    check("fee.from_2e9_quarter", str(after(2 * 10**9, 105_000_000)))
    base, blocks = 10**9, 0
    while base <= 2 * 10**9:
        base, blocks = after(base, 420_000_000), blocks + 1
    check("fee.full_blocks_to_double", str(blocks))


def test_block2_header_fields_from_the_page():
    """The header vector is consistent with the other vectors, as section 7.6 reads it."""
    header = Header.from_list(codec.decode(vb("block2.header")))
    assert header.hash() == vb("block2.hash")
    assert hashlib.sha256(b"\x02" + vb("block2.header")).digest() == vb("block2.hash")
    assert (header.chain_id, header.height, header.time_ms) == (CHAIN_ID, 2, 1_700_000_002_000)
    assert header.prev_hash == vb("block1.hash")
    assert header.tx_root == vb("merkle.one_tx")
    assert header.results_root == vb("block2.results_root")
    assert header.state_root == vb("state.block2_root")
    assert header.validators_hash == vb("genesis.validators_hash")
    assert header.proposer == VALIDATOR_KEY.address
    assert header.last_commit_hash == vb("block1.commit_hash")
    assert header.evidence_root == vb("merkle.empty")
    commit = Commit.from_list(codec.decode(vb("block1.commit")))
    digest = vote_sign_bytes(CHAIN_ID, PRECOMMIT, 1, 0, vb("block1.hash"))
    assert recover_address(digest, commit.signatures[0].signature) == commit.signatures[0].validator


def test_error_table_matches_the_code():
    rows = {(int(row[0]), row[1].strip("`")) for row in _table("tx-errors")}
    assert rows == {(e.code, e.reason) for e in TX_ERRORS}


def test_every_vector_is_checked():
    """A vector added to the page must also be checked by a test here."""
    for test in (test_keys_and_addresses, test_transaction_vectors, test_vote_and_proposal_vectors,
                 test_receipt_and_merkle_vectors, test_state_vectors, test_genesis_vectors,
                 test_block2_header_fields_from_the_page):
        test()
    scenario = {"block1.hash", "block1.commit", "block1.commit_hash", "block2.hash", "block2.header"}
    # The contract.* vectors are checked in tests/node/test_contract_protocol_doc.py, the eth.* ones in
    # tests/node/test_eth_protocol_doc.py.
    unchecked = {v for v in set(VECTORS) - CHECKED - scenario - {"key.private"}
                 if not v.startswith(("contract.", "eth."))}
    assert not unchecked, f"vectors on the page that no test checks: {sorted(unchecked)}"


# -- an independent implementation, from the page alone -------------------------------------


def m_uint(n: int) -> bytes:
    """msgpack non-negative integer, shortest form (section 1.1)."""
    if n < 0x80:
        return bytes([n])
    for prefix, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if n < 1 << (8 * size):
            return bytes([prefix]) + n.to_bytes(size, "big")
    raise ValueError("above 2^64-1")


def m_len(n: int, fix_base: int | None, fix_max: int, forms: tuple[tuple[int, int], ...]) -> bytes:
    if fix_base is not None and n <= fix_max:
        return bytes([fix_base | n])
    for prefix, size in forms:
        if n < 1 << (8 * size):
            return bytes([prefix]) + n.to_bytes(size, "big")
    raise ValueError("too long")


def m_bin(b: bytes) -> bytes:
    return m_len(len(b), None, 0, ((0xC4, 1), (0xC5, 2), (0xC6, 4))) + b


def m_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return m_len(len(raw), 0xA0, 31, ((0xD9, 1), (0xDA, 2), (0xDB, 4))) + raw


def m_array(items: list[bytes]) -> bytes:
    return m_len(len(items), 0x90, 15, ((0xDC, 2), (0xDD, 4))) + b"".join(items)


def u256(n: int) -> bytes:
    """Minimal big-endian bytes; zero is empty (section 1.2)."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def indep_body(chain_id: str, nonce: int, gas_limit: int, max_fee: int, priority_fee: int, expiry: int, to: bytes,
               amount: int) -> bytes:
    payload = m_array([m_uint(1), m_bin(to), m_bin(u256(amount))])
    return m_array([m_str(chain_id), m_uint(nonce), m_uint(gas_limit), m_bin(u256(max_fee)), m_bin(u256(priority_fee)),
                    m_uint(expiry),
                    payload])


def indep_sign(secret: bytes, digest: bytes) -> bytes:
    """r || s || v with low-S, from a raw libsecp256k1 recoverable signature."""
    sig = coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    if s > N // 2:
        s, v = N - s, v ^ 1
    return r + s.to_bytes(32, "big") + bytes([v])


def indep_keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def indep_address(secret: bytes) -> bytes:
    return indep_keccak(coincurve.PrivateKey(secret).public_key.format(compressed=False)[1:])[12:]


def indep_eip55(address: bytes) -> str:
    lower = address.hex()
    h = indep_keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(lower))


def indep_signed_tx(secret: bytes, body: bytes) -> tuple[bytes, bytes, bytes]:
    """(signature, raw, id) per section 4.2."""
    signature = indep_sign(secret, hashlib.sha256(b"\x01" + body).digest())
    raw = m_array([body, m_bin(signature)])
    assert raw == b"\x92" + body + b"\xc4\x41" + signature
    return signature, raw, hashlib.sha256(b"\x09" + raw).digest()


def test_independent_worked_example():
    secret = vb("key.private")
    to = vb("to.address")
    assert indep_address(secret) == vb("key.address")
    assert indep_eip55(indep_address(secret)) == VECTORS["key.address_eip55"]
    assert indep_eip55(to) == VECTORS["to.address_eip55"]
    body = indep_body(CHAIN_ID, NONCE, GAS_LIMIT, MAX_FEE, PRIORITY_FEE, EXPIRY, to, AMOUNT)
    assert body == vb("tx.body") == _example_body().encode()
    signature, raw, tx_id = indep_signed_tx(secret, body)
    assert signature == vb("tx.signature")
    assert raw == vb("tx.raw")
    assert tx_id == vb("tx.id")
    # Recovery, as a verifier does it (section 3.2).
    digest = hashlib.sha256(b"\x01" + body).digest()
    recovered = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert indep_keccak(recovered.format(compressed=False)[1:])[12:] == vb("key.address")


@settings(max_examples=150, deadline=None)
@given(
    chain_id=st.text(max_size=40).filter(lambda s: len(s.encode("utf-8")) <= 64),
    nonce=st.integers(0, 2**64 - 1),
    gas_limit=st.integers(0, 2**64 - 1),
    max_fee=st.integers(0, 2**256 - 1),
    priority_fee=st.integers(0, 2**256 - 1),
    expiry=st.integers(0, 2**64 - 1),
    to=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**256 - 1),
    secret=st.integers(1, N - 1),
)
def test_independent_encoder_matches_node(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry, to, amount,
                                          secret):
    body = TxBody(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry, Transfer(to, amount))
    key = PrivateKey(secret.to_bytes(32, "big"))
    tx = body.sign(key)
    mine = indep_body(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry, to, amount)
    assert mine == body.encode()
    signature, raw, tx_id = indep_signed_tx(key.secret, mine)
    assert (signature, raw, tx_id) == (tx.signature, tx.raw, tx.hash)
    back = decode_tx(raw)
    assert back.sender == indep_address(key.secret)
    assert indep_eip55(back.sender) == to_checksum_address(back.sender)


@pytest.mark.parametrize(
    "value", [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]
)
def test_independent_uint_boundaries(value):
    assert m_uint(value) == codec.encode(value)


@pytest.mark.parametrize("size", [0, 31, 32, 255, 256, 65535, 65536])
def test_independent_length_boundaries(size):
    assert m_str("x" * size) == codec.encode("x" * size)
    assert m_bin(b"x" * size) == codec.encode(b"x" * size)
    if size <= 65536:
        assert m_array([m_uint(0)] * size) == codec.encode([0] * size)


def rfc6962(leaves: list[bytes]) -> bytes:
    """Merkle Tree Hash, recursive as RFC 6962 section 2.1 states it (section 7.4)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc6962(leaves[:k]) + rfc6962(leaves[k:])).digest()


def test_independent_merkle_root():
    assert rfc6962([]) == vb("merkle.empty")
    assert rfc6962([vb("tx.id")]) == vb("merkle.one_tx")
    assert rfc6962([bytes([i]) * 32 for i in range(3)]) == vb("merkle.three")
    rng = random.Random(6962)
    for n in range(40):
        leaves = [rng.randbytes(32) for _ in range(n)]
        assert rfc6962(leaves) == merkle_root(leaves)


def _leaf(key: bytes, value: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + hashlib.sha256(key).digest() + hashlib.sha256(value).digest()).digest()


def indep_state_root(pairs: dict[bytes, bytes]) -> bytes:
    """H(S, d) of section 8.2, from scratch."""
    items = [(int.from_bytes(hashlib.sha256(k).digest(), "big"), k, v) for k, v in pairs.items()]

    def h(subset: list[tuple[int, bytes, bytes]], depth: int) -> bytes:
        if not subset:
            return bytes(32)
        if len(subset) == 1:
            return _leaf(subset[0][1], subset[0][2])
        left = [p for p in subset if not (p[0] >> (255 - depth)) & 1]
        right = [p for p in subset if (p[0] >> (255 - depth)) & 1]
        return hashlib.sha256(b"\x01" + h(left, depth + 1) + h(right, depth + 1)).digest()

    return h(items, 0)


def test_independent_state_root():
    key, to = vb("key.address"), vb("to.address")
    genesis = {b"a" + key: m_array([m_bin(u256(100 * COIN)), m_uint(0)])}
    assert genesis[b"a" + key] == vb("state.genesis_value")
    assert indep_state_root(genesis) == vb("state.genesis_root")
    after = {b"a" + key: vb("state.sender_value"), b"a" + to: vb("state.recipient_value"),
             b"a" + VALIDATOR_KEY.address: vb("state.proposer_value"), vb("state.fee_key"): vb("state.fee_value")}
    assert indep_state_root(after) == vb("state.block2_root")
    rng = random.Random(8)
    tree = SparseMerkleTree({})
    for n in (0, 1, 2, 3, 17, 100):
        state = {b"a" + rng.randbytes(20): Account(rng.randrange(2**80), rng.randrange(50)).encode()
                 for _ in range(n)}
        root, _ = tree.update(EMPTY_ROOT, state)
        assert indep_state_root(state) == root
