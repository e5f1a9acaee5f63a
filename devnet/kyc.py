"""A real `finchain kyc-issuer serve` process: start, wait until it answers, signal, stop.

Used by the end-to-end and kill tests; every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path

from devnet.service import ServiceProcess
from finance.kyc.home import load_issuer_home
from finance.wallet import IssuerClient
from node.client.sdk import TransportError


class IssuerProcess(ServiceProcess):
    def __init__(self, home: Path) -> None:
        super().__init__(["kyc-issuer", "serve", "--home", str(home)], home / "service.log")
        self.home = home
        self.config = load_issuer_home(home)
        self.url = self.config.url
        self.client = IssuerClient(self.url, timeout=5.0)
        self.operator = IssuerClient(self.url, self.config.admin_token(), timeout=10.0)

    def wait_ready(self, timeout: float = 20.0) -> dict:
        return self.wait_until(self.client.info, "answer", timeout, (TransportError,), "the issuer service")
