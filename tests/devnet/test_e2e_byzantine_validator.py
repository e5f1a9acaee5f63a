"""One byzantine validator of four (`python -m devnet.byzantine validator`, in node3's place), cycling through
every mode: equivocation, invalid blocks, junk votes from a non-validator key, out-of-turn proposals, forged
block-sync answers. Run as `finchain devnet chaos --byzantine 1 --no-nemesis` (the byzantine validator is the
only fault), under the bank workload: the checker's verdict must hold (safety, no lost transaction,
conservation, proposers, liveness), the evidence against node3 is committed and queryable, and node3 and the
junk-vote peer end up banned by every honest node (`net_peers`)."""

from __future__ import annotations

import json

import pytest

from devnet.byzantine_validator import ALL_MODES
from devnet.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]

PHASE_S = 3.5  # seconds per mode: each mode gets about 10 heights, so node3 proposes in each



def test_one_byzantine_validator_of_four_cycling_every_mode(tmp_path):
    status = main(["devnet", "chaos", "--runs", "1", "--seed", "18", "--byzantine", "1", "--no-nemesis",
                   "--byzantine-phase", f"{PHASE_S}s", "--duration", f"{len(ALL_MODES) * PHASE_S + 3}s",
                   "--accounts", "20", "--rate", "10", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "run-000.json").read_text())
    assert status == 0 or not record["verdict"]["ok"]
    v = record["verdict"]
    shown = json.dumps({k: record.get(k) for k in ("verdict", "byzantine_log", "bans", "recovery_s")}, indent=1)
    assert v["ok"], f"the verdict failed with one byzantine validator: {shown}"
    counters = record["byzantine_log"]["3"]
    assert counters["modes_run"] == list(ALL_MODES), shown
    problems = []
    if not counters["conflicting_votes"]:
        problems.append("no conflicting vote was sent")
    if not counters["invalid_proposals"] and not counters["second_proposals"]:
        problems.append("no second proposal (valid or invalid) was sent: node3 never proposed")
    if not counters["junk_precommits"]:
        problems.append("the junk-vote peer sent nothing")
    if not counters["out_of_turn"]:
        problems.append("no out-of-turn proposal was sent")
    if not counters["forged_blocks"]:
        problems.append("no forged block-sync answer was asked for")
    evidence = v["stats"]["evidence"]
    if not evidence["committed"]:
        problems.append("no evidence committed")
    byzantine_id = record["byzantine_node_ids"]["3"]
    for name, banned in record["bans"].items():
        if byzantine_id not in banned:
            problems.append(f"{name} does not ban node3 ({byzantine_id[:8]}): bans {banned}")
        if counters["junk_peer_id"] not in banned:
            problems.append(f"{name} does not ban the junk-vote peer {counters['junk_peer_id'][:8]}")
    assert not problems, "\n".join(problems) + "\n" + shown
    assert v["stats"]["history"]["acknowledged"] > 50, shown
    print(f"byzantine node3: {json.dumps(counters)}; evidence {evidence}; height {v['height']}")
