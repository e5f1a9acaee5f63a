"""A service of the financial layer run as a real `finchain` process: start, wait, signal, stop.

The KYC issuer service and the AML monitor share this lifecycle; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO


class ServiceProcess:
    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.argv = argv  # after `python -m devnet`
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devnet", *self.argv], stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})), start_new_session=True,
        )

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> str | None:
        """None while running; otherwise a line saying how it ended, with its log's tail."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"exited with {self.proc.returncode}:\n{self.log_tail()}"

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
        if self.is_running():
            os.kill(self.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        self.wait_exit(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if not self.is_running():
            return self.wait_exit(1)
        os.kill(self.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
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
