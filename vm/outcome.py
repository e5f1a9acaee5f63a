"""How a call ended, told from the exception that stopped it.

Only what contract code caused becomes a failed result: the VM's own faults (Revert,
OutOfGas, Fault), Python errors that helpers raised at a contract's operation
(ContractError), and Python errors raised by a line of compiled contract code itself.
Anything else is an error of the VM or of the node and must never become a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import TracebackType

from vm import gas
from vm.compiler import CONTRACT_FILE
from vm.errors import ContractError, Fault, OutOfGas, Revert, VMError


class Outcome(Enum):
    OK = "ok"
    REVERT = "revert"  # revert() or a failed require()
    OUT_OF_GAS = "out_of_gas"
    FAULT = "fault"  # any other stop: a VM rule broken, a Python error in contract code


@dataclass(frozen=True, slots=True)
class Failure:
    outcome: Outcome
    reason: str


def failure_of(exc: Exception) -> Failure | None:
    """The failed result `exc` means, or None when contract code did not cause it."""
    if isinstance(exc, Revert):
        return Failure(Outcome.REVERT, exc.reason)
    if isinstance(exc, OutOfGas):
        return Failure(Outcome.OUT_OF_GAS, exc.reason)
    if isinstance(exc, Fault):
        return Failure(Outcome.FAULT, exc.reason)
    if isinstance(exc, ContractError):
        error: Exception = exc.error
    elif isinstance(exc, VMError):
        return Failure(Outcome.FAULT, str(exc))
    elif isinstance(exc, RecursionError) or _raised_in_contract(exc.__traceback__):
        # How deep the stack goes is the contract's doing wherever the limit is hit.
        error = exc
    else:
        return None
    if isinstance(error, MemoryError):
        return None  # how much memory a machine has must not decide a receipt
    if isinstance(error, RecursionError):
        return Failure(Outcome.FAULT, f"call depth over {gas.MAX_CALL_DEPTH}")
    # The traceback of `exc`, not of `error`: a ContractError's holds the contract's frames.
    return Failure(Outcome.FAULT, describe(error, exc.__traceback__))


def describe(error: BaseException, tb: TracebackType | None) -> str:
    """The class of a Python error and the contract line it came from: the same on every node."""
    line = _contract_line(tb)
    name = type(error).__name__
    return f"{name} at line {line}" if line else name


def _is_contract(tb: TracebackType) -> bool:
    return tb.tb_frame.f_code.co_filename.startswith(CONTRACT_FILE)


def _contract_line(tb: TracebackType | None) -> int:
    line = 0
    while tb is not None:
        if _is_contract(tb):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _raised_in_contract(tb: TracebackType | None) -> bool:
    """Whether the innermost frame is contract code: an operator, a call with the wrong
    arguments or an unpacking on its own line, with no VM code below it."""
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _is_contract(tb)
