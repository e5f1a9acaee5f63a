"""`consensus_state`: what this node's consensus is waiting for, for operators and for failure reports.

A stalled height is explained by three things: the round and step we are in, the proposals and
votes we hold for each round, and where each peer says it is. All three are here, read-only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from consensus.types import VoteType
from node.rpc.registry import Method
from node.rpc.views import hx
from node.types.crypto import to_checksum_address

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

MAX_ROUNDS_SHOWN = 16  # the latest rounds; a long stall must not make the answer huge
PROPOSER_ROUNDS = 8  # the proposers named for the first rounds of the height (every node must name the same)


def _value(v: bytes | None) -> str:
    return hx(v) if v is not None else "nil"


def consensus_state_json(api: NodeApi) -> dict[str, Any]:
    snap = api.engine.snapshot()
    state = snap.state
    if state is None:
        return {"height": None, "round": None, "step": None, "rounds": [], "peers": api.info.consensus_peers()}
    powers = {v.address: v.power for v in state.validators.validators}
    total = sum(powers.values())
    rounds: dict[int, dict[str, Any]] = {}

    def entry(r: int) -> dict[str, Any]:
        return rounds.setdefault(r, {"round": r, "proposals": [], "prevotes": {}, "prevotes_power": 0,
                                     "precommits": {}, "precommits_power": 0})

    for vote in sorted(snap.driver.votes(), key=lambda v: (v.round, int(v.type), v.validator)):
        kind = "prevotes" if vote.type == VoteType.PREVOTE else "precommits"
        e = entry(vote.round)
        e[kind].setdefault(_value(vote.value), []).append(to_checksum_address(vote.validator))
        e[f"{kind}_power"] += powers.get(vote.validator, 0)
    for r, by_sender in state.proposals.items():
        for sender, received in by_sender.items():
            for rp in received:
                entry(r)["proposals"].append({"proposer": to_checksum_address(sender),
                                              "block_hash": hx(rp.proposal.value),
                                              "valid_round": rp.proposal.valid_round, "valid": rp.valid})
    shown = sorted(rounds.values(), key=lambda e: e["round"])[-MAX_ROUNDS_SHOWN:]
    return {
        "height": state.height,
        "round": state.round,
        "step": state.step.name.lower(),
        "proposer": to_checksum_address(state.round_proposer),
        "round_proposers": [to_checksum_address(state.validators.proposer_for_round(r).address)
                            for r in range(PROPOSER_ROUNDS)],
        "locked_round": state.locked_round,
        "locked_value": _value(state.locked_value) if state.locked_round >= 0 else None,
        "valid_round": state.valid_round,
        "decision": _value(state.decision) if state.decision is not None else None,
        "height_age_s": round(time.monotonic() - snap.height_started_at, 3),
        "total_power": total,
        "quorum_power": total * 2 // 3 + 1,
        "rounds": shown,
        "peers": api.info.consensus_peers(),
    }


def consensus_methods(api: NodeApi) -> list[Method]:
    async def consensus_state() -> dict[str, Any]:
        return consensus_state_json(api)

    return [Method("consensus_state", consensus_state, (), {"name": "state", "type": "object"},
                   "The current height, round and step; proposals and votes held per round; each peer's "
                   "height, round and step as it last announced them.")]
