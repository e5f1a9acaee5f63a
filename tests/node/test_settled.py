"""settled() through the node over real blocks (LevelDB): what a contract sees of a committed
transaction is the same in the block's execution, in another node's validation of that block,
in a query at a snapshot height and in a gas estimate; and a store without tx summaries (written
before they existed) answers the same from its blocks."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from devnet.contracts import standard_contracts
from node.client.sdk import build_call
from node.rpc.contracts import ContractApi
from node.state.accounts import StateOverlay
from node.state.contracts import overlay_vm
from node.state.params import ExecParams
from node.storage import schema
from node.types.block import STATUS_FAILED, STATUS_OK
from node.types.crypto import to_checksum_address
from node.types.genesis import genesis_contract
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis
from tests.node.test_chain import T0, advance
from vm import Address, contract_address
from vm.values import decode_value, to_json

PROBE = '''
@public
def seen(tx_hash: bytes) -> dict:
    """What settled() answers in a transaction, kept so that it shows in the receipt."""
    found = settled(tx_hash)
    return {} if found is None else found


@view
def look(tx_hash: bytes) -> dict:
    found = settled(tx_hash)
    return {} if found is None else found


@public
def fail():
    revert("no")
'''

OWNER = 0  # deploys the probe at genesis (nonce 0)
USER = 1


def genesis_with_probe():
    base = make_genesis()
    probe = genesis_contract("probe", key(OWNER).address, PROBE, [])
    return dataclasses.replace(base, contracts=(probe,)), contract_address(key(OWNER).address, 0)


def call(sender, nonce, contract, method, args=()):
    return build_call(key(sender), CHAIN_ID, nonce, contract, method, list(args), gas_limit=1_000_000, max_fee=1,
                      priority_fee=0)


def api_over(chain):
    """The contract RPC methods over the chain's read-only view, run here instead of in the read pool."""
    return ContractApi(SimpleNamespace(chain=chain.reader))


def query(chain, height, contract, tx_hash):
    raw = api_over(chain)._call(height, contract, "look", ["0x" + tx_hash.hex()], b"\x00" * 20, 10_000_000, 0)
    return json.loads(raw.text)["output"]


def as_json(found):
    return to_json(found)  # as the RPC shows a contract value


def test_execution_validation_query_and_estimate_agree(tmp_path):
    genesis, probe = genesis_with_probe()
    chain, _ = make_chain(tmp_path / "a", genesis)
    other, _ = make_chain(tmp_path / "b", genesis)
    user = key(USER).address

    def step(txs, t):
        executed = advance(chain, txs, t)
        # Another node validates the same bytes (block sync and WAL replay go this way) to the same header.
        again = other.validate_block(executed.raw)
        assert again.block.header == executed.block.header
        other.commit_block(again, chain.store.get_commit(executed.height))
        return executed

    b1 = step([call(USER, 0, probe, "seen", [b"\x00" * 32]), call(USER, 1, probe, "fail")], T0 + 1000)
    ok_tx, failed_tx = (tx.hash for tx in b1.txs)
    assert [r.status for r in b1.receipts] == [STATUS_OK, STATUS_FAILED]
    # Block 2: the txs of block 1 are settled; a tx of block 2 itself is not, not even to a later tx.
    b2 = step([call(USER, 2, probe, "seen", [ok_tx]), call(USER, 3, probe, "seen", [failed_tx])], T0 + 2000)
    same_block = b2.txs[0].hash
    unknown = b"\x01" * 32
    b3 = step([call(USER, 4, probe, "seen", [same_block]), call(USER, 5, probe, "seen", [unknown])], T0 + 3000)
    seen_ok, seen_failed = (decode_value(r.output) for r in b2.receipts)
    assert seen_ok == {"sender": Address(user), "to": probe, "ok": True, "kind": "call", "height": 1}
    assert seen_failed == {**seen_ok, "ok": False}
    assert decode_value(b3.receipts[0].output)["height"] == 2
    assert decode_value(b3.receipts[1].output) == {}  # an unknown hash

    # A query at a snapshot height answers as that height's block did, whatever came later.
    assert query(chain, 2, probe, ok_tx) == as_json(seen_ok)
    assert query(chain, 2, probe, failed_tx) == as_json(seen_failed)
    assert query(chain, 2, probe, same_block) == {}  # committed at 2: not before 2
    assert query(chain, 3, probe, same_block) == as_json(decode_value(b3.receipts[0].output))
    assert query(chain, 1, probe, ok_tx) == {}
    assert query(other, 2, probe, ok_tx) == query(chain, 2, probe, ok_tx)

    # An estimate runs as the next block will: the tip's txs are settled for it.
    tip_tx = b3.txs[1].hash
    estimate = api_over(chain)._estimate({"to": to_checksum_address(probe), "method": "seen",
                                          "args": ["0x" + tip_tx.hex()]}, user, 0, chain.height,
                                         chain.tip_time_ms, None)
    b4 = step([call(USER, 6, probe, "seen", [tip_tx])], T0 + 4000)
    assert estimate["status"] == "success"
    assert estimate["output"] == as_json(decode_value(b4.receipts[0].output))
    assert estimate["output"]["height"] == "3"
    assert estimate["gas_used"] == b4.receipts[0].gas_used  # the same fixed price, found or not
    chain.store.close()
    other.store.close()


def test_a_store_without_summaries_answers_from_its_blocks(tmp_path):
    genesis, probe = genesis_with_probe()
    chain, _ = make_chain(tmp_path, genesis)
    b1 = advance(chain, [call(USER, 0, probe, "fail"), call(USER, 1, probe, "seen", [b"\x00" * 32])], T0 + 1000)
    advance(chain, [], T0 + 2000)
    before = {tx.hash: chain.settled(tx.hash) for tx in b1.txs}
    assert all(v is not None for v in before.values())
    with chain.store.kv.batch(sync=True) as wb:
        for tx in b1.txs:
            wb.delete(schema.tx_summary_key(tx.hash))
    assert all(chain.store.get_tx_summary(h) is None for h in before)
    assert {h: chain.settled(h) for h in before} == before
    assert chain.settled(b"\x05" * 32) is None
    chain.store.close()


def test_an_overlay_without_the_lookup_cannot_run_contracts():
    state = StateOverlay({}.get)
    with pytest.raises(ValueError, match="settled"):
        overlay_vm(state, ExecParams(CHAIN_ID, 1, 1, 10**9))


def test_the_devnet_genesis_appends_feedback_and_keeps_the_other_addresses():
    deployer = key(0).address
    contracts, addresses = standard_contracts(deployer)
    assert [c.name for c in contracts][-1] == "feedback"
    assert list(addresses)[:9] == ["tusd", "wgld", "oracle", "swap", "lending", "identity", "fusd", "feur", "bond"]
    for i, (c, (name, address)) in enumerate(zip(contracts, addresses.items(), strict=True)):
        assert c.name == name and address == to_checksum_address(contract_address(deployer, i))
