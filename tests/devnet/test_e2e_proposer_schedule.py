"""Every node names the same proposer for every height and round, however it got there:
nodes are paused, isolated, killed and restarted at random heights while a sampler reads
each node's `consensus_state`."""

from __future__ import annotations

import random
import threading
import time

import pytest

from devnet.checks import round0_proposers
from devnet.cluster import Cluster
from node.client.sdk import Client, RpcCallError, TransportError
from node.types.crypto import parse_address
from node.types.genesis import load_genesis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CHAOS_S = 30.0


class Sampler(threading.Thread):
    """height -> node -> the proposers it names for rounds 0..7, read every 50 ms from every node."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(daemon=True)
        self.clients = [Client(u, timeout=0.5) for u in urls]
        self.seen: dict[int, dict[int, tuple[str, ...]]] = {}
        self.samples = 0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for i, client in enumerate(self.clients):
                try:
                    state = client.call("consensus_state")
                except (RpcCallError, TransportError):
                    continue  # paused or down: that is the point
                if state.get("height") is None:
                    continue
                self.seen.setdefault(state["height"], {})[i] = tuple(state["round_proposers"])
                self.samples += 1
            time.sleep(0.05)


def test_paused_isolated_and_restarted_nodes_name_the_same_proposers(tmp_path):
    rng = random.Random(20261202)
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        c.wait_height(2, timeout=30)
        sampler = Sampler(c.urls())
        sampler.start()
        actions: list[str] = []
        try:
            end = time.monotonic() + CHAOS_S
            while time.monotonic() < end:
                i = rng.randrange(4)
                action = rng.choice(["pause", "isolate", "kill", "restart"])
                actions.append(f"{action} {i} at {c.height()}")
                if action == "pause":
                    c.pause(i)
                    time.sleep(rng.uniform(0.5, 2.5))
                    c.resume(i)
                elif action == "isolate":
                    c.partition([i], [j for j in range(4) if j != i])
                    time.sleep(rng.uniform(0.5, 2.5))
                    c.heal()
                elif action == "kill":
                    c.kill(i)
                    time.sleep(rng.uniform(0.3, 1.5))
                    c.start(i)
                else:
                    c.restart(i)
                time.sleep(rng.uniform(0.3, 1.5))  # let a node fall behind and catch up by sync
            top = c.height()
            c.wait_height(top + 3, timeout=60)
            time.sleep(1.0)
        finally:
            sampler.stop_flag.set()
            sampler.join(timeout=5)
        c.assert_agree()
        conflicts = [f"height {h}: {named}" for h, named in sorted(sampler.seen.items())
                     if len(set(named.values())) > 1]
        assert not conflicts, "nodes name different proposers:\n" + "\n".join(conflicts[:5]) + f"\n{actions}"
        shared = [h for h, named in sampler.seen.items() if len(named) >= 2]
        assert len(shared) >= 20, f"only {len(shared)} heights seen by two nodes or more ({sampler.samples} samples)"
        # And what they name is the rule of docs/consensus.md, whoever asks.
        genesis = load_genesis(c.node(0).home / "config" / "genesis.json")
        rule = round0_proposers({v.address: v.power for v in genesis.validators}, max(sampler.seen))
        wrong = [h for h, named in sampler.seen.items()
                 if any(parse_address(p[0]) != rule[h] for p in named.values())]
        assert not wrong, f"round-0 proposers off the rule at heights {sorted(wrong)[:10]}"
