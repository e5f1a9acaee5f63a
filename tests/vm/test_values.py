"""Contract values: the storage-key fast path, JSON conversion, external input checks."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm import AbiError, Address, Fault
from vm.values import MAX_INT, decode_external, encode_value, from_json, storage_key, to_json

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=300), st.binary(max_size=300),
    st.binary(min_size=20, max_size=20).map(Address),
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(scalars, st.lists(scalars, min_size=1, max_size=8)))
def test_storage_keys_are_the_canonical_encoding(key):
    canonical = encode_value(key)
    if len(canonical) > 256:
        with pytest.raises(Fault, match="over 256 bytes"):
            storage_key(key)
    else:
        assert storage_key(key) == canonical


def test_storage_keys_refuse_containers_and_long_lists():
    for bad in ([], [[1]], [{}], list(range(9)), {"a": 1}):
        with pytest.raises(Fault, match="a storage key is"):
            storage_key(bad)


def test_json_round_trip_by_declared_type():
    a = Address(bytes.fromhex("52908400098527886e0f7030069857d2e4169ee7"))
    assert to_json([5, -1, True, None, "x", b"\x01", a, {"k": [2**200]}]) == [
        "5", "-1", True, None, "x", "0x01", "0x52908400098527886E0F7030069857D2E4169EE7", {"k": [str(2**200)]}]
    assert from_json("int", "123") == 123 and from_json("int", 7) == 7
    assert from_json(("list", "address"), ["0x52908400098527886E0F7030069857D2E4169EE7"]) == [a]
    assert from_json(("dict", "str", "int"), {"a": "1"}) == {"a": 1}
    for abi, bad, message in [
        ("int", "1.5", "not a decimal integer"), ("int", True, "expected an integer"),
        ("int", str(MAX_INT + 1), "out of range"),
        ("address", "0x52908400098527886e0F7030069857D2E4169EE7", "bad checksum"), ("bytes", "zz", "0x hex"),
        ("bool", 1, "true or false"), (("list", "int"), {}, "expected a list"),
        ("str", "a\ud800", "lone surrogate"), ("list", ["ok", ["\udfff"]], "lone surrogate"),
        ("dict", {"\ud800": 1}, "lone surrogate"),
    ]:
        with pytest.raises(AbiError, match=message):
            from_json(abi, bad)


def test_external_input_is_checked_before_a_dict_is_built():
    with pytest.raises(ValueError, match="61 bits"):
        decode_external(bytes.fromhex("81cf3fffffffffffffff01"))  # {2**62 - 1: 1}
    assert decode_external(bytes.fromhex("81cf1ffffffffffffffe01")) == {2**61 - 2: 1}
    with pytest.raises(ValueError, match="float"):
        decode_external(bytes.fromhex("91cb3ff8000000000000"))
