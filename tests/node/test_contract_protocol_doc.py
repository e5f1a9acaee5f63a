"""The contract vectors of docs/protocol.md (4.6), rebuilt by the node and by an encoder written from the page."""

import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.client.sdk import build_call, build_deploy
from node.types.crypto import PrivateKey
from node.types.tx import decode_tx
from tests.doc_vectors import read_vectors
from vm import Address, contract_address
from vm.values import MAX_INT, decode_value, encode_value, to_checksum

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
VECTORS = {k: v for k, v in read_vectors(DOC).items() if k.startswith("contract.")}
KEY = PrivateKey(bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
SOURCE = "@public\ndef add(a: int, b: int) -> int:\n    return a + b\n"
TO = Address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
ARGS = [5, -1, 2**64, "hi", b"\x01\x02", TO, True, None, [1], {"k": 2}]


def test_every_contract_vector_is_checked():
    assert set(VECTORS) == {"contract.args", "contract.negative_big", "contract.deploy_raw", "contract.deploy_id",
                            "contract.address", "contract.call_raw", "contract.call_id"}


def test_vectors_from_the_node():
    assert encode_value(ARGS).hex() == VECTORS["contract.args"]
    assert encode_value(-(2**70)).hex() == VECTORS["contract.negative_big"]
    deploy = build_deploy(KEY, "finchain-devnet", 8, SOURCE, [], gas_limit=200_000, max_fee=10**9, priority_fee=0)
    assert deploy.raw.hex() == VECTORS["contract.deploy_raw"]
    assert deploy.hash.hex() == VECTORS["contract.deploy_id"]
    contract = contract_address(KEY.address, 8)
    assert to_checksum(contract) == VECTORS["contract.address"]
    call = build_call(KEY, "finchain-devnet", 9, contract, "add", [2, 3], gas_limit=100_000, max_fee=10**9,
                      priority_fee=0)
    assert call.raw.hex() == VECTORS["contract.call_raw"]
    assert call.hash.hex() == VECTORS["contract.call_id"]
    assert decode_tx(bytes.fromhex(VECTORS["contract.call_raw"])).sender == KEY.address


# -- an encoder written from the page's table alone ------------------------------------------


def p_len(n: int, small: int | None, codes: tuple[int, int, int]) -> bytes:
    if small is not None and n < 16 and small in (0x90, 0x80):
        return bytes([small | n])
    if small == 0xA0 and n < 32:
        return bytes([0xA0 | n])
    for code, size in zip(codes, (1, 2, 4), strict=True):
        if code is not None and n < 1 << (8 * size):
            return bytes([code]) + n.to_bytes(size, "big")
    raise ValueError(n)


def p_ext(kind: int, data: bytes) -> bytes:
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if len(data) in fixed:
        return bytes([fixed[len(data)], kind]) + data
    return bytes([0xC7, len(data), kind]) + data


def p_int(x: int) -> bytes:
    if 0 <= x < 2**64:
        if x < 0x80:
            return bytes([x])
        for code, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if x < 1 << (8 * size):
                return bytes([code]) + x.to_bytes(size, "big")
    if -(2**63) <= x < 0:
        if x >= -32:
            return (x & 0xFF).to_bytes(1, "big")
        for code, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if x >= -(1 << (8 * size - 1)):
                return bytes([code]) + x.to_bytes(size, "big", signed=True)
    mag = abs(x).to_bytes((abs(x).bit_length() + 7) // 8, "big")
    return p_ext(1, (b"\x01" if x < 0 else b"\x00") + mag)


def p_value(v) -> bytes:
    if v is None:
        return b"\xc0"
    if v is True or v is False:
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return p_int(v)
    if isinstance(v, str):
        raw = v.encode()
        return p_len(len(raw), 0xA0, (0xD9, 0xDA, 0xDB)) + raw
    if isinstance(v, Address):
        return b"\xc7\x14\x02" + bytes(v)
    if isinstance(v, bytes):
        return p_len(len(v), None, (0xC4, 0xC5, 0xC6)) + v
    if isinstance(v, list):
        return p_len(len(v), 0x90, (None, 0xDC, 0xDD)) + b"".join(p_value(x) for x in v)
    if isinstance(v, dict):
        return p_len(len(v), 0x80, (None, 0xDE, 0xDF)) + b"".join(p_value(k) + p_value(x) for k, x in v.items())
    raise TypeError(v)


def test_independent_encoder_matches_the_vectors():
    assert p_value(ARGS).hex() == VECTORS["contract.args"]
    assert p_value(-(2**70)).hex() == VECTORS["contract.negative_big"]
    digest = hashlib.sha256(b"\x0a" + KEY.address + (8).to_bytes(8, "big")).digest()
    assert to_checksum(Address(digest[-20:])) == VECTORS["contract.address"]


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-MAX_INT, MAX_INT), st.text(max_size=40), st.binary(max_size=300),
    st.binary(min_size=20, max_size=20).map(Address),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=20),
                            st.dictionaries(st.one_of(st.integers(-(2**61) + 2, 2**61 - 2), st.text(max_size=8)), inner,
                                            max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_independent_encoder_matches_the_node_and_round_trips(v):
    raw = encode_value(v)
    assert p_value(v) == raw
    back = decode_value(raw)
    assert back == v and encode_value(back) == raw
