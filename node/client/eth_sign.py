"""Ethereum-signed transactions (EIP-1559, type 2) built and signed here, as a wallet would.

The node takes them as a second envelope of the same transaction rules (docs/protocol.md 4.8), so a
client such as the devnet bench can drive finchain the way it drives an Ethereum node. ERC-20
calldata for the token face: transfer(address,uint256).
"""

from __future__ import annotations

import rlp

from node.types.crypto import PrivateKey, keccak256, parse_address

TRANSFER_SELECTOR = keccak256(b"transfer(address,uint256)")[:4]


def erc20_transfer_data(to: str | bytes, amount: int) -> bytes:
    address = parse_address(to) if isinstance(to, str) else to
    return TRANSFER_SELECTOR + b"\x00" * 12 + address + amount.to_bytes(32, "big")


def build_eth_tx(key: PrivateKey, eth_chain_id: int, nonce: int, to: str | bytes, value: int = 0, data: bytes = b"",
                 *, gas: int = 21_000, max_fee: int, priority_fee: int) -> bytes:
    """The raw bytes of a signed type-2 transaction (what eth_sendRawTransaction takes)."""
    address = parse_address(to) if isinstance(to, str) else to
    fields = [eth_chain_id, nonce, priority_fee, max_fee, gas, address, value, data, []]
    signature = key.sign(keccak256(b"\x02" + rlp.encode(fields)))
    r, s, y_parity = signature[:32], signature[32:64], signature[64]
    return b"\x02" + rlp.encode([*fields, y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")])
