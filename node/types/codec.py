"""Canonical msgpack encoding and strict decoding.

Hashed and signed data are positional arrays of integers, bytes, strings, booleans,
nil and nested arrays: no maps, no floats. Decoding is strict: the input must be the
one canonical encoding of its value, so that every value has exactly one byte form
and one hash.
"""

from __future__ import annotations

from typing import Any

import msgpack

UINT256_MAX = (1 << 256) - 1
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class DecodeError(ValueError):
    """The bytes are not a canonical encoding of the expected shape."""


Canonical = int | bytes | str | bool | None | list["Canonical"]


def encode(obj: Any) -> bytes:
    _validate_encodable(obj, 0)
    return msgpack.packb(obj, use_bin_type=True)


def encode_unchecked(obj: Any) -> bytes:
    """`encode` without walking the value first, for what the node builds itself on a hot path
    from bytes, str, bool and small integers only (an index's rows; the encoding is the same)."""
    return msgpack.packb(obj, use_bin_type=True)


def _validate_encodable(obj: Any, depth: int) -> None:
    if depth > 32:
        raise ValueError("nesting too deep")
    if obj is None or isinstance(obj, (bool, bytes, str)):
        return
    if isinstance(obj, int):
        if not -(1 << 63) <= obj < (1 << 64):
            raise ValueError("integer out of 64-bit range; encode large amounts as uint256 bytes")
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _validate_encodable(item, depth + 1)
        return
    raise TypeError(f"type {type(obj).__name__} is not canonically encodable")


def decode(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Decode `data`, rejecting trailing bytes, maps, floats, extension types and
    any non-minimal encoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DecodeError(f"encoding is {len(data)} bytes, limit is {max_bytes}")
    if not data:
        raise DecodeError("empty input")
    obj = decode_unchecked(data)
    _validate_decoded(obj, 0)
    return _canonical(obj, data)


def decode_typed(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """`decode` for a caller that checks the type of every leaf itself (a transaction's decoder):
    the same canonical-form check, without the walk that would refuse floats and maps first."""
    if len(data) > max_bytes:
        raise DecodeError(f"encoding is {len(data)} bytes, limit is {max_bytes}")
    if not data:
        raise DecodeError("empty input")
    return _canonical(decode_unchecked(data), data)


def _canonical(obj: Any, data: bytes) -> Any:
    # Non-minimal forms (an int in 9 bytes, a str8 holding 3 bytes...) decode fine
    # but would give one value two hashes; re-encoding exposes them.
    try:
        again = msgpack.packb(obj, use_bin_type=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DecodeError(f"not canonically encodable: {exc}") from exc
    if again != data:
        raise DecodeError("non-canonical encoding")
    return obj


def decode_unchecked(data: bytes) -> Any:
    """Decode without the canonical-form checks, for records the node wrote itself and nothing
    hashes (an index's rows): about five times faster on a statement's thousands of records.
    The caller checks the shape it expects; anything msgpack refuses is a DecodeError."""
    try:
        return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True, ext_hook=_reject_ext)
    except msgpack.ExtraData as exc:
        raise DecodeError("trailing bytes after the encoded value") from exc
    except DecodeError:
        raise
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise DecodeError(f"not valid msgpack: {exc}") from exc


def _reject_ext(code: int, data: bytes) -> Any:
    raise DecodeError("extension types are not allowed")


def _validate_decoded(obj: Any, depth: int) -> None:
    if depth > 32:
        raise DecodeError("nesting too deep")
    if obj is None or isinstance(obj, (bool, int, bytes, str)):
        return
    if isinstance(obj, float):
        raise DecodeError("floats are not allowed")
    if isinstance(obj, list):
        for item in obj:
            _validate_decoded(item, depth + 1)
        return
    if isinstance(obj, dict):
        raise DecodeError("maps are not allowed")
    raise DecodeError(f"unexpected type {type(obj).__name__}")


# -- field helpers for decoders of typed structures ------------------------------------


def u256_to_bytes(value: int) -> bytes:
    """Minimal big-endian bytes of an unsigned 256-bit integer (zero is b'')."""
    if not 0 <= value <= UINT256_MAX:
        raise ValueError("value out of uint256 range")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def bytes_to_u256(raw: Any, field: str) -> int:
    if not isinstance(raw, bytes):
        raise DecodeError(f"{field}: expected bytes")
    if len(raw) > 32:
        raise DecodeError(f"{field}: longer than 32 bytes")
    if raw[:1] == b"\x00":
        raise DecodeError(f"{field}: leading zero byte")
    return int.from_bytes(raw, "big")


def expect_list(obj: Any, length: int, field: str) -> list[Any]:
    if not isinstance(obj, list):
        raise DecodeError(f"{field}: expected an array")
    if len(obj) != length:
        raise DecodeError(f"{field}: expected {length} elements, got {len(obj)}")
    return obj


def expect_uint(obj: Any, field: str, maximum: int = (1 << 64) - 1) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise DecodeError(f"{field}: expected an unsigned integer")
    if not 0 <= obj <= maximum:
        raise DecodeError(f"{field}: out of range")
    return obj


def expect_bytes(obj: Any, field: str, length: int | None = None, max_length: int | None = None) -> bytes:
    if not isinstance(obj, bytes):
        raise DecodeError(f"{field}: expected bytes")
    if length is not None and len(obj) != length:
        raise DecodeError(f"{field}: expected {length} bytes, got {len(obj)}")
    if max_length is not None and len(obj) > max_length:
        raise DecodeError(f"{field}: longer than {max_length} bytes")
    return obj


def expect_str(obj: Any, field: str, max_length: int = 256) -> str:
    if not isinstance(obj, str):
        raise DecodeError(f"{field}: expected a string")
    if len(obj.encode()) > max_length:
        raise DecodeError(f"{field}: longer than {max_length} bytes")
    return obj


def expect_bool(obj: Any, field: str) -> bool:
    if not isinstance(obj, bool):
        raise DecodeError(f"{field}: expected a boolean")
    return obj
