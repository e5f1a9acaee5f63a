from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.types.amounts import DECIMALS, UINT256_MAX, AmountError, format_amount, parse_amount

ONE = 10**DECIMALS


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0", 0),
        ("1", ONE),
        ("1.5", ONE + ONE // 2),
        ("0.000000000000000001", 1),
        ("1000", 1000 * ONE),
        ("007", 7 * ONE),
        ("1.50", ONE + ONE // 2),
        ("0.0", 0),
    ],
)
def test_parse_valid(text: str, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("-1", "negative"),
        ("+1", "sign"),
        ("1_000", "separator"),
        ("1,000", "separator"),
        ("1e18", "exponent"),
        ("1.5E3", "exponent"),
        ("0x10", "unexpected character 'x'"),
        ("abc", "unexpected character 'a'"),
        ("\u0661", "unexpected character"),  # an Arabic-Indic digit: str.isdigit() says yes, we say no
        (" 1", "spaces"),
        ("1 ", "spaces"),
        ("1.2.3", "more than one decimal point"),
        (".5", "before the decimal point"),
        ("1.", "after the decimal point"),
        ("0.0000000000000000001", "19 digits after the decimal point, at most 18"),
        ("inf", "unexpected character"),
        ("NaN", "unexpected character"),
    ],
)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text)


def test_amount_error_is_value_error() -> None:
    assert issubclass(AmountError, ValueError)


def test_parse_bounds() -> None:
    assert parse_amount(str(UINT256_MAX), decimals=0) == UINT256_MAX
    with pytest.raises(AmountError, match="maximum"):
        parse_amount(str(UINT256_MAX + 1), decimals=0)
    top = format_amount(UINT256_MAX)
    assert parse_amount(top) == UINT256_MAX
    with pytest.raises(AmountError, match="maximum"):
        parse_amount(str(UINT256_MAX // ONE) + ".999999999999999999")
    with pytest.raises(AmountError, match="maximum"):
        parse_amount("9" * 100_000)  # refused on length, before any big-integer work
    assert parse_amount("0" * 200 + "1") == ONE  # leading zeros are not magnitude


def test_parse_other_decimals() -> None:
    assert parse_amount("12.34", decimals=2) == 1234
    assert parse_amount("12", decimals=0) == 12
    with pytest.raises(AmountError, match="at most 0"):
        parse_amount("1.0", decimals=0)
    with pytest.raises(AmountError, match="decimals"):
        parse_amount("1", decimals=-1)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(AmountError, match="string"):
        parse_amount(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("units", "text"),
    [(0, "0"), (ONE, "1"), (ONE + ONE // 2, "1.5"), (1, "0.000000000000000001"), (1000 * ONE, "1000")],
)
def test_format(units: int, text: str) -> None:
    assert format_amount(units) == text


@pytest.mark.parametrize("bad", [-1, UINT256_MAX + 1, True, 1.0, "1"])
def test_format_rejects(bad: object) -> None:
    with pytest.raises(AmountError):
        format_amount(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=UINT256_MAX))
def test_round_trip(units: int) -> None:
    text = format_amount(units)
    assert parse_amount(text) == units
    # Shortest form: no trailing zeros after the point, no lone point.
    assert not text.endswith(".") and not (("." in text) and text.endswith("0"))


@given(st.integers(min_value=0, max_value=UINT256_MAX), st.integers(min_value=0, max_value=30))
def test_round_trip_any_decimals(units: int, decimals: int) -> None:
    assert parse_amount(format_amount(units, decimals), decimals) == units
