"""Test-only misbehaviour of a validator, switched on in config.toml and off by default:

    [testing]
    propose_out_of_turn = true

At each new height this validator, unless it is the round-0 proposer, builds an empty block
and broadcasts a signed round-0 proposal of it as soon as it has committed the previous
height. That is before the real proposer, which waits out the commit timeout first. Correct
peers must refuse a proposal from anyone but the round's proposer, and report the sender
(tests/devnet/test_e2e_byzantine.py checks both on real processes).

The proposal is signed with the validator key directly, outside the double-sign guard: the
honest engine never signs a proposal for a round it does not own, so the guard would not
refuse it anyway, and writing the guard's state here could make the engine refuse its own
honest signatures later. Never turn this on in a real network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from consensus.types import Proposal
from node.chain import Chain
from node.config import ConfigError, NodeConfig
from node.host.engine import CommittedBlock
from node.net.network import proposal_to_msg
from node.types.block import proposal_sign_bytes
from node.types.crypto import PrivateKey
from p2p.messages import Message

log = logging.getLogger("finchain.byzantine")


def round0_proposer(chain: Chain, height: int) -> bytes:
    """The address that owns round 0 of `height` (the next height)."""
    return chain.validator_set(height).proposer_for_round(0).address


class OutOfTurnProposer:
    """Proposes for round 0 of every height it does not own, hooked on the node's commit callback."""

    def __init__(self, chain: Chain, key: PrivateKey, broadcast: Callable[[Message], int]) -> None:
        self.chain = chain
        self.key = key
        self.broadcast = broadcast
        self.proposed = 0

    @staticmethod
    def from_config(config: NodeConfig, chain: Chain, key: PrivateKey | None,
                    broadcast: Callable[[Message], int]) -> OutOfTurnProposer | None:
        """None unless `[testing] propose_out_of_turn` is on; ConfigError if this node is no validator."""
        if not config.propose_out_of_turn:
            return None
        if key is None:
            raise ConfigError(f"{config.home / 'config' / 'config.toml'}: testing.propose_out_of_turn needs a "
                              f"validator key of the genesis")
        log.warning("TESTING: [testing] propose_out_of_turn is on: this validator proposes out of turn")
        return OutOfTurnProposer(chain, key, broadcast)

    def on_commit(self, committed: CommittedBlock) -> None:
        try:
            self._propose(committed)
        except Exception:  # test-only code: a bug here must show in the log, not stop the node's engine
            log.exception("testing: out-of-turn proposal failed")

    def _propose(self, committed: CommittedBlock) -> None:
        height = committed.executed.height + 1
        if height != self.chain.height + 1:
            return  # the callback of an older block (block sync racing ahead): nothing to front-run
        proposer = round0_proposer(self.chain, height)
        if proposer == self.key.address:
            return  # our own turn: the engine proposes honestly
        executed = self.chain.build_block(self.key.address, [], committed.commit, int(time.time() * 1000))
        digest = proposal_sign_bytes(self.chain.chain_id, height, 0, executed.hash, -1)
        proposal = Proposal(height, 0, executed.hash, -1, self.key.address, self.key.sign(digest))
        peers = self.broadcast(proposal_to_msg(proposal, executed.raw))
        self.proposed += 1
        log.warning("testing: proposed block %s out of turn at height %d round 0 (the proposer is %s) to %d peers",
                    executed.hash.hex()[:16], height, proposer.hex()[:8], peers)
