"""Decimal token amounts as exact integers of base units.

Amounts travel as decimal strings (JSON-RPC, CLI, config) and live as integers of base
units everywhere else: 1 FIN = 10**18 units. Floats never appear: 0.1 has no exact binary
form, and a balance that rounds differently on two nodes forks the chain.

The accepted syntax is deliberately narrow, `DIGITS ["." DIGITS]` with ASCII digits only,
so that every string a user types either means exactly one amount or is refused with a
message saying why (no exponents, signs, separators, spaces or bare points).
"""

from __future__ import annotations

import re

DECIMALS = 18
UNIT = "FIN"
BASE_UNIT = "wei"  # the smallest unit, named as Ethereum tools name it so wallets read it alike
UINT256_MAX = (1 << 256) - 1
# The longest decimal integer part that can still be <= 2**256-1 (78 digits); checking the
# length first keeps a hostile megabyte of digits from reaching int().
_MAX_INT_DIGITS = len(str(UINT256_MAX))
_MAX_DECIMALS = 77
_SHAPE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


class AmountError(ValueError):
    """A text is not a valid amount, or an integer is not a valid number of units."""


def _validate_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= _MAX_DECIMALS:
        raise AmountError(f"decimals must be an integer from 0 to {_MAX_DECIMALS}, got {decimals!r}")


def _describe_bad_shape(text: str) -> str:
    """Name the first thing wrong with a text that does not match DIGITS[.DIGITS]."""
    if text.strip() != text or any(ch.isspace() for ch in text):
        return "spaces are not allowed"
    if text.startswith("-"):
        return "negative amounts are not allowed"
    if text.startswith("+"):
        return "a sign is not allowed"
    if "_" in text or "," in text:
        return "digit separators ('_' or ',') are not allowed"
    if any(ch in "eE" for ch in text) and text[:1].isdigit():
        return "exponents are not allowed; write the amount out in full"
    if text.count(".") > 1:
        return "more than one decimal point"
    if text.startswith("."):
        return "a digit is needed before the decimal point (write 0.5, not .5)"
    if text.endswith("."):
        return "a digit is needed after the decimal point (write 1 or 1.0, not 1.)"
    bad = next((ch for ch in text if ch not in "0123456789."), None)
    if bad is not None:
        return f"unexpected character {bad!r}: only the digits 0-9 and one '.' are allowed"
    return "not a decimal number"


def parse_amount(text: str, decimals: int = DECIMALS) -> int:
    """Parse a decimal amount such as "1.5" into base units (1.5 * 10**decimals).

    Raises AmountError for anything that is not exactly representable as 0..2**256-1 units.
    """
    _validate_decimals(decimals)
    if not isinstance(text, str):
        raise AmountError(f"an amount must be a string, got {type(text).__name__}")
    if not text:
        raise AmountError("the amount is empty")
    match = _SHAPE.fullmatch(text)
    if match is None:
        raise AmountError(f"invalid amount {text[:100]!r}: {_describe_bad_shape(text)}")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > decimals:
        raise AmountError(
            f"invalid amount {text[:100]!r}: {len(fraction)} digits after the decimal point, "
            f"at most {decimals} allowed"
        )
    if len(whole.lstrip("0")) > _MAX_INT_DIGITS:
        raise AmountError(f"invalid amount {text[:100]!r}: larger than the maximum of 2**256-1 units")
    units = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if units > UINT256_MAX:
        raise AmountError(f"invalid amount {text[:100]!r}: larger than the maximum of 2**256-1 units")
    return units


def format_amount(units: int, decimals: int = DECIMALS) -> str:
    """The shortest exact decimal form of `units` base units: "1.5", "0", "1000"."""
    _validate_decimals(decimals)
    if isinstance(units, bool) or not isinstance(units, int):
        raise AmountError(f"units must be an integer, got {type(units).__name__}")
    if not 0 <= units <= UINT256_MAX:
        raise AmountError(f"units must be between 0 and 2**256-1, got {units}")
    whole, fraction = divmod(units, 10**decimals)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{str(fraction).rjust(decimals, '0').rstrip('0')}"
