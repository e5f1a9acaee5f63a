"""A node that cannot start says why in one line, exits 1, and signs nothing."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from devnet.process import free_port
from tests.node.nodes import make_node_home

pytestmark = pytest.mark.slow


def run_node(home) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node", "node", "--home", str(home)], capture_output=True, text=True,
                          timeout=60)


def port_of(home, section: str) -> int:
    text = (home / "config" / "config.toml").read_text()
    return int(text.split(f"[{section}]")[1].split('listen = "127.0.0.1:')[1].split('"')[0])


@pytest.mark.parametrize("section", ["rpc", "p2p", "metrics"])
def test_port_in_use(tmp_path, section):
    node = make_node_home(tmp_path)
    if section == "metrics":  # on a port of their own
        cfg = node.home / "config" / "config.toml"
        cfg.write_text(cfg.read_text().replace('listen = ""', f'listen = "127.0.0.1:{free_port()}"', 1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", port_of(node.home, section)))
        s.listen()
        out = run_node(node.home)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot listen for") and "Traceback" not in out.stderr
    assert not (node.home / "data" / "priv_validator_state.json").exists(), "signed while unable to serve"


def test_corrupt_signer_state_and_foreign_store(tmp_path):
    node = make_node_home(tmp_path)
    state = node.home / "data" / "priv_validator_state.json"
    state.write_text("{not json")
    out = run_node(node.home)
    assert out.returncode == 1 and "refusing to sign" in out.stderr and "Traceback" not in out.stderr
    state.unlink()
    node.start()
    node.wait_height(1)
    node.stop()
    genesis = node.home / "config" / "genesis.json"
    genesis.write_text(genesis.read_text().replace('"genesis_time_ms": ', '"genesis_time_ms": 1'))
    out = run_node(node.home)
    assert out.returncode == 1 and "another genesis" in out.stderr and "Traceback" not in out.stderr
