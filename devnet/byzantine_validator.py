"""A byzantine validator for tests, as a real process:

    python -m devnet.byzantine validator --home DEVNET_DIR --as node3 [--modes equivocate,...] [--phase 6]

Node K must be stopped: this process runs the real node on node K's home (its keys, ports and store), so it
keeps up with the chain and takes part in consensus as K would, and misbehaves through the node's two test
seams, which only code can reach (no configuration option does): `Node.taps` (it sees each of the engine's
outputs after the node handled it) and `Network.intercept` (it sees each peer message first). The modes run
in turn, `--phase` seconds each, over and over:

    equivocate     for each of its own votes, a second one for another block (two prevotes, two precommits
                   per round); for each of its own proposals, a second valid block proposed for the round
    invalid-block  for each of its own proposals, a second one whose block has a wrong state root
    out-of-turn    a signed round-0 proposal of an empty block for a height it does not own (once a phase)
    forged-sync    answers status requests with a height 20 blocks ahead, and every block request with a
                   block under a commit signed by itself alone
    junk-votes     a second peer (a fresh node key) sending every validator precommits signed by a key that is
                   no validator's (devnet/junk_peer.py)

Its signatures of misbehaviour are made with the validator key directly, outside the node's double-sign
guard, which keeps guarding the honest part. Counters are written to `<node home>/byzantine.json` at each
phase change and on exit. Never point this at a real network's keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consensus.driver import BroadcastProposalEffect, BroadcastVoteEffect
from consensus.types import Proposal
from devnet.errors import DevnetError
from devnet.homes import Manifest
from devnet.junk_peer import JunkPrecommits, load_target
from devnet.service import ServiceProcess
from node.client.sdk import Client, TransportError
from node.config import load_config, load_key
from node.daemon import Node
from node.host.engine import CommittedBlock, EngineOutput
from node.net.network import proposal_to_msg
from node.net.out_of_turn import OutOfTurnProposer
from node.types.block import Block, Commit, CommitSig, decode_block, proposal_sign_bytes, sign_vote
from node.types.crypto import PrivateKey, sha256
from p2p.messages import BlockRequest, BlockResponse, Message, StatusRequest, StatusResponse, VoteMsg

log = logging.getLogger("finchain.byzantine")

# In this order: the last two get the validator banned (each honest node then refuses it for 10 minutes), so
# the others come first; out-of-turn proposes once per phase, which penalises without banning on its own.
ALL_MODES = ("equivocate", "invalid-block", "junk-votes", "out-of-turn", "forged-sync")
SYNC_LURE = 20  # how far ahead of its real height it claims to be


@dataclass(slots=True)
class Counters:
    mode: str = ""
    phases: int = 0
    conflicting_votes: int = 0
    second_proposals: int = 0
    invalid_proposals: int = 0
    out_of_turn: int = 0
    forged_status: int = 0
    forged_blocks: int = 0
    junk_precommits: int = 0
    junk_peer_disconnects: int = 0
    junk_peer_id: str = ""
    modes_run: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


class Byzantine:
    """The misbehaviour, hooked on a built (not yet running) `Node`."""

    def __init__(self, node: Node, key: PrivateKey, modes: tuple[str, ...], phase_s: float, status: Path,
                 devnet_dir: Path) -> None:
        self.node = node
        self.devnet_dir = devnet_dir
        self.key = key
        self.chain_id = node.genesis.chain_id
        self.modes = modes
        self.phase_s = phase_s
        self.status = status
        self.counters = Counters()
        self.out_of_turn = OutOfTurnProposer(node.chain, key, node.switch.broadcast)
        self._proposed_this_phase = False
        node.taps.append(self.on_output)
        node.network.intercept = self.on_message

    @property
    def mode(self) -> str:
        return self.counters.mode

    def save(self) -> None:
        tmp = self.status.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.counters.to_json()) + "\n")
        tmp.replace(self.status)

    async def run(self) -> None:
        """Cycle through the modes until cancelled."""
        try:
            while True:
                for mode in self.modes:
                    self.counters.mode = mode
                    self.counters.phases += 1
                    self._proposed_this_phase = False
                    if mode not in self.counters.modes_run:
                        self.counters.modes_run.append(mode)
                    log.warning("BYZANTINE: mode %s for %g s", mode, self.phase_s)
                    self.save()
                    if mode == "junk-votes":
                        await self._junk_votes()
                    else:
                        await asyncio.sleep(self.phase_s)
        finally:
            self.counters.mode = ""
            self.save()

    # -- engine outputs ---------------------------------------------------------------------------

    def on_output(self, item: EngineOutput) -> None:
        try:
            match item:
                case BroadcastVoteEffect(vote=v) if self.mode == "equivocate":
                    other = sha256(b"equivocate" + (v.value or b"nil") + v.height.to_bytes(8, "big"))
                    sig = sign_vote(self.key, self.chain_id, int(v.type), v.height, v.round, other)
                    self.node.switch.broadcast(VoteMsg(int(v.type), v.height, v.round, other, self.key.address, sig))
                    self.counters.conflicting_votes += 1
                case BroadcastProposalEffect(proposal=p, block=raw) if self.mode == "equivocate":
                    self._second_proposal(p, raw, corrupt=False)
                case BroadcastProposalEffect(proposal=p, block=raw) if self.mode == "invalid-block":
                    self._second_proposal(p, raw, corrupt=True)
                case CommittedBlock() if self.mode == "out-of-turn" and not self._proposed_this_phase:
                    before = self.out_of_turn.proposed
                    self.out_of_turn.on_commit(item)
                    self.counters.out_of_turn += self.out_of_turn.proposed - before
                    self._proposed_this_phase = self.out_of_turn.proposed > before
                case _:
                    pass
        except Exception:  # test-only code: a bug here must show in the log, not stop the node
            log.exception("byzantine: misbehaving on %s failed", type(item).__name__)

    def _second_proposal(self, p: Proposal, raw: bytes, *, corrupt: bool) -> None:
        chain = self.node.chain
        if p.height != chain.height + 1:
            return
        if corrupt:
            block = decode_block(raw)
            bad = replace(block.header, state_root=sha256(b"not the state root" + block.header.state_root))
            other_raw = Block(bad, block.txs, block.last_commit, block.evidence).encode()
            other_hash = bad.hash()
        else:
            # Another valid block for the same height: no transactions, a later time.
            executed = chain.build_block(self.key.address, [], chain.last_commit(), int(time.time() * 1000) + 1)
            other_raw, other_hash = executed.raw, executed.hash
        if other_hash == p.value:
            return
        sig = self.key.sign(proposal_sign_bytes(self.chain_id, p.height, p.round, other_hash, p.valid_round))
        second = Proposal(p.height, p.round, other_hash, p.valid_round, self.key.address, sig)
        self.node.switch.broadcast(proposal_to_msg(second, other_raw))
        if corrupt:
            self.counters.invalid_proposals += 1
        else:
            self.counters.second_proposals += 1

    # -- peer messages ----------------------------------------------------------------------------

    def on_message(self, peer: str, msg: Message) -> bool:
        if self.mode != "forged-sync":
            return False
        chain = self.node.chain
        match msg:
            case StatusRequest():
                self.node.switch.send(peer, StatusResponse(1, chain.height + SYNC_LURE))
                self.counters.forged_status += 1
                return True
            case BlockRequest(height=h):
                self.node.switch.send(peer, BlockResponse(h, self._forged_block(h), self._forged_commit(h).encode()))
                self.counters.forged_blocks += 1
                return True
        return False

    def _forged_block(self, height: int) -> bytes:
        raw = self.node.chain.reader.get_block_raw(min(height, self.node.chain.height))
        return raw if raw is not None else b""

    def _forged_commit(self, height: int) -> Commit:
        """A commit of `height` for a made-up block, signed by this validator alone: far from 2/3."""
        value = sha256(b"forged" + height.to_bytes(8, "big"))
        sig = sign_vote(self.key, self.chain_id, 2, height, 0, value)
        return Commit(height, 0, value, (CommitSig(self.key.address, sig),))

    async def _junk_votes(self) -> None:
        """A peer of its own for one phase, with a fresh node key, signing precommits with a non-validator key."""
        validators, genesis = load_target(self.devnet_dir)
        attack = JunkPrecommits(validators, genesis.chain_id, genesis.hash(), self.phase_s, lambda event: None)
        summary = await attack.run()
        self.counters.junk_peer_id = summary["node_id"]
        self.counters.junk_precommits += summary["precommits"]
        self.counters.junk_peer_disconnects += sum(p["disconnects"] for p in summary["peers"].values())


async def serve(devnet_dir: Path, name: str, modes: tuple[str, ...], phase_s: float) -> None:
    from node.logs import setup_logging

    setup_logging("text", "info")
    home = node_home(devnet_dir, name)
    config = load_config(home)
    node = Node(config)
    if node.validator_address is None:
        raise DevnetError(f"{home}: its validator key is no validator of the genesis")
    byz = Byzantine(node, load_key(home / "config" / "validator_key.json"), modes, phase_s, home / "byzantine.json",
                    devnet_dir)
    log.warning("BYZANTINE: node %s runs as a byzantine validator, modes %s", config.moniker, ", ".join(modes))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    misbehave = asyncio.ensure_future(byz.run())
    try:
        await node.run(stop)
    finally:
        misbehave.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await misbehave


def node_home(devnet_dir: Path, name: str) -> Path:
    manifest = Manifest.load(devnet_dir)
    for n in manifest.nodes:
        if n.name == name or n.name == f"node{name}":
            if n.role != "validator":
                raise DevnetError(f"{n.name} is not a validator")
            return Path(n.home)
    raise DevnetError(f"no node {name!r} in {devnet_dir}")


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown or not modes:
        raise DevnetError(f"unknown mode(s) {unknown or text!r}: choose among {', '.join(ALL_MODES)}")
    return modes


class ByzantineProcess:
    """The process above, in node `name`'s place, for scenarios and chaos runs."""

    def __init__(self, devnet_dir: Path, name: str, modes: tuple[str, ...] = ALL_MODES, log_path: Path | None = None,
                 phase_s: float = 6.0) -> None:
        self.home = node_home(devnet_dir, name)
        self.name = name
        rpc = load_config(self.home).rpc_port
        self.client = Client(f"http://127.0.0.1:{rpc}", timeout=2.0)
        self.process = ServiceProcess(["validator", "--home", str(devnet_dir), "--as", name, "--modes",
                                       ",".join(modes), "--phase", str(phase_s)],
                                      log_path or self.home / "byzantine.log", module="devnet.byzantine")
        self.paused = False

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def is_running(self) -> bool:
        return self.process.is_running()

    def start_and_wait(self, timeout: float = 30.0) -> None:
        self.process.start()
        self.process.wait_until(lambda: self.client.status(), "serve RPC", timeout, (TransportError,),
                                f"byzantine {self.name}")

    def kill(self) -> None:
        self.process.kill()
        self.paused = False

    def pause(self) -> None:
        self.process.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.process.signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.paused:
            self.resume()
        self.process.stop(10)

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)

    def summary(self) -> dict[str, Any]:
        try:
            return json.loads((self.home / "byzantine.json").read_text())
        except (OSError, ValueError):
            return {}
