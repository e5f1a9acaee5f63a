"""Contract values: the address type, canonical encoding, copies across boundaries, JSON.

Values are int (|x| <= 2**256 - 1), bool, str, bytes, Address, None, list and dict with
scalar keys. Every value that crosses a boundary (arguments, results, storage, events)
goes through `encode_value` or `copy_value`, which walk it with a budget: a value built
as a DAG of shared lists cannot make the walk exponential, and no host object (a
function, the storage handle) can leave the contract that holds it.
"""

from __future__ import annotations

from typing import Any

import msgpack
from Crypto.Hash import keccak

from vm.errors import AbiError, Fault, OutOfGas

MAX_INT = 2**256 - 1
MAX_DEPTH = 16
MAX_ITEMS = 100_000
MAX_VALUE_BYTES = 4 << 20  # str and bytes in one value, counted once per reference
MAX_KEY_BYTES = 256
MAX_DICT_INT = 2**61 - 2  # dict keys beyond would let crafted ints share a hash (CPython hashes ints mod 2^61-1)
EXT_BIGINT = 1
EXT_ADDRESS = 2


class Address(bytes):
    """A 20-byte account or contract address; equal to and hashed as its bytes."""

    __slots__ = ()

    def __new__(cls, raw: bytes | bytearray) -> Address:
        if len(raw) != 20:
            raise Fault(f"an address is 20 bytes, got {len(raw)}")
        return super().__new__(cls, raw)

    def __repr__(self) -> str:
        return f"Address({to_checksum(self)})"


ZERO_ADDRESS = Address(bytes(20))
SCALAR_TYPES = frozenset({int, bool, str, bytes, Address, type(None)})


def to_checksum(raw: bytes) -> str:
    """EIP-55 mixed-case hex."""
    plain = bytes(raw).hex()
    digest = keccak.new(digest_bits=256, data=plain.encode()).hexdigest()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(plain))


def parse_address(text: str) -> Address:
    if not isinstance(text, str) or len(text) != 42 or text[:2] not in ("0x", "0X"):
        raise AbiError(f"an address is 0x and 40 hex digits, got {text!r:.60}")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise AbiError(f"an address is 0x and 40 hex digits, got {text!r:.60}") from None
    body = text[2:]
    if body != body.lower() and body != body.upper() and to_checksum(raw) != text:
        raise AbiError(f"address {text} has a bad checksum")
    return Address(raw)


def check_int(v: int) -> int:
    if -MAX_INT <= v <= MAX_INT:
        return v
    raise Fault("integer overflow")


def dict_key(k: Any) -> Any:
    """A key a dict may hold: a scalar, and an int within 61 bits."""
    t = type(k)
    if t is int:
        if -MAX_DICT_INT <= k <= MAX_DICT_INT:
            return k
        raise Fault("an int dict key is limited to 61 bits: use a str or a storage key")
    if t is str or t is bytes or t is Address or t is bool or k is None:
        return k
    raise Fault("dict keys must be int, bool, str, bytes or address")


def _walk(v: Any, depth: int, budget: list[int]) -> Any:
    """Validate and deep-copy one value; budget counts the items and bytes left."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany
    t = type(v)
    if t is int:
        return check_int(v)
    if t is str or t is bytes or t is Address:
        budget[1] -= len(v)
        if budget[1] < 0:
            raise Fault(f"value holds more than {MAX_VALUE_BYTES} bytes of str and bytes")
        return v
    if t is bool or v is None:
        return v
    if depth >= MAX_DEPTH:
        raise Fault(f"value nested deeper than {MAX_DEPTH}")
    if t is list:
        return [_walk(x, depth + 1, budget) for x in v]
    if t is dict:
        out = {}
        for k, x in v.items():
            out[_walk(dict_key(k), depth + 1, budget)] = _walk(x, depth + 1, budget)
        return out
    raise Fault(f"{t.__name__} is not a contract value")


def _measure(v: Any, depth: int, budget: list[int]) -> None:
    """The checks of _walk without the copy: what encoding needs before it writes anything."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany
    t = type(v)
    if t is int:
        check_int(v)
    elif t is str or t is bytes or t is Address:
        budget[1] -= len(v)
        if budget[1] < 0:
            raise Fault(f"value holds more than {MAX_VALUE_BYTES} bytes of str and bytes")
    elif t is bool or v is None:
        pass
    elif depth >= MAX_DEPTH:
        raise Fault(f"value nested deeper than {MAX_DEPTH}")
    elif t is list:
        for x in v:
            _measure(x, depth + 1, budget)
    elif t is dict:
        for k, x in v.items():
            _measure(dict_key(k), depth + 1, budget)
            _measure(x, depth + 1, budget)
    else:
        raise Fault(f"{t.__name__} is not a contract value")


class _TooMany(Exception):
    """The item budget of a walk ran out."""


def _items_budget(paid: int | None) -> int:
    return MAX_ITEMS if paid is None else max(0, min(MAX_ITEMS, paid))


def _over(cap: int) -> Fault:
    # A walk that stops on the gas left is out of gas: its work up to there was paid for.
    return Fault(f"value has more than {MAX_ITEMS} items") if cap == MAX_ITEMS else OutOfGas()


def measure(v: Any, paid: int | None = None) -> tuple[int, int]:
    """Items and bytes of str and bytes in a value, within the limits (Fault beyond them).

    `paid`: how many items the caller can pay for; the walk stops there with OutOfGas instead
    of walking a value that ends in a fault for free."""
    cap = _items_budget(paid)
    budget = [cap, MAX_VALUE_BYTES]
    try:
        _measure(v, 0, budget)
    except _TooMany:
        raise _over(cap) from None
    return cap - budget[0], MAX_VALUE_BYTES - budget[1]


def copy_value(v: Any, paid: int | None = None) -> tuple[Any, int, int]:
    """A deep copy of a contract value, the items walked and the bytes of str and bytes in it
    (`paid` as in `measure`)."""
    t = type(v)
    if t is int:
        return check_int(v), 1, 0
    if t is bool or v is None:
        return v, 1, 0
    cap = _items_budget(paid)
    budget = [cap, MAX_VALUE_BYTES]
    try:
        out = _walk(v, 0, budget)
    except _TooMany:
        raise _over(cap) from None
    return out, cap - budget[0], MAX_VALUE_BYTES - budget[1]


def _default(v: Any) -> Any:
    """msgpack's hook for what it cannot pack itself: addresses and integers beyond 64 bits."""
    if type(v) is Address:
        return msgpack.ExtType(EXT_ADDRESS, bytes(v))
    if type(v) is int:
        check_int(v)
        return msgpack.ExtType(EXT_BIGINT, (b"\x01" if v < 0 else b"\x00") + _mag(abs(v)))
    raise Fault(f"{type(v).__name__} is not a contract value")


def _mag(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _flat(v: list) -> bool:
    """One level of scalars of bounded size: nothing deep to check."""
    size = 0
    for x in v:
        t = type(x)
        if t not in SCALAR_TYPES:
            return False
        if t is str or t is bytes or t is Address:
            size += len(x)
    return size <= MAX_VALUE_BYTES


def encode_value(v: Any) -> bytes:
    """Canonical bytes of a contract value (msgpack; big ints and addresses as ext types)."""
    t = type(v)
    if t is list and len(v) <= MAX_ITEMS and _flat(v):
        pass  # one level of scalars: nothing deep to check
    elif t is list or t is dict:
        measure(v)  # bounds the work: a DAG of shared values must not explode below
    elif t is int and 0 <= v < 2**64:
        return _pack_uint(v)
    elif t not in SCALAR_TYPES:
        raise Fault(f"{t.__name__} is not a contract value")
    elif (t is str or t is bytes) and len(v) > MAX_VALUE_BYTES:
        raise Fault(f"value holds more than {MAX_VALUE_BYTES} bytes of str and bytes")
    return pack_measured(v)


def pack_measured(v: Any) -> bytes:
    """Encode a value that `measure` (or a scalar check) has already accepted."""
    try:
        return _pack(v)
    except (OverflowError, ValueError, TypeError) as exc:
        raise Fault(f"value cannot be encoded: {exc}") from None


_pack = msgpack.Packer(default=_default, strict_types=True, use_bin_type=True, autoreset=True).pack
_pack_uint = msgpack.Packer(autoreset=True).pack


def _ext(code: int, data: bytes) -> Any:
    if code == EXT_BIGINT and data[:1] in (b"\x00", b"\x01") and len(data) > 1:
        n = int.from_bytes(data[1:], "big")
        return -n if data[0] else n
    if code == EXT_ADDRESS and len(data) == 20:
        return Address(data)
    raise ValueError(f"unknown value extension {code}")


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    # Keys are checked before any goes into a dict: crafted colliding ints would make
    # building it quadratic.
    try:
        return {dict_key(k): v for k, v in pairs}
    except Fault as exc:
        raise ValueError(exc.reason) from None


def decode_value(raw: bytes, pairs: Any = None, lists: Any = None) -> Any:
    """Decode what encode_value wrote (storage, receipts); `decode_external` for anything else."""
    try:
        return msgpack.unpackb(raw, ext_hook=_ext, raw=False, strict_map_key=False, use_list=True,
                               object_pairs_hook=pairs, list_hook=lists)
    except Exception as exc:
        raise ValueError(f"not an encoded contract value: {exc}") from exc


# msgpack type bytes that open an array or a map (fix, 16 and 32 forms).
_CONTAINER_HEADS = frozenset([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])


def decode_stored(raw: bytes) -> tuple[Any, int]:
    """Decode a value read from storage, and count its items: one byte of an encoding can
    become some 60 bytes of memory (an empty dict), so a read pays per item as a write does."""
    if raw[:1] and raw[0] not in _CONTAINER_HEADS:
        return decode_value(raw), 1
    count = [1]

    def lists(x: list) -> list:
        count[0] += len(x)
        return x

    def maps(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        count[0] += 2 * len(pairs)
        return dict(pairs)

    return decode_value(raw, maps, lists), count[0]


def decode_external(raw: bytes) -> Any:
    """Decode bytes from outside the VM (transaction arguments): every rule of a value is checked."""
    value = decode_value(raw, _pairs)
    try:
        copy_value(value)
    except Fault as exc:
        raise ValueError(f"not a contract value: {exc.reason}") from None
    return value


def _small(x: Any) -> bytes | None:
    """The msgpack bytes of a common short scalar, written directly (storage keys are hot)."""
    t = type(x)
    if t is str:
        raw = x.encode()
        n = len(raw)
        return bytes((0xA0 | n,)) + raw if n < 32 else (b"\xd9" + bytes((n,)) + raw if n < 256 else None)
    if t is Address:
        return b"\xc7\x14\x02" + x
    if t is int and 0 <= x < 128:
        return bytes((x,))
    if t is bytes and len(x) < 256:
        return b"\xc4" + bytes((len(x),)) + x
    return None


def storage_key(key: Any) -> bytes:
    """A storage key is a scalar or a list of scalars, encoded canonically."""
    if type(key) is list:
        n = len(key)
        if not 0 < n <= 8 or not all(type(k) in SCALAR_TYPES for k in key):
            raise Fault("a storage key is a scalar or a list of 1 to 8 scalars")
        if sum(len(k) for k in key if type(k) in (str, bytes)) > MAX_KEY_BYTES:
            raise Fault(f"a storage key of over {MAX_KEY_BYTES} bytes")
        parts = [_small(k) for k in key]
        if None not in parts:
            raw = bytes((0x90 | n,)) + b"".join(parts)  # type: ignore[arg-type]
        else:
            raw = encode_value(key)
    elif type(key) in SCALAR_TYPES:
        if type(key) in (str, bytes) and len(key) > MAX_KEY_BYTES:
            raise Fault(f"a storage key of over {MAX_KEY_BYTES} bytes")
        raw = _small(key) or encode_value(key)
    else:
        raise Fault("a storage key is a scalar or a list of 1 to 8 scalars")
    if len(raw) > MAX_KEY_BYTES:
        raise Fault(f"a storage key of over {MAX_KEY_BYTES} bytes")
    return raw


# -- JSON ------------------------------------------------------------------------------


def to_json(v: Any) -> Any:
    """JSON form: ints as decimal strings, bytes as 0x hex, addresses checksummed."""
    t = type(v)
    if t is bool or v is None or t is str:
        return v
    if t is int:
        return str(v)
    if t is Address:
        return to_checksum(v)
    if t is bytes:
        return "0x" + v.hex()
    if t is list:
        return [to_json(x) for x in v]
    if t is dict:
        return {_json_key(k): to_json(x) for k, x in v.items()}
    raise TypeError(f"{t.__name__} is not a contract value")


def _json_key(k: Any) -> str:
    out = to_json(k)
    return out if isinstance(out, str) else "null" if out is None else str(out).lower()


def from_json(abi: Any, v: Any, where: str = "argument") -> Any:
    """Convert a JSON value to the contract value of ABI type `abi` (see vm.abi)."""
    if isinstance(abi, tuple):
        head = abi[0]
        if head == "list":
            if not isinstance(v, list):
                raise AbiError(f"{where}: expected a list")
            return [from_json(abi[1], x, f"{where}[{i}]") for i, x in enumerate(v)]
        if head == "dict":
            if not isinstance(v, dict):
                raise AbiError(f"{where}: expected an object")
            return {from_json(abi[1], k, f"{where} key"): from_json(abi[2], x, f"{where}[{k!r}]") for k, x in v.items()}
    if abi == "any":
        return _from_json_any(v, where, 0)
    if abi == "int":
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise AbiError(f"{where}: expected an integer (a JSON number or a decimal string)")
        if isinstance(v, str):
            text = v.strip()
            body = text[1:] if text[:1] == "-" else text
            if not body.isdigit() or not body.isascii() or len(body) > 78:
                raise AbiError(f"{where}: {v!r:.40} is not a decimal integer")
            v = int(text)
        if not -MAX_INT <= v <= MAX_INT:
            raise AbiError(f"{where}: integer out of range")
        return v
    if abi == "bool":
        if not isinstance(v, bool):
            raise AbiError(f"{where}: expected true or false")
        return v
    if abi == "str":
        if not isinstance(v, str):
            raise AbiError(f"{where}: expected a string")
        return _text(v, where)
    if abi == "bytes":
        if not isinstance(v, str) or v[:2] != "0x":
            raise AbiError(f"{where}: expected 0x hex bytes")
        try:
            return bytes.fromhex(v[2:])
        except ValueError:
            raise AbiError(f"{where}: {v!r:.40} is not hex") from None
    if abi == "address":
        try:
            return parse_address(v)
        except AbiError as exc:
            raise AbiError(f"{where}: {exc}") from None
    if abi in ("list", "dict"):
        return from_json((abi, "any") if abi == "list" else (abi, "any", "any"), v, where)
    raise AbiError(f"{where}: unknown type {abi!r}")


def is_text(v: str) -> bool:
    """Whether a str has a UTF-8 form: a lone surrogate ("\\ud800") has none, so no contract
    value, receipt error or event name may hold one."""
    if v.isascii():
        return True
    try:
        v.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text(v: str, where: str) -> str:
    if not is_text(v):  # JSON can carry lone surrogates
        raise AbiError(f"{where}: not valid Unicode text (a lone surrogate)")
    return v


def _from_json_any(v: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise AbiError(f"{where}: nested deeper than {MAX_DEPTH}")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return _text(v, where)
    if isinstance(v, int):
        return from_json("int", v, where)
    if isinstance(v, list):
        return [_from_json_any(x, where, depth + 1) for x in v]
    if isinstance(v, dict):
        return {_text(k, f"{where} key"): _from_json_any(x, where, depth + 1) for k, x in v.items()}
    raise AbiError(f"{where}: {type(v).__name__} is not a contract value")


def matches(abi: Any, v: Any) -> bool:
    """Whether a contract value has ABI type `abi` (checked on cross-contract calls)."""
    if isinstance(abi, tuple):
        if abi[0] == "list":
            return type(v) is list and all(matches(abi[1], x) for x in v)
        return type(v) is dict and all(matches(abi[1], k) and matches(abi[2], x) for k, x in v.items())
    t = type(v)
    if abi == "int":
        return t is int
    if abi == "address":
        return t is Address
    return {"any": True, "bool": t is bool, "str": t is str, "bytes": t is bytes, "list": t is list,
            "dict": t is dict}.get(abi, False)
