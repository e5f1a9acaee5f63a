"""Every benchmark script the README and docs name runs, in a small form: a documented
command that no test runs breaks unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devnet.cluster import Cluster

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SMALL = {
    "consensus_bench.py": ["--runs", "1", "--heights", "20"],
    "sync_bench.py": ["--txs", "200", "--runs", "1"],
    "p2p_bench.py": ["--runs", "1", "--small", "2000", "--large", "4"],
    "trie_bench.py": ["--sizes", "2000", "--batch", "200", "--runs", "1"],
    "vm_bench.py": ["--calls", "40", "--users", "8", "--runs", "1", "--mode", "both"],
    "vm_worst.py": ["--gas", "2000000"],
    "gated_transfer.py": ["--calls", "40", "--users", "8", "--runs", "1"],
    "monitor_bench.py": ["--blocks", "20", "--per-block", "20", "--users", "200", "--runs", "1"],
    "aml_ledger.py": ["generate", "--txs", "600", "--patterns", "22", "--validators", "1", "--block-time", "100",
                      "--out", "."],
    "payments_bench.py": ["--calls", "20", "--users", "4", "--runs", "1", "--path-calls", "10"],
    "eth_throughput.py": ["--txs", "200", "--validators", "1", "--peers", "none", "--runs", "1"],
    "explorer_bench.py": ["--validators", "1", "--seconds", "6", "--sample", "3", "--loads", "1", "--accounts", "10",
                          "--block-time-ms", "300"],
    "feedback_bench.py": ["--ratings", "40", "--users", "8", "--runs", "1"],
    "vault_bench.py": ["--users", "20", "--runs", "1"],
    "statement_bench.py": ["--movements", "200", "--per-block", "40", "--runs", "1"],
    "profile_bench.py": ["--validators", "1", "--txs", "1000", "--accounts", "20", "--block-time-ms", "300",
                         "--top", "5", "--keep", "stacks"],
}


def test_every_bench_script_has_a_small_form():
    assert sorted(SMALL) == sorted(p.name for p in (ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("script", sorted(SMALL))
def test_bench_script_runs(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), *SMALL[script]], capture_output=True,
                          text=True, timeout=280, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "it printed no result"
    if script == "profile_bench.py":  # --keep leaves py-spy's raw stacks for caller analysis
        assert (tmp_path / "stacks" / "node0.txt").read_text().strip()


def test_gated_transfer_devnet_form_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gated_transfer.py"), "--mode", "devnet", "--runs", "1",
                           "--users", "4", "--per-user", "5", "--block-time-ms", "300"],
                          capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("tx/s") == 3, proc.stdout


def test_payments_bench_devnet_form_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "payments_bench.py"), "--mode", "devnet", "--runs", "1",
                           "--validators", "1", "--users", "4", "--per-user", "5", "--block-time-ms", "300"],
                          capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("payments/s") == 2, proc.stdout


def test_aml_ledger_scores_alerts_against_its_labels(tmp_path):
    """The small ledger, then the scorer over a file of alerts: one per planted instance at its last
    height naming its first address (each detected), and one on an ordinary user (a false positive)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "bench" / "aml_ledger.py")
    gen = subprocess.run([sys.executable, script, *SMALL["aml_ledger.py"]], capture_output=True, text=True,
                         timeout=280, cwd=tmp_path, env=env)
    assert gen.returncode == 0, gen.stderr[-3000:]
    summary = json.loads(gen.stdout)
    assert summary["failed"] == 0 and summary["committed"] == summary["txs"] >= 600
    assert summary["instances_wider_than_their_window"] == []
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert len(labels["instances"]) == 22 and labels["scored_from_height"] > labels["setup"]["to_height"]
    assert all(i["txs"] and i["from_height"] >= labels["scored_from_height"] for i in labels["instances"])
    assert "[watchlist]" in (tmp_path / "rules.toml").read_text()
    alerts = [{"rule": i["typology"], "height": i["to_height"], "addresses": i["addresses"][:1]}
              for i in labels["instances"]]
    alerts.append({"rule": "velocity", "height": labels["scored_from_height"], "addresses": ["0x" + "12" * 20]})
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": alerts}))
    sc = subprocess.run([sys.executable, script, "score", "--labels", "labels.json", "--alerts", "alerts.json"],
                        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert sc.returncode == 0, sc.stderr[-3000:]
    table = json.loads(sc.stdout)["typologies"]
    assert all(row["recall"] == 1.0 for row in table.values())
    assert table["velocity"]["precision"] == round(2 / 3, 4) and table["cycle"]["precision"] == 1.0


def test_aml_ledger_replays_onto_a_running_devnet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Cluster(1, block_time_ms=100, proxy=False, accounts=6, base_dir=tmp_path) as c:
        before = c.height()
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "aml_ledger.py"), "generate", "--devnet",
                               str(c.dir), "--txs", "400", "--patterns", "11", "--out", "out"],
                              capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        labels = json.loads((tmp_path / "out" / "labels.json").read_text())
        assert labels["chain_id"] == c.chain_id and labels["setup"]["from_height"] > before
        first = labels["instances"][0]
        assert c.node(0).client.get_tx(first["txs"][0])["height"] == first["from_height"]


def test_monitor_bench_follows_a_running_devnet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Cluster(1, block_time_ms=100, proxy=False, accounts=3, base_dir=tmp_path) as c:
        c.node(0).client.transfer(c.accounts[0], c.addresses[1], 5, wait=True)
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "monitor_bench.py"), "--follow", str(c.dir),
                               "--runs", "1"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["txs"] >= 1 and result["runs"][0]["blocks_per_s"] > 0
