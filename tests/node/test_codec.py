import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.state.accounts import Account
from node.types import codec
from node.types.block import Receipt
from node.types.codec import DecodeError

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=64) | st.text(max_size=32),
    lambda children: st.lists(children, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip_is_identity(value):
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize(
    "data, message",
    [
        (codec.encode([1, 2]) + b"\x00", "trailing"),
        (msgpack.packb(1.5), "float"),
        (msgpack.packb({"a": 1}), "maps"),
        (b"\xcd\x00\x01", "non-canonical"),  # 1 as uint16
        (b"\xd9\x01a", "non-canonical"),  # str8 of 1 byte
        (b"", "empty"),
        (b"\xc1", "not valid"),
        (msgpack.packb(msgpack.ExtType(1, b"x")), "extension"),
        (b"\x92\x01", "not valid"),  # truncated array
    ],
)
def test_strict_decoding_rejects(data, message):
    with pytest.raises(DecodeError, match=message):
        codec.decode(data)


def test_oversized_input_rejected():
    with pytest.raises(DecodeError, match="limit"):
        codec.decode(codec.encode(b"x" * 100), max_bytes=50)


def test_encode_refuses_floats_and_maps():
    with pytest.raises(TypeError):
        codec.encode([1.0])
    with pytest.raises(TypeError):
        codec.encode({"a": 1})


@given(st.integers(0, codec.UINT256_MAX))
def test_u256_round_trip(n):
    assert codec.bytes_to_u256(codec.u256_to_bytes(n), "x") == n


def test_u256_rejects_leading_zero_and_overflow():
    with pytest.raises(DecodeError):
        codec.bytes_to_u256(b"\x00\x01", "x")
    with pytest.raises(DecodeError):
        codec.bytes_to_u256(b"\x01" * 33, "x")
    with pytest.raises(ValueError):
        codec.u256_to_bytes(codec.UINT256_MAX + 1)


U256 = st.integers(0, codec.UINT256_MAX)
U64 = st.integers(0, 2**64 - 1)
HASH = st.binary(min_size=32, max_size=32)


@given(U256, U64, HASH, st.integers(0, 2), U64, U256, st.text(max_size=64), st.binary(max_size=64))
def test_records_encoded_unchecked_are_the_canonical_bytes(balance, nonce, tx_hash, status, gas, fee, error, output):
    # Accounts and event-free receipts skip codec.encode's walk on the hot path; the bytes, and
    # so the state root and the results root, must be the ones the walk would have produced.
    account = Account(balance, nonce)
    assert account.encode() == codec.encode([codec.u256_to_bytes(balance), nonce])
    assert Account.decode(account.encode()) == account
    receipt = Receipt(tx_hash, status, gas, fee, error, (), output)
    assert receipt.encode() == codec.encode(receipt.to_list())
    assert Receipt.from_list(codec.decode(receipt.encode())) == receipt
