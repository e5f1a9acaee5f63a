"""Receipts are bounded by execution: events per call and per transaction, and the output.

A receipt over the node's record limit would commit and then never decode again (tx_get and
account_txs would answer Internal error for good), so execution refuses what would make one.
"""

from __future__ import annotations

from vm import Outcome, gas
from vm.testing import Chain

MIB = 1 << 20

EMITTER = '''
@public
def blobs(n: int, size: int):
    for i in range(n):
        emit("Blob", b"x" * size)


@public
def result(size: int) -> bytes:
    return b"y" * size


@public
def fail(reason: str):
    revert(reason)
'''

# Encoded data of one event holding one bytes value of `size`: array head, bin32 head, the bytes.
DATA_HEAD = 1 + 5


def _deployed() -> tuple[Chain, bytes, bytes]:
    chain = Chain()
    me = chain.account()
    res = chain.deploy(me, EMITTER)
    assert res.ok, res.error
    return chain, me, res.address


def test_five_one_mib_events_fail_with_the_event_limit_and_keep_the_fee():
    chain, me, c = _deployed()
    res = chain.call(me, c, "blobs", [5, MIB], gas=60_000_000)
    assert res.outcome is Outcome.FAULT
    assert res.error == f"event data over {gas.MAX_EVENT_BYTES} bytes encoded"
    assert res.events == () and res.gas_used > 0


def test_events_over_the_transaction_limit_fail():
    chain, me, c = _deployed()
    size = gas.MAX_EVENT_BYTES - DATA_HEAD
    per_event = gas.MAX_EVENT_BYTES + len("Blob") + gas.EVENT_OVERHEAD
    fits = gas.MAX_TX_EVENT_BYTES // per_event
    ok = chain.call(me, c, "blobs", [fits, size], gas=60_000_000)
    assert ok.ok, ok.error
    assert len(ok.events) == fits and all(len(e.raw) == gas.MAX_EVENT_BYTES for e in ok.events)
    over = chain.call(me, c, "blobs", [fits + 1, size], gas=60_000_000)
    assert over.outcome is Outcome.FAULT
    assert over.error == f"events of a transaction over {gas.MAX_TX_EVENT_BYTES} bytes"


def test_an_output_over_the_limit_fails():
    chain, me, c = _deployed()
    assert chain.call(me, c, "result", [gas.MAX_OUTPUT_BYTES - 5], gas=20_000_000).ok
    res = chain.call(me, c, "result", [gas.MAX_OUTPUT_BYTES], gas=20_000_000)
    assert res.outcome is Outcome.FAULT
    assert res.error == f"the result is over {gas.MAX_OUTPUT_BYTES} bytes encoded"
    assert res.raw_output is None and res.writes.storage == {}


def test_a_failure_reason_is_bounded():
    chain, me, c = _deployed()
    res = chain.call(me, c, "fail", ["é" * 5000])
    assert res.outcome is Outcome.REVERT
    assert len(res.error) <= gas.MAX_ERROR_CHARS
