"""The Ethereum envelope against eth-account: decode what it signs, recover its sender, refuse bad input."""

from __future__ import annotations

import pytest
import rlp
from eth_account import Account

from node.types.crypto import SECP256K1_N, PrivateKey, keccak256, to_checksum_address
from node.types.errors import BadSignature, MalformedTransaction, TooLarge, WrongChain
from node.types.eth_tx import TYPE_EIP1559, UnsupportedEnvelope, _unsigned_list, decode_eth_tx

CHAIN = 31_337_001
KEY = "0x" + "11" * 32
TO = to_checksum_address(bytes.fromhex("ab" * 20))


def sign(tx: dict) -> bytes:
    return bytes(Account.sign_transaction(tx, KEY).raw_transaction)


def legacy(**over) -> dict:
    return {"chainId": CHAIN, "nonce": 3, "gasPrice": 7, "gas": 21_000, "to": TO, "value": 5, "data": b"", **over}


def eip1559(**over) -> dict:
    return {"type": 2, "chainId": CHAIN, "nonce": 4, "maxFeePerGas": 9, "maxPriorityFeePerGas": 2,
            "gas": 30_000, "to": TO, "value": 6, "data": b"", **over}


def test_legacy_decodes_and_recovers_the_signer() -> None:
    raw = sign(legacy())
    tx = decode_eth_tx(raw, CHAIN)
    assert tx.tx_type == 0 and tx.chain_id == CHAIN and tx.nonce == 3 and tx.gas_limit == 21_000
    assert tx.max_fee_per_gas == tx.max_priority_fee_per_gas == 7
    assert tx.to == bytes.fromhex("ab" * 20) and tx.value == 5 and tx.data == b""
    assert tx.sender == PrivateKey.from_hex(KEY[2:]).address
    assert tx.sender.hex() == Account.from_key(KEY).address[2:].lower()
    assert tx.hash == keccak256(raw) == bytes(Account.sign_transaction(legacy(), KEY).hash)


def test_eip1559_decodes_and_recovers_the_signer() -> None:
    raw = sign(eip1559(data=b"\x01\x02"))
    tx = decode_eth_tx(raw, CHAIN)
    assert tx.tx_type == TYPE_EIP1559 and tx.nonce == 4 and tx.gas_limit == 30_000
    assert (tx.max_fee_per_gas, tx.max_priority_fee_per_gas, tx.value, tx.data) == (9, 2, 6, b"\x01\x02")
    assert tx.sender.hex() == Account.from_key(KEY).address[2:].lower()
    assert tx.hash == bytes(Account.sign_transaction(eip1559(data=b"\x01\x02"), KEY).hash)


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_another_chain_id_is_refused(make) -> None:
    with pytest.raises(WrongChain):
        decode_eth_tx(sign(make(chainId=CHAIN + 1)), CHAIN)


def test_pre_eip155_signature_is_refused() -> None:
    fields = rlp.decode(sign(legacy()))
    fields[6] = b"\x1b"  # v = 27: no chain id in the signature
    with pytest.raises(BadSignature):
        decode_eth_tx(rlp.encode(fields), CHAIN)


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_high_s_is_refused(make) -> None:
    raw = sign(make())
    typed = raw[0] == TYPE_EIP1559
    fields = rlp.decode(raw[1:] if typed else raw)
    s = int.from_bytes(fields[-1], "big")
    fields[-1] = (SECP256K1_N - s).to_bytes(32, "big")
    flipped = rlp.encode(fields)
    with pytest.raises(BadSignature):
        decode_eth_tx(bytes([TYPE_EIP1559]) + flipped if typed else flipped, CHAIN)


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_trailing_bytes_and_truncation_are_refused(make) -> None:
    raw = sign(make())
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(raw + b"\x00", CHAIN)
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(raw[:-1], CHAIN)


def test_malformed_rlp_and_non_canonical_integers_are_refused() -> None:
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(b"\xc5\x01", CHAIN)
    fields = rlp.decode(sign(legacy()))
    fields[0] = b"\x00\x03"  # nonce with a leading zero byte
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(rlp.encode(fields), CHAIN)
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(b"", CHAIN)


def test_type_1_and_type_3_are_refused() -> None:
    type1 = {"type": 1, "chainId": CHAIN, "nonce": 0, "gasPrice": 7, "gas": 21_000, "to": TO, "value": 1,
             "data": b"", "accessList": []}
    with pytest.raises(UnsupportedEnvelope):
        decode_eth_tx(sign(type1), CHAIN)
    with pytest.raises(UnsupportedEnvelope):
        decode_eth_tx(b"\x03" + rlp.encode([]), CHAIN)


def test_contract_creation_and_access_lists_are_refused() -> None:
    with pytest.raises(UnsupportedEnvelope):
        decode_eth_tx(sign(legacy(to=b"", data=b"\x60\x00")), CHAIN)
    access = [{"address": TO, "storageKeys": ["0x" + "00" * 32]}]
    with pytest.raises(UnsupportedEnvelope):
        decode_eth_tx(sign(eip1559(accessList=access)), CHAIN)


def test_a_tampered_body_recovers_another_sender_or_fails() -> None:
    fields = rlp.decode(sign(legacy()))
    fields[4] = b"\x63"  # value 99 instead of 5
    try:
        tx = decode_eth_tx(rlp.encode(fields), CHAIN)
    except BadSignature:
        return
    assert tx.sender.hex() != Account.from_key(KEY).address[2:].lower()


def test_oversized_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge):
        decode_eth_tx(sign(legacy(data=b"\x01" * 2000)), CHAIN, max_bytes=1000)


@pytest.mark.parametrize("fields", [
    {},  # a short list: one header byte
    {"data": b"\x01" * 40, "value": 10**30, "nonce": 0},  # 0xf8: one length byte
    {"data": b"\x02" * 300, "maxFeePerGas": 2**200, "maxPriorityFeePerGas": 127, "nonce": 128},  # 0xf9: two
])
def test_eip1559_signing_payload_cut_from_the_raw_bytes_is_the_encoded_one(fields) -> None:
    raw = sign(eip1559(**fields))
    tx = decode_eth_tx(raw, CHAIN)
    assert tx.sender == PrivateKey.from_hex(KEY[2:]).address
    cut = _unsigned_list(raw[1:], (tx.y_parity, tx.r, tx.s))
    assert cut == rlp.encode([CHAIN, tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas, tx.gas_limit, tx.to,
                              tx.value, tx.data, []])


def test_a_list_in_a_value_field_is_malformed_not_a_type_error() -> None:
    # Found by tests/fuzz: rlp's integer sedes raised TypeError on a nested list (an internal error at the RPC).
    fields = rlp.decode(sign(legacy()))
    fields[0] = [b"\x01"]
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(rlp.encode(fields), CHAIN)
    fields = rlp.decode(sign(eip1559())[1:])
    fields[8] = b"\x01"  # the access list as a value
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(b"\x02" + rlp.encode(fields), CHAIN)


@pytest.mark.parametrize("over", [{"nonce": 2**64}, {"gas": 2**64}, {"value": 2**256}, {"gasPrice": 2**256}])
def test_fields_beyond_the_native_bounds_are_malformed(over) -> None:
    # Found by tests/fuzz: a nonce above 2^64 was accepted, and the mapped transaction could not be encoded.
    fields = rlp.decode(sign(legacy()))
    index = {"nonce": 0, "gasPrice": 1, "gas": 2, "value": 4}[next(iter(over))]
    fields[index] = rlp.sedes.big_endian_int.serialize(next(iter(over.values())))
    with pytest.raises((MalformedTransaction, BadSignature)) as info:
        decode_eth_tx(rlp.encode(fields), CHAIN)
    assert info.type is MalformedTransaction  # refused on the bound, before the signature is even checked


def test_eip1559_fee_caps_beyond_2_256_are_malformed() -> None:
    fields = rlp.decode(sign(eip1559())[1:])
    fields[3] = rlp.sedes.big_endian_int.serialize(2**256)  # max fee per gas
    with pytest.raises(MalformedTransaction):
        decode_eth_tx(b"\x02" + rlp.encode(fields), CHAIN)
