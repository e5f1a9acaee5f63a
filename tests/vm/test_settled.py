"""settled(): a contract reads a committed transaction of an earlier block through its host."""

from __future__ import annotations

import pytest

from vm import VM, BlockInfo, Outcome, SettledTx
from vm.gas import SETTLED_READ
from vm.machine import HostError
from vm.testing import Chain, MemoryHost

READER = '''
@view
def look(tx_hash: bytes) -> dict:
    found = settled(tx_hash)
    if found is None:
        return {}
    return found


@view
def look_any(x: int):
    return settled(x)


@view
def twice(tx_hash: bytes) -> int:
    settled(tx_hash)
    settled(tx_hash)
    return 0


@view
def once(tx_hash: bytes) -> int:
    settled(tx_hash)
    return 0
'''


@pytest.fixture
def world():
    chain = Chain(height=5)
    owner, user = chain.account(), chain.account()
    reader = chain.deploy(owner, READER).address
    return chain, reader, owner, user


def test_a_transaction_of_an_earlier_block_is_seen_with_its_parties_and_status(world):
    chain, reader, owner, user = world
    ok = chain.record(user, reader, True)
    failed = chain.record(user, reader, False)
    deployed = chain.last_tx  # the reader's deploy, in this same block
    chain.advance()
    assert chain.query(reader, "look", [ok]) == {"sender": user, "to": reader, "ok": True, "kind": "call",
                                                 "height": 5}
    assert chain.query(reader, "look", [failed])["ok"] is False
    assert chain.query(reader, "look", [deployed]) == {"sender": owner, "to": reader, "ok": True, "kind": "deploy",
                                                       "height": 5}


def test_the_current_block_and_later_ones_are_not_seen(world):
    chain, reader, _owner, user = world
    now = chain.record(user, reader, True)
    assert chain.query(reader, "look", [now]) == {}  # committed in the block that runs: not yet
    chain.advance()
    assert chain.query(reader, "look", [now])["height"] == 5
    # A later record seen from an older block (a query at a snapshot height): not there yet.
    later = chain.record(user, reader, True)
    chain.vm.block = BlockInfo(5, chain.vm.block.time)
    assert chain.query(reader, "look", [later]) == {}
    assert chain.query(reader, "look", [now]) == {}


def test_an_unknown_hash_is_none(world):
    chain, reader, _owner, _user = world
    chain.advance()
    assert chain.query(reader, "look", [b"\x07" * 32]) == {}


@pytest.mark.parametrize("arg", [b"\x01" * 31, b"\x01" * 33, b""])
def test_a_hash_is_32_bytes(world, arg):
    chain, reader, _owner, _user = world
    res = chain.vm.query(reader, "look", [arg], 1_000_000)
    assert res.outcome is Outcome.FAULT and "32-byte transaction hash" in res.error


def test_a_hash_is_bytes(world):
    chain, reader, _owner, _user = world
    res = chain.vm.query(reader, "look_any", [7], 1_000_000)
    assert res.outcome is Outcome.FAULT and "32-byte transaction hash" in res.error


def test_each_call_costs_the_fixed_price_found_or_not(world):
    chain, reader, _owner, user = world
    known = chain.record(user, reader, True)
    chain.advance()
    for h in (known, b"\x09" * 32):
        once = chain.vm.query(reader, "once", [h], 1_000_000)
        twice = chain.vm.query(reader, "twice", [h], 1_000_000)
        assert once.ok and twice.ok
        # The second call adds its price and the few nodes of its statement.
        assert SETTLED_READ <= twice.gas_used - once.gas_used <= SETTLED_READ + 60


def test_out_of_gas_before_the_read(world):
    chain, reader, _owner, user = world
    known = chain.record(user, reader, True)
    chain.advance()
    base = chain.vm.query(reader, "once", [known], 1_000_000).gas_used
    res = chain.vm.query(reader, "once", [known], base - 1)
    assert res.outcome is Outcome.OUT_OF_GAS


class _BrokenHost(MemoryHost):
    def get_settled(self, tx_hash: bytes) -> SettledTx | None:
        raise OSError("disk gone")


class _ShapelessHost(MemoryHost):
    def get_settled(self, tx_hash: bytes) -> SettledTx | None:
        return SettledTx(1, True, "swap", b"\x01" * 20, b"\x02" * 20)


@pytest.mark.parametrize(("host_type", "raised", "says"), [(_BrokenHost, OSError, "disk gone"),
                                                            (_ShapelessHost, HostError, "malformed")])
def test_a_host_that_cannot_answer_stops_the_node_never_a_receipt(host_type, raised, says):
    chain = Chain(height=3)
    owner = chain.account()
    reader = chain.deploy(owner, READER).address
    host = host_type()
    host.code, host.storage = chain.host.code, chain.host.storage
    vm = VM(host, BlockInfo(3, 0))
    with pytest.raises(raised, match=says):
        vm.query(reader, "look", [b"\x01" * 32], 1_000_000)
