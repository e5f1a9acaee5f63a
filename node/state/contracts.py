"""Contract transactions: the node's side of the VM (vm/), over the state overlay.

Contract state lives in the same Merkle tree as accounts: code under `c ‖ address`, each
storage slot under `s ‖ address ‖ key` (the key in the VM value encoding; node/storage/schema.py
builds both). A contract's native coin is an ordinary account balance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import assert_never

from node.state.accounts import Account, StateOverlay
from node.state.params import ExecParams
from node.storage.schema import code_key, slot_key
from node.storage.store import Store, TxSummary
from node.types.block import STATUS_FAILED, STATUS_OK, Event, Receipt
from node.types.errors import StoreCorrupted
from node.types.genesis import GenesisContract, GenesisError
from node.types.tx import Call, Deploy, SignedTx, Transfer, intrinsic_gas
from vm import VM, BlockInfo, CallResult, SettledTx, Writes, contract_address
from vm.values import decode_value

SettledLookup = Callable[[bytes], SettledTx | None]


def nothing_settled(tx_hash: bytes) -> SettledTx | None:
    """The lookup before the first block (genesis contracts): no transaction is committed."""
    return None


def settled_lookup(store: Store, decode_tx: Callable[[bytes], SignedTx]) -> SettledLookup:
    """The committed transactions of `store`, at any height, for the VM's settled() (which keeps only
    those below the block it runs in). A store written before tx summaries existed has none for its
    older transactions: those are read from their block, to the same answer."""

    def lookup(tx_hash: bytes) -> SettledTx | None:
        summary = store.get_tx_summary(tx_hash)
        if summary is None:
            summary = _summary_from_block(store, decode_tx, tx_hash)
            if summary is None:
                return None
        return SettledTx(summary.height, summary.status == STATUS_OK, summary.kind, summary.sender, summary.to)

    return lookup


def _summary_from_block(store: Store, decode_tx: Callable[[bytes], SignedTx], tx_hash: bytes) -> TxSummary | None:
    location = store.get_tx(tx_hash)
    if location is None:
        return None
    block = store.get_block(location.height)
    if block is None or location.index >= len(block.txs):
        raise StoreCorrupted(f"transaction {tx_hash.hex()} is indexed at a place its block does not have")
    kind, sender, to = tx_head(decode_tx(block.txs[location.index]))
    return TxSummary(location.height, location.receipt.status, kind, sender, to)


def tx_head(tx: SignedTx) -> tuple[str, bytes, bytes]:
    """(kind, sender, to) of a transaction as its tx summary keeps it (node/storage/store.py TxSummary)."""
    payload = tx.body.payload
    match payload:
        case Transfer(to=to):
            return "transfer", tx.sender, to
        case Deploy():
            return "deploy", tx.sender, contract_address(tx.sender, tx.body.nonce)
        case Call(to=to):
            return "call", tx.sender, to
    assert_never(payload)


class StateHost:
    """The VM's view of state: a key-value read, an account read, and the committed transactions."""

    def __init__(self, read: Callable[[bytes], bytes | None], account: Callable[[bytes], Account],
                 settled: SettledLookup) -> None:
        self._read = read
        self._account = account
        self._settled = settled

    def get_storage(self, contract: bytes, key: bytes) -> bytes | None:
        return self._read(slot_key(contract, key))

    def get_code(self, contract: bytes) -> bytes | None:
        return self._read(code_key(contract))

    def get_balance(self, address: bytes) -> int:
        return self._account(address).balance

    def get_settled(self, tx_hash: bytes) -> SettledTx | None:
        return self._settled(tx_hash)


def block_info(p: ExecParams) -> BlockInfo:
    return BlockInfo(p.height, p.time_ms // 1000)


def overlay_vm(state: StateOverlay, p: ExecParams) -> VM:
    """One VM per block's overlay: it keeps the contracts it has loaded."""
    if state.vm is None:
        if state.settled is None:
            raise ValueError("the overlay has no lookup of settled transactions (set StateOverlay.settled)")
        state.vm = VM(StateHost(state.get, state.get_account, state.settled), block_info(p), state.code_store)
    return state.vm


def apply_writes(state: StateOverlay, w: Writes) -> None:
    for (contract, key), raw in w.storage.items():
        state.set(slot_key(contract, key), raw)
    for address, code in w.code.items():
        state.set(code_key(address), code)
    for address, balance in w.balances.items():
        state.set_account(address, Account(balance, state.get_account(address).nonce))


def run_contract_tx(vm: VM, tx: SignedTx, nonce: int) -> CallResult:
    """Run a deploy or call with the gas left after the intrinsic charge; nothing is applied."""
    body = tx.body
    payload = body.payload
    gas = body.gas_limit - intrinsic_gas(body)
    args = decode_value(payload.args)
    if isinstance(payload, Deploy):
        return vm.deploy(tx.sender, nonce, payload.source, args, payload.amount, gas)
    if isinstance(payload, Call):
        return vm.call(tx.sender, payload.to, payload.method, args, payload.amount, gas)
    raise TypeError(f"not a contract transaction: {type(payload).__name__}")


def process_contract_tx(state: StateOverlay, tx: SignedTx, sender: Account, p: ExecParams) -> Receipt:
    """Charge the whole fee, run, apply on success, refund the gas not used."""
    body = tx.body
    state.set_account(tx.sender, Account(sender.balance - body.max_fee, sender.nonce + 1))
    res = run_contract_tx(overlay_vm(state, p), tx, sender.nonce)
    if res.ok:
        apply_writes(state, res.writes)
    gas_used = intrinsic_gas(body) + res.gas_used
    price = body.effective_gas_price(p.base_fee)
    after = state.get_account(tx.sender)
    state.set_account(tx.sender, Account(after.balance + body.max_fee - gas_used * price, after.nonce))
    events = tuple(Event(e.address, e.name, e.raw) for e in res.events)
    output = res.raw_output if res.ok else None
    return Receipt(tx.hash, STATUS_OK if res.ok else STATUS_FAILED, gas_used, gas_used * price, res.error,
                   events, output)


def new_contract_address(tx: SignedTx) -> bytes | None:
    return contract_address(tx.sender, tx.body.nonce) if isinstance(tx.body.payload, Deploy) else None


GENESIS_CONTRACT_GAS = 400_000_000  # a whole block's gas: a genesis contract is trusted, not metered for price


def deploy_genesis_contracts(state: StateOverlay, contracts: Sequence[GenesisContract], time_ms: int) -> None:
    """Deploy genesis contracts in order, each as a deploy by its deployer at the deployer's next nonce."""
    vm = VM(StateHost(state.get, state.get_account, nothing_settled), BlockInfo(0, time_ms // 1000),
            state.code_store)
    for c in contracts:
        account = state.get_account(c.deployer)
        res = vm.deploy(c.deployer, account.nonce, c.source, decode_value(c.args), 0, GENESIS_CONTRACT_GAS)
        if not res.ok:
            raise GenesisError(f"genesis contract {c.name} failed to deploy ({res.outcome.value}): {res.error}")
        apply_writes(state, res.writes)
        after = state.get_account(c.deployer)
        state.set_account(c.deployer, Account(after.balance, after.nonce + 1))
