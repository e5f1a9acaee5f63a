"""Real `finchain node` processes: start, wait until serving, signal, stop.

Used by the devnet command and by end-to-end tests; every wait is bounded.
"""

from __future__ import annotations

import time
from pathlib import Path

from devnet.ports import free_block
from devnet.service import ServiceProcess
from node.client.sdk import Client, TransportError


def free_port() -> int:
    """A free port below the ephemeral range: the kernel's own pick (port 0) can be handed to an
    outgoing connection later, and a node started minutes afterwards would find it taken."""
    return free_block(1)[0]


class NodeProcess(ServiceProcess):
    def __init__(self, home: Path, rpc_port: int, name: str = "node", hash_seed: int | None = None) -> None:
        # Each node of a devnet hashes strings differently: anything that let hash order reach
        # a block (a set iterated into state, say) would split the network instead of hiding.
        super().__init__(["node", "--home", str(home)], home / "node.log", module="node",
                         env=None if hash_seed is None else {"PYTHONHASHSEED": str(hash_seed)})
        self.home = home
        self.hash_seed = hash_seed
        self.name = name
        self.rpc_url = f"http://127.0.0.1:{rpc_port}"
        self.client = Client(self.rpc_url, timeout=5.0)

    def wait_ready(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return self.client.status()
            except TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not serve RPC within {timeout}s:\n{self.log_tail()}")

    def wait_height(self, height: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            try:
                last = self.client.status()["height"]
                if last >= height:
                    return last
            except TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} at height {last}, not {height}, after {timeout}s:\n{self.log_tail()}")
