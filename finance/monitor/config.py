"""The rules' parameters: a TOML file (docs/monitoring.md), checked at start with the line and the reason.

Amounts in the file are whole units of an asset (18 decimals, as every standard token and the coin
have); windows and ages are in blocks. A file may name any subset of the rules: the others keep
their defaults. An unknown rule, an unknown key or a value of the wrong kind is refused.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from node.types.crypto import AddressError, parse_address, to_checksum_address

UNIT: Final = 10**18
SEVERITIES: Final = ("low", "medium", "high", "critical")

# Each rule: its default severity and its parameters with their defaults (amounts in whole units).
RULES: Final[dict[str, dict[str, Any]]] = {
    "large_value": {"severity": "high"},
    "structuring": {"severity": "high", "window": 50, "min_count": 3, "band": 0.8},
    "pass_through": {"severity": "medium", "window": 20, "min_fraction": 0.9, "min_amount": 1000},
    "fan_out": {"severity": "medium", "window": 50, "min_counterparties": 8, "min_amount": 100},
    "fan_in": {"severity": "medium", "window": 50, "min_counterparties": 8, "min_amount": 100},
    "scatter_gather": {"severity": "high", "window": 100, "min_intermediaries": 4, "min_amount": 100},
    "gather_scatter": {"severity": "high", "window": 100, "min_sources": 4, "min_sinks": 4, "min_amount": 100},
    "cycle": {"severity": "high", "window": 100, "max_hops": 4, "min_amount": 100},
    "watchlist": {"severity": "critical", "hops": 2},
    "dormant": {"severity": "medium", "dormant_blocks": 1000, "min_amount": 1000},
    "velocity": {"severity": "low", "window": 20, "min_movements": 30},
}
AMOUNT_KEYS: Final = frozenset({"min_amount"})
FRACTION_KEYS: Final = frozenset({"band", "min_fraction"})
MAX_WINDOW: Final = 100_000
MAX_HOPS: Final = 8


class ConfigError(ValueError):
    """A rules file that cannot be used; the message names the file, the line if known, and the reason."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    severity: str
    params: dict[str, Any]  # amounts in base units

    def get(self, name: str) -> Any:
        return self.params[name]


@dataclass(frozen=True, slots=True)
class FiatTerms:
    """Large values in the oracle's quote unit as well: value = amount x price / 10^18 (docs/contracts.md)."""

    oracle: str  # EIP-55
    threshold: int  # quote units x 10^18
    refresh_blocks: int  # a price is read at the first height of each span of this many blocks
    coin: str | None  # the address the oracle prices the coin under, if it does


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    rules: dict[str, Rule]
    thresholds: dict[str, int]  # asset (FIN or EIP-55) -> base units; "default" for the others
    watchlist: dict[str, tuple[str, str]] = field(default_factory=dict)  # EIP-55 -> (source, reason)
    fiat: FiatTerms | None = None

    def threshold(self, asset: str) -> int:
        return self.thresholds.get(asset, self.thresholds["default"])

    @property
    def max_window(self) -> int:
        """How many recent blocks the rules look back over: the in-memory window's length."""
        return max((r.params.get("window", 0) for r in self.rules.values() if r.enabled), default=0)

    def to_json(self) -> dict[str, Any]:
        def show(rule: Rule) -> dict[str, Any]:
            params = {k: (str(v // UNIT) if k in AMOUNT_KEYS else v) for k, v in rule.params.items()}
            return {"id": rule.id, "enabled": rule.enabled, "severity": rule.severity, "params": params}

        return {"rules": [show(r) for r in self.rules.values()],
                "thresholds": {k: str(v // UNIT) for k, v in self.thresholds.items()}}


def _line_of(text: str, table: str, key: str | None) -> str:
    """The line a key sits on, for the error message (tomllib reports lines only for syntax errors)."""
    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if re.fullmatch(rf"\s*\[{re.escape(table)}\]\s*(#.*)?", line)),
                None)
    if head is None:
        return ""
    if key is None:
        return f" (line {head + 1})"
    for i in range(head + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
            return f" (line {i + 1})"
    return f" (line {head + 1})"


def units_of(value: Any, where: str) -> int:
    """Whole units (a number or a decimal string) to base units; ConfigError if it is not one."""
    return _units(value, where)


def _units(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: an amount in whole units, e.g. 10000 or \"0.5\"")
    try:
        amount = Decimal(str(value)) * UNIT
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if amount < 0 or amount != amount.to_integral_value():
        raise ConfigError(f"{where}: an amount at least 0 with at most 18 decimals")
    return int(amount)


def _param(rule: str, key: str, value: Any, default: Any, where: str) -> Any:
    if key in AMOUNT_KEYS:
        return _units(value, where)
    if key in FRACTION_KEYS:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"{where}: a fraction in (0, 1]")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: a whole number of at least 1")
    limit = MAX_HOPS if key in ("hops", "max_hops") else MAX_WINDOW
    if value > limit:
        raise ConfigError(f"{where}: at most {limit}")
    return value


def parse_config(text: str, source: str = "rules.toml") -> MonitorConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    unknown = set(doc) - {"assets", "rules", "watchlist", "fiat"}
    if unknown:
        raise ConfigError(f"{source}: unknown table {sorted(unknown)[0]!r}{_line_of(text, sorted(unknown)[0], None)}")
    thresholds = {"FIN": 10_000 * UNIT, "default": 10_000 * UNIT}
    for asset, value in (doc.get("assets") or {}).items():
        where = f"{source}{_line_of(text, 'assets', asset)}: assets.{asset}"
        name = asset if asset in ("FIN", "default") else _eip55(asset, where)
        thresholds[name] = _units(value, where)
    rules: dict[str, Rule] = {}
    given = doc.get("rules") or {}
    for rule_id in given:
        if rule_id not in RULES:
            raise ConfigError(f"{source}{_line_of(text, f'rules.{rule_id}', None)}: unknown rule {rule_id!r} "
                              f"(the rules are {', '.join(RULES)})")
    for rule_id, defaults in RULES.items():
        table = given.get(rule_id) or {}
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: rules.{rule_id} must be a table")
        for key in table:
            if key not in defaults and key != "enabled":
                raise ConfigError(f"{source}{_line_of(text, f'rules.{rule_id}', key)}: rules.{rule_id} has no "
                                  f"parameter {key!r} (it takes {', '.join(sorted(defaults))}, enabled)")
        severity = table.get("severity", defaults["severity"])
        if severity not in SEVERITIES:
            raise ConfigError(f"{source}{_line_of(text, f'rules.{rule_id}', 'severity')}: rules.{rule_id}.severity "
                              f"is one of {', '.join(SEVERITIES)}")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{source}{_line_of(text, f'rules.{rule_id}', 'enabled')}: enabled is true or false")
        params = {}
        for key, default in defaults.items():
            if key == "severity":
                continue
            where = f"{source}{_line_of(text, f'rules.{rule_id}', key)}: rules.{rule_id}.{key}"
            params[key] = _param(rule_id, key, table.get(key, default), default, where)
        rules[rule_id] = Rule(rule_id, enabled, severity, params)
    watchlist = {}
    for address, note in (doc.get("watchlist") or {}).items():
        where = f"{source}{_line_of(text, 'watchlist', address)}: watchlist"
        if not isinstance(note, str):
            raise ConfigError(f"{where}: \"source: reason\" text for {address}")
        src, _, reason = note.partition(":")
        watchlist[_eip55(address, where)] = (src.strip(), reason.strip() or src.strip())
    return MonitorConfig(rules, thresholds, watchlist, _fiat(doc.get("fiat"), text, source))


def _fiat(table: Any, text: str, source: str) -> FiatTerms | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: fiat must be a table")
    for key in table:
        if key not in ("oracle", "threshold", "refresh_blocks", "coin"):
            raise ConfigError(f"{source}{_line_of(text, 'fiat', key)}: fiat has no key {key!r} "
                              "(it takes oracle, threshold, refresh_blocks, coin)")
    where = f"{source}{_line_of(text, 'fiat', None)}: fiat"
    if "oracle" not in table or "threshold" not in table:
        raise ConfigError(f"{where}: needs oracle (the price oracle's address) and threshold")
    refresh = _param("fiat", "refresh_blocks", table.get("refresh_blocks", 100), 100, f"{where}.refresh_blocks")
    coin = None if table.get("coin") is None else _eip55(table["coin"], f"{where}.coin")
    return FiatTerms(_eip55(table["oracle"], f"{where}.oracle"), _units(table["threshold"], f"{where}.threshold"),
                     refresh, coin)


def _eip55(text: str, where: str) -> str:
    try:
        return to_checksum_address(parse_address(text))
    except AddressError as exc:
        raise ConfigError(f"{where}: {text!r}: {exc}") from None


def load_config(path: Path | None) -> MonitorConfig:
    if path is None:
        return parse_config("", "defaults")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(path))
