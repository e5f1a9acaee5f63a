"""Scrape `/metrics` of real node processes while transfers are sent: the counters move, the
text parses, and a stopped peer's series disappear (the peer_id label set stays bounded)."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devnet.cluster import Cluster
from node.client.sdk import build_transfer
from node.types.crypto import to_checksum_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):  # raises on text that does not parse
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def peer_series(samples: Samples, name: str) -> dict[str, float]:
    return {dict(k[1])["peer_id"]: v for k, v in samples.items() if k[0] == name}


def test_metrics_move_under_load(tmp_path):
    with Cluster(validators=2, block_time_ms=200, proxy=False, base_dir=tmp_path) as c:
        url = c.node(0).rpc_url
        other = c.node(1).node_id
        c.wait_height(2)
        before = scrape(url)
        # Behind a nonce gap: it waits in node 0's mempool for the whole test.
        issuer = c.roles["kyc_issuer"]
        nonce = c.node(0).client.next_nonce(to_checksum_address(issuer.address))
        gapped = build_transfer(issuer, c.chain_id, nonce + 40, c.addresses[0], 1)
        c.node(0).client.send_raw(gapped.raw)
        with c.load(rate=60) as load:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.5)
                during = scrape(url)
                if (value(during, "finchain_consensus_total_txs") >= 30
                        and value(during, "finchain_rpc_requests_total", method="tx_send") >= 30):
                    break
        assert load.failures == 0, load.last_error
        after = scrape(url)
        assert value(after, "finchain_consensus_height") > value(before, "finchain_consensus_height") + 1
        assert value(after, "finchain_consensus_total_txs") >= 30
        assert value(after, "finchain_consensus_committed_txs_total") == value(after, "finchain_consensus_total_txs")
        assert value(after, "finchain_rpc_requests_total", method="tx_send") > value(
            before, "finchain_rpc_requests_total", method="tx_send")
        assert value(after, "finchain_rpc_request_duration_seconds_count", method="tx_send") > 0
        assert value(after, "finchain_mempool_size") >= 1
        assert value(after, "finchain_mempool_future_size") >= 1
        assert value(after, "finchain_mempool_size_bytes") >= len(gapped.raw)
        for kind in ("prevote", "precommit"):
            assert value(after, "finchain_consensus_votes_received_total", type=kind) > value(
                before, "finchain_consensus_votes_received_total", type=kind)
        assert value(after, "finchain_consensus_block_interval_seconds_count") > 0
        assert value(after, "finchain_consensus_txs_per_second") >= 0
        assert value(after, "finchain_p2p_peers") == 1
        sent_before = peer_series(before, "finchain_p2p_peer_send_bytes_total")
        sent_after = peer_series(after, "finchain_p2p_peer_send_bytes_total")
        assert set(sent_after) == {other}
        assert sent_after[other] > sent_before.get(other, 0)
        assert peer_series(after, "finchain_p2p_peer_receive_bytes_total")[other] > 0
        c.stop(1)
        deadline = time.monotonic() + 15
        while value(gone := scrape(url), "finchain_p2p_peers") != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert value(gone, "finchain_p2p_peers") == 0
        assert peer_series(gone, "finchain_p2p_peer_send_bytes_total") == {}
        assert peer_series(gone, "finchain_p2p_peer_receive_bytes_total") == {}
