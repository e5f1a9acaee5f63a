"""State: accounts, and the overlay of pending writes a block executes against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.storage.schema import account_key
from node.types import codec
from node.types.errors import StoreCorrupted


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
        self.vm: Any = None  # the block's contract VM, made on first use (node/state/contracts.py)
        self.code_store: Any = None  # where compiled contracts are kept (node/storage/store.py CompiledCode)
        # The committed transactions contracts read with settled() (node/state/contracts.py settled_lookup).
        self.settled: Any = None

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
