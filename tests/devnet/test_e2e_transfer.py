"""Check 1: a transfer sent to node 0 commits and is visible on all 4 nodes, which agree."""

from __future__ import annotations

import time

import pytest

from devnet.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_transfer_commits_and_is_visible_everywhere(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        sender, recipient = c.accounts[0], c.addresses[5]
        before = c.node(1).client.balance(recipient)
        tx_hash = c.node(0).client.transfer(sender, recipient, 12345, wait=True, timeout=20)
        committed = c.node(0).client.get_tx(tx_hash)
        assert committed["status"] == "committed" and committed["receipt"]["status"] == "success"
        deadline = time.monotonic() + 15
        for n in c.nodes:
            while (seen := n.client.get_tx(tx_hash))["status"] != "committed":
                assert time.monotonic() < deadline, f"{n.name} does not show {tx_hash} committed: {seen}"
                time.sleep(0.1)
            assert (seen["height"], seen["block_hash"]) == (committed["height"], committed["block_hash"])
            at = committed["height"]
            assert int(n.client.account(recipient, at)["balance"]) == before + 12345
        c.wait_height(committed["height"] + 2)
        assert c.assert_agree() >= committed["height"] + 2
