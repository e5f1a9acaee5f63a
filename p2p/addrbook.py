"""The address book: peers we heard of (seeds, peer exchange, inbound peers' listen addresses).

Bounded in size; entries that keep failing and never worked are forgotten. Optionally persisted to a JSON
file (written atomically) so a restarted node does not depend on its seeds again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from p2p.address import AddressError, PeerAddress, parse_peer_address

log = logging.getLogger("p2p.addrbook")

MAX_FAILURES_NEVER_GOOD = 5
MAX_FAILURES = 20
FILE_VERSION = 1


@dataclass(slots=True)
class BookEntry:
    addr: PeerAddress
    source: str = ""
    attempts: int = 0  # consecutive failed attempts
    last_success: float = 0.0  # wall clock; 0 = never


class AddrBook:
    def __init__(self, our_id: str, path: Path | None = None, max_size: int = 1000) -> None:
        self._our_id = our_id
        self._path = path
        self._max = max_size
        self._entries: dict[str, BookEntry] = {}
        self._rng = random.SystemRandom()
        self.dirty = False
        if path is not None:
            self.load()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._entries

    def get(self, node_id: str) -> PeerAddress | None:
        entry = self._entries.get(node_id)
        return entry.addr if entry else None

    def add(self, addr: PeerAddress | str, source: str = "") -> bool:
        """Remember an address; False if it is ours, malformed, already known at that address, or the book is full."""
        if isinstance(addr, str):
            try:
                addr = parse_peer_address(addr)
            except AddressError:
                return False
        if addr.node_id == self._our_id:
            return False
        entry = self._entries.get(addr.node_id)
        if entry is not None:
            if entry.addr == addr:
                return False
            if entry.last_success and entry.attempts == 0:
                return False  # keep an address that works over a new claim from someone else
            entry.addr, entry.source, entry.attempts = addr, source, 0
            self.dirty = True
            return True
        if len(self._entries) >= self._max and not self._evict():
            return False
        self._entries[addr.node_id] = BookEntry(addr, source)
        self.dirty = True
        return True

    def _evict(self) -> bool:
        worst = max(self._entries.values(), key=lambda e: (e.last_success == 0, e.attempts), default=None)
        if worst is None or (worst.attempts == 0 and worst.last_success):
            return False
        del self._entries[worst.addr.node_id]
        return True

    def remove(self, node_id: str) -> None:
        if self._entries.pop(node_id, None) is not None:
            self.dirty = True

    def mark_good(self, node_id: str) -> None:
        entry = self._entries.get(node_id)
        if entry is not None:
            entry.attempts, entry.last_success = 0, time.time()
            self.dirty = True

    def mark_failed(self, node_id: str) -> None:
        entry = self._entries.get(node_id)
        if entry is None:
            return
        entry.attempts += 1
        limit = MAX_FAILURES if entry.last_success else MAX_FAILURES_NEVER_GOOD
        if entry.attempts >= limit:
            del self._entries[node_id]
        self.dirty = True

    def candidates(self, exclude: set[str]) -> list[PeerAddress]:
        """Addresses worth dialing, fewest recent failures first, shuffled within equal counts."""
        entries = [e for e in self._entries.values() if e.addr.node_id not in exclude]
        self._rng.shuffle(entries)
        entries.sort(key=lambda e: e.attempts)
        return [e.addr for e in entries]

    def sample(self, count: int, exclude: set[str]) -> list[PeerAddress]:
        pool = [e.addr for e in self._entries.values() if e.addr.node_id not in exclude and e.attempts < 3]
        return self._rng.sample(pool, min(count, len(pool)))

    # ------------------------------------------------------------------------------------------ persistence

    def save(self) -> None:
        if self._path is None:
            return
        doc = {
            "version": FILE_VERSION,
            "addrs": [
                {"addr": str(e.addr), "source": e.source, "attempts": e.attempts, "last_success": e.last_success}
                for e in self._entries.values()
            ],
        }
        tmp = self._path.with_name(self._path.name + ".tmp")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self._path)  # atomic: a crash leaves the old or the new book, never half of one
        self.dirty = False

    def load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            doc = json.loads(self._path.read_text())
            rows = doc["addrs"] if isinstance(doc, dict) else []
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable address book %s: %s", self._path, exc)
            return
        for row in rows[: self._max] if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not isinstance(row.get("addr"), str):
                continue
            if self.add(row["addr"], str(row.get("source", ""))):
                entry = self._entries[row["addr"].partition("@")[0]]
                attempts, last = row.get("attempts", 0), row.get("last_success", 0.0)
                entry.attempts = attempts if isinstance(attempts, int) and attempts >= 0 else 0
                entry.last_success = float(last) if isinstance(last, int | float) else 0.0
        self.dirty = False
