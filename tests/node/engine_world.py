"""The shipped `Engine` among validators played by the test, in one process.

The node under test runs its real engine over a real LevelDB chain, WAL and signer; the
other validators are keys the test signs with, and a second chain (the "peer chain")
builds their blocks and checks the node's. Only the network is replaced: what the engine
broadcasts is collected in `sent`, and the test decides what reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consensus.driver import BroadcastProposalEffect, BroadcastVoteEffect, PeerProposal, PeerVote
from consensus.state_machine import State
from consensus.types import Proposal, ValidatorSet, Vote, VoteType
from node.chain import Chain, ExecutedBlock
from node.host.engine import BadPeer, CommittedBlock, Engine, EngineConfig, Outbox
from node.host.signer import Signer
from node.host.wal import WAL, read_records
from node.types.block import proposal_sign_bytes, vote_sign_bytes
from node.types.crypto import PrivateKey
from node.types.faults import PeerFault
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params, TimeoutsMs
from tests.node.helpers import CHAIN_ID, COIN, key, make_chain

VALIDATOR_KEYS = [key(100 + i) for i in range(4)]
OUTSIDER = key(999)  # holds a key, but is no validator


def four_validator_genesis(commit_ms: int = 30) -> Genesis:
    vals = tuple(GenesisValidator(k.address, k.public_key, 10, f"v{i}") for i, k in enumerate(VALIDATOR_KEYS))
    timeouts = TimeoutsMs(propose=3000, propose_delta=500, prevote=3000, prevote_delta=250, precommit=3000,
                          precommit_delta=250, commit=commit_ms)
    return Genesis(chain_id=CHAIN_ID, genesis_time_ms=1_700_000_000_000, params=Params(timeouts=timeouts),
                   validators=vals, accounts=(GenesisAccount(key(0).address, 1000 * COIN),))


def key_of(address: bytes) -> PrivateKey:
    return next(k for k in [*VALIDATOR_KEYS, OUTSIDER] if k.address == address)


def signed_vote(k: PrivateKey, vtype: VoteType, height: int, round_: int, value: bytes | None) -> Vote:
    sig = k.sign(vote_sign_bytes(CHAIN_ID, int(vtype), height, round_, value))
    return Vote(vtype, height, round_, value, k.address, sig)


def signed_proposal(k: PrivateKey, height: int, round_: int, value: bytes, valid_round: int = -1) -> Proposal:
    sig = k.sign(proposal_sign_bytes(CHAIN_ID, height, round_, value, valid_round))
    return Proposal(height, round_, value, valid_round, k.address, sig)


@dataclass
class EngineWorld:
    tmp: Path
    genesis: Genesis
    me: PrivateKey
    chain: Chain = field(init=False)
    peer_chain: Chain = field(init=False)
    engine: Engine = field(init=False)
    sent: list[object] = field(default_factory=list)
    faults: list[tuple[str, PeerFault]] = field(default_factory=list)
    commits: list[CommittedBlock] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.chain, self.mempool = make_chain(self.tmp / "node", self.genesis)
        self.peer_chain, _ = make_chain(self.tmp / "peer", self.genesis)
        self.engine = self._new_engine()

    def _new_engine(self) -> Engine:
        signer = Signer(self.me, CHAIN_ID, self.tmp / "node" / "signer.json")
        self.wal = WAL(self.tmp / "node" / "wal")
        self.outbox = Outbox()
        return Engine(self.chain, self.mempool, signer, self.wal, EngineConfig(), self.outbox)

    def _take_outbox(self) -> None:
        for item in self.outbox.drain():
            match item:
                case CommittedBlock(executed=executed, commit=commit):
                    self.commits.append(item)
                    if self.peer_chain.height < executed.height:
                        self.peer_chain.commit_block(self.peer_chain.validate_block(executed.raw), commit)
                case BadPeer(peer=peer, fault=fault):
                    self.faults.append((peer, fault))
                case _:
                    self.sent.append(item)

    # -- running ----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self.engine.run())
        await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.wal.close()

    async def restart(self) -> None:
        await self.stop()
        self.engine = self._new_engine()
        await self.start()

    async def until(self, what: Callable[[], object], timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self._take_outbox() or what()):
            if loop.time() > deadline:
                raise TimeoutError(f"engine never got there; state {self.state}")
            await asyncio.sleep(0.005)

    # -- the other validators ---------------------------------------------------------

    def validators(self, height: int) -> ValidatorSet:
        return self.peer_chain.validator_set(height)

    def proposer(self, height: int, round_: int = 0) -> PrivateKey:
        return key_of(self.validators(height).proposer_for_round(round_).address)

    def others(self) -> list[PrivateKey]:
        return [k for k in VALIDATOR_KEYS if k.address != self.me.address]

    def build(self, proposer: PrivateKey, time_offset_ms: int = 0) -> ExecutedBlock:
        return self.peer_chain.build_block(proposer.address, [], self.peer_chain.last_commit(),
                                           self.peer_chain.tip_time_ms + 1000 + time_offset_ms)

    def send_proposal(self, p: Proposal, raw: bytes, peer: str = "peer-a") -> None:
        self.engine.submit(PeerProposal(p, raw, peer))

    def send_vote(self, v: Vote, peer: str = "peer-a") -> None:
        self.engine.submit(PeerVote(v, peer))

    def send_votes(self, vtype: VoteType, height: int, round_: int, value: bytes | None,
                   keys: list[PrivateKey] | None = None) -> None:
        for k in keys if keys is not None else self.others():
            self.send_vote(signed_vote(k, vtype, height, round_, value))

    # -- what the engine did ----------------------------------------------------------

    @property
    def state(self) -> State | None:
        return self.engine.snapshot().state

    def our_proposals(self, height: int) -> list[BroadcastProposalEffect]:
        return [m for m in self.sent if isinstance(m, BroadcastProposalEffect) and m.proposal.height == height]

    def our_votes(self, vtype: VoteType, height: int) -> list[Vote]:
        return [m.vote for m in self.sent if isinstance(m, BroadcastVoteEffect) and m.vote.type == vtype
                and m.vote.height == height]

    def wal_signers(self) -> set[bytes]:
        """Every validator or proposer named by a vote or proposal record in the WAL file."""
        records, _ = read_records(self.wal.path)
        return {r[5] for r in records if r[0] in ("V", "P")}
