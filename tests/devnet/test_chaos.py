"""`finchain devnet chaos` itself, as a tester runs it: three 30-second runs of the bank workload under the
nemesis (faults within f and beyond it) on fresh 4-validator clusters, every one judged by the checker; then
`--replay` of a recorded schedule. The byzantine run is tests/devnet/test_e2e_byzantine_validator.py."""

from __future__ import annotations

import json

import pytest

from devnet.cli import main
from devnet.nemesis import Episode

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_three_chaos_runs_pass_and_write_their_records(tmp_path, capsys):
    out = tmp_path / "chaos"
    status = main(["devnet", "chaos", "--runs", "3", "--seed", "18", "--duration", "30s", "--accounts", "20",
                   "--out", str(out)])
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert status == 0, f"{printed}\n{json.dumps(summary, indent=1)}"
    assert (summary["runs"], summary["passed"]) == (3, 3)
    assert summary["faults"] >= 9 and summary["acknowledged"] > 300, summary
    assert printed.count("PASS") == 3 and "runs passed" in printed
    for i in range(3):
        record = json.loads((out / f"run-{i:03d}.json").read_text())
        assert {"seed", "schedule", "events", "history", "verdict", "recovery_s"} <= set(record)
        assert record["verdict"]["ok"] and record["recovery_s"] is not None and record["recovery_s"] < 30
        assert [e["op"] for e in record["events"]][-1] == "heal"
        assert all({"hash", "sender", "nonce", "amount", "node", "sent_s", "result"} <= set(h)
                   for h in record["history"])
        assert not (out / f"run-{i:03d}").exists()  # a passing run's cluster folder is removed


def test_replay_runs_a_recorded_schedule_again(tmp_path, capsys):
    recorded = {"run": 4, "seed": 1234, "campaign_seed": 18, "validators": 4, "byzantine": [], "duration_s": 6,
                "schedule": [Episode("kill", (2,), 0.5, 1.5).to_json(), Episode("halves", (0, 1), 3.0, 2.0,
                                                                                 beyond_f=True).to_json()]}
    path = tmp_path / "run-004.json"
    path.write_text(json.dumps(recorded))
    out = tmp_path / "replayed"
    assert main(["devnet", "chaos", "--replay", str(path), "--accounts", "10", "--out", str(out)]) == 0
    record = json.loads((out / "run-004.json").read_text())
    assert record["seed"] == 1234 and record["schedule"] == recorded["schedule"]
    done = [(e["op"], e["kind"]) for e in record["events"] if e["op"] != "heal"]
    assert done == [("do", "kill"), ("undo", "kill"), ("do", "halves"), ("undo", "halves")]
    assert "PASS" in capsys.readouterr().out
