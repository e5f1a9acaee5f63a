"""The AML monitor as real processes beside a 4-validator devnet.

The kill test: one monitor runs straight through, another is SIGKILLed at random moments while
blocks commit and started again; once both have read the same chain they hold the same alerts,
each once. Then the node the second one follows is stopped and started: it waits, says so in
its log, and resumes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devnet.cluster import Cluster
from devnet.monitor import MonitorProcess
from devnet.process import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]

# Thresholds far below the load's amounts (about 1,000 base units), so ordinary load raises alerts of
# rules with and without windows: what a restart must neither lose nor repeat.
RULES = """
[assets]
FIN = "0.0000000000000005"
[rules.fan_out]
window = 4
min_counterparties = 3
min_amount = "0.000000000000001"
[rules.fan_in]
window = 4
min_counterparties = 3
min_amount = "0.000000000000001"
[rules.velocity]
window = 3
min_movements = 4
[rules.cycle]
window = 6
min_amount = "0.0000000000000001"
"""


def test_a_killed_monitor_raises_the_same_alerts_once(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        steady = MonitorProcess(tmp_path / "steady", c.node(0).rpc_url, free_port(), rules)
        killed = MonitorProcess(tmp_path / "killed", c.node(1).rpc_url, free_port(), rules)
        try:
            for m in (steady, killed):
                m.start()
                m.wait_ready()
            rng = random.Random(15)
            kills = 0
            with c.load(rate=30):
                # At least 25 s and at least 10 kills: a loaded machine restarts the monitor slowly.
                end = time.monotonic() + 25
                while time.monotonic() < end or kills < 10:
                    time.sleep(rng.uniform(0.1, 1.2))
                    killed.kill()
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.4))
                    killed.start()
                    killed.wait_ready()
            top = c.node(0).client.status()["height"]
            steady.wait_height(top)
            killed.wait_height(top)
            a, b = steady.alerts(), killed.alerts()
            a = [x for x in a if x["height"] <= top]
            b = [x for x in b if x["height"] <= top]
            assert len(a) > 50 and {x["rule"] for x in a} >= {"large_value", "fan_out", "velocity"}
            assert [x["id"] for x in b] == [x["id"] for x in a]
            assert len({x["id"] for x in b}) == len(b)  # each once

            # The node goes away and comes back: the monitor waits and resumes.
            c.stop(1)
            deadline = time.monotonic() + 15
            while "unreachable" not in killed.log_tail(200) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "unreachable" in killed.log_tail(200)
            c.start(1)
            later = c.node(0).client.status()["height"] + 2
            c.wait_height(later, 60, nodes=[1])
            assert killed.wait_height(later)["node_reachable"] is True
            assert "reachable again" in killed.log_tail(200)
        finally:
            steady.stop()
            killed.stop()


def test_the_monitor_finds_the_planted_patterns_of_the_generator(tmp_path):
    """The labelled generator replays ordinary traffic and planted typologies onto a 4-validator devnet;
    a monitor started afterwards catches up from height 1 and is scored against the labels."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "bench" / "aml_ledger.py")
    with Cluster(validators=4, block_time_ms=200, base_dir=tmp_path) as c:
        gen = subprocess.run([sys.executable, script, "generate", "--devnet", str(c.dir), "--txs", "1500",
                              "--patterns", "33", "--out", "out"], capture_output=True, text=True, timeout=240,
                             cwd=tmp_path, env=env)
        assert gen.returncode == 0, gen.stderr[-3000:]
        monitor = MonitorProcess(tmp_path / "monitor", c.node(2).rpc_url, free_port(), tmp_path / "out" / "rules.toml")
        monitor.start()
        try:
            monitor.wait_ready()
            monitor.wait_height(c.node(0).client.status()["height"])
            score = subprocess.run([sys.executable, script, "score", "--labels", "out/labels.json", "--monitor",
                                    monitor.url], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
        finally:
            monitor.stop()
        assert score.returncode == 0, score.stderr[-3000:]
        table = json.loads(score.stdout)["typologies"]
        assert len(table) == 11
        for typology, row in table.items():
            assert row["planted"] >= 3 and row["recall"] >= 0.95 and row["precision"] >= 0.9, (typology, row)
