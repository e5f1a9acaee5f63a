"""The bank workload of a chaos run: random transfers among many accounts, sent to random nodes, with a
history of every send and every acknowledgement.

Workers own disjoint sets of senders (so that two threads never race for one sender's nonce), and each
sender has at most one transaction in flight: it sends the next one only once the last is seen committed,
or after `stale_s` without it, when it re-reads its committed nonce from a node. A transaction admitted by
a node that then dies (or is cut off) may therefore be superseded by another one with the same nonce; the
checker (devnet/checker.py) tells a superseded send from a lost one.

History records, one per send (JSON-ready):
    {"hash", "sender", "nonce", "to", "amount", "node", "sent_s", "result"}   result: "ok" or the error
and, once a node reports it committed, "committed_s", "height" and "ack_node": that is an acknowledged
transaction, which the final chain must hold exactly once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devnet.checks import rpc_batch
from devnet.errors import DevnetError
from node.client.sdk import Client, RpcCallError, TransportError, build_transfer
from node.types.crypto import PrivateKey, to_checksum_address

SEND_TIMEOUT_S = 2.0
POLL_S = 0.3


@dataclass(slots=True)
class _Sender:
    key: PrivateKey
    address: str
    nonce: int | None = None  # None: read it from a node before the next send
    in_flight: dict[str, Any] | None = None  # the history record of the last send not yet seen committed


@dataclass(slots=True)
class Bank:
    """Transfers among `keys`; `targets()` names the (index, RPC URL) of every node worth sending to."""

    keys: list[PrivateKey]
    chain_id: str
    targets: Callable[[], list[tuple[int, str]]]
    rng: random.Random
    rate: float = 20.0
    workers: int = 3
    stale_s: float = 6.0
    history: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.keys) < 2:
            raise DevnetError("the bank workload needs at least two accounts")

    @property
    def addresses(self) -> list[str]:
        return [to_checksum_address(k.address) for k in self.keys]

    def now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def start(self) -> None:
        senders = [_Sender(k, to_checksum_address(k.address)) for k in self.keys]
        self.rng.shuffle(senders)
        share = [senders[i :: self.workers] for i in range(self.workers)]
        for i, own in enumerate(share):
            # Each worker gets its own generator, seeded from the run's: the draws do not depend on threads.
            rng = random.Random(self.rng.getrandbits(64))
            t = threading.Thread(target=self._work, args=(own, rng), name=f"bank-{i}", daemon=True)
            self._threads.append(t)
        self._threads.append(threading.Thread(target=self._poll, name="bank-poll", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)

    # -- sending ------------------------------------------------------------------------------------

    def _work(self, senders: list[_Sender], rng: random.Random) -> None:
        period = self.workers / self.rate
        addresses = self.addresses
        next_at = time.monotonic()
        while not self._stop.is_set():
            ready = [s for s in senders if self._is_ready(s)]
            nodes = self.targets()
            if ready and nodes:
                sender = rng.choice(ready)
                to = rng.choice([a for a in addresses if a != sender.address])
                node, url = rng.choice(nodes)
                self._send(sender, to, rng.randrange(1, 10**6), node, url)
            next_at = max(next_at + period, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _is_ready(self, s: _Sender) -> bool:
        with self._lock:
            rec = s.in_flight
            if rec is None:
                return True
            if "committed_s" in rec:
                s.in_flight = None
                return True
            if self.now() - rec["sent_s"] > self.stale_s:
                # Not seen committed in time: maybe lost with a killed node's mempool. Start again from the
                # committed nonce; if the old one commits after all, the new one with its nonce cannot.
                s.in_flight = None
                s.nonce = None
                return True
            return False

    def _send(self, s: _Sender, to: str, amount: int, node: int, url: str) -> None:
        client = Client(url, timeout=SEND_TIMEOUT_S)
        rec: dict[str, Any] = {"hash": None, "sender": s.address, "nonce": s.nonce, "to": to, "amount": amount,
                               "node": node, "sent_s": self.now(), "result": "ok"}
        try:
            if s.nonce is None:
                s.nonce = int(client.account(s.address)["nonce"])
            rec["nonce"] = s.nonce
            tx = build_transfer(s.key, self.chain_id, s.nonce, to, amount)
            rec["hash"] = "0x" + tx.hash.hex()
            got = client.send_raw(tx.raw)
            if got.lower() != rec["hash"]:
                rec["result"] = f"node answered hash {got}"
        except (TransportError, RpcCallError, OSError) as exc:
            rec["result"] = f"{type(exc).__name__}: {exc}"[:200]
        rec["acked_s"] = self.now()
        with self._lock:
            self.history.append(rec)
            if rec["result"] == "ok":
                s.in_flight = rec
                s.nonce = (s.nonce or 0) + 1
            else:
                s.nonce = None  # whatever happened, ask again next time

    # -- acknowledgements ---------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            self.poll_once()

    def poll_once(self) -> int:
        """Ask one random serving node about every admitted send not yet seen committed; returns how many are
        still unacknowledged."""
        with self._lock:
            open_ = [r for r in self.history if r["result"] == "ok" and "committed_s" not in r]
        nodes = self.targets()
        if not open_ or not nodes:
            return len(open_)
        node, url = self.rng.choice(nodes)
        try:
            answers = rpc_batch(url, [("tx_get", [r["hash"]]) for r in open_], timeout=SEND_TIMEOUT_S)
        except DevnetError:
            return len(open_)
        now = self.now()
        left = 0
        with self._lock:
            for rec, got in zip(open_, answers, strict=True):
                if got.get("status") == "committed":
                    rec.update(committed_s=now, height=got["height"], ack_node=node)
                else:
                    left += 1
        return left

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.history]
