"""`finchain devnet bench`, in a small form, on a genesis that deploys the standard contracts
(account 0 starts at a nonce above 0): the command documented in the README must keep working."""

from __future__ import annotations

import json
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
    assert all(r["metrics"] is False for r in runs) and "metrics                  off" in proc.stdout
