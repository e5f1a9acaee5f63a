"""The builtin functions of contract code (docs/contracts.md), bound to one gas meter.

As in vm/runtime.py, a Python operation done for the contract that can fail on what the
contract passed (a `min` of an int and a str, a range with a zero step) is wrapped where it
runs, so that what it raises is reported as the contract's fault (ContractError).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from vm import gas
from vm.errors import AbiError, ContractError, Fault, Revert
from vm.meter import overflow, scalar, type_name
from vm.values import MAX_INT, ZERO_ADDRESS, Address, check_int, dict_key, parse_address, to_checksum


def make_builtins(charge: Callable[[int], None], sized: Callable[[type, int], None]) -> dict[str, Any]:
    def length(x: Any) -> int:
        try:
            return len(x)
        except Exception as exc:  # a range of over 2**63 items
            raise ContractError(exc) from exc

    def seq(x: Any, what: str) -> Any:
        t = type(x)
        if t is list or t is range:
            charge(length(x) * gas.SCAN + gas.STEP)
            return x
        if t is dict:
            charge(len(x) * gas.SCAN + gas.STEP)
            return list(x)
        raise Fault(f"{what} takes a list, not a {type_name(x)}")

    def len_(x: Any) -> int:
        if type(x) in (list, dict, str, bytes, Address, range):
            return length(x)
        raise Fault(f"a {type_name(x)} has no length")

    def abs_(x: Any) -> int:
        if type(x) not in (int, bool):
            raise Fault("abs takes an integer")
        return abs(x)

    def text_bytes(items: Any) -> int:
        """Bytes of the str and bytes among items: comparing them costs by length."""
        return sum(len(i) for i in items if type(i) in (str, bytes, Address))

    def extreme(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            items = seq(args[0], name) if len(args) == 1 else args
            for i in items:
                scalar(i)
            charge(text_bytes(items) // gas.LONG_KEY)
            if not items:
                raise Fault(f"{name} of an empty list")
            try:
                return fn(items)
            except Exception as exc:  # items that do not compare (an int and a str)
                raise ContractError(exc) from exc

        return run

    def sum_(x: Any) -> int:
        items = seq(x, "sum")
        total = 0
        for i in items:
            if type(i) not in (int, bool):
                raise Fault("sum adds integers")
            total += i
        if not -MAX_INT <= total <= MAX_INT:
            raise overflow()
        return total

    def range_(*args: Any) -> range:
        if not 1 <= len(args) <= 3 or any(type(a) not in (int, bool) for a in args):
            raise Fault("range takes 1 to 3 integers")
        try:
            return range(*args)
        except Exception as exc:  # a zero step
            raise ContractError(exc) from exc

    def list_(x: Any = None) -> list:
        if x is None:
            return []
        if type(x) in (list, dict, range, str):
            sized(list, length(x))
            return list(x)
        raise Fault(f"list() takes a list, dict, range or str, not a {type_name(x)}")

    def dict_(x: Any = None) -> dict:
        if x is None:
            return {}
        if type(x) is dict:
            sized(dict, len(x))
            return dict(x)
        if type(x) is list:
            sized(dict, len(x))
            out = {}
            for pair in x:
                if type(pair) is not list or len(pair) != 2:
                    raise Fault("dict() takes a dict or a list of [key, value] pairs")
                out[dict_key(pair[0])] = pair[1]
            return out
        raise Fault(f"dict() takes a dict or a list of pairs, not a {type_name(x)}")

    def str_(x: Any = "") -> str:
        t = type(x)
        if t is str:
            return x
        if t is int or t is bool or x is None:
            return str(x)
        if t is Address:
            charge(gas.CHECKSUM)
            return to_checksum(x)
        raise Fault(f"str() of a {type_name(x)}: use .hex() or .decode() for bytes")

    def int_(x: Any = 0, base: int = 10) -> int:
        t = type(x)
        if t is int or t is bool:
            return int(x)
        if t is str:
            if len(x) > 100 or type(base) is not int:
                raise Fault("int() of a string over 100 characters")
            try:
                return check_int(int(x, base))
            except ValueError:
                raise Fault(f"int() cannot read {x[:40]!r}") from None
        raise Fault(f"int() of a {type_name(x)}")

    def bool_(x: Any = False) -> bool:
        return bool(x)

    def sorted_(x: Any, reverse: bool = False) -> list:
        items = seq(x, "sorted")
        for i in items:
            scalar(i)
        rounds = max(len(items).bit_length(), 1)
        sized(list, len(items))  # what the result holds, and one round of the work
        charge(len(items) * (rounds - 1) * gas.ITEM)
        charge(text_bytes(items) * rounds // gas.LONG_KEY)
        try:
            return sorted(items, reverse=bool(reverse))
        except Exception as exc:  # items that do not compare (an int and a str)
            raise ContractError(exc) from exc

    def reversed_(x: Any) -> list:
        items = seq(x, "reversed")
        sized(list, len(items))
        return list(reversed(items))

    def enumerate_(x: Any, start: int = 0) -> list:
        if type(start) is not int or abs(start) > MAX_INT - gas.MAX_LIST:
            raise Fault("enumerate() starts at an integer well within 256 bits")
        items = seq(x, "enumerate")
        sized(list, 3 * len(items))
        return [[i, v] for i, v in enumerate(items, start)]

    def zip_(*lists: Any) -> list:
        cols = [seq(x, "zip") for x in lists]
        n = min((len(c) for c in cols), default=0)
        sized(list, n * (len(cols) + 1))
        return [list(row) for row in zip(*cols, strict=False)]

    def all_(x: Any) -> bool:
        return all(seq(x, "all"))

    def any_(x: Any) -> bool:
        return any(seq(x, "any"))

    def isqrt_(n: Any) -> int:
        if type(n) not in (int, bool) or n < 0:
            raise Fault("isqrt takes a non-negative integer")
        charge(gas.INT_WORD * 8)
        return math.isqrt(n)

    def reason_text(reason: Any) -> str:
        if type(reason) is not str:
            raise Fault("a revert reason is a str")
        return reason[:256]

    def require(cond: Any, reason: Any = "") -> None:
        if not cond:
            raise Revert(reason_text(reason) or "requirement failed")

    def revert(reason: Any = "") -> None:
        raise Revert(reason_text(reason) or "reverted")

    def sha256_(data: Any) -> bytes:
        if type(data) not in (bytes, Address):
            raise Fault("sha256 takes bytes: use .encode() for a str")
        charge(gas.HASH + len(data) * gas.HASH_BYTE)
        return hashlib.sha256(data).digest()

    def address_(x: Any) -> Address:
        if type(x) is Address:
            return x
        if type(x) is bytes:
            return Address(x)
        if type(x) is str:
            charge(gas.CHECKSUM)
            try:
                return parse_address(x)
            except AbiError as exc:
                raise Fault(str(exc)) from None
        raise Fault(f"address() of a {type_name(x)}")

    return {
        "len": len_, "abs": abs_, "min": extreme(min, "min"), "max": extreme(max, "max"), "sum": sum_,
        "range": range_, "list": list_, "dict": dict_, "str": str_, "int": int_, "bool": bool_, "sorted": sorted_,
        "reversed": reversed_, "enumerate": enumerate_, "zip": zip_, "all": all_, "any": any_, "isqrt": isqrt_,
        "require": require, "revert": revert, "sha256": sha256_, "address": address_,
        "ZERO_ADDRESS": ZERO_ADDRESS, "MAX_UINT": MAX_INT,
    }
