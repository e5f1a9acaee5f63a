"""Check 6 and the CLI fault commands: `finchain devnet ...` as an operator runs it, from a shell.

Every devnet here is detached, so its processes are not our children: what is left running is found
through the pids in its manifest, and whatever a failing test leaves is killed the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.ports import free_block, ports_needed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def finchain(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devnet", "devnet", *args], capture_output=True, text=True,
                          timeout=timeout)


def manifest_pids(home: Path) -> list[int]:
    try:
        m = json.loads((home / "devnet.json").read_text())
    except FileNotFoundError:
        return []
    pids = [n["pid"] for n in m["nodes"]] + [(m.get("proxy") or {}).get("pid")]
    return [p for p in pids if p]


def alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def processes_using(home: Path) -> list[int]:
    """Every live process whose command line names this devnet folder (the manifest may not know them)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if str(home).encode() in (proc / "cmdline").read_bytes() and alive(int(proc.name)):
                    found.append(int(proc.name))
    return found


@contextlib.contextmanager
def devnet_home(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    home = (tmp_path / "dn").resolve()
    base = free_block(ports_needed(4, proxy=True))[0]
    seen: set[int] = set()
    try:
        yield home, base
    finally:
        seen.update(manifest_pids(home))
        finchain("down", "--home", str(home))
        for pid in {*seen, *processes_using(home)}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_up_on_a_taken_port_fails_clearly_and_leaves_nothing(tmp_path):
    with devnet_home(tmp_path) as (home, base), socket.socket() as blocker:
        taken = base + 5  # node2's P2P port
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        r = finchain("up", "--detach", "--home", str(home), "--base-port", str(base), "--block-time", "300ms")
        assert r.returncode != 0
        assert f"port(s) {taken}" in r.stderr and "taken" in r.stderr and "--base-port" in r.stderr
        assert not processes_using(home)
        # No devnet was made: the other commands say so.
        r = finchain("logs", "node9", "--home", str(home))
        assert r.returncode == 1 and "no devnet at" in r.stderr


def test_detached_devnet_partition_heal_logs_and_down_twice(tmp_path):
    with devnet_home(tmp_path) as (home, base):
        r = finchain("up", "--detach", "--home", str(home), "--base-port", str(base), "--block-time", "300ms",
                     "--no-monitor")
        assert r.returncode == 0, r.stderr
        assert "monitor" not in json.loads((home / "devnet.json").read_text())  # the page test has one
        pids = manifest_pids(home)
        assert len(pids) == 5 and all(alive(p) for p in pids)  # 4 nodes and the fault proxy
        config = (home / "node0" / "config" / "config.toml").read_text()
        assert "pex = false" in config and f"127.0.0.1:{base + 8}" in config  # node0 dials node1 via the proxy
        # Each node's metrics and explorer URLs: in the manifest, under the table of `up` and of `status`.
        nodes = json.loads((home / "devnet.json").read_text())["nodes"]
        status_text = finchain("status", "--home", str(home)).stdout
        for i, n in enumerate(nodes):
            assert n["metrics"] == f"http://127.0.0.1:{base + 2 * i}/metrics"
            assert n["explorer"] == f"http://127.0.0.1:{base + 2 * i}/explorer/"
            for out in (r.stdout, status_text):
                assert f"node{i}  explorer {n['explorer']}  metrics {n['metrics']}" in out
        with urllib.request.urlopen(nodes[0]["metrics"], timeout=5) as resp:
            assert b"finchain_consensus_height " in resp.read()
        assert json.loads(finchain("status", "--json", "--home", str(home)).stdout)["nodes"][0]["metrics"] == \
            nodes[0]["metrics"]

        r = finchain("status", "--home", str(home))
        assert r.returncode == 0 and "FAULTS: none" in r.stdout

        r = finchain("partition", "0,1", "2,3", "--home", str(home))
        assert r.returncode == 0, r.stderr
        r = finchain("status", "--home", str(home))
        assert "partition node0,node1 | node2,node3" in r.stdout
        time.sleep(1.0)
        frozen = [n["height"] for n in json.loads(finchain("status", "--json", "--home", str(home)).stdout)["nodes"]]
        time.sleep(2.5)
        status = json.loads(finchain("status", "--json", "--home", str(home)).stdout)
        # No new height anywhere; a node a block behind its partner may still fetch that block.
        assert max(n["height"] for n in status["nodes"]) == max(frozen), (frozen, status["nodes"])
        assert status["faults"]["partition"] == [[0, 1], [2, 3]]

        r = finchain("partition", "0,9", "--home", str(home))
        assert r.returncode == 1 and "no node 9" in r.stderr
        r = finchain("delay", "node2", "100ms", "--jitter", "20ms", "--home", str(home))
        assert r.returncode == 0 and "delay node2 100ms ±20ms" in r.stdout

        r = finchain("heal", "--home", str(home))
        assert r.returncode == 0 and "faults now: none" in r.stdout
        deadline = time.monotonic() + 10
        while max(n["height"] for n in json.loads(finchain("status", "--json", "--home", str(home)).stdout)[
                "nodes"]) <= max(frozen):
            assert time.monotonic() < deadline, "no commit within 10 s of heal"
            time.sleep(0.3)
        assert "FAULTS: none" in finchain("status", "--home", str(home)).stdout

        r = finchain("logs", "node9", "--home", str(home))
        assert r.returncode == 1 and "no node 'node9'" in r.stderr
        r = finchain("logs", "node0", "-n", "3", "--home", str(home))
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 3

        r = finchain("down", "--home", str(home))
        assert r.returncode == 0 and "devnet stopped" in r.stdout
        assert not any(alive(p) for p in pids) and not processes_using(home)
        r = finchain("down", "--home", str(home))
        assert r.returncode == 0 and "not running" in r.stdout
        r = finchain("partition", "0", "1", "--home", str(home))
        assert r.returncode == 1 and "not running" in r.stderr
