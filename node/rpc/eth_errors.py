"""Ethereum's error codes and messages for the eth_* face, chosen by error class.

Wallets and libraries recognise a refused transaction by the words geth uses ("nonce too low",
"insufficient funds for gas * price + value", ...) under code -32000, and a reverted call by
code 3 with Solidity's `Error(string)` revert data. The chain's own reason code travels in
`data.reason`, so a caller can still route on it without reading the message.
"""

from __future__ import annotations

from typing import Final

from node.rpc.registry import RpcError
from node.types import errors
from node.types.erc20 import UnknownSelector, encode_revert
from node.types.eth_tx import UnsupportedEnvelope

SERVER_ERROR: Final = -32000  # geth's code for every refused transaction
EXECUTION_REVERTED: Final = 3
LIMIT_EXCEEDED: Final = -32005  # the code providers use for a query over their limits

# Most specific class first: the lookup walks each error's MRO.
_MESSAGES: Final[dict[type[errors.InvalidTransaction], str]] = {
    errors.NonceTooLow: "nonce too low",
    errors.NonceTooHigh: "nonce too high",
    errors.InsufficientFunds: "insufficient funds for gas * price + value",
    errors.GasLimitTooLow: "intrinsic gas too low",
    errors.GasLimitTooHigh: "exceeds block gas limit",
    errors.FeeTooLow: "max fee per gas less than block base fee",
    errors.ReplacementUnderpriced: "replacement transaction underpriced",
    errors.AlreadyKnown: "already known",
    errors.MempoolFull: "txpool is full",
    errors.FutureQuotaFull: "account limit exceeded",
    errors.PriorityFeeAboveMax: "max priority fee per gas higher than max fee per gas",
    errors.TooLarge: "oversized data",
    errors.WrongChain: "invalid chain id for signer",
    errors.BadSignature: "invalid sender",
    errors.Expired: "transaction expired",
    UnsupportedEnvelope: "transaction type not supported",
    UnknownSelector: "unsupported calldata",
    errors.MalformedTransaction: "invalid transaction",
    errors.InvalidTransaction: "invalid transaction",
}


class NotAToken(errors.FinchainError):
    """An eth_call or estimate to a contract that does not have the ERC-20 method asked for."""

    code = -32019
    reason = "not_a_token"


def eth_message(exc: errors.InvalidTransaction) -> str:
    for cls in type(exc).__mro__:
        prefix = _MESSAGES.get(cls)  # type: ignore[call-overload]
        if prefix is not None:
            detail = str(exc)
            return detail if detail.startswith(prefix) else f"{prefix}: {detail}"
    return str(exc)


def eth_tx_error(exc: errors.InvalidTransaction) -> RpcError:
    """A refused transaction as geth answers it, with the chain's reason code in data."""
    return RpcError(SERVER_ERROR, eth_message(exc), {"reason": exc.reason, "code": exc.code})


def revert_error(reason: str) -> RpcError:
    return RpcError(EXECUTION_REVERTED, f"execution reverted: {reason}" if reason else "execution reverted",
                    "0x" + encode_revert(reason).hex())


def chain_error(exc: errors.FinchainError) -> RpcError:
    return RpcError(SERVER_ERROR, str(exc), {"reason": exc.reason, "code": exc.code})


def limit_error(message: str) -> RpcError:
    return RpcError(LIMIT_EXCEEDED, message)
