"""The contract VM: a checked, gas-metered, deterministic subset of Python (docs/contracts.md)."""

from vm.errors import AbiError, CheckError, ContractError, Fault, OutOfGas, Revert, VMError
from vm.machine import VM, BlockInfo, CallResult, Event, Host, SettledTx, Writes, contract_address
from vm.outcome import Outcome
from vm.values import ZERO_ADDRESS, Address

__all__ = [
    "VM",
    "ZERO_ADDRESS",
    "AbiError",
    "Address",
    "BlockInfo",
    "CallResult",
    "CheckError",
    "ContractError",
    "Event",
    "Fault",
    "Host",
    "OutOfGas",
    "Outcome",
    "Revert",
    "SettledTx",
    "VMError",
    "Writes",
    "contract_address",
]
