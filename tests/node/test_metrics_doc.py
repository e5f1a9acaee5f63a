"""docs/operations.md section 10 and docs/grafana-dashboard.json against what a real node serves:
every metric the node exports is documented, every documented one exists, and every metric a
dashboard query names is one the node exports."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from node.config import load_config
from node.daemon import Node
from tests.node.test_metrics import make_home, wait_height

pytestmark = pytest.mark.timeout(60)

DOCS = Path(__file__).resolve().parents[2] / "docs"
SUFFIXES = {"counter": ("",),  # the family name already ends in _total
            "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count"),
            "gauge": ("",)}


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> dict[str, str]:
    """Metric family name (as a query names it: counters with _total) -> type, from a real node's scrape."""

    async def scrape() -> str:
        node = Node(load_config(make_home(tmp_path_factory.mktemp("doc"), "d", "chain-d")))
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg, aiohttp.ClientSession() as session:
            tg.create_task(node.run(stop))
            try:
                url = f"http://127.0.0.1:{node.config.rpc_port}/"
                await wait_height(session, url, 1)
                async with session.get(url + "metrics") as resp:
                    return await resp.text()
            finally:
                stop.set()

    out = {}
    for family in text_string_to_metric_families(asyncio.run(scrape())):
        if family.name.endswith("_created"):  # the client library's creation times, documented as a group
            continue
        out[family.name + ("_total" if family.type == "counter" else "")] = family.type
    return out


def series_names(families: dict[str, str]) -> set[str]:
    names = set()
    for name, kind in families.items():
        names.update(name + suffix for suffix in SUFFIXES[kind])
        base = name.removesuffix("_total")
        names.add(base + "_created")
    return names


def documented() -> dict[str, str]:
    text = (DOCS / "operations.md").read_text()
    section = text[text.index("## 10. Metrics"):]
    rows = re.findall(r"^\| `(finchain_[a-z0-9_]+)` \| (\w+) \|", section, re.M)
    assert rows, "no metrics table in docs/operations.md section 10"
    return dict(rows)


def test_every_exported_metric_is_documented_with_its_type(families):
    assert documented() == families


def test_the_issue_asks_for_these(families):
    wanted = {"finchain_consensus_height", "finchain_consensus_rounds", "finchain_consensus_block_interval_seconds",
              "finchain_consensus_num_txs", "finchain_consensus_total_txs", "finchain_consensus_committed_txs_total",
              "finchain_mempool_size", "finchain_mempool_size_bytes", "finchain_p2p_peers",
              "finchain_p2p_peer_send_bytes_total", "finchain_p2p_peer_receive_bytes_total",
              "finchain_consensus_votes_received_total", "finchain_consensus_wal_fsync_seconds",
              "finchain_consensus_block_execution_seconds", "finchain_consensus_block_commit_seconds",
              "finchain_rpc_requests_total", "finchain_rpc_request_duration_seconds", "finchain_rpc_ws_subscriptions",
              "finchain_process_resident_memory_bytes"}
    assert wanted <= set(families), wanted - set(families)


def dashboard_queries() -> list[str]:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all(p["targets"] for p in dash["panels"])
    for var in dash["templating"]["list"]:
        queries.append(var["definition"])
        queries.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return queries


def test_dashboard_queries_name_only_exported_metrics(families):
    known = series_names(families)
    queries = dashboard_queries()
    named = {m for q in queries for m in re.findall(r"\bfinchain_[a-z0-9_]+", q)}
    assert len(named) >= 20  # the dashboard shows most of them
    assert named <= known, sorted(named - known)
    # Histogram quantiles are computed from buckets, counters through rate().
    for q in queries:
        for m in re.findall(r"\bfinchain_[a-z0-9_]+", q):
            if m.endswith("_total") or m.endswith("_bucket"):
                assert f"rate({m}" in q, q


def test_the_series_check_would_catch_a_misspelt_name(families):
    known = series_names(families)
    assert "finchain_consensus_heigth" not in known
    assert "finchain_rpc_requests" not in known  # a counter is queried with _total
    assert "finchain_consensus_wal_fsync_seconds_bucket" in known
