"""Mutators shared by the surfaces: bytes, trees of canonical values (msgpack and RLP), JSON.

Byte mutations find what a parser does with damage (truncation, flipped bits, absurd lengths);
tree mutations keep the input parseable and change one field's value, type or shape, so that
the input gets past the parser into the checks behind it. The loose encoders write the same
tree in non-minimal forms (an int in 9 bytes, a long-form RLP length) to reach canonicality checks.
"""

from __future__ import annotations

import random
import struct
from typing import Any

INTERESTING_INTS = (0, 1, 2, 7, 31, 32, 127, 128, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 2**31 - 1, 2**31, 2**32 - 1,
                    2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1, -1, -32, -33, -128, -129, -(2**31), -(2**63))
INTERESTING_LENGTHS = (0, 1, 19, 20, 21, 31, 32, 33, 64, 65, 66, 255, 256)
WEIRD_TEXT = ("", "a", "\x00", "é", "\u202e", "𝔘", "a" * 65, "a" * 301, "0x", "latest", "\ud7ff", "ß" * 40)


# -- bytes ---------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, corpus: list[bytes] | None = None, max_size: int = 1 << 16) -> bytes:
    b = bytearray(data)
    op = rng.randrange(12)
    if not b:
        return bytes(rng.randbytes(rng.randrange(1, 16)))
    i = rng.randrange(len(b))
    if op == 0:  # flip a bit
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # a random byte
        b[i] = rng.randrange(256)
    elif op == 2:  # an interesting byte
        b[i] = rng.choice((0x00, 0x7F, 0x80, 0xC0, 0xC1, 0xC4, 0xD9, 0xDC, 0xDD, 0xF7, 0xF8, 0xFF))
    elif op == 3:  # truncate
        del b[rng.randrange(len(b)):]
    elif op == 4:  # delete a run
        del b[i:i + rng.randrange(1, 9)]
    elif op == 5:  # insert random bytes
        b[i:i] = rng.randbytes(rng.randrange(1, 9))
    elif op == 6:  # duplicate a run
        j = rng.randrange(i, min(len(b), i + 64) + 1)
        b[i:i] = b[i:j]
    elif op == 7:  # trailing bytes
        b += rng.randbytes(rng.randrange(1, 5))
    elif op == 8:  # an interesting integer written over the bytes
        width = rng.choice((1, 2, 4, 8))
        value = rng.choice(INTERESTING_INTS) % (1 << (8 * width))
        b[i:i + width] = value.to_bytes(width, rng.choice(("big", "little")))
    elif op == 9 and corpus:  # splice with another input
        other = rng.choice(corpus)
        if isinstance(other, (bytes, bytearray)) and other:
            j = rng.randrange(len(other))
            b = b[:i] + bytearray(other[j:])
    elif op == 10:  # swap two runs
        j = rng.randrange(len(b))
        n = rng.randrange(1, 9)
        b[i:i + n], b[j:j + n] = b[j:j + n], b[i:i + n]
    else:  # arithmetic on a byte
        b[i] = (b[i] + rng.choice((-1, 1, -16, 16))) % 256
    return bytes(b[:max_size])


# -- trees of canonical values ----------------------------------------------------------------


def _paths(tree: Any, path: tuple[int, ...] = (), out: list[tuple[int, ...]] | None = None,
           limit: int = 4000) -> list[tuple[int, ...]]:
    out = [] if out is None else out
    out.append(path)
    if isinstance(tree, list) and len(out) < limit:
        for k, child in enumerate(tree):
            _paths(child, (*path, k), out, limit)
    return out


def _get(tree: Any, path: tuple[int, ...]) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _set(tree: Any, path: tuple[int, ...], value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def copy_tree(tree: Any) -> Any:
    return [copy_tree(x) for x in tree] if isinstance(tree, list) else tree


def random_leaf(rng: random.Random, exotic: bool) -> Any:
    kinds = ["int", "bytes", "str", "none", "bool", "list"] + (["float", "map"] if exotic else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice(INTERESTING_INTS)
    if kind == "bytes":
        return rng.randbytes(rng.choice(INTERESTING_LENGTHS))
    if kind == "str":
        return rng.choice(WEIRD_TEXT)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "float":
        return rng.choice((0.0, 1.5, float("inf")))
    if kind == "map":
        return {"a": 1}
    return [rng.choice(INTERESTING_INTS) for _ in range(rng.randrange(3))]


def mutate_leaf(rng: random.Random, value: Any) -> Any:
    """A nearby value of the same kind, most of the time."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice((value + 1, value - 1, value * 2, -value, value ^ (1 << rng.randrange(64)),
                           rng.choice(INTERESTING_INTS)))
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value)
        op = rng.randrange(5)
        if op == 0 and value:
            i = rng.randrange(len(value))
            return value[:i] + bytes([value[i] ^ (1 << rng.randrange(8))]) + value[i + 1:]
        if op == 1:
            return value[:-1]
        if op == 2:
            return value + rng.randbytes(1)
        if op == 3:
            return b"\x00" + value  # a leading zero: non-minimal for uint256 fields
        return rng.randbytes(rng.choice(INTERESTING_LENGTHS))
    if isinstance(value, str):
        op = rng.randrange(4)
        if op == 0:
            return value[:-1]
        if op == 1:
            return value + rng.choice(WEIRD_TEXT)
        if op == 2:
            return value.upper()
        return rng.choice(WEIRD_TEXT)
    return random_leaf(rng, False)


def mutate_tree(rng: random.Random, tree: Any, corpus_trees: list[Any] | None = None, exotic: bool = True) -> Any:
    """One structural change at a random node of a tree of lists and leaves (the tree is copied)."""
    tree = copy_tree(tree)
    paths = _paths(tree)
    path = rng.choice(paths)
    node = _get(tree, path)
    op = rng.randrange(10)
    if op <= 3:  # the most useful: a nearby value of the same kind
        return _set(tree, path, mutate_leaf(rng, node) if not isinstance(node, list) else node[::-1])
    if op == 4:  # another kind altogether
        return _set(tree, path, random_leaf(rng, exotic))
    if op == 5 and isinstance(node, list) and node:  # drop an element
        del node[rng.randrange(len(node))]
        return tree
    if op == 6 and isinstance(node, list) and node:  # duplicate an element
        k = rng.randrange(len(node))
        node.insert(k, copy_tree(node[k]))
        return tree
    if op == 7:  # wrap
        return _set(tree, path, [node])
    if op == 8 and corpus_trees:  # graft a subtree of another input
        other = rng.choice(corpus_trees)
        donor = _get(other, rng.choice(_paths(other)))
        return _set(tree, path, copy_tree(donor))
    if isinstance(node, list) and len(node) > 1:  # swap two elements
        i, j = rng.randrange(len(node)), rng.randrange(len(node))
        node[i], node[j] = node[j], node[i]
        return tree
    return _set(tree, path, mutate_leaf(rng, node) if not isinstance(node, list) else [])


# -- loose encoders: the same values, now and then in non-minimal forms --------------------------


def _uint_forms(n: int) -> list[bytes]:
    forms = []
    if n <= 0x7F:
        forms.append(bytes([n]))
    if n <= 0xFF:
        forms.append(b"\xcc" + struct.pack(">B", n))
    if n <= 0xFFFF:
        forms.append(b"\xcd" + struct.pack(">H", n))
    if n <= 0xFFFFFFFF:
        forms.append(b"\xce" + struct.pack(">I", n))
    forms.append(b"\xcf" + struct.pack(">Q", n))
    return forms


def _int_forms(n: int) -> list[bytes]:
    forms = []
    if -32 <= n:
        forms.append(struct.pack(">b", n))
    if -128 <= n:
        forms.append(b"\xd0" + struct.pack(">b", n))
    if -32768 <= n:
        forms.append(b"\xd1" + struct.pack(">h", n))
    if -(2**31) <= n:
        forms.append(b"\xd2" + struct.pack(">i", n))
    forms.append(b"\xd3" + struct.pack(">q", n))
    return forms


def _len_forms(n: int, fix: int | None, fix_max: int, codes: tuple[int, ...]) -> list[bytes]:
    forms = []
    if fix is not None and n <= fix_max:
        forms.append(bytes([fix | n]))
    for code, width in zip(codes, (1, 2, 4), strict=False):
        if code and n < 1 << (8 * width):
            forms.append(bytes([code]) + n.to_bytes(width, "big"))
    return forms


def pack_loose(rng: random.Random, value: Any, p: float = 0.1) -> bytes:
    """msgpack of `value`, each header in a longer form than needed with probability `p`."""

    def pick(forms: list[bytes]) -> bytes:
        return forms[0] if rng.random() >= p or len(forms) == 1 else rng.choice(forms[1:])

    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 2**64:
            return pick(_uint_forms(value))
        if -(2**63) <= value < 0:
            return pick(_int_forms(value))
        return b"\xcf" + (value % 2**64).to_bytes(8, "big")
    if isinstance(value, (bytes, bytearray)):
        return pick(_len_forms(len(value), None, 0, (0xC4, 0xC5, 0xC6))) + bytes(value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return pick(_len_forms(len(raw), 0xA0, 31, (0xD9, 0xDA, 0xDB))) + raw
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, dict):
        return b"\x81" + b"".join(pack_loose(rng, x, p) for kv in value.items() for x in kv)
    if isinstance(value, (list, tuple)):
        head = pick(_len_forms(len(value), 0x90, 15, (0, 0xDC, 0xDD)))
        return head + b"".join(pack_loose(rng, x, p) for x in value)
    raise TypeError(type(value).__name__)


def rlp_loose(rng: random.Random, value: Any, p: float = 0.05) -> bytes:
    """RLP of a tree of bytes and lists (ints as minimal big-endian bytes), sometimes in non-canonical forms."""
    if isinstance(value, bool) or value is None:
        value = b"\x01" if value else b""
    if isinstance(value, int):
        value = value.to_bytes((value.bit_length() + 7) // 8, "big") if value >= 0 else b"\xff"
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    loose = rng.random() < p
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value)
        if len(value) == 1 and value[0] < 0x80 and not loose:
            return value
        return _rlp_header(len(value), 0x80, loose) + value
    if isinstance(value, (list, tuple)):
        body = b"".join(rlp_loose(rng, x, p) for x in value)
        return _rlp_header(len(body), 0xC0, loose) + body
    raise TypeError(type(value).__name__)


def _rlp_header(n: int, offset: int, loose: bool) -> bytes:
    if n < 56 and not loose:
        return bytes([offset + n])
    size = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if loose and size[0] != 0 and len(size) < 8:
        size = b"\x00" + size if n >= 56 else size  # a leading zero, or the long form for a short item
    return bytes([offset + 55 + len(size)]) + size


# -- JSON -----------------------------------------------------------------------------------

JSON_NASTY = (None, True, False, 0, -1, 1, 2**53 + 1, 2**64, 2**200, -(2**70), 1.5, 1e308, "", "0x", "0x0", "latest",
              "pending", "earliest", "١٢", "9" * 40, "0x" + "ab" * 32, "0x" + "00" * 20, "\u0000", "a" * 300, [], [[]],
              {}, {"a": 1}, [1, 2, 3])


def mutate_json(rng: random.Random, value: Any, donors: list[Any] | None = None, depth: int = 0) -> Any:
    """One change somewhere in a JSON value: a nasty value, a nearby one, a dropped or added key or item."""
    if isinstance(value, list) and value and depth < 8 and rng.random() < 0.6:
        out = list(value)
        op = rng.randrange(6)
        k = rng.randrange(len(out))
        if op == 0:
            del out[k]
        elif op == 1:
            out.insert(k, rng.choice(JSON_NASTY))
        elif op == 2:
            out.append(out[k])
        else:
            out[k] = mutate_json(rng, out[k], donors, depth + 1)
        return out
    if isinstance(value, dict) and value and depth < 8 and rng.random() < 0.6:
        out_d = dict(value)
        key = rng.choice(list(out_d))
        op = rng.randrange(6)
        if op == 0:
            del out_d[key]
        elif op == 1:
            out_d[rng.choice(("x", key + "_", key.upper(), "jsonrpc", "id", "params", "method"))] = rng.choice(
                JSON_NASTY)
        else:
            out_d[key] = mutate_json(rng, out_d[key], donors, depth + 1)
        return out_d
    op = rng.randrange(5)
    if op == 0 or isinstance(value, (list, dict)):
        return rng.choice(JSON_NASTY)
    if op == 1 and donors:
        return rng.choice(donors)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice((value + 1, value - 1, -value, value * 2**40, str(value), hex(value)))
    if isinstance(value, str):
        if value.startswith("0x") and len(value) > 2:
            choices = (value[:-1], value + "0", value.upper(), "0X" + value[2:], value[:2] + "g" + value[3:],
                       value[2:], value[:3])
            return rng.choice(choices)
        return rng.choice((value[:-1], value + "x", value.upper(), value * 3, ""))
    return rng.choice(JSON_NASTY)
