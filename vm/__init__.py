"""The contract VM: a checked, gas-metered, deterministic subset of Python (docs/contracts.md)."""

from vm.errors import AbiError, CheckError, Fault, OutOfGas, Revert, VMError
from vm.machine import VM, BlockInfo, CallResult, Event, Host, Writes, contract_address
from vm.values import ZERO_ADDRESS, Address

__all__ = [
    "VM",
    "ZERO_ADDRESS",
    "AbiError",
    "Address",
    "BlockInfo",
    "CallResult",
    "CheckError",
    "Event",
    "Fault",
    "Host",
    "OutOfGas",
    "Revert",
    "VMError",
    "Writes",
    "contract_address",
]
