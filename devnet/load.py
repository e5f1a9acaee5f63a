"""Steady background transfers for scenarios: funded accounts pay each other at a fixed rate.

One thread; each transaction goes to the next node in turn among those `targets()` returns (the running
ones), so killing a node only costs the transactions sent to it. Nonces are kept locally and re-read from a
live node after any failure: a transaction admitted by a node that then died may be lost, and its nonce is
then used again by a different transaction.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.client.sdk import Client, RpcCallError, TransportError, build_transfer
from node.types.crypto import PrivateKey, to_checksum_address


@dataclass(frozen=True, slots=True)
class SentTx:
    hash: str
    sender: str
    nonce: int
    to: str
    amount: int
    url: str
    at: float


class Load:
    def __init__(self, targets: Callable[[], list[str]], keys: list[PrivateKey], chain_id: str, *,
                 rate: float = 20.0, amount: int = 1_000) -> None:
        if not keys:
            raise ValueError("a load needs at least one funded key")
        self.targets = targets
        self.keys = keys
        self.addresses = [to_checksum_address(k.address) for k in keys]
        self.chain_id = chain_id
        self.rate = rate
        self.amount = amount
        self.sent: list[SentTx] = []
        self.failures = 0
        self.last_error = ""
        self._nonces: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devnet-load", daemon=True)

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        period = 1.0 / self.rate
        counter = itertools.count()
        next_at = time.monotonic()
        while not self._stop.is_set():
            n = next(counter)
            urls = self.targets()
            if urls:
                self._send_one(n, urls[n % len(urls)])
            next_at = max(next_at + period, time.monotonic() - 1.0)  # no burst after a stall
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send_one(self, n: int, url: str) -> None:
        i = n % len(self.keys)
        key, sender = self.keys[i], self.addresses[i]
        to = self.addresses[(i + 1 + n // len(self.keys)) % len(self.keys)]
        if to == sender:
            to = self.addresses[(i + 1) % len(self.keys)]
        client = Client(url, timeout=3.0)
        try:
            if sender not in self._nonces:
                self._nonces[sender] = client.next_nonce(sender)
            nonce = self._nonces[sender]
            amount = self.amount + n  # distinct amounts: a reused nonce makes a distinct transaction
            tx = build_transfer(key, self.chain_id, nonce, to, amount)
            tx_hash = client.send_raw(tx.raw)
        except (TransportError, RpcCallError) as exc:
            self.failures += 1
            self.last_error = f"{url}: {exc}"
            self._nonces.pop(sender, None)  # re-read from whichever node serves the next one
            return
        self._nonces[sender] = nonce + 1
        self.sent.append(SentTx(tx_hash, sender, nonce, to, amount, url, time.monotonic()))
