"""A real node under full blocks: the base fee rises, and an SDK transfer at its default fee still commits."""

from __future__ import annotations

import time

from node.client.sdk import build_transfer
from node.types.crypto import to_checksum_address
from tests.node.helpers import CHAIN_ID, key
from tests.node.nodes import make_node_home

FLOOR = 10**9  # the default params.min_base_fee
BLOCK_GAS = 21_000 * 20  # twenty transfers fill a block


def test_full_blocks_raise_the_base_fee_and_the_default_fee_still_gets_in(tmp_path):
    proc = make_node_home(tmp_path, commit_ms=300, max_block_gas=BLOCK_GAS)
    proc.start()
    try:
        proc.wait_ready()
        client = proc.client
        to = to_checksum_address(key(50).address)
        start = client.call("node_status")["height"]
        # 10 senders x 12 transfers: six full blocks' worth, sent at once.
        hashes = [client.send_raw(build_transfer(key(s), CHAIN_ID, n, to, 1).raw) for n in range(12) for s in range(10)]
        deadline = time.monotonic() + 40
        while client.get_tx(hashes[-1])["status"] != "committed" and time.monotonic() < deadline:
            time.sleep(0.2)
        tip = client.call("node_status")["height"]
        blocks = [client.call("chain_getBlock", h) for h in range(start + 1, tip + 1)]
        fees = [int(b["base_fee_per_gas"]) for b in blocks]
        assert max(b["gas_used"] for b in blocks) == BLOCK_GAS  # some blocks were full
        assert max(fees) > FLOOR
        for before, after, block in zip(fees, fees[1:], blocks, strict=False):
            if block["gas_used"] == BLOCK_GAS:
                assert after == before + before // 8
        info = client.fee_info()
        assert int(info["suggested_max_fee"]) >= 2 * int(info["base_fee_per_gas"])
        # The SDK picks its fee from chain_feeInfo: it commits without being told a fee.
        answer = client.wait_for_tx(client.transfer(key(0), to, 5, nonce=12), timeout=20)
        assert answer["receipt"]["status"] == "success"
        paid = int(answer["receipt"]["fee"])
        block = client.call("chain_getBlock", answer["height"])
        assert paid >= 21_000 * int(block["base_fee_per_gas"]) >= 21_000 * FLOOR
        # What was burned shows in the block and in chain_feeInfo.
        assert int(client.fee_info()["burned_total"]) >= int(block["burned_total"]) > 0
    finally:
        proc.stop()
