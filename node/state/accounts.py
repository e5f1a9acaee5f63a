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
        # Typed fields, encoded for every account a transaction touches: no canonical walk.
        return codec.encode_unchecked([codec.u256_to_bytes(self.balance), self.nonce])

    @staticmethod
    def decode(raw: bytes) -> Account:
        try:
            f = codec.expect_list(codec.decode(raw), 2, "account")
            return Account(codec.bytes_to_u256(f[0], "balance"), codec.expect_uint(f[1], "nonce"))
        except codec.DecodeError as exc:
            raise StoreCorrupted(f"account record does not decode: {exc}") from exc


EMPTY_ACCOUNT = Account()
_MISSING: Any = object()  # in the undo journal: the key was absent


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
        # Not state: per contract transaction (by hash), the (address, change) of the coin its
        # code moved, for the movement index (node/state/movements.py). Nothing hashes or reads it
        # during execution. snapshot/restore leave it alone: what they undo never reached the VM,
        # and entries are looked up by the hashes of the transactions a block keeps.
        self.coin_flows: dict[bytes, tuple[tuple[bytes, int], ...]] = {}
        # From the first snapshot on, every write records what it replaced, so that a snapshot
        # is a position in this journal and a restore undoes only what came after it (a copy of
        # the block's writes per transaction made building a block quadratic in its size).
        self._journal: list[tuple[dict[bytes, Any], bytes, Any]] | None = None

    def get(self, key: bytes) -> bytes | None:
        if key in self.changes:
            return self.changes[key]
        return self._read(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        if self._journal is not None:
            self._journal.append((self.changes, key, self.changes.get(key, _MISSING)))
        self.changes[key] = value

    def get_account(self, address: bytes) -> Account:
        cached = self._accounts.get(address)
        if cached is not None:
            return cached
        raw = self.get(account_key(address))
        account = EMPTY_ACCOUNT if raw is None else Account.decode(raw)
        if self._journal is not None:
            self._journal.append((self._accounts, address, _MISSING))
        self._accounts[address] = account
        return account

    def set_account(self, address: bytes, account: Account) -> None:
        key = account_key(address)
        if self._journal is not None:
            self._journal.append((self._accounts, address, self._accounts.get(address, _MISSING)))
            self._journal.append((self.changes, key, self.changes.get(key, _MISSING)))
        self._accounts[address] = account
        self.changes[key] = account.encode()

    def snapshot(self) -> int:
        """A mark to `restore` to: writes after it are undone, those before it stay."""
        if self._journal is None:
            self._journal = []
        return len(self._journal)

    def restore(self, mark: int) -> None:
        journal = self._journal
        if journal is None or mark > len(journal):
            raise ValueError(f"no snapshot at {mark}")
        while len(journal) > mark:
            table, key, old = journal.pop()
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old
