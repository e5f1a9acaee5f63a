"""State transition: accounts and the processing of transactions.

Plain functions over a state overlay, in the manner of ethereum/execution-specs:
`process_transaction` either raises InvalidTransaction (the tx may not be in a block
at all: a block holding it is invalid) or returns a receipt, success or failure, after
charging the fee and advancing the nonce.
"""

from __future__ import annotations

from typing import assert_never

from node.state.accounts import EMPTY_ACCOUNT, Account, StateOverlay, account_key
from node.state.contracts import new_contract_address, process_contract_tx
from node.state.params import ExecParams
from node.types.block import STATUS_FAILED, STATUS_OK, Receipt
from node.types.errors import (
    Expired,
    FeeTooLow,
    GasLimitTooHigh,
    GasLimitTooLow,
    InsufficientFunds,
    NonceTooHigh,
    NonceTooLow,
    PriorityFeeAboveMax,
    WrongChain,
)
from node.types.tx import Call, Deploy, SignedTx, Transfer, TxBody, intrinsic_gas

__all__ = ["EMPTY_ACCOUNT", "Account", "ExecParams", "StateOverlay", "account_key"]

def validate_tx_limits(body: TxBody, p: ExecParams) -> None:
    """The rules that do not depend on the sender's account: chain, expiry, gas."""
    if body.chain_id != p.chain_id:
        raise WrongChain(f"transaction is for chain {body.chain_id!r}, this chain is {p.chain_id!r}")
    if body.expiry_height and body.expiry_height < p.height:
        raise Expired(f"transaction expired at height {body.expiry_height}")
    need = intrinsic_gas(body)
    if body.gas_limit < need:
        raise GasLimitTooLow(f"gas limit {body.gas_limit} is below the {need} this transaction needs")
    if body.gas_limit > p.max_block_gas:
        raise GasLimitTooHigh(f"gas limit {body.gas_limit} is above the block gas limit {p.max_block_gas}")
    if body.max_priority_fee_per_gas > body.max_fee_per_gas:
        raise PriorityFeeAboveMax(
            f"max priority fee per gas {body.max_priority_fee_per_gas} is above "
            f"the max fee per gas {body.max_fee_per_gas}"
        )
    if body.max_fee_per_gas < p.base_fee:
        raise FeeTooLow(f"max fee per gas {body.max_fee_per_gas} is below the base fee {p.base_fee}")


def validate_transaction(tx: SignedTx, account: Account, p: ExecParams) -> None:
    """Rules a tx must meet to enter a block at `p.height` (signature already checked)."""
    body = tx.body
    validate_tx_limits(body, p)
    if body.nonce < account.nonce:
        raise NonceTooLow(f"nonce {body.nonce} is below the account nonce {account.nonce}")
    if body.nonce > account.nonce:
        raise NonceTooHigh(f"nonce {body.nonce} is above the account nonce {account.nonce}")
    if account.balance < body.max_fee:
        raise InsufficientFunds(
            f"balance {account.balance} does not cover the maximum fee {body.max_fee} (gas limit x max fee per gas)"
        )


def process_transaction(state: StateOverlay, tx: SignedTx, p: ExecParams) -> Receipt:
    sender = state.get_account(tx.sender)
    validate_transaction(tx, sender, p)
    body = tx.body
    payload = body.payload
    match payload:
        case Transfer(to=to, amount=amount):
            gas_used = intrinsic_gas(body)
            fee = gas_used * body.effective_gas_price(p.base_fee)
            sender = Account(sender.balance - fee, sender.nonce + 1)
            if sender.balance < amount:
                state.set_account(tx.sender, sender)
                return Receipt(tx.hash, STATUS_FAILED, gas_used, fee, "insufficient_funds")
            state.set_account(tx.sender, Account(sender.balance - amount, sender.nonce))
            if amount:  # a zero transfer must not create an empty account record
                recipient = state.get_account(to)
                state.set_account(to, Account(recipient.balance + amount, recipient.nonce))
            return Receipt(tx.hash, STATUS_OK, gas_used, fee, "")
        case Deploy() | Call():
            return process_contract_tx(state, tx, state.get_account(tx.sender), p)
    assert_never(payload)


def tx_parties(tx: SignedTx) -> tuple[bytes, ...]:
    """Addresses whose history shows this transaction."""
    payload = tx.body.payload
    if isinstance(payload, Deploy):
        to = new_contract_address(tx) or tx.sender
    else:
        to = payload.to
    return (tx.sender,) if to == tx.sender else (tx.sender, to)
