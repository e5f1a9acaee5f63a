"""The helpers and methods contract code runs with, bound to one gas meter.

Everything here is reachable from contract code only through the names the compiler
emits (`_add`, `_m_append`, ...); the builtins are in vm/builtin_funcs.py. Each helper
checks exact types, charges gas before doing work in proportion to its size, and keeps
integers within 256 bits.

The Python operation a helper performs for the contract (`c[k]`, `a - b`, `x.pop(i)`) sits
alone in a `try` that turns what it raises into a ContractError: the contract's fault. Only
those operations do, and never on the storage handle (whose methods are VM code), so that
an error anywhere else in a helper stays an error of the VM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vm import gas
from vm.builtin_funcs import make_builtins
from vm.errors import ContractError, Fault
from vm.meter import Meter, check_len, compact, overflow, scalar, scan_width, search_cost, type_name
from vm.values import MAX_INT, Address, dict_key, to_checksum

_SIZED = (str, bytes, Address, list)


def make_helpers(meter: Meter, storage_type: type) -> dict[str, Any]:
    """Operators, methods and pure builtins, charging `meter`; `storage_type` is the storage handle's class."""
    charge = meter.charge

    def sized(t: type, n: int, width: int = 1) -> None:
        """Bound and charge a value of `n` items or bytes about to be built: the work, and the
        memory it will hold (`width` bytes per character of a str)."""
        check_len(t, n)
        if t is list:
            charge(n * (gas.ITEM + gas.SLOT) + gas.CONTAINER)
        elif t is dict:
            charge(n * (gas.ITEM + gas.ENTRY) + gas.CONTAINER)
        else:
            charge(n * gas.BYTE * width)

    def bigint(r: int) -> int:
        if not -MAX_INT <= r <= MAX_INT:
            raise overflow()
        return r

    def add(a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is int and type(b) is int:
            r = a + b
            if -MAX_INT <= r <= MAX_INT:
                return r
            raise overflow()
        if ta in _SIZED and type(b) in _SIZED:
            sized(list if ta is list else str, len(a) + len(b), width(a, b))
        try:
            r = a + b
        except Exception as exc:
            raise ContractError(exc) from exc
        return bigint(r) if type(r) is int else r

    def sub(a: Any, b: Any) -> Any:
        try:
            r = a - b
        except Exception as exc:
            raise ContractError(exc) from exc
        if type(r) is int and not -MAX_INT <= r <= MAX_INT:
            raise overflow()
        return r

    def mul(a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if (ta is int or ta is bool) and (tb is int or tb is bool):
            if a.bit_length() + b.bit_length() > 257:
                raise overflow()
            return bigint(a * b)
        if ta in _SIZED and (tb is int or tb is bool):
            sized(list if ta is list else str, len(a) * max(b, 0), width(a))
        elif tb in _SIZED and (ta is int or ta is bool):
            sized(list if tb is list else str, len(b) * max(a, 0), width(b))
        try:
            return a * b
        except Exception as exc:
            raise ContractError(exc) from exc

    def mod(a: Any, b: Any) -> Any:
        if type(a) is not int and type(a) is not bool:
            raise Fault("% works on integers only: string formatting is not allowed")
        try:
            return a % b
        except Exception as exc:
            raise ContractError(exc) from exc

    def power(a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            raise Fault("** works on integers only")
        if b < 0:
            raise Fault("negative exponent")
        charge(gas.POW + b.bit_length())  # its checks (about 1 us), and the squarings even when the result stays small
        if a in (0, 1, -1):
            return a**b
        if (abs(a).bit_length() - 1) * b > 256:
            raise overflow()
        r = bigint(a**b)
        charge(gas.INT_WORD * (r.bit_length() // 64 + 1))
        return r

    def lshift(a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            raise Fault("<< works on integers only")
        if b < 0:
            raise Fault("negative shift count")
        if a and a.bit_length() + b > 256:
            raise overflow()
        return a << b

    def bitor(a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            raise Fault("| works on integers and bools only")
        return a | b

    def invert(a: Any) -> int:
        try:
            r = ~a
        except Exception as exc:
            raise ContractError(exc) from exc
        return bigint(r)

    def bitand(a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            raise Fault("& works on integers and bools only")
        r = a & b
        return bigint(r) if type(r) is int else r

    def bitxor(a: Any, b: Any) -> Any:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            raise Fault("^ works on integers and bools only")
        r = a ^ b
        return bigint(r) if type(r) is int else r

    def compared(x: Any) -> Any:
        """The left side of a comparison: a scalar, and long strings pay for the bytes compared."""
        t = type(x)
        if t is int or t is bool or x is None:
            return x
        if t is str or t is bytes or t is Address:
            if len(x) > gas.LONG_KEY:
                charge(len(x) // gas.LONG_KEY)
            return x
        return scalar(x)

    def key_cost(k: Any) -> None:
        t = type(k)
        if (t is str or t is bytes or t is Address) and len(k) > gas.LONG_KEY:
            charge(len(k) // gas.LONG_KEY)

    def get(c: Any, k: Any) -> Any:
        key_cost(k)
        if type(c) is storage_type:
            return c[k]  # the VM's own code: none of its errors is the contract's
        try:
            return c[k]
        except Exception as exc:
            raise ContractError(exc) from exc

    def set_(c: Any, k: Any, v: Any) -> None:
        key_cost(k)
        tc = type(c)
        if tc is storage_type:
            c[k] = v
            return
        if tc is dict:
            try:
                new = k not in c
            except Exception as exc:  # an unhashable key
                raise ContractError(exc) from exc
            if new:
                dict_key(k)
                check_len(dict, len(c) + 1)
                charge(gas.ITEM + gas.ENTRY)
        try:
            c[k] = v
        except Exception as exc:
            raise ContractError(exc) from exc

    def del_(c: Any, k: Any) -> None:
        key_cost(k)
        tc = type(c)
        if tc is storage_type:
            del c[k]
            return
        if tc is list:
            charge(len(c) // 16)  # the items after k shift down
        elif tc is dict:
            charge(gas.DICT_DELETE)
        try:
            del c[k]
        except Exception as exc:
            raise ContractError(exc) from exc
        if tc is dict:
            compact(c)

    def key(k: Any) -> Any:
        key_cost(k)
        return dict_key(k)

    def gi(n: int, it: Any) -> Any:
        charge(n)
        return each(it)

    def each(it: Any) -> Any:
        walk = loop(it)
        if type(walk) is storage_type:
            items = iter(walk)  # the storage handle's own refusal
        else:
            try:
                items = iter(walk)
            except Exception as exc:  # not iterable
                raise ContractError(exc) from exc
        for x in items:
            charge(5 * gas.STEP)  # a generator step costs about as much as five evaluated nodes
            yield x

    def loop(it: Any) -> Any:
        """What a `for` walks: a dict's keys as they were when the loop began. Changing the dict
        in the loop then changes nothing of the walk, where CPython's own walk would depend on
        how the dict's table happens to be laid out (vm.meter.compact rebuilds it)."""
        if type(it) is dict:
            charge(len(it) * gas.KEY_COPY + gas.STEP)
            return list(it)
        return it

    def gv(n: int, v: Any) -> Any:
        charge(n)
        return v

    def contains(x: Any, c: Any) -> bool:
        tc = type(c)
        if tc is dict:
            key_cost(x)
            return scalar(x) in c
        if tc is list:
            # Each item is compared with x, at a cost that grows with x's length.
            charge(len(c) * (1 + scan_width(x)) + gas.STEP)
            return scalar(x) in c
        if tc is str or tc is bytes or tc is Address:
            tn = type(scalar(x))
            if tn is not str and tn is not bytes and tn is not Address:
                # The TypeError the search's cost would have raised on an int needle, raised here so
                # that search_cost stays VM code whose own errors are not the contract's.
                raise ContractError(TypeError(f"{type_name(x)} has no len()"))
            charge(search_cost(c, x) + len(x) // 4)
            try:
                return x in c
            except Exception as exc:  # a str in bytes, bytes in a str
                raise ContractError(exc) from exc
        if tc is storage_type:
            return c.has(x)
        raise Fault(f"in needs a list, dict, str, bytes or storage, not {type_name(c)}")

    def slice_(v: Any, lo: Any, hi: Any, st: Any) -> Any:
        t = type(v)
        if t not in (list, str, bytes, Address):
            raise Fault(f"a {type_name(v)} cannot be sliced")
        try:
            n = len(range(len(v))[lo:hi:st])
        except Exception as exc:  # bounds that are not integers, a zero step
            raise ContractError(exc) from exc
        sized(list if t is list else str, n, width(v))
        return v[lo:hi:st]

    h: dict[str, Any] = {
        "_g": charge, "_gv": gv, "_gi": gi, "_enter": meter.enter, "_leave": meter.leave, "_add": add, "_sub": sub,
        "_mul": mul, "_mod": mod, "_pow": power, "_lsh": lshift, "_or": bitor, "_and": bitand, "_xor": bitxor,
        "_inv": invert, "_s": compared, "_in": contains, "_it": loop, "_slice": slice_, "_get": get, "_set": set_,
        "_del": del_, "_key": key,
    }
    h.update(_methods(charge, sized, storage_type, lambda: meter.limit - meter.used))
    h.update(make_builtins(charge, sized))
    return h


def _method(name: str, table: dict[type, Callable[..., Any]]) -> Callable[..., Any]:
    def dispatch(obj: Any, *args: Any, **kwargs: Any) -> Any:
        impl = table.get(type(obj))
        if impl is None:
            raise Fault(f"a {type_name(obj)} has no method {name}")
        try:
            return impl(obj, *args, **kwargs)
        except TypeError as exc:
            # Raised before `impl` ran (the traceback ends here): the contract passed arguments
            # that do not fit the method. Raised inside it, it is the helper's own to report.
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                raise ContractError(exc) from exc
            raise

    dispatch.__name__ = f"_m_{name}"
    return dispatch


def width(*xs: Any) -> int:
    """Bytes charged per character of a str built from `xs`: 1 if every str among them is
    ASCII (CPython's compact form, told in constant time), else gas.WIDE. Bytes are 1."""
    for x in xs:
        if type(x) is str and not x.isascii():
            return gas.WIDE
    return 1


def _methods(charge: Callable[[int], None], sized: Callable[..., None], storage_type: type,
             gas_left: Callable[[], int]) -> dict[str, Any]:
    def per_len(factor: int) -> Callable[[Any], None]:
        return lambda x: charge(len(x) // factor + gas.STEP)

    def l_append(x: list, v: Any) -> None:
        check_len(list, len(x) + 1)
        charge(gas.ITEM + gas.SLOT)
        x.append(v)

    def l_insert(x: list, i: int, v: Any) -> None:
        check_len(list, len(x) + 1)
        charge(gas.ITEM + gas.SLOT + len(x) // 16)
        try:
            x.insert(i, v)
        except Exception as exc:
            raise ContractError(exc) from exc

    def l_extend(x: list, other: list) -> None:
        if type(other) is not list:
            raise Fault("extend takes a list")
        check_len(list, len(x) + len(other))
        charge(len(other) * (gas.ITEM + gas.SLOT))
        x.extend(other)

    def l_pop(x: list, i: int = -1) -> Any:
        per_len(16)(x)
        try:
            return x.pop(i)
        except Exception as exc:
            raise ContractError(exc) from exc

    def scanning(method: str) -> Callable[..., Any]:
        def run(x: Any, v: Any, *rest: Any) -> Any:
            charge(len(x) * (1 + scan_width(v)) + gas.STEP)
            needle = scalar(v)
            try:
                return getattr(x, method)(needle, *rest)
            except Exception as exc:  # not in the list, bounds that are not integers
                raise ContractError(exc) from exc

        return run

    def l_reverse(x: list) -> None:
        per_len(16)(x)
        x.reverse()

    def copy(x: Any) -> Any:
        sized(type(x), len(x))
        return x.copy()

    def d_keys(x: dict) -> list:
        sized(list, len(x))
        return list(x)

    def d_values(x: dict) -> list:
        sized(list, len(x))
        return list(x.values())

    def d_items(x: dict) -> list:
        sized(list, 3 * len(x))
        return [[k, v] for k, v in x.items()]

    def d_get(x: dict, k: Any, default: Any = None) -> Any:
        charge(gas.STEP + scan_width(k))
        return x.get(scalar(k), default)

    def d_pop(x: dict, k: Any, *default: Any) -> Any:
        charge(gas.STEP + gas.DICT_DELETE + scan_width(k))
        key = scalar(k)
        try:
            out = x.pop(key, *default)
        except Exception as exc:
            raise ContractError(exc) from exc
        compact(x)
        return out

    def d_setdefault(x: dict, k: Any, default: Any = None) -> Any:
        check_len(dict, len(x) + 1)
        new = scalar(k) not in x
        charge(gas.ITEM + (gas.ENTRY if new else 0) + scan_width(k))
        return x.setdefault(dict_key(k), default)

    def text(method: str) -> Callable[..., Any]:
        def run(x: Any, *args: Any) -> Any:
            for a in args:
                if type(a) not in (str, bytes, int, type(None)):
                    raise Fault(f"{method} takes str arguments")
            sized(str, len(x), width(x))
            try:
                out = getattr(x, method)(*args)
            except Exception as exc:
                raise ContractError(exc) from exc
            if type(out) is str and len(out) > len(x):
                sized(str, len(out), width(out))  # upper() and lower() can lengthen a string
            return out

        return run

    def s_strip(x: str, chars: Any = None) -> str:
        # Each character of x is looked up among `chars`: keep that set short.
        if chars is not None and (type(chars) is not str or len(chars) > 64):
            raise Fault("strip takes at most 64 characters to strip")
        sized(str, len(x), width(x))
        return x.strip(chars)

    def s_split(x: str, sep: Any = None, maxsplit: int = -1) -> list:
        if (sep is not None and type(sep) is not str) or type(maxsplit) not in (int, bool):
            raise Fault("split takes a str separator and an int maxsplit")
        sized(str, len(x), width(x))
        if sep is not None:
            charge(search_cost(x, sep))
        # Never build more pieces than the list limit or the gas left allows: one piece over
        # either is enough to fault, after work the gas left has paid for.
        limit = min(gas.MAX_LIST, gas_left() // (gas.ITEM + gas.SLOT))
        try:
            out = x.split(sep, limit if maxsplit < 0 else min(maxsplit, limit))
        except Exception as exc:  # an empty separator
            raise ContractError(exc) from exc
        sized(list, len(out))
        return out

    def s_join(x: str, items: list) -> str:
        if type(items) is not list:
            raise Fault("join takes a list of str")
        charge(gas.STEP + len(items) * gas.SCAN)  # the walks below, even when every item is empty
        if not all(type(i) is str for i in items):
            raise Fault("join takes a list of str")
        wide = width(x) if all(i.isascii() for i in items) else gas.WIDE
        sized(str, sum(len(i) for i in items) + len(x) * max(len(items) - 1, 0), wide)
        return x.join(items)

    def s_replace(x: str, old: str, new: str, count: int = -1) -> str:
        if type(old) is not str or type(new) is not str:
            raise Fault("replace takes str arguments")
        charge(2 * search_cost(x, old))  # count, then replace
        try:
            hits = x.count(old) if count < 0 else min(count, x.count(old))
        except Exception as exc:  # a count that is not an integer
            raise ContractError(exc) from exc
        sized(str, len(x) + hits * (len(new) - len(old)), width(x, new))
        try:
            return x.replace(old, new, count)
        except Exception as exc:  # a count over 63 bits
            raise ContractError(exc) from exc

    def s_encode(x: str) -> bytes:
        sized(bytes, len(x) * 4)
        try:
            return x.encode()
        except Exception as exc:
            raise ContractError(exc) from exc

    def b_decode(x: bytes) -> str:
        sized(str, len(x), 1 if x.isascii() else gas.WIDE)
        try:
            return bytes(x).decode()
        except Exception as exc:  # not UTF-8
            raise ContractError(exc) from exc

    def b_hex(x: bytes) -> str:
        sized(str, 2 * len(x) + 2)
        if type(x) is Address:
            charge(gas.CHECKSUM)
            return to_checksum(x)
        return x.hex()

    def find(x: Any, sub: Any, *rest: Any) -> int:
        if type(sub) is not type(x):
            raise Fault("find takes a value of the same type")
        charge(search_cost(x, sub))
        try:
            return x.find(sub, *rest)
        except Exception as exc:  # bounds that are not integers
            raise ContractError(exc) from exc

    def storage_get(x: Any, key: Any, default: Any = None) -> Any:
        # The handle's own signature, so that a call that does not fit it fails in dispatch.
        return x.get(key, default)

    byt = (bytes, Address)
    tables: dict[str, dict[type, Callable[..., Any]]] = {
        "append": {list: l_append}, "insert": {list: l_insert}, "extend": {list: l_extend},
        "pop": {list: l_pop, dict: d_pop}, "index": {list: scanning("index")}, "count": {list: scanning("count")},
        "remove": {list: scanning("remove")}, "reverse": {list: l_reverse}, "copy": {list: copy, dict: copy},
        "get": {dict: d_get, storage_type: storage_get}, "keys": {dict: d_keys},
        "values": {dict: d_values}, "items": {dict: d_items},
        "setdefault": {dict: d_setdefault},
        "startswith": {str: text("startswith"), **dict.fromkeys(byt, text("startswith"))},
        "endswith": {str: text("endswith"), **dict.fromkeys(byt, text("endswith"))},
        "lower": {str: text("lower")}, "upper": {str: text("upper")}, "strip": {str: s_strip},
        "split": {str: s_split}, "join": {str: s_join}, "encode": {str: s_encode}, "replace": {str: s_replace},
        "find": {str: find, bytes: find}, "hex": dict.fromkeys(byt, b_hex), "decode": dict.fromkeys(byt, b_decode),
    }
    return {f"_m_{name}": _method(name, table) for name, table in tables.items()}
