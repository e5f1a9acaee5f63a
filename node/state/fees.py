"""The base fee (EIP-1559) and the block's fee settlement: what is burned, what the proposer gets.

The fee record lives in the state tree under `schema.FEE_KEY`, so every node commits to it
through the state root without a header field: `[base_fee, gas_used, burned]` of the last
block, `burned` being the total burned since genesis. The next block's base fee follows from
the record alone, so a validator recomputes it before executing a proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.state.accounts import Account, StateOverlay
from node.storage.schema import FEE_KEY
from node.types import codec
from node.types.block import Receipt
from node.types.errors import StoreCorrupted

BASE_FEE_CHANGE_DENOMINATOR = 8  # the base fee moves by at most 1/8 per block
ELASTICITY = 2  # the target is half the block gas limit


@dataclass(frozen=True, slots=True)
class FeeRecord:
    base_fee: int  # per gas, of the block that wrote the record
    gas_used: int  # that block's gas used
    burned: int  # base units burned from genesis up to and including that block

    def encode(self) -> bytes:
        return codec.encode([codec.u256_to_bytes(self.base_fee), self.gas_used, codec.u256_to_bytes(self.burned)])

    @staticmethod
    def decode(raw: bytes) -> FeeRecord:
        try:
            f = codec.expect_list(codec.decode(raw), 3, "fee record")
            return FeeRecord(codec.bytes_to_u256(f[0], "base_fee"), codec.expect_uint(f[1], "gas_used"),
                             codec.bytes_to_u256(f[2], "burned"))
        except codec.DecodeError as exc:
            raise StoreCorrupted(f"fee record does not decode: {exc}") from exc


def next_base_fee(base_fee: int, gas_used: int, max_block_gas: int, floor: int) -> int:
    """EIP-1559's update, in integers, never below `floor`: up when the block was over half full, down when under."""
    target = max(1, max_block_gas // ELASTICITY)
    # An odd block gas limit leaves the target below half of it: a full block still moves an eighth.
    gas_used = min(gas_used, ELASTICITY * target)
    if gas_used > target:
        delta = max(base_fee * (gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR, 1)
        new = base_fee + delta
    else:
        new = base_fee - base_fee * (target - gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR
    return max(new, floor)


def read_fee_record(raw: bytes | None) -> FeeRecord | None:
    return None if raw is None else FeeRecord.decode(raw)


def base_fee_after(record: FeeRecord | None, max_block_gas: int, floor: int) -> int:
    """The base fee of the block that follows `record` (the first block pays the floor)."""
    if record is None:
        return floor
    return next_base_fee(record.base_fee, record.gas_used, max_block_gas, floor)


def settle_block(state: StateOverlay, proposer: bytes, base_fee: int, receipts: Sequence[Receipt]) -> FeeRecord:
    """Burn gas used x base fee, pay the rest of the fees to the proposer, write the record.

    Each receipt's fee is gas used x effective price, and admission makes the effective price at
    least the base fee, so the proposer's share is never negative.
    """
    gas_used = sum(r.gas_used for r in receipts)
    burned = gas_used * base_fee
    tips = sum(r.fee for r in receipts) - burned
    if tips:
        account = state.get_account(proposer)
        state.set_account(proposer, Account(account.balance + tips, account.nonce))
    previous = read_fee_record(state.get(FEE_KEY))
    record = FeeRecord(base_fee, gas_used, (previous.burned if previous else 0) + burned)
    state.set(FEE_KEY, record.encode())
    return record
