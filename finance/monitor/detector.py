"""One block in, its alerts out: movements are indexed, the rules run, and one batch commits it all.

The detector's memory (the recent window, last activity, proximity to the watchlist, when each
rule last fired) is a cache of the store: it is filled from the store at start and changed only
alongside the batch that writes the same facts, so a restart sees what the killed process saw.
"""

from __future__ import annotations

import hashlib
from typing import Any

from finance.monitor.config import MonitorConfig
from finance.monitor.movements import ZERO, Movement
from finance.monitor.rules import Finding, Rules
from finance.monitor.store import BlockBatch, MonitorStore
from finance.monitor.window import RecentWindow


class Detector:
    def __init__(self, config: MonitorConfig, store: MonitorStore, now_ms: int = 0) -> None:
        self.config = config
        self.store = store
        height, _ = store.checkpoint()
        self.window = RecentWindow(config.max_window)
        self.window.fill(store.movements_between(height - self.window.length + 1, height))
        listed = store.watchlist()
        for address, (source, reason) in config.watchlist.items():
            if address not in listed:
                store.watch(address, source, reason, now_ms)
        self.watchlist: dict[str, dict[str, Any]] = store.watchlist()
        self._active: dict[str, int | None] = {}
        self._near: dict[str, tuple[int, str] | None] = {}
        self._fired: dict[tuple[str, str], int | None] = {}
        self.rules = Rules(config, self.window, self._last_active, self._proximity, self.watchlist)

    @property
    def height(self) -> int:
        return self.store.checkpoint()[0]

    def _last_active(self, address: str) -> int | None:
        if address not in self._active:
            self._active[address] = self.store.last_active(address)
        return self._active[address]

    def _proximity(self, address: str) -> tuple[int, str] | None:
        if address not in self._near:
            self._near[address] = self.store.proximity(address)
        return self._near[address]

    def _last_fired(self, rule: str, subject: str) -> int | None:
        key = (rule, subject)
        if key not in self._fired:
            self._fired[key] = self.store.last_fired(rule, subject)
        return self._fired[key]

    def process(self, height: int, block_hash: str, movements: list[Movement],
                prices: dict[str, int] | None = None) -> list[dict[str, Any]]:
        """Index one committed block and run the rules on it; returns the alerts it raised.

        `prices` are the oracle's for the block's assets (config.fiat), read from the chain at a
        height fixed by this one, so a restart reads the same ones."""
        self.rules.prices = prices or {}
        batch = BlockBatch(self.store)
        self.window.start_block(height)
        alerts: list[dict[str, Any]] = []
        for m in movements:
            batch.movement(m)
            self.window.add(m)
            for rule, check in self.rules.table:
                found = check(rule, m)
                if found is None:
                    continue
                window = rule.params.get("window")
                last = self._last_fired(rule.id, found.subject)
                if window is not None and last is not None and m.height - last < window:
                    continue  # already raised for this subject in this window
                self._fired[(rule.id, found.subject)] = m.height
                batch.fired(rule.id, found.subject, m.height)
                alerts.append(self._alert(rule.id, found.severity or rule.severity, m, found))
            self._after(m, batch)
        for alert in alerts:
            batch.alert(alert)
        batch.commit(height, block_hash)
        return alerts

    def _after(self, m: Movement, batch: BlockBatch) -> None:
        for address in (m.sender, m.receiver):
            if address != ZERO:
                self._active[address] = m.height
                batch.last_active(address, m.height)
        # Proximity to the watchlist spreads with value: the receiver is one hop further than the sender.
        hops = self.config.rules["watchlist"].params["hops"]
        near = (0, m.sender) if m.sender in self.watchlist else self._proximity(m.sender)
        if near is not None and near[0] + 1 <= hops and m.receiver not in self.watchlist:
            current = self._proximity(m.receiver)
            if current is None or current[0] > near[0] + 1:
                self._near[m.receiver] = (near[0] + 1, near[1])
                batch.proximity(m.receiver, near[0] + 1, near[1])

    @staticmethod
    def _alert(rule: str, severity: str, m: Movement, found: Finding) -> dict[str, Any]:
        digest = hashlib.sha256(f"{rule}|{m.height}|{m.index}|{m.seq}|{found.subject}".encode()).digest()[:16]
        moves = sorted(set(found.movements), key=lambda x: x.key)
        return {
            "id": "0x" + digest.hex(),
            "rule": rule,
            "severity": severity,
            "height": m.height,
            "subject": found.subject,
            "addresses": list(dict.fromkeys(found.addresses)),
            "txs": list(dict.fromkeys(x.tx_hash for x in moves)),
            "asset": m.asset,
            "amount": str(m.amount),
            "explanation": found.explanation,
            "evidence": {**found.evidence, "movements": [x.to_json() for x in moves]},
        }
