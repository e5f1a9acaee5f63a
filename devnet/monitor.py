"""A real `finchain monitor` process against a devnet node: start, wait until it has caught up, stop."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import Any

from devnet.homes import Manifest
from devnet.process import free_port
from devnet.service import ServiceProcess
from finance.monitor.client import MonitorClient
from node.client.sdk import Client, RpcCallError, TransportError


class MonitorProcess(ServiceProcess):
    def __init__(self, home: Path, node_rpc: str, port: int, config: Path | None = None,
                 cors_origins: tuple[str, ...] = ()) -> None:
        argv = ["monitor", "--rpc", node_rpc, "--home", str(home), "--port", str(port), "--poll", "0.2"]
        if cors_origins:
            argv += ["--cors-origins", ",".join(cors_origins)]
        super().__init__(argv + (["--config", str(config)] if config else []), home / "monitor.log")
        self.home = home
        self.url = f"http://127.0.0.1:{port}"
        self.client = Client(self.url, timeout=10.0)

    def status(self) -> dict[str, Any]:
        return self.client.call("aml_status")

    def wait_ready(self, timeout: float = 20.0) -> dict[str, Any]:
        return self.wait_until(self.status, "answer", timeout, (TransportError, RpcCallError), "the monitor")

    def wait_height(self, height: int, timeout: float = 60.0) -> dict[str, Any]:
        """Until the monitor has finished block `height`."""
        def done() -> dict[str, Any] | None:
            status = self.status()
            return status if status["height"] >= height else None

        return self.wait_until(done, f"reach height {height}", timeout, (TransportError, RpcCallError),
                               "the monitor")

    def alerts(self) -> list[dict[str, Any]]:
        return MonitorClient(self.url).alerts()


def explorer_origins(manifest: Manifest) -> tuple[str, ...]:
    """The origins of the devnet nodes' explorer pages, which show the monitor's alerts (docs/explorer.md)."""
    ports = [n.rpc.rsplit(":", 1)[1] for n in manifest.nodes]
    return tuple(f"http://{host}:{port}" for port in ports for host in ("127.0.0.1", "localhost"))


def start_detached(manifest: Manifest, home: Path, timeout: float = 30.0) -> Manifest:
    """Start the devnet's monitor on node 0 (it outlives this process) and record it in the manifest."""
    proc = MonitorProcess(home / "monitor", manifest.nodes[0].rpc, free_port(), cors_origins=explorer_origins(manifest))
    proc.start()
    try:
        proc.wait_ready(timeout)
    except (RuntimeError, TimeoutError):
        proc.stop(5)
        raise
    pid = proc.proc.pid if proc.proc is not None else None
    return dataclasses.replace(manifest, monitor={"url": proc.url, "home": str(proc.home), "pid": pid})


def stop_detached(manifest: Manifest, timeout: float = 10.0) -> None:
    entry = manifest.monitor or {}
    pid = entry.get("pid")
    if not pid or not _is_monitor(pid, entry.get("home", "")):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_monitor(pid, entry["home"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_monitor(pid, entry["home"]):
        os.kill(pid, signal.SIGKILL)


def _is_monitor(pid: int, home: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and home.encode() in cmdline  # a reused pid is not ours
