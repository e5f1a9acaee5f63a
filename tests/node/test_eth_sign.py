"""The SDK's Ethereum signer against eth-account and the node's own decoder."""

from __future__ import annotations

from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from node.client.eth_sign import build_eth_tx, erc20_transfer_data
from node.types.crypto import PrivateKey
from node.types.erc20 import decode_calldata
from node.types.eth_tx import decode_eth_tx

CHAIN = 6711662


@given(st.integers(1, 2**64), st.integers(0, 2**32), st.integers(0, 2**96), st.binary(max_size=80),
       st.integers(21_000, 10**7), st.integers(1, 10**12), st.integers(0, 10**11))
def test_a_type_2_transaction_as_eth_account_signs_it(secret: int, nonce: int, value: int, data: bytes, gas: int,
                                                      max_fee: int, tip: int) -> None:
    key = PrivateKey(secret.to_bytes(32, "big"))
    to = bytes(range(20))
    tip = min(tip, max_fee)
    raw = build_eth_tx(key, CHAIN, nonce, to, value, data, gas=gas, max_fee=max_fee, priority_fee=tip)
    theirs = Account.sign_transaction({"type": 2, "chainId": CHAIN, "nonce": nonce, "to": "0x" + to.hex(),
                                       "value": value, "data": data, "gas": gas, "maxFeePerGas": max_fee,
                                       "maxPriorityFeePerGas": tip, "accessList": []}, key.secret)
    assert raw == bytes(theirs.raw_transaction)
    tx = decode_eth_tx(raw, CHAIN)
    assert (tx.nonce, tx.value, tx.data, tx.gas_limit) == (nonce, value, data, gas)
    assert tx.sender == key.address


def test_erc20_transfer_calldata_decodes_as_the_token_face_reads_it() -> None:
    to = bytes(range(20))
    call = decode_calldata(erc20_transfer_data(to, 12345))
    assert call.function.method == "transfer" and list(call.args) == [to, 12345]
