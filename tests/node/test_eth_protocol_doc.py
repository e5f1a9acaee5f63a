"""docs/protocol.md section 4.8, the Ethereum envelope: every eth.* vector against eth-account and the node.

The page's vectors are signed again by eth-account (an independent implementation of Ethereum's
rules), decoded by the node's envelope decoder, and its byte table is read back into the raw bytes.
"""

from __future__ import annotations

from pathlib import Path

import rlp
from eth_abi import encode as abi_encode
from eth_account import Account

from node.types.crypto import keccak256, to_checksum_address
from node.types.envelopes import TxDecoder, tx_id
from node.types.tx import Call, Transfer
from tests.doc_vectors import read_vectors
from tests.node.test_protocol_doc import _table

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
VECTORS = read_vectors(DOC)
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SENDER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
TO = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
CHAIN = 0x66696E
DECODE = TxDecoder(128 * 1024, "finchain-devnet", CHAIN)
CHECKED: set[str] = set()


def check(name: str, actual: bytes) -> None:
    assert actual.hex() == VECTORS[name], f"vector {name}: the page says {VECTORS[name]}, the code gives {actual.hex()}"
    CHECKED.add(name)


def _signed(tx: dict) -> bytes:
    return bytes(Account.sign_transaction(tx, KEY).raw_transaction)


def test_legacy_vectors() -> None:
    unsigned = rlp.encode([7, 2 * 10**9, 21_000, bytes.fromhex(TO[2:]), 15 * 10**17, b"", CHAIN, 0, 0])
    check("eth.legacy.unsigned", unsigned)
    check("eth.legacy.signing_hash", keccak256(unsigned))
    raw = _signed({"chainId": CHAIN, "nonce": 7, "gasPrice": 2 * 10**9, "gas": 21_000, "to": TO,
                   "value": 15 * 10**17, "data": b""})
    check("eth.legacy.raw", raw)
    check("eth.legacy.id", tx_id(raw))
    tx = DECODE(raw)
    assert to_checksum_address(tx.sender) == SENDER and tx.hash == keccak256(raw)
    assert tx.body.payload == Transfer(bytes.fromhex(TO[2:]), 15 * 10**17)
    assert (tx.body.nonce, tx.body.max_fee_per_gas, tx.body.max_priority_fee_per_gas) == (7, 2 * 10**9, 2 * 10**9)


def test_legacy_byte_table_reads_back_into_the_raw_vector() -> None:
    offset, out = 0, b""
    for row in _table("eth.legacy.raw"):
        assert int(row[0]) == offset, f"row {row} should start at offset {offset}"
        chunk = bytes.fromhex(row[1].strip("`"))
        out, offset = out + chunk, offset + len(chunk)
    assert out.hex() == VECTORS["eth.legacy.raw"]


def test_eip1559_vectors() -> None:
    fields = [CHAIN, 8, 10**9, 2 * 10**9, 21_000, bytes.fromhex(TO[2:]), 15 * 10**17, b"", []]
    check("eth.eip1559.signing_hash", keccak256(b"\x02" + rlp.encode(fields)))
    raw = _signed({"type": 2, "chainId": CHAIN, "nonce": 8, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * 10**9,
                   "gas": 21_000, "to": TO, "value": 15 * 10**17, "data": b"", "accessList": []})
    check("eth.eip1559.raw", raw)
    check("eth.eip1559.id", tx_id(raw))
    tx = DECODE(raw)
    assert to_checksum_address(tx.sender) == SENDER
    assert (tx.body.max_fee_per_gas, tx.body.max_priority_fee_per_gas, tx.body.expiry_height) == (2 * 10**9, 10**9, 0)


def test_erc20_vectors() -> None:
    data = bytes.fromhex("a9059cbb") + abi_encode(["address", "uint256"], [SENDER, 250 * 10**18])
    check("eth.erc20.data", data)
    raw = _signed({"type": 2, "chainId": CHAIN, "nonce": 9, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * 10**9,
                   "gas": 60_000, "to": TO, "value": 0, "data": data, "accessList": []})
    check("eth.erc20.raw", raw)
    check("eth.erc20.id", tx_id(raw))
    payload = DECODE(raw).body.payload
    assert isinstance(payload, Call) and payload.method == "transfer" and payload.amount == 0
    check("eth.erc20.call_args", payload.args)


def test_every_eth_vector_is_checked() -> None:
    for test in (test_legacy_vectors, test_eip1559_vectors, test_erc20_vectors):
        test()
    unchecked = {v for v in VECTORS if v.startswith("eth.")} - CHECKED
    assert not unchecked, f"eth vectors on the page that no test checks: {sorted(unchecked)}"
