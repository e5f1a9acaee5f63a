"""An in-memory chain for contract tests and benchmarks: one VM over dict state.

Not a mock of the node: it is the same VM the node runs, over a dict instead of the
state trie, with the same rule that a call's writes are applied only when it succeeded.
"""

from __future__ import annotations

import hashlib
from typing import Any

from vm.contracts import source
from vm.machine import VM, BlockInfo, CallResult, SettledTx, Writes, contract_address
from vm.values import Address

DEFAULT_GAS = 50_000_000  # a deploy of a standard contract (lending: about 10,100,000) fits


def load_contract(name: str) -> str:
    """The source of a standard contract in vm/contracts/."""
    return source(name)


class MemoryHost:
    def __init__(self) -> None:
        self.storage: dict[tuple[bytes, bytes], bytes] = {}
        self.code: dict[bytes, bytes] = {}
        self.balances: dict[bytes, int] = {}
        self.settled: dict[bytes, SettledTx] = {}  # committed transactions by hash, as a node's tx index

    def get_storage(self, contract: bytes, key: bytes) -> bytes | None:
        return self.storage.get((contract, key))

    def get_code(self, contract: bytes) -> bytes | None:
        return self.code.get(contract)

    def get_balance(self, address: bytes) -> int:
        return self.balances.get(address, 0)

    def get_settled(self, tx_hash: bytes) -> SettledTx | None:
        return self.settled.get(tx_hash)

    def apply(self, w: Writes) -> None:
        for slot, raw in w.storage.items():
            if raw is None:
                self.storage.pop(slot, None)
            else:
                self.storage[slot] = raw
        self.code.update(w.code)
        self.balances.update(w.balances)

    def state_digest(self) -> bytes:
        """A hash of everything, in sorted order: equal digests mean equal states."""
        h = hashlib.sha256()
        for table in (self.storage, self.code, self.balances):
            for k in sorted(table):
                h.update(repr((k, table[k])).encode())
        return h.digest()


class Chain:
    def __init__(self, height: int = 1, time: int = 1_700_000_000) -> None:
        self.host = MemoryHost()
        self.vm = VM(self.host, BlockInfo(height, time))
        self.nonces: dict[bytes, int] = {}
        self._accounts = 0
        self.last_tx = b""  # the hash under which the last deploy or call was recorded as committed

    def account(self, balance: int = 0) -> Address:
        self._accounts += 1
        addr = Address(hashlib.sha256(b"account" + self._accounts.to_bytes(4, "big")).digest()[:20])
        self.host.balances[addr] = balance
        return addr

    def balance(self, address: bytes) -> int:
        return self.host.get_balance(address)

    def _done(self, sender: bytes, res: CallResult, kind: str, to: bytes) -> CallResult:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        if res.ok:
            self.host.apply(res.writes)
        self.last_tx = self.record(sender, to, res.ok, kind, nonce)
        return res

    def record(self, sender: bytes, to: bytes, ok: bool, kind: str = "call", nonce: int | None = None) -> bytes:
        """Record a transaction as committed in the current block (what a node's tx index holds);
        contracts see it with settled() from the next block on. Returns its hash."""
        if nonce is None:
            nonce = self.nonces.get(sender, 0)
            self.nonces[sender] = nonce + 1
        tx_hash = hashlib.sha256(b"tx" + bytes(sender) + nonce.to_bytes(8, "big")).digest()
        self.host.settled[tx_hash] = SettledTx(self.vm.block.height, ok, kind, bytes(sender), bytes(to))
        return tx_hash

    def deploy(self, sender: Address, source: str, args: list[Any] | None = None, value: int = 0,
               gas: int = DEFAULT_GAS) -> CallResult:
        nonce = self.nonces.get(sender, 0)
        res = self.vm.deploy(sender, nonce, source, args or [], value, gas)
        return self._done(sender, res, "deploy", contract_address(sender, nonce))

    def call(self, sender: Address, contract: bytes, method: str, args: list[Any] | None = None, value: int = 0,
             gas: int = DEFAULT_GAS) -> CallResult:
        return self._done(sender, self.vm.call(sender, contract, method, args or [], value, gas), "call", contract)

    def must(self, sender: Address, contract: bytes, method: str, args: list[Any] | None = None, value: int = 0,
             gas: int = DEFAULT_GAS) -> Any:
        res = self.call(sender, contract, method, args, value, gas)
        if not res.ok:
            raise AssertionError(f"{method} failed ({res.outcome.value}): {res.error}")
        return res.output

    def query(self, contract: bytes, method: str, args: list[Any] | None = None, gas: int = DEFAULT_GAS) -> Any:
        res = self.vm.query(contract, method, args or [], gas)
        if not res.ok:
            raise AssertionError(f"{method} failed ({res.outcome.value}): {res.error}")
        return res.output

    def advance(self, blocks: int = 1, seconds: int = 5) -> None:
        b = self.vm.block
        self.vm.block = BlockInfo(b.height + blocks, b.time + seconds)
