"""Transactions: the signed body, its canonical bytes, hash and sender.

Wire form (docs/protocol.md): `[body, signature]` with
`body = [chain_id, nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas, expiry_height,
payload]` and, for a transfer, `payload = [1, to, amount]`. Amounts and the two fee fields are
uint256 as minimal big-endian bytes. The fee fields follow EIP-1559: the sender pays
`min(max_fee_per_gas, base_fee + max_priority_fee_per_gas)` per gas. The sender signs SHA-256
over the tag 0x01 and the encoded body, so the chain id is inside every signature. The
transaction's id (its hash) is SHA-256 over the tag 0x09 and the whole signed encoding: two
senders signing equal bodies make two transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.types import codec
from node.types.codec import DecodeError
from node.types.crypto import TAG_TX, TAG_TX_ID, PrivateKey, SignatureError, recover_address, tagged_hash
from node.types.errors import BadSignature, MalformedTransaction, TooLarge
from vm.values import decode_external

KIND_TRANSFER = 1
KIND_DEPLOY = 2
KIND_CALL = 3
MAX_TX_BYTES = 128 * 1024
MAX_CHAIN_ID_BYTES = 64
MAX_METHOD_BYTES = 64
TRANSFER_GAS = 21_000
PAYLOAD_BYTE_GAS = 16  # per byte of a deploy's source and a call's method and arguments


@dataclass(frozen=True, slots=True)
class Transfer:
    to: bytes
    amount: int

    def to_list(self) -> list[Any]:
        return [KIND_TRANSFER, self.to, codec.u256_to_bytes(self.amount)]


@dataclass(frozen=True, slots=True)
class Deploy:
    """Deploy a contract: its source and constructor arguments (VM value encoding of a list)."""

    source: str
    args: bytes
    amount: int

    def to_list(self) -> list[Any]:
        return [KIND_DEPLOY, self.source, self.args, codec.u256_to_bytes(self.amount)]


@dataclass(frozen=True, slots=True)
class Call:
    """Call a public method of a contract, sending `amount` native coin with it."""

    to: bytes
    method: str
    args: bytes
    amount: int

    def to_list(self) -> list[Any]:
        return [KIND_CALL, self.to, self.method, self.args, codec.u256_to_bytes(self.amount)]


Payload = Transfer | Deploy | Call


@dataclass(frozen=True, slots=True)
class TxBody:
    chain_id: str
    nonce: int
    gas_limit: int
    max_fee_per_gas: int  # the most the sender pays per gas, base fee and tip together
    max_priority_fee_per_gas: int  # the most of that which goes to the proposer as a tip
    expiry_height: int  # 0: never expires; otherwise the last height it may be included at
    payload: Payload

    def to_list(self) -> list[Any]:
        return [
            self.chain_id,
            self.nonce,
            self.gas_limit,
            codec.u256_to_bytes(self.max_fee_per_gas),
            codec.u256_to_bytes(self.max_priority_fee_per_gas),
            self.expiry_height,
            self.payload.to_list(),
        ]

    def encode(self) -> bytes:
        return codec.encode(self.to_list())

    def signing_hash(self) -> bytes:
        return tagged_hash(TAG_TX, self.encode())

    def sign(self, key: PrivateKey) -> SignedTx:
        signature = key.sign(self.signing_hash())
        raw = codec.encode([self.to_list(), signature])
        return SignedTx(body=self, signature=signature, hash=tagged_hash(TAG_TX_ID, raw), raw=raw, sender=key.address)

    @property
    def max_fee(self) -> int:
        """What the sender must hold for the fee before the transaction runs."""
        return self.gas_limit * self.max_fee_per_gas

    def effective_gas_price(self, base_fee: int) -> int:
        """What the sender pays per gas when the block's base fee is `base_fee`."""
        return min(self.max_fee_per_gas, base_fee + self.max_priority_fee_per_gas)

    def tip_per_gas(self, base_fee: int) -> int:
        """What the proposer receives per gas at `base_fee`; 0 when the cap does not cover the base fee."""
        return max(0, self.effective_gas_price(base_fee) - base_fee)

    @property
    def value(self) -> int:
        """Native coin moved by the payload besides the fee."""
        return self.payload.amount


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A decoded transaction whose signature has been checked once; `sender` is trusted from here on."""

    body: TxBody
    signature: bytes
    hash: bytes
    raw: bytes
    sender: bytes

    @property
    def size(self) -> int:
        return len(self.raw)


def expect_args(obj: Any, field: str = "args") -> bytes:
    """Contract arguments: the VM value encoding (docs/contracts.md) of a list."""
    raw = codec.expect_bytes(obj, field)
    try:
        value = decode_external(raw)
    except ValueError as exc:
        raise DecodeError(f"{field}: {exc}") from None
    if not isinstance(value, list):
        raise DecodeError(f"{field}: expected the encoding of a list")
    return raw


def decode_payload(obj: Any) -> Payload:
    if not isinstance(obj, list) or not obj:
        raise DecodeError("payload: expected a non-empty array")
    kind = codec.expect_uint(obj[0], "payload kind")
    if kind == KIND_TRANSFER:
        fields = codec.expect_list(obj, 3, "transfer payload")
        return Transfer(
            to=codec.expect_bytes(fields[1], "to", length=20),
            amount=codec.bytes_to_u256(fields[2], "amount"),
        )
    if kind == KIND_DEPLOY:
        fields = codec.expect_list(obj, 4, "deploy payload")
        return Deploy(
            source=codec.expect_str(fields[1], "source", MAX_TX_BYTES),
            args=expect_args(fields[2]),
            amount=codec.bytes_to_u256(fields[3], "amount"),
        )
    if kind == KIND_CALL:
        fields = codec.expect_list(obj, 5, "call payload")
        return Call(
            to=codec.expect_bytes(fields[1], "to", length=20),
            method=codec.expect_str(fields[2], "method", MAX_METHOD_BYTES),
            args=expect_args(fields[3]),
            amount=codec.bytes_to_u256(fields[4], "amount"),
        )
    raise DecodeError(f"payload kind {kind} is not supported")


def decode_body(obj: Any) -> TxBody:
    fields = codec.expect_list(obj, 7, "tx body")
    return TxBody(
        chain_id=codec.expect_str(fields[0], "chain_id", MAX_CHAIN_ID_BYTES),
        nonce=codec.expect_uint(fields[1], "nonce"),
        gas_limit=codec.expect_uint(fields[2], "gas_limit"),
        max_fee_per_gas=codec.bytes_to_u256(fields[3], "max_fee_per_gas"),
        max_priority_fee_per_gas=codec.bytes_to_u256(fields[4], "max_priority_fee_per_gas"),
        expiry_height=codec.expect_uint(fields[5], "expiry_height"),
        payload=decode_payload(fields[6]),
    )


def signer_of(raw: bytes) -> bytes | None:
    """Who signed `raw`, recovered from its body bytes and signature alone (no decoding), or None
    when `raw` is not framed as a native transaction or its signature recovers no key.

    Made to run where decoding does not (a worker process): `decode_tx(raw, sender=...)` takes its
    answer instead of recovering again, and still checks everything else."""
    if len(raw) < 70 or raw[0] != 0x92 or raw[-67] != 0xC4 or raw[-66] != 65:
        return None
    try:
        return recover_address(tagged_hash(TAG_TX, raw[1:-67]), raw[-65:])
    except SignatureError:
        return None


def decode_tx(raw: bytes, max_bytes: int = MAX_TX_BYTES, sender: bytes | None = None) -> SignedTx:
    """Decode and authenticate a raw transaction: MalformedTransaction, TooLarge or BadSignature.

    `sender`, when given, is what `signer_of(raw)` returned for these very bytes: the recovery is
    not done twice."""
    if len(raw) > max_bytes:
        raise TooLarge(f"transaction is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        # Every leaf is type-checked by decode_body and expect_bytes: no generic walk first.
        outer = codec.expect_list(codec.decode_typed(bytes(raw), max_bytes), 2, "transaction")
        body = decode_body(outer[0])
        signature = codec.expect_bytes(outer[1], "signature", length=65)
    except DecodeError as exc:
        raise MalformedTransaction(f"malformed transaction: {exc}") from exc
    # Decoding was canonical, so the body's encoding is the raw bytes between the outer
    # array header (1 byte) and the signature (bin8 header + 65 bytes): no re-encoding.
    if sender is None:
        try:
            sender = recover_address(tagged_hash(TAG_TX, raw[1:-67]), signature)
        except SignatureError as exc:
            raise BadSignature(f"bad signature: {exc}") from exc
    raw = bytes(raw)
    return SignedTx(body=body, signature=signature, hash=tagged_hash(TAG_TX_ID, raw), raw=raw, sender=sender)


def intrinsic_gas(body: TxBody) -> int:
    """Gas charged before any execution: the base, and the payload's bytes for contract transactions."""
    p = body.payload
    if isinstance(p, Deploy):
        return TRANSFER_GAS + PAYLOAD_BYTE_GAS * (len(p.source.encode()) + len(p.args))
    if isinstance(p, Call):
        return TRANSFER_GAS + PAYLOAD_BYTE_GAS * (len(p.method.encode()) + len(p.args))
    return TRANSFER_GAS
