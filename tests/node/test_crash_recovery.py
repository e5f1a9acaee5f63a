"""SIGKILL a loaded node at random moments, many times: every block is all there or not at all.

After each restart the node must come back at or above every height a client saw
committed, with a consistent state: the flat state table equals the Merkle trie at the
stored root, and no coin is created or lost (balances plus fees equal the genesis supply).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from node.chain import Chain
from node.client.sdk import RpcCallError, TransportError, build_transfer
from node.state.execution import Account
from node.storage import schema
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.crypto import to_checksum_address
from node.types.genesis import load_genesis
from tests.node.helpers import CHAIN_ID, key
from tests.node.nodes import BALANCE, FUNDED, make_node_home

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("CRASH_KILLS", "12"))


class Load(threading.Thread):
    """Sends transfers from every funded account until stopped; tolerates the node dying."""

    def __init__(self, node) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        client = self.node.client
        rng = random.Random(7)
        while not self.stop.is_set():
            try:
                for sender in range(FUNDED):
                    nonce = client.next_nonce(to_checksum_address(key(sender).address))
                    for k in range(5):
                        tx = build_transfer(
                            key(sender),
                            CHAIN_ID,
                            nonce + k,
                            to_checksum_address(key(rng.randrange(FUNDED)).address),
                            rng.randrange(1, 10**15),
                        )
                        client.send_raw(tx.raw)
                        self.sent += 1
            except (TransportError, RpcCallError):
                time.sleep(0.02)


def check_store(home, genesis) -> int:
    store = Store(LevelDBKV(home / "data" / "db"))
    try:
        chain = Chain(store, genesis, lambda raw: (_ for _ in ()).throw(AssertionError("no decoding needed")))
        root = store.state_root(chain.height)
        trie_items = dict(chain.trie.items(root))
        flat = {k[1:]: v for k, v in store.kv.scan(*schema.prefix_range(schema.STATE))}
        assert trie_items == flat, "flat state and trie disagree: a block was half applied"
        total = sum(Account.decode(v).balance for k, v in flat.items() if k[:1] == schema.ACCOUNT)
        burned = 0
        for h in range(1, chain.height + 1):
            block = store.get_block(h)
            assert block is not None and block.header.state_root == store.state_root(h)
            gas_used = 0
            for raw in block.txs:
                from node.types.tx import decode_tx

                loc = store.get_tx(decode_tx(raw).hash)
                assert loc is not None and loc.height == h
                gas_used += loc.receipt.gas_used
            record = chain.fee_record(h)
            assert record is not None and record.gas_used == gas_used
            burned += gas_used * record.base_fee
        record = chain.fee_record()
        assert record is not None and record.burned == burned
        # Every balance, the proposer's tips included, plus what was burned: the genesis supply.
        assert total + burned == FUNDED * BALANCE, "coins created or lost"
        return chain.height
    finally:
        store.close()


def test_sigkill_under_load_never_half_applies(tmp_path):
    node = make_node_home(tmp_path, commit_ms=50)
    genesis = load_genesis(node.home / "config" / "genesis.json")
    rng = random.Random(int(os.environ.get("CRASH_SEED", "1")))
    seen_height = 0
    node.start()
    node.wait_ready()
    load = Load(node)
    load.start()
    try:
        for _ in range(KILLS):
            node.wait_height(seen_height + 1, timeout=30)
            time.sleep(rng.uniform(0.05, 1.0))
            try:
                seen_height = max(seen_height, node.client.status()["height"])
            except TransportError:
                pass
            node.kill()
            node.start()
            status = node.wait_ready()
            assert status["height"] >= seen_height, "a committed block was lost"
    finally:
        load.stop.set()
        load.join(10)
        node.stop()
    assert load.sent > 0
    final = check_store(node.home, genesis)
    assert final >= seen_height
