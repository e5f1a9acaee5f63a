"""Topologies with real node processes on 127.0.0.1: a line relays, a seed finds everyone,
and a validator that joins after 1,000 blocks syncs them and then takes part."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from devnet.homes import DevnetError, Manifest, derive_key, generate
from devnet.ports import SCAN_HIGH, SCAN_LOW
from devnet.process import NodeProcess
from node.client.sdk import build_transfer
from node.types.crypto import to_checksum_address

pytestmark = pytest.mark.slow


def set_p2p(home: Path, peers: str, seeds: str = "", pex: bool = False) -> None:
    cfg = home / "config" / "config.toml"
    text = cfg.read_text()
    text = re.sub(r'persistent_peers = ".*"', f'persistent_peers = "{peers}"', text)
    text = re.sub(r'seeds = ".*"', f'seeds = "{seeds}"', text)
    text = re.sub(r"pex = \w+", f"pex = {'true' if pex else 'false'}", text)
    cfg.write_text(text)


def procs(manifest: Manifest) -> list[NodeProcess]:
    return [NodeProcess(Path(e.home), int(e.rpc.rsplit(":", 1)[1]), e.name) for e in manifest.nodes]


def wait(predicate, timeout: float, what: str, nodes: list[NodeProcess]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {n.name}\n{n.log_tail(15)}" for n in nodes)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def stop_all(nodes: list[NodeProcess]) -> None:
    for n in nodes:
        n.stop(10)


def test_line_relays_a_transaction_end_to_end(tmp_path):
    m = gen(tmp_path, validators=4, block_time_ms=300)
    nodes = procs(m)
    for i, e in enumerate(m.nodes):  # A-B-C-D: each node dials only its right neighbour
        set_p2p(Path(e.home), m.nodes[i + 1].p2p if i + 1 < len(m.nodes) else "")
    try:
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_height(2, timeout=60)
        assert [n.client.status()["peers"] for n in nodes] == [1, 2, 2, 1]
        key = derive_key(m.seed, "account", 2)  # account 0 deployed the genesis contracts: its nonce is 5
        to = to_checksum_address(derive_key(m.seed, "account", 1).address)
        tx = build_transfer(key, m.chain_id, 0, to, 12345)
        tx_hash = nodes[0].client.send_raw(tx.raw)
        answer = nodes[3].client.wait_for_tx(tx_hash, timeout=30)
        history = nodes[3].client.call("account_txs", to, 10)["txs"]
        assert any(t["tx"]["hash"] == tx_hash for t in history)
        assert answer["receipt"]["status"] == "success"
    finally:
        stop_all(nodes)


def test_a_node_given_only_a_seed_finds_every_node(tmp_path):
    m = gen(tmp_path, validators=4, non_validators=1, block_time_ms=300)
    nodes = procs(m)
    for e in m.nodes[:4]:
        set_p2p(Path(e.home), ",".join(o.p2p for o in m.nodes[:4] if o is not e), pex=True)
    set_p2p(Path(m.nodes[4].home), "", seeds=m.nodes[0].p2p, pex=True)
    try:
        for n in nodes:
            n.start()
        newcomer = nodes[4]
        newcomer.wait_ready()
        wait(lambda: newcomer.client.status()["peers"] == 4, 60, "the newcomer to know all four nodes", nodes)
        newcomer.wait_height(3, timeout=30)
    finally:
        stop_all(nodes)


def test_a_validator_joining_after_1000_blocks_syncs_then_votes(tmp_path):
    m = gen(tmp_path, validators=4, block_time_ms=0)
    # The absent validator's turns to propose cost a propose timeout each: keep them short, and rare
    # (power 1 against 3 x 10: it proposes about one height in 31, and the other three hold 30/31).
    for e in m.nodes:
        path = Path(e.home) / "config" / "genesis.json"
        genesis = json.loads(path.read_text())
        genesis["params"]["timeouts_ms"].update(propose=150, propose_delta=50, prevote=50, precommit=50)
        late_hex = to_checksum_address(derive_key(m.seed, "validator", 3).address)
        for v in genesis["validators"]:
            if v["address"].lower() == late_hex.lower():
                v["power"] = 1
        assert [v["power"] for v in genesis["validators"]].count(1) == 1
        path.write_text(json.dumps(genesis))
    nodes = procs(m)
    late = nodes[3]
    try:
        for n in nodes[:3]:
            n.start()  # three of four validators: more than 2/3 of the power
        nodes[0].wait_height(1000, timeout=240)
        late.start()
        late.wait_ready()
        wait(lambda: not late.client.status()["catching_up"] and late.client.status()["height"] >= 1000, 120,
             "the late validator to catch up", nodes)
        joined = late.client.status()["height"]
        late_address = derive_key(m.seed, "validator", 3).address
        late_hex = to_checksum_address(late_address)

        def voted() -> bool:
            top = nodes[0].client.status()["height"]
            for h in range(joined + 1, top + 1):
                block = nodes[0].client.get_block(h)
                signers = {s["validator"] for s in (block["last_commit"] or {}).get("signatures", [])}
                if late_hex in signers or block["header"]["proposer"] == late_hex:
                    return True
            return False

        wait(voted, 60, "a commit signed or a block proposed by the late validator", nodes)
        assert late.client.get_block(1000)["hash"] == nodes[0].client.get_block(1000)["hash"]
    finally:
        stop_all(nodes)


def gen(tmp: Path, **kwargs) -> Manifest:
    """generate() on a random port range, trying another range if one is taken."""
    rng = random.Random()
    for _ in range(20):
        try:
            # Below the ephemeral range (32768 and up): a late node's port must not go to an outgoing connection.
            return generate(tmp, base_port=rng.randrange(SCAN_LOW, SCAN_HIGH - 100, 2), proxy=False, **kwargs)
        except DevnetError:
            continue
    raise RuntimeError("no free port range found")
