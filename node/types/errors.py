"""Typed errors with stable codes.

Every rejection a wallet can see has a code in the JSON-RPC server range and a short
`reason` name; both are part of the protocol (docs/protocol.md) and never change meaning.
"""

from __future__ import annotations

from typing import ClassVar


class FinchainError(Exception):
    code: ClassVar[int] = -32000
    reason: ClassVar[str] = "error"


class InvalidTransaction(FinchainError):
    """A transaction that can never be, or can not now be, included in a block."""

    code = -32000
    reason = "invalid_transaction"


class MalformedTransaction(InvalidTransaction):
    code = -32001
    reason = "malformed"


class BadSignature(InvalidTransaction):
    code = -32002
    reason = "bad_signature"


class WrongChain(InvalidTransaction):
    code = -32003
    reason = "wrong_chain"


class NonceTooLow(InvalidTransaction):
    code = -32004
    reason = "nonce_too_low"


class NonceTooHigh(InvalidTransaction):
    code = -32005
    reason = "nonce_too_high"


class InsufficientFunds(InvalidTransaction):
    code = -32006
    reason = "insufficient_funds"


class GasLimitTooLow(InvalidTransaction):
    code = -32007
    reason = "gas_limit_too_low"


class Expired(InvalidTransaction):
    code = -32008
    reason = "expired"


class TooLarge(InvalidTransaction):
    code = -32009
    reason = "too_large"


class FeeTooLow(InvalidTransaction):
    code = -32010
    reason = "fee_too_low"


class MempoolFull(InvalidTransaction):
    code = -32011
    reason = "mempool_full"


class ReplacementUnderpriced(InvalidTransaction):
    code = -32012
    reason = "replacement_underpriced"


class AlreadyKnown(InvalidTransaction):
    code = -32013
    reason = "already_known"


class GasLimitTooHigh(InvalidTransaction):
    code = -32014
    reason = "gas_limit_too_high"


class PriorityFeeAboveMax(InvalidTransaction):
    code = -32015
    reason = "priority_fee_above_max_fee"


class FutureQuotaFull(InvalidTransaction):
    """A transaction behind a nonce gap, over the mempool's quota for such (per sender or in all)."""

    code = -32016
    reason = "future_nonce_quota"


class NotFound(FinchainError):
    code = -32020
    reason = "not_found"


class InvalidBlock(FinchainError):
    """A proposed or synced block that breaks a rule; the peer that sent it is at fault."""

    code = -32030
    reason = "invalid_block"


class StoreCorrupted(FinchainError):
    code = -32040
    reason = "store_corrupted"


TX_ERRORS: tuple[type[InvalidTransaction], ...] = (
    MalformedTransaction,
    BadSignature,
    WrongChain,
    NonceTooLow,
    NonceTooHigh,
    InsufficientFunds,
    GasLimitTooLow,
    Expired,
    TooLarge,
    FeeTooLow,
    MempoolFull,
    ReplacementUnderpriced,
    AlreadyKnown,
    GasLimitTooHigh,
    PriorityFeeAboveMax,
    FutureQuotaFull,
)
