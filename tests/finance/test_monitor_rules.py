"""Each AML rule fires on its pattern and stays silent on the nearest benign one.

The rules run in the real detector over a real LevelDB store, fed movements block by block as
the monitor's follower feeds them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from finance.monitor.config import parse_config
from finance.monitor.detector import Detector
from finance.monitor.movements import COIN, Movement
from finance.monitor.store import MonitorStore
from node.types.crypto import to_checksum_address

UNIT = 10**18
TOKEN = to_checksum_address(b"\xee" * 20)


def addr(n: int) -> str:
    return to_checksum_address(n.to_bytes(20, "big"))


class Chain:
    """Blocks of movements fed to a detector; every movement its own transaction."""

    def __init__(self, tmp: Path, config: str = "") -> None:
        self.store = MonitorStore(tmp / "db")
        self.detector = Detector(parse_config(config), self.store)
        self.height = 0
        self.alerts: list[dict] = []
        self._tx = itertools.count(1)

    def block(self, *moves: tuple[int, int, float], asset: str = COIN, empty: int = 0) -> None:
        for _ in range(empty):
            self._commit([])
        self._commit([(s, r, a, asset) for s, r, a in moves])

    def _commit(self, moves: list[tuple[int, int, float, str]]) -> None:
        self.height += 1
        out = [Movement(self.height, i, 0, "0x" + next(self._tx).to_bytes(32, "big").hex(), asset, addr(s), addr(r),
                        int(a * UNIT)) for i, (s, r, a, asset) in enumerate(moves)]
        self.alerts += self.detector.process(self.height, "0x" + self.height.to_bytes(32, "big").hex(), out)

    def rules(self) -> list[str]:
        return [a["rule"] for a in self.alerts]


@pytest.fixture
def chain(tmp_path):
    c = Chain(tmp_path)
    yield c
    c.store.close()


def test_large_value(chain):
    chain.block((1, 2, 9_999))
    assert chain.rules() == []
    chain.block((1, 2, 10_000))
    assert chain.rules() == ["large_value"]
    assert "10,000 FIN" in chain.alerts[0]["explanation"] and chain.alerts[0]["addresses"] == [addr(1), addr(2)]


def test_structuring_below_the_threshold(chain):
    chain.block((1, 2, 9_000), (1, 3, 9_500))
    chain.block((1, 4, 8_500))
    assert "structuring" in chain.rules()


def test_structuring_is_silent_on_small_or_spread_payments(tmp_path):
    c = Chain(tmp_path, "[rules.structuring]\nwindow = 5\n")
    c.block((1, 2, 9_000), (1, 3, 100))  # one near the threshold, one small
    c.block((1, 4, 9_000), empty=6)  # the second near one is out of the window
    assert "structuring" not in c.rules()
    c.store.close()


def test_pass_through(chain):
    chain.block((1, 5, 5_000))
    chain.block((5, 6, 4_700), empty=3)
    assert chain.rules() == ["pass_through"]


def test_keeping_most_of_what_came_in_is_not_pass_through(chain):
    chain.block((1, 5, 5_000))
    chain.block((5, 6, 1_000), empty=3)
    chain.block((5, 7, 2_000))
    assert chain.rules() == []


def test_fan_out_and_fan_in(chain):
    chain.block(*[(1, 10 + i, 20) for i in range(8)])
    chain.block(*[(30 + i, 2, 20) for i in range(8)])
    assert sorted(chain.rules()) == ["fan_in", "fan_out"]
    assert chain.rules().count("fan_out") == 1  # once per window, not once per payment


def test_seven_counterparties_are_no_fan(chain):
    chain.block(*[(1, 10 + i, 20) for i in range(7)])
    chain.block(*[(1, 10 + i, 20) for i in range(7)])  # the same seven again
    assert chain.rules() == []


def test_scatter_gather(chain):
    chain.block(*[(1, 10 + i, 50) for i in range(4)])
    chain.block(*[(10 + i, 99, 49) for i in range(4)], empty=2)
    assert "scatter_gather" in chain.rules()
    found = next(a for a in chain.alerts if a["rule"] == "scatter_gather")
    assert found["subject"] == addr(1) and addr(99) in found["addresses"]


def test_intermediaries_paying_different_sinks_are_no_scatter_gather(chain):
    chain.block(*[(1, 10 + i, 50) for i in range(4)])
    chain.block(*[(10 + i, 90 + i, 49) for i in range(4)])
    assert "scatter_gather" not in chain.rules()


def test_gather_scatter(chain):
    chain.block(*[(20 + i, 5, 50) for i in range(4)])
    chain.block(*[(5, 40 + i, 45) for i in range(4)])
    assert "gather_scatter" in chain.rules()


def test_a_hub_paying_before_it_is_paid_is_no_gather_scatter(chain):
    chain.block(*[(5, 40 + i, 45) for i in range(4)])
    chain.block(*[(20 + i, 5, 50) for i in range(4)])
    chain.block((5, 41, 1))
    assert "gather_scatter" not in chain.rules()


def test_cycle(chain):
    chain.block((1, 2, 500))
    chain.block((2, 3, 490))
    chain.block((3, 1, 480))
    assert chain.rules() == ["cycle"]
    assert chain.alerts[0]["evidence"]["hops"] == 3


def test_a_chain_that_does_not_return_is_no_cycle(chain):
    chain.block((1, 2, 500))
    chain.block((2, 3, 490))
    chain.block((3, 4, 480))
    chain.block((5, 1, 480))  # value reaches 1, but not value that left it
    assert chain.rules() == []


def test_a_cycle_longer_than_max_hops_is_not_reported(chain):
    chain.block((1, 2, 500))
    for i in range(2, 6):
        chain.block((i, i + 1, 490))
    chain.block((6, 1, 480))  # 6 hops, max_hops is 4
    assert chain.rules() == []


def test_watchlist_direct_and_near(tmp_path):
    c = Chain(tmp_path, f'[watchlist]\n"{addr(66)}" = "OFAC SDN: sanctioned"\n')
    c.block((66, 2, 1))
    c.block((2, 3, 1))
    c.block((3, 4, 1))  # 3 hops: beyond the default of 2
    assert c.rules() == ["watchlist", "watchlist"]
    direct, near = c.alerts
    assert direct["severity"] == "critical" and "OFAC SDN" in direct["explanation"]
    assert near["severity"] == "medium" and near["evidence"]["hops"] == 2
    c.store.close()


def test_dormant(tmp_path):
    c = Chain(tmp_path, "[rules.dormant]\ndormant_blocks = 10\n")
    c.block((1, 7, 2_000))
    c.block((7, 8, 1_500), empty=10)
    assert "dormant" in c.rules()
    c.store.close()


def test_active_accounts_are_not_dormant(tmp_path):
    c = Chain(tmp_path, "[rules.dormant]\ndormant_blocks = 10\n")
    c.block((1, 7, 2_000))
    for _ in range(4):
        c.block((7, 8, 1), empty=2)
    c.block((7, 8, 1_500), empty=2)
    assert "dormant" not in c.rules()
    c.store.close()


def test_velocity(chain):
    for _ in range(3):
        chain.block(*[(1, 2, 1) for _ in range(10)])
    assert chain.rules() == ["velocity"]


def test_assets_are_not_added_together(chain):
    chain.block(*[(1, 10 + i, 20) for i in range(4)])
    chain.block(*[(1, 20 + i, 20) for i in range(4)], asset=TOKEN)
    assert chain.rules() == []  # 8 counterparties, but 4 in each asset


def test_a_restart_sees_what_the_killed_process_saw(tmp_path):
    """The same blocks, once straight through and once with the detector rebuilt from the store between
    every block: the same alerts, in the same order, with the same ids."""
    straight = Chain(tmp_path / "a")
    broken = Chain(tmp_path / "b")
    blocks = [[(1, 10 + i, 50) for i in range(4)], [(10 + i, 99, 49) for i in range(4)], [(99, 1, 180)],
              [(1, 2, 9_000), (1, 3, 9_500)], [(1, 4, 8_500)], [(30 + i, 2, 20) for i in range(8)]]
    for moves in blocks:
        straight.block(*moves)
        broken.block(*moves)
        broken.detector = Detector(broken.detector.config, broken.store)
    assert [a["id"] for a in broken.alerts] == [a["id"] for a in straight.alerts]
    assert [a["rule"] for a in straight.alerts] == ["scatter_gather", "structuring", "fan_in"]
    straight.store.close()
    broken.store.close()


def test_large_value_in_fiat_terms(tmp_path):
    oracle = addr(500)
    c = Chain(tmp_path, f'[fiat]\noracle = "{oracle}"\nthreshold = 5000\n')
    price = 2 * UNIT  # one smallest unit of the token is worth 2 quote smallest units
    moves = [Movement(1, 0, 0, "0x" + "01" * 32, TOKEN, addr(1), addr(2), 2_400 * UNIT),
             Movement(1, 1, 0, "0x" + "02" * 32, TOKEN, addr(1), addr(3), 2_600 * UNIT),
             Movement(1, 2, 0, "0x" + "03" * 32, COIN, addr(1), addr(3), 2_600 * UNIT)]
    alerts = c.detector.process(1, "0x" + "aa" * 32, moves, {TOKEN: price})
    assert [(a["rule"], a["txs"]) for a in alerts] == [("large_value", ["0x" + "02" * 32])]
    assert "worth 5,200.00" in alerts[0]["explanation"] and alerts[0]["evidence"]["price"] == str(price)
    c.store.close()
