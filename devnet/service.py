"""A real process of ours (a node, the KYC issuer service, the AML monitor): start, signal, stop.

`python -m <module> <argv>` in a session of its own, its output appended to a log; every wait is
bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")


class ServiceProcess:
    def __init__(self, argv: list[str], log_path: Path, module: str = "devnet",
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv  # after `python -m <module>`
        self.module = module
        self.env = env or {}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        """`env` adds to this start's environment (e.g. a test's failpoint)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.argv, *extra_args], stdout=self._log,
            stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env, **(env or {})),
            start_new_session=True,
        )

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> str | None:
        """None while running; otherwise a line saying how it ended, with its log's tail."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"exited with {self.proc.returncode}:\n{self.log_tail()}"

    def wait_until(self, probe: Callable[[], T | None], what: str, timeout: float,
                   retry: tuple[type[Exception], ...], name: str = "the service") -> T:
        """`probe()` until it answers something (not None), or the process ends, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.exited()
            if ended is not None:
                raise RuntimeError(f"{name} {ended}")
            try:
                got = probe()
                if got is not None:
                    return got
            except retry:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} did not {what} within {timeout}s:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.is_running():
            os.kill(self.proc.pid, sig)  # type: ignore[union-attr]

    def wait_exit(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait_exit(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped within `timeout`."""
        if not self.is_running():
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
