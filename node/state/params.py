"""The chain parameters a transaction executes under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExecParams:
    chain_id: str
    height: int
    base_fee: int  # per gas, of the block being built or checked (node/state/fees.py)
    max_block_gas: int
    time_ms: int = 0  # the block's time: contracts see it as ctx.time (seconds)
