"""Block sync: a node that is behind fetches committed blocks with their commits from peers.

The engine verifies each commit (more than 2/3 of the voting power), executes the block
and commits it; this module only decides what to ask whom, keeps a bounded window of
answers, and feeds them in height order.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from node.host.engine import SyncedBlock
from node.reader import ChainReader
from node.types.block import Commit
from node.types.codec import DecodeError, decode
from node.types.faults import FaultKind, PeerFault
from p2p.messages import BlockRequest, BlockResponse, Message, NoBlockResponse, StatusRequest, StatusResponse
from p2p.peer import TokenBucket
from p2p.switch import Switch

log = logging.getLogger("finchain.blocksync")

WINDOW = 64
REQUEST_TIMEOUT_S = 5.0
STATUS_INTERVAL_S = 1.0
PER_PEER_IN_FLIGHT = 16
# Status requests: an honest peer asks about once a second (and once when it connects). The
# burst covers a stall of either loop of up to half a minute: the requests queued meanwhile are
# read at once, and an honest peer was scored for them after a long block build.
STATUS_REQUESTS_PER_S = 2.0
STATUS_REQUESTS_BURST = 30.0
# Requests we gave up on (timed out, or consensus committed the height first): their answers
# may still come and are not the peer's fault. Bounded; the oldest are forgotten first.
LATE_ANSWERS_KEPT = 4 * WINDOW


class BlockSync:
    def __init__(self, chain: ChainReader, feed: Callable[[SyncedBlock], None], switch: Switch) -> None:
        self.chain = chain
        self.feed = feed
        self.switch = switch
        self.peer_heights: dict[str, int] = {}
        self.pending: dict[int, tuple[str, float]] = {}
        self.received: dict[int, tuple[bytes, Commit, str]] = {}
        self._fed: int = 0
        self._last_status = 0.0
        self._rate_mark = (time.monotonic(), chain.height)
        self.blocks_per_s = 0.0
        self._late: dict[tuple[int, str], None] = {}  # (height, peer) of requests we gave up on, oldest first
        self._status_buckets: dict[str, TokenBucket] = {}

    @property
    def best_peer_height(self) -> int:
        return max(self.peer_heights.values(), default=0)

    @property
    def catching_up(self) -> bool:
        return self.best_peer_height > self.chain.height + 1

    def on_peer_up(self, peer: str) -> None:
        self.switch.send(peer, StatusRequest())

    def on_peer_down(self, peer: str) -> None:
        self.peer_heights.pop(peer, None)
        self._status_buckets.pop(peer, None)
        for h, (p, _) in list(self.pending.items()):
            if p == peer:
                del self.pending[h]

    def on_peer_height(self, peer: str, height: int) -> None:
        if height > self.peer_heights.get(peer, -1):
            self.peer_heights[peer] = height

    def on_message(self, peer: str, msg: Message) -> None:
        switch = self.switch
        match msg:
            case StatusRequest():
                bucket = self._status_buckets.get(peer)
                now = time.monotonic()
                if bucket is None:
                    bucket = self._status_buckets[peer] = TokenBucket(STATUS_REQUESTS_PER_S, STATUS_REQUESTS_BURST,
                                                                      now)
                if bucket.take(1, now) > 0:
                    self._report(peer, PeerFault(FaultKind.TOO_FREQUENT, "status requests"))
                    return
                switch.send(peer, StatusResponse(1 if self.chain.height else 0, self.chain.height))
            case StatusResponse(height=h):
                self.on_peer_height(peer, h)
            case BlockRequest(height=h):
                self._serve(switch, peer, h)
            case BlockResponse(height=h, block=raw, commit=commit_raw):
                if self.pending.get(h, ("", 0))[0] != peer:
                    self._unasked(peer, h, "block response")
                    return
                del self.pending[h]
                try:
                    commit = Commit.from_list(decode(commit_raw))
                except DecodeError as exc:
                    self._report(peer, PeerFault(FaultKind.INVALID_SYNCED_BLOCK, f"undecodable commit: {exc}"))
                    return
                if h > self.chain.height:
                    self.received[h] = (raw, commit, peer)
                self._feed_next()
            case NoBlockResponse(height=h):
                if self.pending.get(h, ("", 0))[0] != peer:
                    self._unasked(peer, h, "no-block response")
                    return
                del self.pending[h]
                if self.peer_heights.get(peer, 0) >= h:
                    self.peer_heights[peer] = h - 1

    def _report(self, peer: str, fault: PeerFault) -> None:
        log.info("peer %s: %s", peer[:12], fault)
        self.switch.report(peer, str(fault), fault.severity)

    def _unasked(self, peer: str, height: int, what: str) -> None:
        """An answer we are not waiting for: free if we asked this peer and gave up, else a fault."""
        if (height, peer) in self._late:
            del self._late[(height, peer)]
            return
        self._report(peer, PeerFault(FaultKind.UNSOLICITED, f"{what} for height {height}"))

    def _gave_up(self, height: int, peer: str) -> None:
        self._late[(height, peer)] = None
        while len(self._late) > LATE_ANSWERS_KEPT:
            del self._late[next(iter(self._late))]

    def _serve(self, switch: Switch, peer: str, height: int) -> None:
        chain = self.chain
        raw = chain.get_block_raw(height) if 0 < height <= chain.height else None
        # The canonical commit of h is the last commit of h+1; at the tip, the one we saw.
        nxt = chain.get_block(height + 1) if raw is not None and height < chain.height else None
        commit = nxt.last_commit if nxt is not None else chain.get_commit(height)
        if raw is None or commit is None:
            switch.send(peer, NoBlockResponse(height))
            return
        switch.send(peer, BlockResponse(height, raw, commit.encode()))

    def on_committed(self) -> None:
        height = self.chain.height
        for h in [h for h in self.received if h <= height]:
            del self.received[h]
        self._feed_next()

    def _feed_next(self) -> None:
        nxt = self.chain.height + 1
        if self._fed == nxt:
            return  # the engine has it; on_rejected or the commit moves us on
        item = self.received.pop(nxt, None)
        if item is not None:
            self._fed = nxt
            raw, commit, peer = item
            self.feed(SyncedBlock(raw, commit, peer))

    def on_rejected(self, peer: str) -> None:
        """The engine refused the block we fed (the peer was reported): ask someone else."""
        self._fed = 0
        self.peer_heights.pop(peer, None)

    def tick(self) -> None:
        switch = self.switch
        now = time.monotonic()
        if now - self._last_status > STATUS_INTERVAL_S:
            self._last_status = now
            switch.broadcast(StatusRequest())
            t0, h0 = self._rate_mark
            self.blocks_per_s = (self.chain.height - h0) / max(now - t0, 1e-6)
            self._rate_mark = (now, self.chain.height)
            if self.catching_up:
                log.info("catching up: height %d of %d, %.1f blocks/s", self.chain.height, self.best_peer_height,
                         self.blocks_per_s)
        if self._fed <= self.chain.height:
            self._fed = 0
        for h, (asked, sent) in list(self.pending.items()):
            if h <= self.chain.height or now - sent > REQUEST_TIMEOUT_S:
                del self.pending[h]
                self._gave_up(h, asked)
        target = self.best_peer_height
        height = self.chain.height
        # Fetch whatever a peer has committed beyond us; consensus may commit it first, which is fine.
        if target <= height:
            return
        in_flight: dict[str, int] = {}
        for peer, _ in self.pending.values():
            in_flight[peer] = in_flight.get(peer, 0) + 1
        for h in range(height + 1, min(target, height + WINDOW) + 1):
            if h in self.pending or h in self.received:
                continue
            candidates = [p for p, ph in self.peer_heights.items()
                          if ph >= h and in_flight.get(p, 0) < PER_PEER_IN_FLIGHT]
            if not candidates:
                break
            peer = random.choice(candidates)
            if switch.send(peer, BlockRequest(h)):
                self.pending[h] = (peer, now)
                in_flight[peer] = in_flight.get(peer, 0) + 1
        self._feed_next()
