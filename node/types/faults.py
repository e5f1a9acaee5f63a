"""What a peer did wrong, as a type: the kind routes the node's reaction, the severity its reputation cost.

The switch bans a peer once the severities it earned (decaying over time) reach its ban
threshold (100 by default); a kind's severity says how many such faults an honest but
buggy peer may make before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FaultKind(Enum):
    # value: (severity, what it means)
    BAD_MESSAGE = (20, "a message that cannot be what it claims")
    NOT_A_VALIDATOR = (25, "a vote signed by a key outside the validator set")
    NOT_THE_PROPOSER = (50, "a proposal from a validator that does not lead that round")
    BAD_SIGNATURE = (50, "a vote or proposal whose signature does not match its signer")
    INVALID_SYNCED_BLOCK = (50, "a block sync answer that does not verify")
    INVALID_EVIDENCE = (20, "evidence that does not check out")
    INVALID_TRANSACTIONS = (5, "transactions that no node could admit")
    # Useless or unasked-for traffic: each costs little, a stream of them gets the peer banned.
    QUEUE_FULL = (5, "a message beyond the peer's share of the consensus input queue")
    UNSOLICITED = (5, "an answer to a request we never made (or already had answered)")
    UNSERVED_CHANNEL = (10, "a message of a channel this node does not serve")
    TOO_FREQUENT = (2, "requests faster than the allowed rate")

    @property
    def severity(self) -> int:
        return self.value[0]


@dataclass(frozen=True, slots=True)
class PeerFault:
    kind: FaultKind
    detail: str
    count: int = 1  # several faults of one kind found at once (a batch of transactions)

    @property
    def severity(self) -> int:
        return min(100, self.kind.severity * self.count)

    def __str__(self) -> str:
        return f"{self.kind.name.lower()}: {self.detail}"
