"""The chain parameters a transaction executes under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExecParams:
    chain_id: str
    height: int
    min_gas_price: int
    max_block_gas: int
    time_ms: int = 0  # the block's time: contracts see it as ctx.time (seconds)
