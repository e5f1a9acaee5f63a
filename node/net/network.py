"""The node on the network: consensus gossip, transaction flooding and the wiring of block sync.

What each peer is sent is decided in one place, `_gossip`, from our consensus state and
what we know of the peer's (its height/round/step and the votes it has): no task per
peer polls shared state. A peer that makes no progress for a while has its "known" marks
forgotten, so a vote whose first copy was lost is sent again; our own position is announced
again every second, so a lost announcement cannot leave a peer's view of us behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consensus.driver import BroadcastProposalEffect, BroadcastVoteEffect, PeerProposal, PeerVote
from consensus.types import InvalidMessage, Proposal, Vote, VoteType
from node.chain import Chain
from node.host.engine import Engine, EvidenceOut, Outgoing, PeerEvidence, TxsAvailable
from node.mempool.pool import Mempool
from node.net.blocksync import BlockSync
from node.types.errors import BadSignature, InvalidTransaction, MalformedTransaction, TooLarge
from node.types.faults import FaultKind, PeerFault
from p2p.config import SwitchConfig
from p2p.handshake import NodeInfo
from p2p.messages import (
    BlockRequest,
    BlockResponse,
    EvidenceMsg,
    HasVoteMsg,
    Message,
    NewRoundStepMsg,
    NoBlockResponse,
    ProposalMsg,
    StatusRequest,
    StatusResponse,
    TxsMsg,
    VoteMsg,
)
from p2p.switch import Switch

log = logging.getLogger("finchain.network")

GOSSIP_INTERVAL_S = 0.05
STALE_PEER_S = 2.0
ANNOUNCE_S = 1.0  # our height/round/step is sent again this often even when unchanged
TX_BATCH_MAX = 500
VOTES_PER_TICK = 400
# What a peer says it has is kept only up to these sizes: past them we may resend something it
# had (harmless), but its claims cannot grow our memory. An honest view holds at most
# validators x 2 vote types x the rounds of a height.
MAX_KNOWN_VOTES = 20_000
MAX_KNOWN_PROPOSALS = 64
# Transactions admitted but not yet flooded (flushed every gossip tick); past either bound the
# newest are not relayed (they stay in the mempool and are still proposed).
TX_OUT_MAX = 20_000
TX_OUT_MAX_BYTES = 64 * 1024 * 1024
# Transactions no honest node would relay (others may just be stale here: a nonce used meanwhile).
PEER_FAULT_TXS = (MalformedTransaction, BadSignature, TooLarge)


@dataclass(slots=True)
class PeerView:
    height: int = 0
    round: int = -1
    step: int = 0
    known_votes: set[tuple[int, int, bytes]] = field(default_factory=set)
    has_proposal: set[int] = field(default_factory=set)
    progressed_at: float = field(default_factory=time.monotonic)  # also moved on each resend-all
    moved_at: float = field(default_factory=time.monotonic)  # only when its height/round/step changed


def vote_to_msg(v: Vote) -> VoteMsg:
    return VoteMsg(int(v.type), v.height, v.round, v.value or b"", v.validator, v.signature)


def proposal_to_msg(p: Proposal, raw: bytes) -> ProposalMsg:
    return ProposalMsg(p.height, p.round, p.value, p.valid_round, p.proposer, p.signature, raw)


@dataclass(frozen=True, slots=True)
class P2PSettings:
    """What the switch of this node is built from (see p2p.switch.Switch)."""

    node_key: bytes
    info: NodeInfo
    listen_host: str
    listen_port: int
    persistent_peers: tuple[str, ...]
    seeds: tuple[str, ...]
    max_inbound: int
    max_outbound: int
    addrbook_path: Path | None
    config: SwitchConfig


class Network:
    """The node's peers: builds the switch (whose messages it handles) and block sync over it."""

    def __init__(self, engine: Engine, mempool: Mempool, chain: Chain, p2p: P2PSettings) -> None:
        self.engine = engine
        self.mempool = mempool
        self.switch = Switch(p2p.node_key, p2p.info, listen_host=p2p.listen_host, listen_port=p2p.listen_port,
                             persistent_peers=p2p.persistent_peers, seeds=p2p.seeds, max_inbound=p2p.max_inbound,
                             max_outbound=p2p.max_outbound, addrbook_path=p2p.addrbook_path,
                             on_message=self.on_message, on_peer_up=self.on_peer_up,
                             on_peer_down=self.on_peer_down, config=p2p.config)
        self.blocksync = BlockSync(chain.reader, engine.submit, self.switch)
        self.views: dict[str, PeerView] = {}
        self._tx_out: list[tuple[bytes, str | None]] = []
        self._tx_out_bytes = 0
        self._last_step: tuple[int, int, int] | None = None
        self._announced_at = 0.0
        # Votes received from peers by VoteType (decoded, from members): plain ints, read by metrics.
        self.votes_received = dict.fromkeys(VoteType, 0)
        # A test seam, set only by code (devnet's byzantine validator), never by configuration: sees every
        # message first and answers True for those it handled itself.
        self.intercept: Callable[[str, Message], bool] | None = None

    # -- from the switch (called synchronously on its read tasks) ----------------------

    def on_peer_up(self, peer: str) -> None:
        self.views[peer] = PeerView()
        self._last_step = None  # tell the new peer where we are on the next tick
        self.blocksync.on_peer_up(peer)

    def on_peer_down(self, peer: str) -> None:
        self.views.pop(peer, None)
        self.blocksync.on_peer_down(peer)

    def peer_views(self) -> list[dict[str, Any]]:
        """Where each connected peer last said it was, and how its link is doing (for `consensus_state`)."""
        now = time.monotonic()
        stats = {p.node_id: p for p in self.switch.peers()}
        out = []
        for peer, view in sorted(self.views.items()):
            st = stats.get(peer)
            out.append({"node_id": peer, "moniker": st.moniker if st else None, "height": view.height,
                        "round": view.round, "step": view.step, "known_votes": len(view.known_votes),
                        "no_progress_s": round(now - view.moved_at, 3),
                        "frames_in": st.frames_in if st else None, "frames_out": st.frames_out if st else None,
                        "dropped": st.dropped if st else None})
        return out

    def on_message(self, peer: str, msg: Message) -> None:
        if self.intercept is not None and self.intercept(peer, msg):
            return
        view = self.views.setdefault(peer, PeerView())
        match msg:
            case VoteMsg():
                try:
                    vote = Vote(VoteType(msg.vote_type), msg.height, msg.round, msg.block_hash or None,
                                msg.validator, msg.signature)
                except (InvalidMessage, ValueError) as exc:
                    self.report(peer, PeerFault(FaultKind.BAD_MESSAGE, f"vote: {exc}"))
                    return
                if self.engine.is_member(msg.validator) is False:
                    # Before a queue slot or a signature check: an honest node relays members' votes only.
                    self.report(peer, PeerFault(FaultKind.NOT_A_VALIDATOR, f"vote from {msg.validator.hex()}"))
                    return
                self.votes_received[vote.type] += 1
                if msg.height == view.height and len(view.known_votes) < MAX_KNOWN_VOTES:
                    view.known_votes.add((msg.round, msg.vote_type, msg.validator))
                self._submit(peer, PeerVote(vote, peer))
            case ProposalMsg():
                try:
                    proposal = Proposal(msg.height, msg.round, msg.block_hash, msg.valid_round, msg.proposer,
                                        msg.signature)
                except InvalidMessage as exc:
                    self.report(peer, PeerFault(FaultKind.BAD_MESSAGE, f"proposal: {exc}"))
                    return
                if self.engine.is_member(msg.proposer) is False:
                    self.report(peer, PeerFault(FaultKind.NOT_A_VALIDATOR, f"proposal from {msg.proposer.hex()}"))
                    return
                if msg.height == view.height and len(view.has_proposal) < MAX_KNOWN_PROPOSALS:
                    view.has_proposal.add(msg.round)
                self._submit(peer, PeerProposal(proposal, msg.block, peer))
            case NewRoundStepMsg():
                if msg.height != view.height:
                    view.known_votes.clear()
                    view.has_proposal.clear()
                if (msg.height, msg.round, msg.step) != (view.height, view.round, view.step):
                    view.progressed_at = view.moved_at = time.monotonic()
                view.height, view.round, view.step = msg.height, msg.round, msg.step
                self.blocksync.on_peer_height(peer, msg.height - 1)
            case HasVoteMsg():
                if (msg.height == view.height and len(view.known_votes) < MAX_KNOWN_VOTES
                        and self.engine.is_member(msg.validator)):
                    view.known_votes.add((msg.round, msg.vote_type, msg.validator))
            case TxsMsg():
                self._on_txs(peer, msg.txs)
            case StatusRequest() | StatusResponse() | BlockRequest() | BlockResponse() | NoBlockResponse():
                self.blocksync.on_message(peer, msg)
            case EvidenceMsg(evidence=raw):
                self._submit(peer, PeerEvidence(raw, peer))
            case _:
                # PEX is the switch's; anything else reaching here is a channel we do not serve.
                self.report(peer, PeerFault(FaultKind.UNSERVED_CHANNEL, type(msg).__name__))

    def _submit(self, peer: str, event: PeerVote | PeerProposal | PeerEvidence) -> None:
        if not self.engine.submit(event):
            # The peer's share of the engine's queue is full (or all peers' is): it sends faster
            # than consensus can check, which no honest peer does for long.
            self.report(peer, PeerFault(FaultKind.QUEUE_FULL, f"{type(event).__name__} dropped"))

    def report(self, peer: str, fault: PeerFault) -> None:
        """Penalise a peer for what it sent; a block sync answer that fails also moves sync to another peer."""
        log.info("peer %s: %s", peer[:12], fault)
        self.switch.report(peer, str(fault), fault.severity)
        if fault.kind is FaultKind.INVALID_SYNCED_BLOCK:
            self.blocksync.on_rejected(peer)

    def _on_txs(self, peer: str, txs: tuple[bytes, ...]) -> None:
        bad = 0
        mempool = self.mempool
        for raw in txs:
            if mempool.holds(raw):
                continue  # another peer's copy: relayed when it first came
            try:
                mempool.add(raw)
            except InvalidTransaction as exc:
                if isinstance(exc, PEER_FAULT_TXS):
                    bad += 1
                continue
            self._queue_tx(raw, peer)
        if txs:
            self.engine.submit(TxsAvailable())
        if bad:
            self.report(peer, PeerFault(FaultKind.INVALID_TRANSACTIONS, f"{bad} of {len(txs)}", count=min(10, bad)))

    # -- from the node ------------------------------------------------------------------

    def tx_admitted(self, raw: bytes) -> None:
        """A transaction entered the mempool through RPC: flood it."""
        self._queue_tx(raw, None)

    def _queue_tx(self, raw: bytes, origin: str | None) -> None:
        if len(self._tx_out) >= TX_OUT_MAX or self._tx_out_bytes + len(raw) > TX_OUT_MAX_BYTES:
            return  # not relayed this tick; it is in our mempool and will be proposed
        self._tx_out.append((raw, origin))
        self._tx_out_bytes += len(raw)

    def broadcast(self, item: Outgoing) -> None:
        """The engine speaks: our own signed proposal or vote goes to every peer at once."""
        match item:
            case BroadcastProposalEffect(proposal=p, block=raw):
                self.switch.broadcast(proposal_to_msg(p, raw))
                for view in self.views.values():
                    if view.height == p.height:
                        view.has_proposal.add(p.round)
            case EvidenceOut(raw=raw, origin=origin):
                self.switch.broadcast(EvidenceMsg(raw), exclude=origin or None)
            case BroadcastVoteEffect(vote=v):
                self.switch.broadcast(vote_to_msg(v))
                for view in self.views.values():
                    if view.height == v.height:
                        view.known_votes.add((v.round, int(v.type), v.validator))

    # -- the gossip loop ----------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(GOSSIP_INTERVAL_S)
            try:
                self._gossip()
                self.blocksync.tick()
            except Exception:  # a gossip bug must not take the node down; it is logged loudly
                log.exception("gossip tick failed")

    def _gossip(self) -> None:
        switch = self.switch
        snap = self.engine.snapshot()
        state = snap.state
        if state is None:
            return
        self._flush_txs(switch)
        step = (state.height, state.round, int(state.step))
        now = time.monotonic()
        # Peers gossip to us only what fits the position we last announced. If that announcement
        # was lost (a full send queue drops it), a node waiting in a step with no timeout (prevote,
        # before 2/3 of the votes) would never be sent the votes it lacks: announce again anyway.
        if step != self._last_step or now - self._announced_at > ANNOUNCE_S:
            self._last_step = step
            self._announced_at = now
            switch.broadcast(NewRoundStepMsg(*step))
        proposals = snap.driver.proposals()
        votes = snap.driver.votes()
        for peer, view in self.views.items():
            if view.height != state.height:
                continue
            if now - view.progressed_at > STALE_PEER_S:
                # No progress: maybe a message was dropped from a full send queue (broadcast
                # marks it sent either way). Send everything again; measured, resending the
                # proposal too beats waiting (20k-transfer bench: p50 1.8 s against 2.6 s).
                view.known_votes.clear()
                view.has_proposal.clear()
                view.progressed_at = now
            sent_rounds: set[int] = set()
            for proposal, raw in proposals:
                round_ = proposal.round
                if round_ not in view.has_proposal and round_ <= max(view.round, 0) + 1:
                    # Every distinct proposal of the round goes out once per pass (equivocation shows).
                    if switch.send(peer, proposal_to_msg(proposal, raw)):
                        sent_rounds.add(round_)
            view.has_proposal |= sent_rounds
            sent = 0
            for vote in votes:
                key = (vote.round, int(vote.type), vote.validator)
                if key in view.known_votes:
                    continue
                if sent >= VOTES_PER_TICK or not switch.send(peer, vote_to_msg(vote)):
                    break
                view.known_votes.add(key)
                sent += 1

    def _flush_txs(self, switch: Switch) -> None:
        if not self._tx_out:
            return
        out, self._tx_out = self._tx_out, []
        self._tx_out_bytes = 0
        by_origin: dict[str | None, list[bytes]] = {}
        for raw, origin in out:
            by_origin.setdefault(origin, []).append(raw)
        for origin, raws in by_origin.items():
            for i in range(0, len(raws), TX_BATCH_MAX):
                switch.broadcast(TxsMsg(tuple(raws[i : i + TX_BATCH_MAX])), exclude=origin)
