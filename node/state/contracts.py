"""Contract transactions: the node's side of the VM (vm/), over the state overlay.

Contract state lives in the same Merkle tree as accounts: code under `c ‖ address`, each
storage slot under `s ‖ address ‖ key` (the key in the VM value encoding; node/storage/schema.py
builds both). A contract's native coin is an ordinary account balance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from node.state.accounts import Account, StateOverlay
from node.state.params import ExecParams
from node.storage.schema import code_key, slot_key
from node.types.block import STATUS_FAILED, STATUS_OK, Event, Receipt
from node.types.genesis import GenesisContract, GenesisError
from node.types.tx import Call, Deploy, SignedTx, intrinsic_gas
from vm import VM, BlockInfo, CallResult, Writes, contract_address
from vm.values import decode_value


class StateHost:
    """The VM's view of state: a key-value read and an account read."""

    def __init__(self, read: Callable[[bytes], bytes | None], account: Callable[[bytes], Account]) -> None:
        self._read = read
        self._account = account

    def get_storage(self, contract: bytes, key: bytes) -> bytes | None:
        return self._read(slot_key(contract, key))

    def get_code(self, contract: bytes) -> bytes | None:
        return self._read(code_key(contract))

    def get_balance(self, address: bytes) -> int:
        return self._account(address).balance


def block_info(p: ExecParams) -> BlockInfo:
    return BlockInfo(p.height, p.time_ms // 1000)


def overlay_vm(state: StateOverlay, p: ExecParams) -> VM:
    """One VM per block's overlay: it keeps the contracts it has loaded."""
    if state.vm is None:
        state.vm = VM(StateHost(state.get, state.get_account), block_info(p), state.code_store)
    return state.vm


def apply_writes(state: StateOverlay, w: Writes) -> None:
    for (contract, key), raw in w.storage.items():
        state.set(slot_key(contract, key), raw)
    for address, code in w.code.items():
        state.set(code_key(address), code)
    for address, balance in w.balances.items():
        state.set_account(address, Account(balance, state.get_account(address).nonce))


def coin_changes(state: StateOverlay, w: Writes) -> tuple[tuple[bytes, int], ...]:
    """(address, signed change) of every balance the VM's writes change, before they are applied.

    The VM read the same balances through the overlay (the sender's already less its maximum
    fee), so the changes are the coin the call's value and its send_coin moved, and sum to zero."""
    out = []
    for address, balance in w.balances.items():
        delta = balance - state.get_account(address).balance
        if delta:
            out.append((bytes(address), delta))
    return tuple(out)


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
        flows = coin_changes(state, res.writes)
        if flows:
            state.coin_flows[tx.hash] = flows
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
    vm = VM(StateHost(state.get, state.get_account), BlockInfo(0, time_ms // 1000), state.code_store)
    for c in contracts:
        account = state.get_account(c.deployer)
        res = vm.deploy(c.deployer, account.nonce, c.source, decode_value(c.args), 0, GENESIS_CONTRACT_GAS)
        if not res.ok:
            raise GenesisError(f"genesis contract {c.name} failed to deploy ({res.outcome.value}): {res.error}")
        apply_writes(state, res.writes)
        after = state.get_account(c.deployer)
        state.set_account(c.deployer, Account(after.balance, after.nonce + 1))
