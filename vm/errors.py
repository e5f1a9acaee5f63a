"""Errors of the VM: rejected source at deploy time, faults at run time.

A `Fault` stops the whole transaction: every change is undone and its events dropped,
the fee is still charged. `Revert` is the fault a contract asks for; `OutOfGas` the one
the meter raises. Contract code has no `try`, so it can catch none of them.
"""

from __future__ import annotations


class VMError(Exception):
    """Base of every error the VM raises on purpose."""


class CheckError(VMError):
    """The source is outside the language subset, or over a limit."""

    def __init__(self, reason: str, line: int = 0) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)


class Fault(VMError):
    """Stops execution; the transaction's changes are rolled back."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Revert(Fault):
    """`revert(reason)` or a failed `require`."""


class OutOfGas(Fault):
    def __init__(self) -> None:
        super().__init__("out of gas")


class ContractError(VMError):
    """A Python error that an operation of contract code raised inside a VM helper (a list
    indexed out of range, a str added to an int, a method called with the wrong arguments).

    Helpers raise it at the operation, so that the VM can tell it from an error of its own:
    it is reported as if the contract's line had raised `error` itself.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(type(error).__name__)


class AbiError(VMError):
    """Arguments that do not match a method's declared types, or an unknown method."""
