"""The pure parts of `finchain devnet chaos`: schedules, single-link cuts, and the checker's judgement of
histories, proposers and samples, each shown to fail on what it must catch. Fast: no processes."""

from __future__ import annotations

import random

import pytest

from devnet.chaos import progress_line, run_seed, summarize
from devnet.checker import history_problems, proposer_problems, sample_problems, validator_sets
from devnet.faults import FaultError, Faults, describe, with_cuts
from devnet.nemesis import ALL_KINDS, KINDS_BEYOND_F, Episode, bridge_sides, draw_schedule, faults_allowed
from node.types.crypto import PrivateKey, to_checksum_address

KEYS = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(4)]
POWERS = {k.address: 10 for k in KEYS}
A, B = (to_checksum_address(k.address) for k in KEYS[:2])


def test_schedules_follow_the_seed_and_keep_to_f():
    one = draw_schedule(random.Random(7), 90, 4)
    assert one == draw_schedule(random.Random(7), 90, 4)
    assert one != draw_schedule(random.Random(8), 90, 4)
    kinds = set()
    for seed in range(40):
        schedule = draw_schedule(random.Random(seed), 90, 4)
        end = 0.0
        for ep in schedule:
            assert ep.at_s >= end and ep.at_s + ep.duration_s <= 90, schedule  # one at a time, inside the run
            end = ep.at_s + ep.duration_s
            if ep.kind == "bridge":  # with 4 nodes its far side is one node: within f
                assert not ep.beyond_f and len(bridge_sides(ep.nodes)[2]) == 1
            else:
                assert ep.beyond_f == (ep.kind in KINDS_BEYOND_F)
            if not ep.beyond_f and ep.kind != "bridge":
                assert 1 <= len(ep.nodes) <= faults_allowed(4)
            assert Episode.from_json(ep.to_json()) == ep
            kinds.add(ep.kind)
    assert kinds == set(ALL_KINDS)
    within = [e for s in range(20) for e in draw_schedule(random.Random(s), 90, 4, beyond_f=False)]
    assert within and not any(e.beyond_f for e in within)
    only_3 = [e for s in range(20) for e in draw_schedule(random.Random(s), 60, 4, targets=[3])]
    assert only_3 and all(e.nodes == (3,) for e in only_3)
    assert run_seed(1, 0) == run_seed(1, 0) != run_seed(1, 1)
    seven = [e for s in range(30) for e in draw_schedule(random.Random(s), 90, 7)]
    assert all(len(e.nodes) == 3 for e in seven if e.kind == "kill2")  # f + 1 of 7
    assert all(e.beyond_f for e in seven if e.kind == "bridge")  # sides of 3: no quorum on either with the bridge


def test_a_bridge_is_two_sides_cut_apart_with_one_node_linked_to_both():
    bridge, left, right = bridge_sides((2, 0, 3, 1))
    assert (bridge, left, right) == (2, [0, 3], [1])
    f = with_cuts(Faults(), [[a, b] for a in left for b in right], 4)
    assert f.is_cut(0, 1) and f.is_cut(1, 3) and f.is_cut(3, 1)
    assert not f.is_cut(0, 3) and not f.is_cut(2, 1) and not f.is_cut(0, 2)
    assert Faults.from_json(f.to_json()) == f and not f.is_clear()
    assert describe(f, [f"node{i}" for i in range(4)]) == ["cut node0-node1, node1-node3"]
    with pytest.raises(FaultError):
        with_cuts(Faults(), [[1, 1]], 4)
    with pytest.raises(FaultError):
        with_cuts(Faults(), [[1, 9]], 4)


def rec(tx_hash: str, sender: str, nonce: int, *, acked_at: int | None = None, result: str = "ok") -> dict:
    r = {"hash": tx_hash, "sender": sender, "nonce": nonce, "to": B, "amount": 1, "node": 0, "sent_s": 0.1,
         "result": result}
    if acked_at is not None:
        r.update(committed_s=0.5, height=acked_at, ack_node=1)
    return r


def chain_of(*txs: tuple[int, str, str, int]) -> tuple[list[dict], dict[str, tuple[int, int]]]:
    """Blocks (height, [(hash, from, nonce)]) as chain_getBlock(full) answers, and hash -> (height, index)."""
    by_height: dict[int, list[dict]] = {}
    where = {}
    for height, tx_hash, sender, nonce in txs:
        by_height.setdefault(height, []).append({"hash": tx_hash, "from": sender, "nonce": nonce})
        where[tx_hash] = (height, len(by_height[height]) - 1)
    return [{"height": h, "txs": by_height.get(h, [])} for h in range(1, max(by_height) + 1)], where


def test_history_acknowledged_transactions_must_be_committed_exactly_where_seen():
    chain, where = chain_of((2, "0x01", A, 0), (3, "0x02", A, 1), (3, "0x03", B, 0))
    good = [rec("0x01", A, 0, acked_at=2), rec("0x02", A, 1, acked_at=3), rec("0x03", B, 0),
            rec("0x09", A, 1),  # superseded: another transaction took nonce 1
            rec("0x0a", A, 2),  # never reached: at the sender's final nonce, e.g. lost with a killed mempool
            rec("0x0b", B, 1, result="TransportError: refused")]
    problems, stats = history_problems(good, where, {}, chain)
    assert problems == []
    assert stats == {"sent": 6, "errors": 1, "admitted": 5, "acknowledged": 2, "committed_late": 1,
                     "superseded": 1, "never_reached": 1}

    lost = [*good, rec("0x0c", B, 5, acked_at=3)]
    assert any("lost" in p for p in history_problems(lost, where, {}, chain)[0])
    moved = [rec("0x01", A, 0, acked_at=3)]
    assert any("seen at height 3, is at 2" in p for p in history_problems(moved, where, {}, chain)[0])
    phantom_chain, phantom_where = chain_of((2, "0x01", A, 0), (2, "0x66", A, 1))
    assert any("never sent" in p for p in history_problems([rec("0x01", A, 0)], phantom_where, {}, phantom_chain)[0])
    hole_chain, hole_where = chain_of((2, "0x01", A, 0), (2, "0x05", A, 2))  # nonce 1 empty (the ledger flags it)
    found = history_problems([rec("0x01", A, 0), rec("0x05", A, 2), rec("0x04", A, 1)], hole_where, {}, hole_chain)[0]
    assert any("neither is any other at its nonce" in p for p in found)


def block(height: int, proposer: bytes, commit_round: int | None) -> dict:
    commit = None if commit_round is None else {"height": height - 1, "round": commit_round}
    return {"height": height, "header": {"proposer": to_checksum_address(proposer)}, "last_commit": commit}


def test_each_block_is_proposed_by_the_proposer_of_its_commit_round():
    sets = validator_sets(POWERS, 6)
    rounds = {1: 0, 2: 1, 3: 0, 4: 2, 5: 0}  # the round each height was committed in
    chain = [block(h, sets[h].proposer_for_round(rounds[h]).address, rounds.get(h - 1)) for h in range(1, 6)]
    chain.append(block(6, sets[6].proposer.address, rounds[5]))
    assert proposer_problems(chain, POWERS) == []
    wrong = [dict(b) for b in chain]
    wrong[3] = block(4, sets[4].proposer.address, rounds[3])  # the round-0 proposer, but 4 was decided in round 2
    found = proposer_problems(wrong, POWERS)
    assert len(found) == 1 and "block 4 (committed in round 2)" in found[0]


def test_every_node_must_name_the_same_proposers():
    same = {5: {"node0": [A, B], "node1": [A, B]}, 6: {"node0": [B, A]}}
    assert sample_problems(same) == []
    assert sample_problems({**same, 7: {"node0": [A, B], "node2": [B, A]}}) == [
        f"height 7: nodes name different proposers: {{'node0': ['{A}', '{B}'], 'node2': ['{B}', '{A}']}}"]


def test_summary_counts_faults_and_recovery():
    ep = Episode("kill", (1,), 1.0, 2.0)
    runs = [{"run": i, "seed": i, "schedule": [ep.to_json()] * (i + 1), "recovery_s": r, "seconds": 40,
             "verdict": {"ok": i != 2, "failed": [] if i != 2 else ["liveness"], "height": 50,
                         "stats": {"history": {"sent": 10, "admitted": 9, "acknowledged": 8}, "txs_committed": 8}}}
            for i, r in enumerate((0.3, 0.5, None))]
    s = summarize(runs)
    assert (s["runs"], s["passed"], s["faults"], s["faults_by_kind"]) == (3, 2, 6, {"kill": 6})
    assert (s["acknowledged"], s["recovery_median_s"], s["recovery_worst_s"]) == (24, 0.4, 0.5)
    assert s["failed_runs"] == [{"run": 2, "seed": 2, "failed": ["liveness"]}]
    assert "FAIL liveness" in progress_line(runs[2], 3) and "killx3" in progress_line(runs[2], 3)
