"""Real `finchain node` processes: start, wait until serving, signal, stop.

Used by the devnet command and by end-to-end tests; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from devnet.ports import free_block
from node.client.sdk import Client, TransportError


def free_port() -> int:
    """A free port below the ephemeral range: the kernel's own pick (port 0) can be handed to an
    outgoing connection later, and a node started minutes afterwards would find it taken."""
    return free_block(1)[0]


class NodeProcess:
    def __init__(self, home: Path, rpc_port: int, name: str = "node", hash_seed: int | None = None) -> None:
        self.home = home
        # Each node of a devnet hashes strings differently: anything that let hash order reach
        # a block (a set iterated into state, say) would split the network instead of hiding.
        self.hash_seed = hash_seed
        self.name = name
        self.rpc_url = f"http://127.0.0.1:{rpc_port}"
        self.client = Client(self.rpc_url, timeout=5.0)
        self.log_path = home / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, extra_args: tuple[str, ...] = ()) -> None:
        self._log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.hash_seed is not None:
            env["PYTHONHASHSEED"] = str(self.hash_seed)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node", "node", "--home", str(self.home), *extra_args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

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

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait_exit(10)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return self.wait_exit(1)
        self.signal(signal.SIGTERM)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
