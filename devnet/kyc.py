"""A real `finchain kyc-issuer serve` process: start, wait until it answers, signal, stop.

Used by the end-to-end and kill tests; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from finance.kyc.home import load_issuer_home
from finance.wallet import IssuerClient
from node.client.sdk import TransportError


class IssuerProcess:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.config = load_issuer_home(home)
        self.url = self.config.url
        self.client = IssuerClient(self.url, timeout=5.0)
        self.operator = IssuerClient(self.url, self.config.admin_token(), timeout=10.0)
        self.log_path = home / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devnet", "kyc-issuer", "serve", "--home", str(self.home)],
            stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the issuer service exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return self.client.info()
            except TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"the issuer service did not answer within {timeout}s:\n{self.log_tail()}")

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
