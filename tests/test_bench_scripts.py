"""Every benchmark script the README and docs name runs, in a small form: a documented
command that no test runs breaks unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    "eth_throughput.py": ["--txs", "200", "--validators", "1", "--peers", "none", "--runs", "1"],
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


def test_gated_transfer_devnet_form_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gated_transfer.py"), "--mode", "devnet", "--runs", "1",
                           "--users", "4", "--per-user", "5", "--block-time-ms", "300"],
                          capture_output=True, text=True, timeout=280, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("tx/s") == 3, proc.stdout
