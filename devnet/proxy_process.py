"""Where a devnet's fault proxy lives: a thread of the foreground `devnet up`, or a detached
`finchain devnet proxy` process. Either way it serves the control endpoint recorded in devnet.json, and
its pid there is trusted only if the endpoint answers with that same pid (a reused pid is never signalled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devnet.errors import DevnetError
from devnet.homes import Manifest
from devnet.ports import check_free
from devnet.proxy import FaultProxy, Link
from devnet.proxy_control import ProxyClient, ProxyThread, serve_proxy

log = logging.getLogger("devnet.proxy")


def _control_port(manifest: Manifest) -> int | None:
    assert manifest.proxy is not None
    control = manifest.proxy.get("control")
    return int(control.rsplit(":", 1)[1]) if control else None


def build_proxy(manifest: Manifest) -> FaultProxy:
    if manifest.proxy is None:
        raise DevnetError("this devnet has no fault proxy (made by an older version: `devnet up --reset`)")
    return FaultProxy([Link.from_json(x) for x in manifest.proxy["links"]], len(manifest.nodes))


def proxy_ports(manifest: Manifest) -> list[int]:
    if manifest.proxy is None:
        return []
    port = _control_port(manifest)
    return [int(x["listen"]) for x in manifest.proxy["links"]] + ([port] if port else [])


def start_in_thread(manifest: Manifest) -> ProxyThread:
    check_free(proxy_ports(manifest))
    runner = ProxyThread(build_proxy(manifest), _control_port(manifest))
    runner.start()
    return runner


def start_detached(manifest: Manifest, home: Path, timeout: float = 15.0) -> int:
    """Start `finchain devnet proxy --home H` in its own session; returns its pid once it answers."""
    check_free(proxy_ports(manifest))
    log_file = open(home / "proxy.log", "ab")  # handed to the child, closed below
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devnet", "devnet", "proxy", "--home", str(home.resolve())],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    finally:
        log_file.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (home / "proxy.log").read_text(errors="replace").splitlines()[-5:]
            raise DevnetError("the fault proxy exited at start:\n  " + "\n  ".join(tail))
        state = proxy_state(manifest.with_proxy_pid(proc.pid))
        if state is not None:
            return proc.pid
        time.sleep(0.1)
    proc.kill()
    proc.wait(5)
    raise DevnetError(f"the fault proxy did not answer within {timeout}s (see {home / 'proxy.log'})")


def proxy_state(manifest: Manifest) -> dict[str, Any] | None:
    """The proxy's state if the recorded proxy runs and answers, else None."""
    if manifest.proxy is None or not manifest.proxy.get("pid") or not manifest.proxy.get("control"):
        return None
    try:
        state = ProxyClient(manifest.proxy["control"], timeout=2.0).state()
    except DevnetError:
        return None
    return state if state.get("pid") == manifest.proxy["pid"] else None


def stop_detached(manifest: Manifest, timeout: float = 10.0) -> None:
    """SIGTERM the recorded proxy (not ourselves), SIGKILL it after `timeout`."""
    if proxy_state(manifest) is None:
        return
    assert manifest.proxy is not None
    pid = int(manifest.proxy["pid"])
    if pid == os.getpid():
        return  # the foreground `devnet up` stops its own thread
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        if _is_zombie(pid):
            break
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def run_detached(home: Path) -> None:
    """The body of `finchain devnet proxy`: serve until SIGTERM or SIGINT."""
    from node.logs import setup_logging

    manifest = Manifest.load(home)
    proxy = build_proxy(manifest)
    setup_logging("text", "info")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        links, control = manifest.proxy["links"], manifest.proxy["control"]  # type: ignore[index]
        log.info("fault proxy for %s: %d links, control %s", home, len(links), control)
        await serve_proxy(proxy, _control_port(manifest), stop)
        log.info("fault proxy stopped")

    try:
        asyncio.run(main())
    except OSError as exc:
        raise DevnetError(f"the fault proxy cannot listen: {exc}") from exc
