"""The gas meter, and the checks that every helper contract code runs with shares."""

from __future__ import annotations

import sys
from typing import Any

from vm import gas
from vm.errors import Fault, OutOfGas
from vm.values import SCALAR_TYPES, Address


class Meter:
    """Gas used against a limit, and the depth of calls in progress."""

    __slots__ = ("depth", "limit", "used")

    def __init__(self) -> None:
        self.used = 0
        self.limit = 0
        self.depth = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            self.used = self.limit
            raise OutOfGas()

    def enter(self, n: int) -> None:
        self.charge(n)
        self.depth += 1
        if self.depth > gas.MAX_CALL_DEPTH:
            raise Fault(f"call depth over {gas.MAX_CALL_DEPTH}")

    def leave(self) -> None:
        self.depth -= 1


def scan_width(x: Any) -> int:
    """Extra gas per item when comparing x with every item of a list."""
    t = type(x)
    return len(x) // gas.LONG_KEY if t is str or t is bytes or t is Address else 0


def search_cost(hay: Any, needle: Any) -> int:
    """Finding `needle` in `hay` (in, find, replace, split).

    CPython's search can compare the whole needle at every position of a text under 2,500
    characters or one at most 2,000 characters longer than the needle, and up to 100
    characters of it elsewhere (past that it switches to a linear algorithm).
    """
    n, m = len(hay), len(needle)
    width = m if n < 2500 or n - m <= 2000 else min(m, 100)
    return n // 4 + n * width // 64 + gas.STEP


def overflow() -> Fault:
    return Fault("integer overflow")


def type_name(x: Any) -> str:
    t = type(x)
    return "address" if t is Address else "None" if x is None else t.__name__


def scalar(x: Any) -> Any:
    if type(x) in SCALAR_TYPES:
        return x
    raise Fault(f"a {type_name(x)} cannot be compared: compare its items")


def compact(d: dict) -> None:
    """Rebuild `d` in place once deletes have left it mostly empty slots.

    CPython never shrinks a dict on delete, and every walk of it (for, keys, copy, sum)
    visits the dead slots too: 87,000 deletes would make each later walk of a one-item
    dict cost 87,000 steps while it pays for one. A fresh or churned dict holds under
    80 bytes per item, so past 96 most of the table is dead. The rebuild keeps the
    order. It changes no gas (each delete pays gas.DICT_DELETE, which covers the rebuilds
    amortised), so the gas used does not depend on the table's size in memory.
    """
    if sys.getsizeof(d) > 96 * len(d) + 512:
        items = list(d.items())
        d.clear()
        d.update(items)


def check_len(t: type, n: int) -> None:
    if t is list or t is dict:
        if n > gas.MAX_LIST:
            raise Fault(f"a {t.__name__} of over {gas.MAX_LIST} items")
    elif n > gas.MAX_BYTES:
        raise Fault(f"a {t.__name__} of over {gas.MAX_BYTES} bytes")
