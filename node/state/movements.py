"""What a committed block moved, per address and asset: the read model behind account statements.

Derived at commit from what execution already produced, never by running anything again: the
transactions and their receipts (fees, native transfers, the token `Transfer` events), the coin
that contract code moved (the VM's balance writes, kept per transaction by execution in
`StateOverlay.coin_flows`), and the block's fee settlement (the proposer's tip). None of it is
hashed or read by consensus; it is an index (node/storage/schema.py prefixes F and A).

For every address and asset, the movements of a height range add up exactly to the change of the
balance over it, as long as the token emits a `Transfer(from, to, amount)` event for every change
of a balance, with mints from and burns to the zero address (the standard contracts do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.types import codec
from node.types.block import STATUS_OK, Receipt
from node.types.codec import DecodeError
from node.types.errors import StoreCorrupted
from node.types.tx import Call, Deploy, SignedTx, Transfer
from vm import contract_address
from vm.values import Address, decode_value

COIN = b""  # the asset id of the native coin; a token's is its contract address
NO_PARTY = b""  # a movement without a counterparty: a fee, fee income, a mint's receiver side
BLOCK_ROW = 0xFFFF_FFFF  # the "transaction index" of a block's own record (the proposer's fee income)
ZERO = bytes(20)

# Kinds of movement, as stored and shown.
TRANSFER = "transfer"  # a native coin transfer transaction
FEE = "fee"  # the coin fee the address paid as the signer of a transaction
FEE_INCOME = "fee_income"  # the proposer's share of the block's fees (the tips)
CONTRACT_CALL = "contract_call"  # coin moved by a contract transaction: its value, the contract's send_coin
TOKEN_TRANSFER = "token_transfer"
MINT = "mint"  # a token Transfer from the zero address
BURN = "burn"  # a token Transfer to the zero address
KINDS = (TRANSFER, FEE, FEE_INCOME, CONTRACT_CALL, TOKEN_TRANSFER, MINT, BURN)

CoinFlows = tuple[tuple[bytes, int], ...]  # (address, signed change) of the coin a contract tx moved


@dataclass(frozen=True, slots=True)
class Movement:
    asset: bytes  # COIN or a token contract
    kind: str
    amount: int  # signed: what it added to the address's balance of `asset`
    counterparty: bytes  # NO_PARTY when there is none


def _u256(raw: Any) -> int:
    if type(raw) is not bytes or len(raw) > 32:
        raise DecodeError("an amount is at most 32 bytes")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class MovementRecord:
    """The movements of one address in one transaction, or in a block's settlement (BLOCK_ROW)."""

    tx_hash: bytes  # empty for the block's record
    fee: int  # the coin fee the address paid as this transaction's signer (0 if it did not sign it)
    movements: tuple[Movement, ...]

    def encode(self) -> bytes:
        return encode_record(self.tx_hash, self.fee, [(m.asset, m.kind, m.amount, m.counterparty)
                                                      for m in self.movements])

    @staticmethod
    def decode(raw: bytes) -> MovementRecord:
        """A stored record; its shape checked field by field (StoreCorrupted if it is not one)."""
        try:
            f = codec.decode_unchecked(raw)
            if type(f) is not list or len(f) != 3 or type(f[0]) is not bytes or type(f[2]) is not list:
                raise DecodeError("not [tx_hash, fee, movements]")
            rows = []
            for m in f[2]:
                if (type(m) is not list or len(m) != 5 or type(m[0]) is not bytes or m[1] not in KINDS
                        or type(m[2]) is not bool or type(m[4]) is not bytes):
                    raise DecodeError("not [asset, kind, negative, amount, counterparty]")
                size = _u256(m[3])
                rows.append(Movement(m[0], m[1], -size if m[2] else size, m[4]))
            return MovementRecord(f[0], _u256(f[1]), tuple(rows))
        except DecodeError as exc:
            raise StoreCorrupted(f"a stored movement record does not decode: {exc}") from exc


@dataclass(slots=True)
class BlockMovements:
    """What one block adds to the movement index."""

    # (address, tx index) -> the encoded MovementRecord, in the order the block produced them
    records: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    # (address, token) pairs whose balance of that token the block moved
    touched: dict[tuple[bytes, bytes], None] = field(default_factory=dict)
    # tx index -> the addresses with a record for it, in record order
    parties: dict[int, list[bytes]] = field(default_factory=dict)


def _transfer_values(data: Any) -> tuple[bytes, bytes, int] | None:
    """(from, to, amount) of a Transfer event's data, None when it is not of that shape."""
    values = data
    if isinstance(data, bytes | bytearray):
        try:
            values = decode_value(bytes(data))
        except ValueError:
            return None
    if (isinstance(values, list) and len(values) == 3 and isinstance(values[0], Address)
            and isinstance(values[1], Address) and type(values[2]) is int and values[2] >= 0):
        return bytes(values[0]), bytes(values[1]), values[2]
    return None


Row = tuple[bytes, str, int, bytes]  # asset, kind, signed amount, counterparty: a Movement before it is stored


def encode_record(tx_hash: bytes, fee: int, rows: Sequence[Row]) -> bytes:
    """A MovementRecord's stored bytes, built from plain rows (the commit path makes no objects)."""
    u256 = codec.u256_to_bytes
    return codec.encode_unchecked([tx_hash, u256(fee),
                                   [[a, k, n < 0, u256(-n if n < 0 else n), c] for a, k, n, c in rows]])


def compute_tx_movements(tx: SignedTx, receipt: Receipt, flows: CoinFlows,
                         touched: dict[tuple[bytes, bytes], None]) -> dict[bytes, list[Row]]:
    """Per address, what one transaction moved (its fee included); `touched` gains the token pairs."""
    out: dict[bytes, list[Row]] = {}
    sender = tx.sender
    if receipt.fee:
        out[sender] = [(COIN, FEE, -receipt.fee, NO_PARTY)]
    payload = tx.body.payload
    ok = receipt.status == STATUS_OK
    if isinstance(payload, Transfer):
        if ok and payload.amount:
            out.setdefault(sender, []).append((COIN, TRANSFER, -payload.amount, payload.to))
            out.setdefault(payload.to, []).append((COIN, TRANSFER, payload.amount, sender))
    elif ok and isinstance(payload, Deploy | Call):
        target = payload.to if isinstance(payload, Call) else bytes(contract_address(sender, tx.body.nonce))
        for address, delta in flows:
            out.setdefault(address, []).append((COIN, CONTRACT_CALL, delta, sender if address == target else target))
    # A failed transaction's events are dropped by the VM: only a successful one has any.
    for event in receipt.events:
        if event.name != "Transfer":
            continue
        moved = _transfer_values(event.data)
        if moved is None or not moved[2]:
            continue
        frm, to, amount = moved
        token = bytes(event.address)
        kind = MINT if frm == ZERO else BURN if to == ZERO else TOKEN_TRANSFER
        if frm != ZERO:
            out.setdefault(frm, []).append((token, kind, -amount, NO_PARTY if to == ZERO else to))
            touched[(frm, token)] = None
        if to != ZERO:
            out.setdefault(to, []).append((token, kind, amount, NO_PARTY if frm == ZERO else frm))
            touched[(to, token)] = None
    return out


def compute_block_movements(txs: Sequence[SignedTx], receipts: Sequence[Receipt],
                            coin_flows: Mapping[bytes, CoinFlows], proposer: bytes, base_fee: int) -> BlockMovements:
    """Everything a block moved, per (address, tx index), and the block's fee income record.

    The proposer's income is what node/state/fees.py settle_block credits: the fees less the
    base fee burned on the gas used."""
    out = BlockMovements()
    records = out.records
    for index, (tx, receipt) in enumerate(zip(txs, receipts, strict=True)):
        moved = compute_tx_movements(tx, receipt, coin_flows.get(tx.hash, ()), out.touched)
        for address, rows in moved.items():
            records[(address, index)] = encode_record(tx.hash, receipt.fee if address == tx.sender else 0, rows)
        out.parties[index] = list(moved)
    tips = sum(r.fee for r in receipts) - sum(r.gas_used for r in receipts) * base_fee
    if tips:
        records[(proposer, BLOCK_ROW)] = encode_record(b"", 0, [(COIN, FEE_INCOME, tips, NO_PARTY)])
    return out
