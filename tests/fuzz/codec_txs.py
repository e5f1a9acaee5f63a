"""Fuzz targets for the canonical codec and for transaction decoding (native and Ethereum envelopes).

Oracles beyond "only the surface's own error type escapes":
- codec: whatever decodes is canonical (it re-encodes to the very input bytes), holds only
  the allowed types and equals what plain msgpack reads;
- transactions: an accepted transaction is its input bytes, re-encodes to them (native) or
  re-decodes to the same fields (Ethereum), its id is `tx_id(raw)`, and its sender is the
  address its signature recovers over the body as re-encoded independently.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgpack
import rlp

from node.client.sdk import build_call, build_deploy
from node.types import codec
from node.types.codec import DecodeError
from node.types.crypto import TAG_TX, keccak256, recover_address, tagged_hash
from node.types.envelopes import TxDecoder, is_native, tx_id
from node.types.erc20 import decode_calldata
from node.types.errors import InvalidTransaction
from node.types.tx import SignedTx, Transfer, TxBody, intrinsic_gas
from tests.fuzz.driver import OracleFailure
from tests.fuzz.mutate import copy_tree, mutate_bytes, mutate_tree, pack_loose, rlp_loose
from tests.node.helpers import CHAIN_ID, key

ETH_CHAIN_ID = 6711662
COUNTER = "@public\ndef bump(n: int) -> int:\n    storage['n'] = storage.get('n', 0) + n\n    return storage['n']\n"


def _label(exc: BaseException) -> str:
    return f"rejected:{type(exc).__name__}"


def _short(data: bytes) -> str:
    return data[:300].hex() + ("..." if len(data) > 300 else "")


def _tree_of(data: bytes) -> Any | None:
    """What plain msgpack reads from `data` (maps and floats included), or None."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:
        return None


# -- the canonical codec --------------------------------------------------------------------


def _codec_seeds() -> list[bytes]:
    values: list[Any] = [0, 127, 128, 255, 256, 65535, 65536, 2**32, 2**64 - 1, -1, -32, -33, -129, -(2**63), None,
                         True, False, b"", b"x" * 255, b"y" * 256, "", "a" * 31, "b" * 32, "é" * 200, [], [[]],
                         [1, [2, [3, [4]]]], list(range(16)), ["mixed", b"\x01", 5, None, [True]]]
    nested: Any = 1
    for _ in range(32):
        nested = [nested]
    values.append(nested)  # exactly the depth limit
    seeds = [codec.encode(v) for v in values]
    seeds += [t.raw for t in _native_txs()]
    return seeds


def _check_canonical_value(value: Any, depth: int = 0) -> None:
    if depth > 33:
        raise OracleFailure("a value nested deeper than the limit was accepted")
    if isinstance(value, list):
        for item in value:
            _check_canonical_value(item, depth + 1)
    elif not (value is None or isinstance(value, (bool, int, bytes, str))):
        raise OracleFailure(f"accepted a value of type {type(value).__name__}")


class CodecTarget:
    """`codec.decode`: DecodeError, or a canonical value that re-encodes to the input."""

    name = "codec"
    time_bound = 2.0
    rss_bound_mb = 150.0

    def __init__(self, decode: Callable[[bytes], Any] = codec.decode) -> None:
        self.decode = decode

    def seeds(self) -> list[bytes]:
        return _codec_seeds()

    def mutate(self, rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
        r = rng.random()
        if r < 0.45:
            return mutate_bytes(rng, item, corpus)
        tree = _tree_of(item)
        if tree is None:
            return mutate_bytes(rng, item, corpus)
        if r < 0.85:
            donors = [t for t in (_tree_of(rng.choice(corpus)) for _ in range(2)) if t is not None]
            tree = mutate_tree(rng, tree, donors)
        elif r < 0.9:
            for _ in range(rng.randrange(1, 40)):
                tree = [tree]
        return pack_loose(rng, tree, p=0.0 if rng.random() < 0.6 else 0.3)

    def render(self, item: bytes) -> str:
        return _short(item)

    def run(self, item: bytes) -> str:
        try:
            value = self.decode(item)
        except DecodeError as exc:
            return _label(exc)
        _check_canonical_value(value)
        try:
            again = codec.encode(value)
        except (ValueError, TypeError) as exc:
            raise OracleFailure(f"accepted a value that does not encode: {exc}") from None
        if again != item:
            raise OracleFailure("accepted a non-canonical encoding")
        if msgpack.unpackb(item, raw=False) != value:
            raise OracleFailure("decoded value differs from msgpack's reading")
        return "accepted"


def lenient_decode(data: bytes) -> Any:
    """A planted fault for the positive control: a decoder without the canonical re-encoding check."""
    try:
        return msgpack.unpackb(data, raw=False)
    except Exception as exc:
        raise DecodeError(str(exc)) from None


# -- transactions -------------------------------------------------------------------------------


def _native_txs() -> list[SignedTx]:
    out = [TxBody(CHAIN_ID, n, 21_000, 10, 1, e, Transfer(key(n % 4 + 1).address, a)).sign(key(n % 4))
           for n, a, e in ((0, 1, 0), (1, 10**18, 5), (7, 2**200, 0), (2**40, 0, 2**63))]
    out.append(build_deploy(key(0), CHAIN_ID, 3, COUNTER, [], gas_limit=2_000_000, max_fee=10, priority_fee=1))
    out.append(build_call(key(1), CHAIN_ID, 4, key(9).address, "bump", [5, "x", b"\x01", [1, 2], {"k": True}],
                          value=3, gas_limit=300_000, max_fee=10, priority_fee=1))
    return out


def _eth_sign(fields: list[Any], tx_type: int, k: int) -> bytes:
    """Sign Ethereum fields (ints and bytes) with key(k): legacy EIP-155 or type 2."""
    priv = key(k)
    if tx_type == 0:
        unsigned = rlp.encode([*fields[:6], ETH_CHAIN_ID, 0, 0])
        sig = priv.sign(keccak256(unsigned))
        v = ETH_CHAIN_ID * 2 + 35 + sig[64]
        return rlp.encode([*fields[:6], v, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")])
    unsigned = bytes([2]) + rlp.encode(fields[:9])
    sig = priv.sign(keccak256(unsigned))
    return bytes([2]) + rlp.encode([*fields[:9], sig[64], int.from_bytes(sig[:32], "big"),
                                    int.from_bytes(sig[32:64], "big")])


ERC20_TRANSFER = bytes.fromhex("a9059cbb") + b"\x00" * 12 + key(5).address + (10**18).to_bytes(32, "big")
ERC20_APPROVE = bytes.fromhex("095ea7b3") + b"\x00" * 12 + key(6).address + (2**256 - 1).to_bytes(32, "big")


def _eth_txs() -> list[bytes]:
    to = key(7).address
    return [
        _eth_sign([0, 7, 21_000, to, 5, b""], 0, 0),
        _eth_sign([3, 10**9, 60_000, to, 0, ERC20_TRANSFER], 0, 1),
        _eth_sign([ETH_CHAIN_ID, 4, 2, 9, 30_000, to, 6, b"", []], 2, 2),
        _eth_sign([ETH_CHAIN_ID, 5, 1, 10**10, 90_000, to, 0, ERC20_APPROVE, []], 2, 3),
    ]


def _rlp_tree(raw: bytes) -> tuple[int | None, Any] | None:
    typed = raw[:1] and raw[0] <= 0x7F
    try:
        return (raw[0] if typed else None), rlp.decode(raw[1:] if typed else raw, strict=False)
    except Exception:
        return None


def _as_int(b: Any) -> int:
    return int.from_bytes(b, "big") if isinstance(b, bytes) else 0


class TxTarget:
    """`TxDecoder` for both envelopes, as the mempool and the chain run it."""

    name = "txs"
    time_bound = 2.0
    rss_bound_mb = 150.0

    def __init__(self, decoder: Callable[[bytes], SignedTx] | None = None) -> None:
        self.decoder = decoder or TxDecoder(128 * 1024, CHAIN_ID, ETH_CHAIN_ID)

    def seeds(self) -> list[bytes]:
        return [t.raw for t in _native_txs()] + _eth_txs()

    def render(self, item: bytes) -> str:
        return _short(item)

    def mutate(self, rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
        r = rng.random()
        if r < 0.3 or not item:
            return mutate_bytes(rng, item, corpus, max_size=140_000)
        if is_native(item):
            return self._mutate_native(rng, item, corpus, resign=r > 0.6)
        return self._mutate_eth(rng, item, resign=r > 0.6)

    def _mutate_native(self, rng: random.Random, item: bytes, corpus: list[bytes], resign: bool) -> bytes:
        tree = _tree_of(item)
        if not isinstance(tree, list) or len(tree) != 2:
            return mutate_bytes(rng, item, corpus)
        if not resign:
            return pack_loose(rng, mutate_tree(rng, tree), p=0.0 if rng.random() < 0.7 else 0.2)
        # A changed body, signed again: it gets past the signature into the payload's checks.
        body = mutate_tree(rng, tree[0], [t[0] for t in (_tree_of(c) for c in corpus[:50])
                                          if isinstance(t, list) and t], exotic=rng.random() < 0.1)
        body_bytes = pack_loose(rng, body, p=0.0 if rng.random() < 0.9 else 0.2)
        signature = key(rng.randrange(4)).sign(tagged_hash(TAG_TX, body_bytes))
        return b"\x92" + body_bytes + b"\xc4\x41" + signature

    def _mutate_eth(self, rng: random.Random, item: bytes, resign: bool) -> bytes:
        parsed = _rlp_tree(item)
        if parsed is None or not isinstance(parsed[1], list):
            return mutate_bytes(rng, item)
        tx_type, fields = parsed
        if not resign:
            mutated = mutate_tree(rng, fields, exotic=False)
            body = rlp_loose(rng, mutated, p=0.0 if rng.random() < 0.7 else 0.1)
            if rng.random() < 0.05:
                tx_type = rng.choice((0, 1, 3, 0x7F))
            return (b"" if tx_type is None else bytes([tx_type])) + body
        unsigned = copy_tree(fields[:6] if tx_type is None else fields[:9])
        if not unsigned:
            return mutate_bytes(rng, item)
        k = rng.randrange(len(unsigned))
        value = unsigned[k]
        choices: list[Any] = [_as_int(value) + 1, 0, 2**64, 2**256 - 1, b"", b"\x00\x01", rng.randbytes(20),
                              rng.randbytes(19), [b"\x01"]]
        if k == (5 if tx_type is None else 7):  # calldata: selectors and argument shapes of ERC-20
            choices += [ERC20_TRANSFER[:4], ERC20_TRANSFER[:-1], ERC20_APPROVE + b"\x00", ERC20_TRANSFER[:4] +
                        b"\xff" * 64, rng.randbytes(68)]
        unsigned[k] = rng.choice(choices)
        try:
            return _eth_sign([_int_field(v) for v in unsigned], 0 if tx_type is None else 2, rng.randrange(4))
        except (TypeError, ValueError, OverflowError, rlp.exceptions.EncodingError):
            return mutate_bytes(rng, item)

    def run(self, item: bytes) -> str:
        try:
            tx = self.decoder(item)
        except InvalidTransaction as exc:
            return _label(exc)
        if tx.raw != item or tx.hash != tx_id(item):
            raise OracleFailure("an accepted transaction is not its input bytes, or its id is not tx_id(raw)")
        intrinsic_gas(tx.body)
        codec.encode(tx.body.to_list())  # every field is in range to encode again
        if is_native(item):
            if codec.encode([tx.body.to_list(), tx.signature]) != item:
                raise OracleFailure("accepted a native transaction that does not re-encode to its bytes")
            if recover_address(tagged_hash(TAG_TX, tx.body.encode()), tx.signature) != tx.sender:
                raise OracleFailure("the sender is not what the re-encoded body's signature recovers")
            return f"accepted:native:{type(tx.body.payload).__name__}"
        fields = rlp.decode(item[1:] if item[0] <= 0x7F else item)
        if rlp.encode(fields) != (item[1:] if item[0] <= 0x7F else item):
            raise OracleFailure("accepted Ethereum bytes that are not canonical RLP")
        if len(fields) == 12:
            data = fields[7]
        else:
            data = fields[5]
        if data:
            decode_calldata(data)  # accepted calldata maps onto an ERC-20 method
        return f"accepted:eth:{type(tx.body.payload).__name__}"


def _int_field(v: Any) -> Any:
    return v if isinstance(v, (int, list)) else bytes(v)


def lenient_tx_decoder(raw: bytes) -> SignedTx:
    """A planted fault for the positive control: it ignores trailing bytes after a native transaction."""
    decoder = TxDecoder(128 * 1024, CHAIN_ID, ETH_CHAIN_ID)
    if is_native(raw):
        try:
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(raw)
            unpacker.unpack()
            end = unpacker.tell()
        except Exception:
            end = len(raw)
        raw = raw[:end]
    return decoder(raw)
