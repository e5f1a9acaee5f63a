"""`finchain devnet bench`, in a small form, on a genesis that deploys the standard contracts
(account 0 starts at a nonce above 0): the command documented in the README must keep working."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_devnet_bench_commits_every_transfer(tmp_path):
    out = tmp_path / "bench.json"
    # With the nodes' metrics off, as the overhead measurement runs it (the other devnet tests keep them on).
    proc = subprocess.run([sys.executable, "-m", "devnet", "devnet", "bench", "--validators", "1", "--txs", "600",
                           "--no-metrics", "--json", str(out)], capture_output=True, text=True, timeout=170,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = result["runs"] if "runs" in result else [result]
    assert all(r["committed"] == r["txs"] == 600 for r in runs), result
    assert all(r["tx_per_s"] > 0 for r in runs)
    assert all(r["metrics"] is False for r in runs) and re.search(r"^metrics +off$", proc.stdout, re.M)


def _bench(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "devnet", "devnet", "bench", "--validators", "1",
                           "--block-time-ms", "300", "--json", str(out), *args],
                          capture_output=True, text=True, timeout=170, cwd=tmp_path)
    return proc, json.loads(out.read_text()) if proc.returncode == 0 else {}


def test_every_workload_in_a_mix_and_the_ethereum_client(tmp_path):
    # 70 senders: more than the mempool holds pending from the admin who sets them up (64).
    proc, mixed = _bench(tmp_path, "--txs", "500", "--accounts", "70", "--workload", "mixed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert mixed["committed"] == 500 and mixed["failed"] == 0
    assert mixed["workload"] == "mixed" and mixed["client"] == "native"
    assert all(c > 0 for c in mixed["cpu_s_per_1000_txs"])
    # With a recovery worker: Ethereum-signed ones are recovered there too.
    proc, eth = _bench(tmp_path, "--txs", "200", "--workload", "token", "--client", "eth", "--recovery-workers", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert eth["committed"] == 200 and eth["client"] == "eth" and eth["failed"] == 0
    assert eth["recovery_workers"] == 1 and re.search(r"\nrecovery workers per node +1\n", proc.stdout)
    assert 0 < eth["worker_cpu_s_per_1000_txs"][0] < eth["cpu_s_per_1000_txs"][0], eth
    assert re.search(r"\nof which its workers +[0-9.]+\n", proc.stdout)
    bad = subprocess.run([sys.executable, "-m", "devnet", "devnet", "bench", "--recovery-workers", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "workers: 0 or more" in bad.stderr


def test_a_short_soak_runs_rounds_until_the_time_is_up(tmp_path):
    proc, soak = _bench(tmp_path, "--txs", "100", "--duration", "2s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert soak["rounds"] >= 2 and soak["committed"] == soak["txs"] == 100 * soak["rounds"]


def test_a_workload_the_client_cannot_carry_is_refused_at_once(tmp_path):
    proc, _ = _bench(tmp_path, "--txs", "10", "--workload", "swap", "--client", "eth")
    assert proc.returncode == 1 and "needs --client native" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_offered_rate_paces_the_submission(tmp_path):
    proc, paced = _bench(tmp_path, "--txs", "300", "--rate", "100")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 300 transactions offered at 100 a second: the last batch leaves 2 s after the first at the earliest.
    assert paced["offered_rate"] == 100 and paced["committed"] == 300 and paced["seconds"] >= 2.0
    assert "offered" in proc.stdout and "100 tx/s" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "devnet", "devnet", "bench", "--rate", "0"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "a rate must be positive" in bad.stderr
