"""The rule parameters a synthetic ledger is designed for, and the rules file (TOML) that states them.

Amounts are whole units of an asset (18 decimals); windows and ages are blocks. The ledger's
background traffic stays below every one of these limits and each planted instance clearly
exceeds its own (plan.py says how), so a monitor run with this file should flag the instances
and nothing else of the scored part of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

TYPOLOGIES: Final = ("large_value", "structuring", "pass_through", "fan_out", "fan_in", "scatter_gather",
                     "gather_scatter", "cycle", "watchlist", "dormant", "velocity")


@dataclass(frozen=True, slots=True)
class Params:
    threshold: int = 10_000  # "large", per asset (the coin and the stablecoin alike)
    structuring_window: int = 50
    structuring_min_count: int = 3
    structuring_band: float = 0.8
    pass_window: int = 20
    pass_min_fraction: float = 0.9
    pass_min_amount: int = 1000
    fan_window: int = 50
    fan_min_counterparties: int = 8
    fan_min_amount: int = 100
    graph_window: int = 100  # scatter-gather, gather-scatter, cycle
    graph_min: int = 4  # intermediaries, sources, sinks
    graph_min_amount: int = 100
    cycle_max_hops: int = 4
    watch_hops: int = 2
    dormant_blocks: int = 40
    dormant_min_amount: int = 1000
    velocity_window: int = 20
    velocity_min_movements: int = 30
    severities: dict[str, str] = field(default_factory=lambda: {
        "large_value": "high", "structuring": "high", "pass_through": "medium", "fan_out": "medium",
        "fan_in": "medium", "scatter_gather": "high", "gather_scatter": "high", "cycle": "high",
        "watchlist": "critical", "dormant": "medium", "velocity": "low"})

    def windows(self) -> dict[str, int]:
        """How many blocks after an instance's last transaction its alert may still come, per rule."""
        return {"large_value": 0, "structuring": self.structuring_window, "pass_through": self.pass_window,
                "fan_out": self.fan_window, "fan_in": self.fan_window, "scatter_gather": self.graph_window,
                "gather_scatter": self.graph_window, "cycle": self.graph_window, "watchlist": 0,
                "dormant": 0, "velocity": self.velocity_window}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rules_toml(p: Params, token: str, watchlist: dict[str, tuple[str, str]], note: str = "") -> str:
    """The rules file: `token` is the stablecoin's EIP-55 address, `watchlist` EIP-55 -> (source, reason)."""
    s = p.severities
    lines = [f"# {line}" for line in note.splitlines()]
    lines += [
        "[assets]",
        f"FIN = {p.threshold}",
        f"{_q(token)} = {p.threshold}",
        f"default = {p.threshold}",
        "",
        "[rules.large_value]",
        f"severity = {_q(s['large_value'])}",
        "",
        "[rules.structuring]",
        f"severity = {_q(s['structuring'])}",
        f"window = {p.structuring_window}",
        f"min_count = {p.structuring_min_count}",
        f"band = {p.structuring_band}",
        "",
        "[rules.pass_through]",
        f"severity = {_q(s['pass_through'])}",
        f"window = {p.pass_window}",
        f"min_fraction = {p.pass_min_fraction}",
        f"min_amount = {p.pass_min_amount}",
    ]
    for rule in ("fan_out", "fan_in"):
        lines += ["", f"[rules.{rule}]", f"severity = {_q(s[rule])}", f"window = {p.fan_window}",
                  f"min_counterparties = {p.fan_min_counterparties}", f"min_amount = {p.fan_min_amount}"]
    lines += [
        "",
        "[rules.scatter_gather]",
        f"severity = {_q(s['scatter_gather'])}",
        f"window = {p.graph_window}",
        f"min_intermediaries = {p.graph_min}",
        f"min_amount = {p.graph_min_amount}",
        "",
        "[rules.gather_scatter]",
        f"severity = {_q(s['gather_scatter'])}",
        f"window = {p.graph_window}",
        f"min_sources = {p.graph_min}",
        f"min_sinks = {p.graph_min}",
        f"min_amount = {p.graph_min_amount}",
        "",
        "[rules.cycle]",
        f"severity = {_q(s['cycle'])}",
        f"window = {p.graph_window}",
        f"max_hops = {p.cycle_max_hops}",
        f"min_amount = {p.graph_min_amount}",
        "",
        "[rules.watchlist]",
        f"severity = {_q(s['watchlist'])}",
        f"hops = {p.watch_hops}",
        "",
        "[rules.dormant]",
        f"severity = {_q(s['dormant'])}",
        f"dormant_blocks = {p.dormant_blocks}",
        f"min_amount = {p.dormant_min_amount}",
        "",
        "[rules.velocity]",
        f"severity = {_q(s['velocity'])}",
        f"window = {p.velocity_window}",
        f"min_movements = {p.velocity_min_movements}",
        "",
        "[watchlist]",
    ]
    lines += [f"{_q(address)} = {_q(f'{source}: {reason}')}" for address, (source, reason) in watchlist.items()]
    return "\n".join(lines) + "\n"
