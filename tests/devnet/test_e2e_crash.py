"""Checks 2 and 4: validators SIGKILLed under load, one and then all; the chain survives them intact."""

from __future__ import annotations

import time

import pytest

from devnet.checks import audit_ledger, double_signs, rpc_batch
from devnet.cluster import Cluster
from devnet.load import SentTx

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def committed_now(url: str, sent: list[SentTx]) -> dict[str, tuple[int, str]]:
    """tx hash -> (height, block hash) of every one of `sent` that `url` shows committed."""
    hashes = [s.hash for s in sent]
    answers = rpc_batch(url, [("tx_get", [h]) for h in hashes])
    return {h: (a["height"], a["block_hash"]) for h, a in zip(hashes, answers, strict=True)
            if a["status"] == "committed"}


def test_one_validator_killed_under_load_then_catches_up(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c, c.load(rate=25) as load:
        c.wait_height(c.height() + 3, timeout=20)
        dead = c.node(3).status()["validator"]
        c.kill(3)
        killed_at = c.height()
        txs_before = len(committed_now(c.node(0).rpc_url, load.sent))
        # Three of four validators hold more than 2/3 of the power: the chain goes on, with transactions.
        c.wait_height(killed_at + 8, timeout=30, nodes=[0, 1, 2])
        assert len(committed_now(c.node(0).rpc_url, load.sent)) > txs_before
        # What node 0 is waiting on: two peers, and never a vote from the dead validator.
        cs = c.node(0).client.consensus_state()
        assert sorted(p["moniker"] for p in cs["peers"]) == ["node1", "node2"]
        assert all(dead not in voters for r in cs["rounds"] for kind in ("prevotes", "precommits")
                   for voters in r[kind].values())
        c.start(3)
        target = c.height([0, 1, 2]) + 2
        c.wait_height(target, timeout=60)  # node 3 included: it caught up and follows
        assert c.node(3).status()["catching_up"] is False
        # What was committed while it was down is on node 3 now, at the same place.
        sent = list(load.sent)  # one snapshot for both nodes: the load is still sending
        on_0 = committed_now(c.node(0).rpc_url, sent)
        on_3 = committed_now(c.node(3).rpc_url, sent)
        assert {h: v for h, v in on_0.items() if v[0] <= target} == {h: v for h, v in on_3.items() if v[0] <= target}
        c.assert_agree()


def test_all_validators_killed_under_load_lose_nothing(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        with c.load(rate=40) as load:
            c.wait_height(c.height() + 6, timeout=30)
            seen = committed_now(c.node(0).rpc_url, load.sent)
            for i in range(4):  # one after the other, as fast as possible, while the load goes on
                c.kill(i)
            time.sleep(0.5)
        assert len(seen) >= 20, f"the load committed too little before the crash ({len(seen)} txs)"
        height_before = max(h for h, _ in seen.values())
        for i in range(4):
            c.node(i).process.start()
        for n in c.nodes:
            n.process.wait_ready(30)
        c.wait_height(height_before + 3, timeout=60)

        # Same chain: every transaction a client saw committed is still there, same height, same block.
        for n in c.nodes:
            now = committed_now(n.rpc_url, load.sent)
            lost = {h: v for h, v in seen.items() if now.get(h) != v}
            assert not lost, f"{n.name} lost or moved committed transactions: {lost}"
        height = c.assert_agree()

        # No duplicate, gapless nonces, supply conserved (fees are burned), on every node.
        for n in c.nodes:
            ledger, problems = audit_ledger(n.rpc_url, height, c.ledger_addresses, c.genesis_total)
            assert not problems, f"{n.name}: " + "\n".join(problems)
            assert len(ledger.txs) >= len(seen) and ledger.fees > 0
            print(f"{n.name}: {len(ledger.txs)} txs to height {height}, {len(seen)} seen before the crash, "
                  f"load sent {len(load.sent)} ({load.failures} failed sends)")

        # Nobody double-signed: no conflicting precommits, no evidence, no refusal or equivocation logged.
        assert not double_signs({n.name: n.rpc_url for n in c.nodes}, height)
        assert not c.log_lines_matching("equivocation", "refused to sign", "double proposal")
