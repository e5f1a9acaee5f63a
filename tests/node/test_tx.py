import copy

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.types import codec
from node.types.crypto import SECP256K1_N, TAG_TX_ID, tagged_hash
from node.types.errors import BadSignature, MalformedTransaction, TooLarge
from node.types.tx import Transfer, TxBody, decode_body, decode_tx
from tests.node.helpers import CHAIN_ID, key


def transfer(nonce=0, amount=5, chain_id=CHAIN_ID):
    return TxBody(chain_id, nonce, 21_000, 1, 0, 0, Transfer(key(1).address, amount)).sign(key(0))


def test_round_trip_and_sender():
    tx = transfer()
    back = decode_tx(tx.raw)
    assert back == tx
    assert back.sender == key(0).address
    assert back.hash == tagged_hash(TAG_TX_ID, tx.raw)


def test_high_s_signature_rejected():
    tx = transfer()
    s = int.from_bytes(tx.signature[32:64], "big")
    bad = tx.signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([tx.signature[64] ^ 1])
    raw = codec.encode([tx.body.to_list(), bad])
    with pytest.raises(BadSignature, match="high-S"):
        decode_tx(raw)


def test_signature_binds_chain_id():
    tx = transfer()
    body = TxBody("other-chain", 0, 21_000, 1, 0, 0, Transfer(key(1).address, 5))
    other = codec.encode([body.to_list(), tx.signature])
    assert decode_tx(other).sender != key(0).address


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: [b[0], b[1], b[2], b[3], b[4], b[5]],  # missing payload
        lambda b: [b[0], b[1], b[2], b[3], b[5], b[6]],  # the old single gas price layout
        lambda b: [b[0], -1, b[2], b[3], b[4], b[5], b[6]],  # negative nonce
        lambda b: [b[0], b[1], b[2], b"\x00\x01", b[4], b[5], b[6]],  # non-minimal max fee
        lambda b: [b[0], b[1], b[2], b[3], b"\x00\x01", b[5], b[6]],  # non-minimal priority fee
        lambda b: [b[0], b[1], b[2], b[3], b[4], b[5], [1, b"\x01" * 19, b"\x05"]],  # short address
        lambda b: [b[0], b[1], b[2], b[3], b[4], b[5], [9, b"x"]],  # unknown payload kind
        lambda b: [1, b[1], b[2], b[3], b[4], b[5], b[6]],  # chain id not a string
    ],
)
def test_malformed_bodies(mutate):
    tx = transfer()
    raw = codec.encode([mutate(tx.body.to_list()), tx.signature])
    with pytest.raises(MalformedTransaction):
        decode_tx(raw)


def test_trailing_bytes_and_size():
    tx = transfer()
    with pytest.raises(MalformedTransaction, match="trailing"):
        decode_tx(tx.raw + b"\x00")
    with pytest.raises(TooLarge):
        decode_tx(tx.raw, max_bytes=10)


def test_equal_bodies_from_two_senders_are_two_transactions():
    body = TxBody(CHAIN_ID, 0, 21_000, 1, 0, 0, Transfer(key(9).address, 5))
    assert body.sign(key(0)).hash != body.sign(key(1)).hash



SAMPLE = transfer().raw
PLAIN = [transfer().body.to_list(), transfer().signature]
ODD = st.sampled_from([1.5, {"a": 1}, {}, -1, 2**64 - 1, True, None, "x", b"", [], [[[]]]])


def _parsed(decoder, raw: bytes) -> object:
    """What decode_tx makes of `raw` up to the signature, or the DecodeError it refuses with."""
    try:
        outer = codec.expect_list(decoder(raw), 2, "transaction")
        return decode_body(outer[0]), codec.expect_bytes(outer[1], "signature", length=65)
    except codec.DecodeError:
        return codec.DecodeError


@settings(max_examples=300)
@given(st.integers(0, len(SAMPLE) - 1), st.binary(min_size=1, max_size=9), st.integers(0, 9))
def test_typed_decoding_accepts_what_canonical_decoding_accepts_bytes(at, insert, cut):
    # decode_tx skips codec.decode's walk, as its field checks cover every leaf.
    raw = SAMPLE[:at] + insert + SAMPLE[at + cut:]
    assert _parsed(codec.decode_typed, raw) == _parsed(codec.decode, raw)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=3), ODD)
def test_typed_decoding_accepts_what_canonical_decoding_accepts_values(path, odd):
    value = copy.deepcopy(PLAIN)
    node = value[0]
    for step in path[:-1]:
        nxt = node[step % len(node)]
        if not isinstance(nxt, list) or not nxt:
            break
        node = nxt
    node[path[-1] % len(node)] = odd
    raw = msgpack.packb(value, use_bin_type=True)
    assert _parsed(codec.decode_typed, raw) == _parsed(codec.decode, raw)


def _pack_wide(value: object, widen: int, counter: list[int]) -> bytes:
    """msgpack of `value` with leaf number `widen` in a longer form than needed (non-canonical)."""
    if isinstance(value, list):
        return bytes([0x90 | len(value)]) + b"".join(_pack_wide(v, widen, counter) for v in value)
    counter[0] += 1
    if counter[0] - 1 != widen:
        return msgpack.packb(value, use_bin_type=True)
    if isinstance(value, int):
        return b"\xcf" + value.to_bytes(8, "big")
    if isinstance(value, str):
        return b"\xda" + len(value.encode()).to_bytes(2, "big") + value.encode()
    return b"\xc5" + len(value).to_bytes(2, "big") + value


@given(st.integers(0, 9))  # the ten leaves of a transfer
def test_typed_decoding_refuses_non_minimal_forms(widen):
    raw = _pack_wide(PLAIN, widen, [0])
    assert raw != SAMPLE and _pack_wide(PLAIN, 10, [0]) == SAMPLE
    assert _parsed(codec.decode_typed, raw) is codec.DecodeError is _parsed(codec.decode, raw)
