"""The rules file: defaults, overrides, and every mistake refused with its line and reason."""

from __future__ import annotations

import pytest

from finance.monitor.config import UNIT, ConfigError, parse_config


def test_defaults_and_overrides():
    c = parse_config('[assets]\nFIN = 500\n[rules.fan_out]\nwindow = 10\nmin_amount = "0.5"\nseverity = "high"\n')
    assert c.threshold("FIN") == 500 * UNIT and c.threshold("0x" + "11" * 20) == 10_000 * UNIT
    fan = c.rules["fan_out"]
    assert fan.params == {"window": 10, "min_counterparties": 8, "min_amount": UNIT // 2} and fan.severity == "high"
    assert c.rules["cycle"].params["max_hops"] == 4 and c.max_window == 100


@pytest.mark.parametrize(("text", "words"), [
    ("[rules.fan_ot]\nwindow = 3\n", "(line 1): unknown rule 'fan_ot'"),
    ("[rules.fan_out]\n\nwindo = 3\n", "(line 3): rules.fan_out has no parameter 'windo'"),
    ("[rules.fan_out]\nwindow = -3\n", "(line 2): rules.fan_out.window: a whole number of at least 1"),
    ("[rules.cycle]\nmax_hops = 50\n", "rules.cycle.max_hops: at most 8"),
    ("[rules.structuring]\nband = 2\n", "band: a fraction in (0, 1]"),
    ("[rules.dormant]\nmin_amount = \"lots\"\n", "is not a number"),
    ("[rules.velocity]\nseverity = \"urgent\"\n", "severity is one of low, medium, high, critical"),
    ("[assets]\n0x1234 = 5\n", "assets.0x1234"),
    ("[watchlist]\n\"0x12\" = \"x\"\n", "watchlist"),
    ("[rules\nfan_out]", "rules.toml: "),
    ("[extra]\n", "unknown table 'extra'"),
])
def test_mistakes_are_refused_with_the_line_and_reason(text, words):
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert words in str(refused.value)


def test_fiat_terms():
    c = parse_config('[fiat]\noracle = "0x' + "11" * 20 + '"\nthreshold = 10000\nrefresh_blocks = 20\n')
    assert c.fiat is not None and c.fiat.threshold == 10_000 * UNIT and c.fiat.refresh_blocks == 20
    assert c.fiat.coin is None
    with pytest.raises(ConfigError, match="needs oracle"):
        parse_config("[fiat]\nthreshold = 5\n")
    with pytest.raises(ConfigError, match=r"\(line 3\): fiat has no key 'treshold'"):
        parse_config('[fiat]\noracle = "0x' + "11" * 20 + '"\ntreshold = 5\n')
