"""ERC-20 calldata mapped onto token methods, checked against eth-abi's own encoder and known selectors."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from node.types.erc20 import (
    BY_SELECTOR,
    TRANSFER_TOPIC,
    UnknownSelector,
    decode_calldata,
    encode_result,
    encode_revert,
    encode_transfer_log,
)
from vm.values import Address

A = bytes.fromhex("11" * 20)
B = bytes.fromhex("22" * 20)


def test_selectors_are_the_standard_ones() -> None:
    # The well-known ERC-20 selectors, as every wallet and explorer has them.
    known = {"a9059cbb": "transfer", "095ea7b3": "approve", "23b872dd": "transfer_from", "70a08231": "balance_of",
             "dd62ed3e": "allowance", "18160ddd": "total_supply", "313ce567": "decimals", "95d89b41": "symbol",
             "06fdde03": "name"}
    assert {s.hex(): f.method for s, f in BY_SELECTOR.items()} == known
    assert TRANSFER_TOPIC.hex() == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def test_transfer_and_transfer_from_map_to_token_methods() -> None:
    call = decode_calldata(bytes.fromhex("a9059cbb") + abi_encode(["address", "uint256"], ["0x" + B.hex(), 500]))
    assert call.function.method == "transfer" and call.args == [Address(B), 500]
    assert isinstance(call.args[0], Address)
    args = abi_encode(["address", "address", "uint256"], ["0x" + A.hex(), "0x" + B.hex(), 7])
    data = bytes.fromhex("23b872dd") + args
    call = decode_calldata(data)
    assert call.function.method == "transfer_from" and call.args == [Address(A), Address(B), 7]


def test_views_without_arguments() -> None:
    assert decode_calldata(bytes.fromhex("313ce567")).function.method == "decimals"
    assert abi_decode(["string"], encode_result(BY_SELECTOR[bytes.fromhex("95d89b41")], "TUSD")) == ("TUSD",)


@pytest.mark.parametrize("data", [
    b"",
    b"\xa9\x05\x9c",
    bytes.fromhex("deadbeef"),
    bytes.fromhex("a9059cbb") + b"\x00" * 63,  # short arguments
    bytes.fromhex("a9059cbb") + abi_encode(["address", "uint256"], ["0x" + B.hex(), 1]) + b"\x00",  # trailing
    bytes.fromhex("70a08231") + b"\xff" * 32,  # an address with its high bytes set
])
def test_bad_calldata_is_refused(data: bytes) -> None:
    with pytest.raises(UnknownSelector):
        decode_calldata(data)


def test_revert_data_and_logs_decode_as_ethereum_tools_read_them() -> None:
    revert = encode_revert("recipient not verified")
    assert revert[:4].hex() == "08c379a0" and abi_decode(["string"], revert[4:]) == ("recipient not verified",)
    topics, data = encode_transfer_log(A, B, 9)
    assert topics == [TRANSFER_TOPIC, b"\0" * 12 + A, b"\0" * 12 + B] and abi_decode(["uint256"], data) == (9,)
