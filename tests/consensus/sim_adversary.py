"""Byzantine behaviour for the simulator, and deliberately broken cores.

Why it is shaped this way: the byzantine node reuses the honest host (so it always knows
the protocol state) and only lies on the way out: split or echoed votes, two proposals,
fresh proposals ignoring its valid value, invalid values, or silence. Twins are two honest
hosts for one key. The broken cores are `CoreFns` values passed into the simulator, so
the negative controls never patch module globals.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from consensus.driver import Effect, SignProposal, ValueBuilt
from consensus.state_machine import State, apply, start_height
from consensus.types import (
    Input,
    Output,
    TimeoutParams,
    Validator,
    ValidatorSet,
    Vote,
)
from consensus.vote_keeper import VoteKeeper
from tests.consensus.sim_host import PC, CoreFns, HonestNode, MsgProposal, MsgVote, sig_of

if TYPE_CHECKING:
    from tests.consensus.simulator import World


class TwinNode(HonestNode):
    """One of two honest copies of the same key, each with its own guard and WAL."""

    honest = False


class ByzantineNode(HonestNode):
    """Follows the protocol with an honest core to know what is going on, but lies."""

    honest = False

    def __init__(self, world: World, nid: int, key: int, core: CoreFns, strategies: tuple[str, ...]) -> None:
        super().__init__(world, nid, key, core)
        self.strategies = strategies
        self.echoed: set[tuple[int, int, int, int]] = set()
        self.precommit_target: dict[tuple[int, int], int] = {}  # (h, r) -> the one peer we help decide

    def sign(self, content: tuple[Any, ...], hrs: tuple[int, int, int]) -> bytes | None:
        return sig_of(self.address)  # no guard

    def others(self) -> list[HonestNode]:
        return [n for n in self.world.nodes if n is not self]

    def publish(self, msg: MsgVote | MsgProposal) -> None:
        world, rng = self.world, self.world.rng
        if isinstance(msg, MsgProposal):
            p = msg.proposal
            peers = self.others()
            honest = [n for n in peers if n.honest]
            if "equivocate" in self.strategies and len(honest) >= 2:
                # Split the honest nodes into two non-empty groups: A to one, B to the other.
                other = replace(p, value=world.new_value(valid=rng.random() < 0.7), valid_round=-1)
                rng.shuffle(honest)
                group_b = {n.id for n in honest[: rng.randint(1, len(honest) - 1)]}
                for n in peers:
                    world.send(self, n.id, self._proposal_msg(other if n.id in group_b else p))
            else:
                world.broadcast(self, self._proposal_msg(p))
            return
        v = msg.vote
        for n in self.others():
            if "silent" in self.strategies and rng.random() < 0.5:
                continue
            value = v.value
            if "split" in self.strategies:
                choices: list[bytes | None] = [v.value, None, *self._seen_values(v.round)]
                value = rng.choice(choices)
            if "selective" in self.strategies and v.type == PC:
                value = None  # the real precommit goes to one chosen peer only (see _echo)
            world.send(self, n.id, MsgVote(replace(v, value=value)))

    def _seen_values(self, round: int) -> list[bytes]:
        if self.state is None:
            return []
        by_sender = self.state.proposals.get(round, {})
        return sorted(rp.proposal.value for rps in by_sender.values() for rp in rps)

    def request_value(self, height: int, round: int) -> None:
        valid = not ("invalid" in self.strategies and self.world.rng.random() < 0.5)
        value = self.world.new_value(valid=valid)
        self.world.at(self.world.now + 1, self, self.submit, ValueBuilt(height, round, value, value))

    def execute(self, effect: Effect) -> None:
        if isinstance(effect, SignProposal) and "fresh" in self.strategies and effect.proposal.valid_round >= 0:
            # The lock-breaker: ignore our valid value and propose something new.
            value = self.world.new_value(True)
            effect = SignProposal(replace(effect.proposal, value=value, valid_round=-1), value)
        super().execute(effect)

    def on_message(self, src: int, msg: Any) -> None:
        if isinstance(msg, MsgVote) and "echo" in self.strategies:
            self._echo(src, msg.vote)
        super().on_message(src, msg)

    def _echo(self, src: int, v: Vote) -> None:
        """Agree with everyone: send `src` our vote for whatever it voted. With "selective",
        a precommit for a value is echoed to one peer only, so that it alone decides."""
        key = (v.height, v.round, int(v.type), src)
        if v.validator == self.address or key in self.echoed or self.state is None:
            return
        if v.height != self.state.height or not self.world.nodes[src].honest:
            return
        if "selective" in self.strategies and v.type == PC:
            if v.value is None or self.precommit_target.setdefault((v.height, v.round), src) != src:
                return
        self.echoed.add(key)
        echo = Vote(v.type, v.height, v.round, v.value, self.address, sig_of(self.address))
        self.world.send(self, src, MsgVote(echo))

    def tick(self) -> None:
        self.gossip_status()
        self.world.at(self.world.now + self.world.cfg.gossip_ms, self, self.tick)


# -- deliberately broken cores (negative controls) ------------------------------------------


def _apply_ignoring_lock(state: State, inp: Input) -> tuple[State, list[Output]]:
    """L23/L29 without the lock check: the core sees itself unlocked when it prevotes, and
    gets its lock back afterwards unless L36 set a new one."""
    blind = replace(state, locked_value=None, locked_round=-1)
    new, outs = apply(blind, inp)
    if new.locked_round == -1:
        new = replace(new, locked_value=state.locked_value, locked_round=state.locked_round)
    return new, outs


def _start_height_counting_by_number(
    height: int, validators: ValidatorSet, our_address: bytes | None, timeouts: TimeoutParams
) -> tuple[State, list[Output]]:
    """Thresholds over the number of validators instead of their power (proposer selection
    is left intact)."""
    state, outs = start_height(height, validators, our_address, timeouts)
    ones = ValidatorSet.new(Validator(v.address, 1) for v in validators.validators)
    return replace(state, votes=VoteKeeper.new(height, ones)), outs


IGNORES_LOCK = CoreFns(start_height, _apply_ignoring_lock)
COUNTS_BY_NUMBER = CoreFns(_start_height_counting_by_number, apply)
