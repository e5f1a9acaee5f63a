"""Ethereum-signed transactions: the second envelope (docs/protocol.md, "Ethereum envelope").

Two forms are accepted, both signed by Ethereum's rules over Keccak-256:

- legacy with EIP-155 replay protection: `rlp([nonce, gas_price, gas, to, value, data, v, r, s])`,
  `v = chain_id * 2 + 35 + y_parity`, signed over `rlp([nonce, gas_price, gas, to, value, data,
  chain_id, 0, 0])`; its gas price is both the fee cap and the tip cap;
- EIP-1559 (type 2): `0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas,
  to, value, data, access_list, y_parity, r, s])`, signed over `0x02 || rlp(the first nine)`;
  the access list must be empty (there is no EVM storage to warm).

The transaction's id is Keccak-256 of the raw bytes, as on Ethereum. Everything else (pre-EIP-155
signatures, high-S, non-canonical RLP, trailing bytes, types 1 and 3, contract creation) is refused
with a precise error; nothing here touches state.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from rlp.sedes import Binary, CountableList, big_endian_int, binary

from node.types.codec import UINT256_MAX
from node.types.crypto import HALF_N, SECP256K1_N, SignatureError, keccak256, recover_address
from node.types.errors import BadSignature, MalformedTransaction, TooLarge, WrongChain
from node.types.tx import MAX_TX_BYTES

TYPE_EIP1559 = 2
UINT64_MAX = (1 << 64) - 1
ADDRESS_SIZE = 20

_address = Binary.fixed_length(ADDRESS_SIZE, allow_empty=True)
_LEGACY_SEDES = [big_endian_int, big_endian_int, big_endian_int, _address, big_endian_int, binary,
                 big_endian_int, big_endian_int, big_endian_int]
_EIP1559_SEDES = [big_endian_int, big_endian_int, big_endian_int, big_endian_int, big_endian_int, _address,
                  big_endian_int, binary, CountableList(rlp.sedes.raw), big_endian_int, big_endian_int,
                  big_endian_int]


class UnsupportedEnvelope(MalformedTransaction):
    """A well-formed Ethereum transaction of a kind this chain does not run (type 1, 3, creation...)."""

    code = -32017
    reason = "unsupported_envelope"


@dataclass(frozen=True, slots=True)
class EthTx:
    """A decoded Ethereum transaction whose signature has been checked once."""

    tx_type: int  # 0 legacy (EIP-155), 2 EIP-1559
    chain_id: int
    nonce: int
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    to: bytes
    value: int
    data: bytes
    y_parity: int
    r: int
    s: int
    sender: bytes
    hash: bytes  # Keccak-256 of raw
    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)


def _decode_list(payload: bytes, sedes: list, what: str) -> list:
    try:
        # strict=True refuses trailing bytes after the list and non-canonical lengths and integers.
        items = rlp.decode(payload, strict=True)
    except rlp.exceptions.DecodingError as exc:
        raise MalformedTransaction(f"malformed {what}: {exc}") from None
    if not isinstance(items, list) or len(items) != len(sedes):
        raise MalformedTransaction(f"malformed {what}: expected a list of {len(sedes)} fields")
    out = []
    for index, (item, sede) in enumerate(zip(items, sedes, strict=True)):
        # rlp's integer sedes reads a nested list as bytes and fails with a TypeError of its own.
        if isinstance(item, list) != isinstance(sede, CountableList):
            raise MalformedTransaction(f"malformed {what}: field {index}: a list and a value confused")
        try:
            out.append(sede.deserialize(item))
        except rlp.exceptions.DeserializationError as exc:
            raise MalformedTransaction(f"malformed {what}: field {index}: {exc}") from None
    return out


def _recover(digest: bytes, y_parity: int, r: int, s: int) -> bytes:
    if y_parity not in (0, 1):
        raise BadSignature("signature y parity must be 0 or 1")
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise BadSignature("signature r or s out of range")
    if s > HALF_N:
        raise BadSignature("high-S signature (malleable form) rejected")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        return recover_address(digest, signature)
    except SignatureError as exc:
        raise BadSignature(f"bad signature: {exc}") from None


def _int_length(value: int) -> int:
    """Bytes of a canonical RLP integer."""
    return 1 if value < 0x80 else 1 + (value.bit_length() + 7) // 8


def _list_header(length: int) -> bytes:
    if length < 56:
        return bytes([0xC0 + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size


def _unsigned_list(signed: bytes, tail: tuple[int, ...]) -> bytes:
    """The RLP list of `signed` without its last integers `tail`, cut from the bytes themselves.

    `signed` was decoded strictly (canonical lengths and integers, nothing after the list), so the
    fields before the tail are there exactly as rlp.encode would write them; cutting them out costs
    a fifth of a decode less than encoding them again."""
    start = 1 if signed[0] < 0xF8 else 1 + signed[0] - 0xF7
    body = signed[start : len(signed) - sum(_int_length(v) for v in tail)]
    return _list_header(len(body)) + body


def _check_ranges(nonce: int, gas: int, value: int, *fees: int) -> None:
    """The bounds of the native envelope (and of EIP-2681): the mapped transaction must encode again."""
    if nonce > UINT64_MAX or gas > UINT64_MAX:
        raise MalformedTransaction("malformed transaction: nonce or gas above 2^64 - 1")
    if value > UINT256_MAX or any(fee > UINT256_MAX for fee in fees):
        raise MalformedTransaction("malformed transaction: value or fee above 2^256 - 1")


def _check_common(chain_id: int, expected_chain_id: int, to: bytes) -> None:
    if chain_id != expected_chain_id:
        raise WrongChain(f"invalid chain id: transaction is for {chain_id}, this chain is {expected_chain_id}")
    if not to:
        raise UnsupportedEnvelope("contract creation is not supported: there is no EVM")


def decode_eth_tx(raw: bytes, expected_chain_id: int, max_bytes: int = MAX_TX_BYTES,
                  sender: bytes | None = None) -> EthTx:
    """Decode and authenticate raw Ethereum transaction bytes for the chain `expected_chain_id`.

    `sender`, when given, is the sender an earlier decoding of these very bytes found (in a
    worker process): the recovery is not done twice."""
    if len(raw) > max_bytes:
        raise TooLarge(f"transaction is {len(raw)} bytes, the limit is {max_bytes}")
    if not raw:
        raise MalformedTransaction("malformed transaction: empty")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw, expected_chain_id, sender)
    if first == TYPE_EIP1559:
        return _decode_eip1559(raw, expected_chain_id, sender)
    if first <= 0x7F:
        raise UnsupportedEnvelope(f"transaction type {first} not supported")
    raise MalformedTransaction("malformed transaction: not an RLP list or a typed envelope")


def _decode_legacy(raw: bytes, expected_chain_id: int, sender: bytes | None) -> EthTx:
    nonce, gas_price, gas, to, value, data, v, r, s = _decode_list(raw, _LEGACY_SEDES, "legacy transaction")
    if v in (27, 28):
        raise BadSignature("only replay-protected (EIP-155) transactions allowed over RPC")
    if v < 35:
        raise BadSignature(f"invalid legacy signature v {v}")
    chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
    _check_common(chain_id, expected_chain_id, to)
    _check_ranges(nonce, gas, value, gas_price)
    if sender is None:
        unsigned = rlp.encode([nonce, gas_price, gas, to, value, data, chain_id, 0, 0])
        sender = _recover(keccak256(unsigned), y_parity, r, s)
    return EthTx(0, chain_id, nonce, gas, gas_price, gas_price, to, value, data, y_parity, r, s, sender,
                 keccak256(raw), raw)


def _decode_eip1559(raw: bytes, expected_chain_id: int, sender: bytes | None) -> EthTx:
    fields = _decode_list(raw[1:], _EIP1559_SEDES, "EIP-1559 transaction")
    chain_id, nonce, tip_cap, fee_cap, gas, to, value, data, access_list, y_parity, r, s = fields
    _check_common(chain_id, expected_chain_id, to)
    _check_ranges(nonce, gas, value, tip_cap, fee_cap)
    if access_list:
        raise UnsupportedEnvelope("access lists are not supported: there is no EVM storage")
    if tip_cap > fee_cap:
        raise MalformedTransaction("max priority fee per gas higher than max fee per gas")
    if sender is None:
        unsigned = bytes([TYPE_EIP1559]) + _unsigned_list(raw[1:], (y_parity, r, s))
        sender = _recover(keccak256(unsigned), y_parity, r, s)
    return EthTx(TYPE_EIP1559, chain_id, nonce, gas, fee_cap, tip_cap, to, value, data, y_parity, r, s, sender,
                 keccak256(raw), raw)
