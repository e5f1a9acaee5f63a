"""Resource attacks against a 4-validator devnet of real processes (`python -m devnet.flood`).

A. Junk votes: prevotes from made-up validators with made-up signatures, as fast as the
   sockets drain, a fresh node key per session, from 127.0.0.2. Each node drops them before
   its queue (no signature check), bans each session within a few messages, and after the
   first ban refuses the address itself. The chain keeps its pace.
B. Idle connections: 36 silent TCP connections held to every validator; meanwhile two
   validators restart, so the chain can only go on if their persistent links get through the
   attacked listeners again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devnet.cluster import Cluster
from tests.devnet.test_e2e_byzantine import chain_problems, longest_gap, watch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

BLOCK_MS = 300
ATTACK_S = 25.0
MIN_BLOCKS = 40  # healthy: about 75 in 25 s at this pace
MAX_GAP_S = 3.0


def rss_mb(c: Cluster) -> dict[str, float]:
    out = {}
    for n in c.nodes:
        if n.pid is None:
            continue
        for line in Path(f"/proc/{n.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out[n.name] = round(int(line.split()[1]) / 1024, 1)
    return out


def attack(c: Cluster, tmp: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(tmp / f"flood-{args[0]}.jsonl", "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "devnet.flood", *args, "--home", str(c.dir),
                                 "--duration", str(ATTACK_S)], stdout=out, stderr=subprocess.STDOUT)


def summary_of(proc: subprocess.Popen[bytes], tmp: Path, name: str) -> dict[str, Any]:
    try:
        proc.wait(timeout=ATTACK_S + 15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    text = (tmp / f"flood-{name}.jsonl").read_text()
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    if not lines:
        raise AssertionError(f"the attacker printed no summary:\n{text[-3000:]}")
    return lines[-1]


def test_junk_votes_from_made_up_validators_are_dropped_and_their_address_banned(tmp_path):
    with Cluster(validators=4, block_time_ms=BLOCK_MS, base_dir=tmp_path) as c:
        c.wait_height(2, timeout=20)
        idle = watch(c, 10, range(4))
        rss_before = rss_mb(c)
        proc = attack(c, tmp_path, "junk-votes")
        samples = watch(c, ATTACK_S, range(4), stop=lambda: proc.poll() is not None)
        rss_after = rss_mb(c)
        summary = summary_of(proc, tmp_path, "junk-votes")
        advanced = samples[-1][1] - samples[0][1]
        gap, at = longest_gap(samples)
        problems = []
        if advanced < MIN_BLOCKS or gap > MAX_GAP_S:
            problems.append(f"{advanced} blocks in {ATTACK_S:g} s, stood at {at} for {gap:.1f} s")
        for name, peer in summary["peers"].items():
            if not peer["admitted"]:
                problems.append(f"{name}: the attack never got in: it proves nothing")
            if peer["admitted"] > 2:
                problems.append(f"{name} admitted {peer['admitted']} fresh keys from a banned address")
            if peer["sent"] > 50_000:
                problems.append(f"{name} took {peer['sent']} junk votes before cutting the attacker off")
        for name in rss_after:
            if rss_after[name] - rss_before.get(name, 0) > 100:
                problems.append(f"{name} grew from {rss_before.get(name)} to {rss_after[name]} MB")
        problems += chain_problems(c, c.node(0).height())[0]
        assert not problems, "\n".join(problems) + f"\nattacker: {json.dumps(summary)}\nsamples: {samples}"
        c.assert_agree()
        print(f"junk votes: idle {idle[-1][1] - idle[0][1]} blocks in 10 s; under attack {advanced} blocks in "
              f"{ATTACK_S:g} s (longest wait {gap:.1f} s); RSS MB {rss_before} -> {rss_after}; "
              f"attacker {json.dumps(summary['peers'])}")


def test_idle_connections_do_not_keep_restarted_validators_out(tmp_path):
    with Cluster(validators=4, block_time_ms=BLOCK_MS, base_dir=tmp_path) as c:
        c.wait_height(2, timeout=20)
        proc = attack(c, tmp_path, "idle", "--per-validator", "36")
        time.sleep(2)  # the idle connections are in place
        before = c.height()
        c.stop(0)
        c.stop(1)  # two of four down: no quorum until they are back and connected
        c.start(0)
        c.start(1)
        restarted = time.monotonic()
        samples = watch(c, ATTACK_S - 8, range(4), stop=lambda: proc.poll() is not None)
        summary = summary_of(proc, tmp_path, "idle")
        advanced = samples[-1][1] - samples[0][1]
        problems = []
        if advanced < 10:
            problems.append(f"after the restart under attack the chain advanced {advanced} blocks "
                            f"(from {before}) in {time.monotonic() - restarted:.0f} s")
        closed = summary["closed_by_node"]
        if not all(closed.values()):
            problems.append(f"some node never closed an idle connection: {closed}")
        problems += chain_problems(c, c.node(0).height(), excused=lambda h: h > before)[0]
        assert not problems, "\n".join(problems) + f"\nattacker: {json.dumps(summary)}\nsamples: {samples}"
        c.assert_agree()
        print(f"idle connections: {advanced} blocks in the {samples[-1][0]:.0f} s after restarting two validators; "
              f"idle connections closed by the nodes: {closed}")
