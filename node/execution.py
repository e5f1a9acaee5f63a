"""State transition: accounts and the processing of transactions.

Plain functions over a state overlay, in the manner of ethereum/execution-specs:
`process_transaction` either raises InvalidTransaction (the tx may not be in a block
at all: a block holding it is invalid) or returns a receipt, success or failure, after
charging the fee and advancing the nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from node import codec
from node.block import STATUS_FAILED, STATUS_OK, Receipt
from node.errors import (
    Expired,
    GasLimitTooHigh,
    GasLimitTooLow,
    GasPriceTooLow,
    InsufficientFunds,
    NonceTooHigh,
    NonceTooLow,
    StoreCorrupted,
    WrongChain,
)
from node.tx import SignedTx, Transfer, TxBody, intrinsic_gas

ACCOUNT_PREFIX = b"a"


def account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address


@dataclass(frozen=True, slots=True)
class Account:
    balance: int = 0
    nonce: int = 0

    def encode(self) -> bytes:
        return codec.encode([codec.u256_to_bytes(self.balance), self.nonce])

    @staticmethod
    def decode(raw: bytes) -> Account:
        try:
            f = codec.expect_list(codec.decode(raw), 2, "account")
            return Account(codec.bytes_to_u256(f[0], "balance"), codec.expect_uint(f[1], "nonce"))
        except codec.DecodeError as exc:
            raise StoreCorrupted(f"account record does not decode: {exc}") from exc


EMPTY_ACCOUNT = Account()


class StateOverlay:
    """Pending writes over a read function; `changes` is what a block commits."""

    def __init__(self, read: Callable[[bytes], bytes | None]) -> None:
        self._read = read
        self.changes: dict[bytes, bytes | None] = {}
        self._accounts: dict[bytes, Account] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.changes:
            return self.changes[key]
        return self._read(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        self.changes[key] = value

    def get_account(self, address: bytes) -> Account:
        cached = self._accounts.get(address)
        if cached is not None:
            return cached
        raw = self.get(account_key(address))
        account = EMPTY_ACCOUNT if raw is None else Account.decode(raw)
        self._accounts[address] = account
        return account

    def set_account(self, address: bytes, account: Account) -> None:
        self._accounts[address] = account
        self.changes[account_key(address)] = account.encode()

    def snapshot(self) -> tuple[dict[bytes, bytes | None], dict[bytes, Account]]:
        return dict(self.changes), dict(self._accounts)

    def restore(self, snap: tuple[dict[bytes, bytes | None], dict[bytes, Account]]) -> None:
        self.changes, self._accounts = dict(snap[0]), dict(snap[1])


@dataclass(frozen=True, slots=True)
class ExecParams:
    chain_id: str
    height: int
    min_gas_price: int
    max_block_gas: int


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
    if body.gas_price < p.min_gas_price:
        raise GasPriceTooLow(f"gas price {body.gas_price} is below the minimum {p.min_gas_price}")


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
            f"balance {account.balance} does not cover the maximum fee {body.max_fee} (gas limit x gas price)"
        )


def process_transaction(state: StateOverlay, tx: SignedTx, p: ExecParams) -> Receipt:
    sender = state.get_account(tx.sender)
    validate_transaction(tx, sender, p)
    body = tx.body
    gas_used = intrinsic_gas(body)
    fee = gas_used * body.gas_price
    # Fees are burned: the supply after a block is the supply before minus its fees.
    sender = Account(sender.balance - fee, sender.nonce + 1)
    payload = body.payload
    match payload:
        case Transfer(to=to, amount=amount):
            if sender.balance < amount:
                state.set_account(tx.sender, sender)
                return Receipt(tx.hash, STATUS_FAILED, gas_used, fee, "insufficient_funds")
            state.set_account(tx.sender, Account(sender.balance - amount, sender.nonce))
            if amount:  # a zero transfer must not create an empty account record
                recipient = state.get_account(to)
                state.set_account(to, Account(recipient.balance + amount, recipient.nonce))
            return Receipt(tx.hash, STATUS_OK, gas_used, fee, "")
    assert_never(payload)


def tx_parties(tx: SignedTx) -> tuple[bytes, ...]:
    """Addresses whose history shows this transaction."""
    to = tx.body.payload.to
    return (tx.sender,) if to == tx.sender else (tx.sender, to)
