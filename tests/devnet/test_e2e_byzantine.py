"""Byzantine peers against a 4-validator devnet of real processes.

A. A peer that is no validator sends every validator a correctly signed precommit, from its own
   non-validator key, for the block each height is deciding (`python -m devnet.byzantine`).
B. One validator proposes out of turn: at each height it does not own it broadcasts a round-0
   proposal ahead of the real proposer (`[testing] propose_out_of_turn`, node/net/out_of_turn.py).

In both, a correct chain keeps committing in round 0, every stored commit verifies against the
genesis validators, and the misbehaving peer is penalised. Each test is bounded (about a minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from devnet.checks import blocks, last_commit_problems, round0_proposers
from devnet.cluster import Cluster
from node.types.crypto import to_checksum_address
from node.types.genesis import load_genesis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

BLOCK_MS = 300  # a healthy 4-validator devnet commits about 3 blocks a second at this pace
ATTACK_S = 30.0
WATCH_S = 25.0
MIN_BLOCKS = 20  # during an attack: far below the healthy ~90, far above a stalled chain's 0-2
MAX_GAP_S = 8.0  # longest wait for the next block during an attack; healthy: under 0.5 s, a round 1: about 1.5 s,
# and once a fresh clone saw 5.6 s at the banned validator's own height (a stalled chain waits forever)
AFTER_S = 10.0


def genesis_of(c: Cluster) -> tuple[str, dict[bytes, int]]:
    genesis = load_genesis(c.node(0).home / "config" / "genesis.json")
    return genesis.chain_id, {v.address: v.power for v in genesis.validators}


def watch(c: Cluster, seconds: float, nodes: Iterable[int], stop: Callable[[], bool] = lambda: False,
          ) -> list[tuple[float, int]]:
    """(seconds since start, lowest height of `nodes`) about twice a second, for `seconds` or until `stop()`."""
    chosen = list(nodes)
    start = time.monotonic()
    samples: list[tuple[float, int]] = []
    while True:
        now = time.monotonic() - start
        heights = [h for h in c.heights(chosen).values() if h is not None]
        samples.append((round(now, 2), min(heights, default=0)))
        if now >= seconds or stop():
            return samples
        time.sleep(0.5)


def longest_gap(samples: list[tuple[float, int]]) -> tuple[float, int]:
    """The longest wait from the first sighting of a height to that of the next one (or to the last sample, if
    the height never moved again), and the height waited at. Healthy at 300 ms blocks: one sampling interval."""
    best, at = 0.0, samples[0][1]
    since, height = samples[0]
    for t, h in samples[1:]:
        if t - since > best:
            best, at = t - since, height
        if h != height:
            since, height = t, h
    return best, at


def chain_problems(c: Cluster, tip: int, excused: Callable[[int], bool] = lambda h: False) -> tuple[list[str], dict]:
    """Every commit of blocks 1..tip (node 0's chain) verified against the genesis validators, and in round 0
    unless `excused(height)`; also returns the rounds seen (height -> round) for the failure message."""
    chain_id, powers = genesis_of(c)
    chain = blocks(c.node(0).rpc_url, range(1, tip + 1), full=False)
    problems = last_commit_problems(chain, chain_id, powers)
    rounds = {b["last_commit"]["height"]: b["last_commit"]["round"] for b in chain if b["last_commit"]}
    late = {h: r for h, r in rounds.items() if r > 0 and not excused(h)}
    if late:
        problems.append(f"{len(late)} of {len(rounds)} heights committed after round 0 (height: round): "
                        f"{dict(list(late.items())[:20])}")
    return problems, rounds


def penalised_by(c: Cluster, node_id: str) -> dict[str, list[str]]:
    """Node name -> its log lines penalising `node_id` (the switch logs every fault it scores, then the ban)."""
    short = node_id[:8]
    out: dict[str, list[str]] = {}
    for line in c.log_lines_matching(f"peer {short} misbehaved", f"banning peer {short}"):
        name, _, text = line.partition(": ")
        out.setdefault(name, []).append(text)
    return out


def banned_by(c: Cluster, node_id: str) -> set[str]:
    return {name for name, lines in penalised_by(c, node_id).items() if any("banning peer" in x for x in lines)}


def read_events(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    summaries = [e for e in events if e.get("event") == "summary"]
    if not summaries:
        raise AssertionError(f"the attacker printed no summary:\n{path.read_text()[-3000:]}")
    return events, summaries[-1]


def test_junk_precommits_from_a_non_validator_peer(tmp_path):
    with Cluster(validators=4, block_time_ms=BLOCK_MS, base_dir=tmp_path) as c:
        validators = range(4)
        c.wait_height(2, timeout=20)
        out_path = tmp_path / "byzantine.jsonl"
        with open(out_path, "w") as out:
            attacker = subprocess.Popen(
                [sys.executable, "-m", "devnet.byzantine", "junk-precommits", "--home", str(c.dir),
                 "--duration", str(ATTACK_S)], stdout=out, stderr=subprocess.STDOUT)
            try:
                samples = watch(c, ATTACK_S + 10, validators, stop=lambda: attacker.poll() is not None)
                attacker.wait(timeout=10)
            finally:
                if attacker.poll() is None:
                    attacker.kill()
                    attacker.wait(5)
        _, summary = read_events(out_path)
        attacker_id = summary["node_id"]

        problems = []
        advanced = samples[-1][1] - samples[0][1]
        gap, stuck_at = longest_gap(samples)
        if advanced < MIN_BLOCKS or gap > MAX_GAP_S:
            problems.append(f"during the {ATTACK_S:g} s attack the chain advanced {advanced} blocks "
                            f"({samples[0][1]} -> {samples[-1][1]}); it stood at height {stuck_at} for {gap:.1f} s")
        end = c.height(validators)
        try:
            c.wait_height(end + 3, timeout=AFTER_S)
        except TimeoutError as exc:
            problems.append(f"after the attack: {exc}")
        tip = c.node(0).height()
        found, rounds = chain_problems(c, tip)
        problems += found

        # The attack reached every validator (else a pass proves nothing), and each one banned the attacker:
        # it dropped the connection and refused every reconnection.
        banned = banned_by(c, attacker_id)
        for n in c.nodes:
            peer = summary["peers"][n.name]
            if peer["sent"] == 0:
                problems.append(f"{n.name} got no junk precommit: the attack did not happen")
            elif peer["disconnects"] == 0:
                problems.append(f"{n.name} kept the attacker connected through {peer['sent']} junk precommits")
            elif peer["readmitted"] or not peer["refused"]:
                problems.append(f"{n.name} let the attacker back in (reconnections after "
                                f"{peer['first_disconnect_s']} s: {peer['attempts_after_disconnect']} tried, "
                                f"{peer['refused']} refused, {peer['readmitted']} admitted)")
            if n.name not in banned:
                problems.append(f"{n.name} never logged `banning peer {attacker_id[:8]}`")
        assert not problems, (
            "junk precommits from a non-validator:\n  " + "\n  ".join(problems)
            + f"\nheights sampled (s, lowest height): {samples}\ncommit rounds: {rounds}"
            + f"\nattacker: {summary['precommits']} precommits for {summary['heights']} heights "
            + f"(highest {summary['highest']}), per validator {json.dumps(summary['peers'])}"
        )
        c.assert_agree()
        print(f"junk precommits: {advanced} blocks in {ATTACK_S:g} s (longest wait {gap:.1f} s); attacker cut off at "
              + ", ".join(f"{k} {v['first_disconnect_s']} s ({v['sent']} sent, {v['refused']} refused)"
                          for k, v in summary["peers"].items()))


BYZANTINE = 1


def test_a_validator_proposing_out_of_turn(tmp_path):
    with Cluster(validators=4, block_time_ms=BLOCK_MS, base_dir=tmp_path,
                 testing={BYZANTINE: {"propose_out_of_turn": True}}) as c:
        honest = [i for i in range(4) if i != BYZANTINE]
        byzantine = c.node(BYZANTINE)
        c.wait_height(2, timeout=20, nodes=honest)
        samples = watch(c, WATCH_S, honest)
        tip = c.node(0).height()

        problems = []
        advanced = samples[-1][1] - samples[0][1]
        gap, stuck_at = longest_gap(samples)
        if advanced < MIN_BLOCKS or gap > MAX_GAP_S:
            problems.append(f"in {WATCH_S:g} s the chain advanced {advanced} blocks ({samples[0][1]} -> "
                            f"{samples[-1][1]}); it stood at height {stuck_at} for {gap:.1f} s")
        # Banning the out-of-turn validator is a correct answer, and then its own turns time out to round 1:
        # only those heights may leave round 0, and only once someone banned it.
        _, powers = genesis_of(c)
        address = bytes.fromhex(byzantine.status()["validator"][2:])
        owner = round0_proposers(powers, tip)
        cut_off = bool(banned_by(c, byzantine.node_id))
        found, rounds = chain_problems(c, tip, excused=lambda h: cut_off and owner[h] == address)
        problems += found

        fronted = [x for x in byzantine.log_tail(100_000).splitlines() if "out of turn at height" in x]
        if not fronted:
            problems.append(f"{byzantine.name} never proposed out of turn: the test proves nothing")
        penalties = penalised_by(c, byzantine.node_id)
        for i in honest:
            name = c.node(i).name
            if name not in penalties:
                problems.append(f"{name} never penalised {byzantine.name} (no `peer {byzantine.node_id[:8]} "
                                f"misbehaved` line) for its out-of-turn proposals")
        assert not problems, (
            f"{byzantine.name} ({to_checksum_address(address)}) proposing out of turn:\n  " + "\n  ".join(problems)
            + f"\nheights sampled (s, lowest honest height): {samples}\ncommit rounds: {rounds}"
            + f"\n{len(fronted)} out-of-turn proposals, the first: {fronted[:1]}"
            + f"\npenalties: { {k: v[:2] for k, v in penalties.items()} }"
        )
        c.assert_agree(honest)
        print(f"out of turn: {len(fronted)} proposals, {advanced} blocks in {WATCH_S:g} s (longest wait {gap:.1f} s),"
              f" banned: {cut_off}, heights past round 0: { {h: r for h, r in rounds.items() if r} }; penalties: "
              + ", ".join(f"{k} {len(v)}" for k, v in sorted(penalties.items())))
