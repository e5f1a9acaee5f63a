"""The fault model as plain data: which links are cut, how long chunks wait, how likely a link dies."""

from __future__ import annotations

import random

import pytest

from devnet.faults import (
    FaultError,
    Faults,
    describe,
    parse_groups,
    parse_ms,
    parse_node,
    parse_percent,
    with_delay,
    with_drop,
    with_partition,
)


def test_partition_cuts_only_links_between_groups():
    f = with_partition(Faults(), [[0, 1], [2, 3]], 4)
    assert not f.is_cut(0, 1) and not f.is_cut(3, 2)
    assert f.is_cut(0, 2) and f.is_cut(3, 1)


def test_nodes_in_no_group_form_one_more_group():
    f = with_partition(Faults(), [[0]], 3)
    assert f.is_cut(0, 1) and f.is_cut(2, 0)
    assert not f.is_cut(1, 2)
    assert describe(f, ["a", "b", "c"]) == ["partition a | b,c"]


@pytest.mark.parametrize(("groups", "nodes", "message"), [
    ([[0, 1], [1, 2]], 3, "two groups"),
    ([[0, 1, 2]], 3, "at least two groups"),
    ([[0], [7]], 3, "no node 7"),
    ([[], [1]], 3, "empty"),
])
def test_bad_partitions_are_refused(groups, nodes, message):
    with pytest.raises(FaultError, match=message):
        with_partition(Faults(), groups, nodes)


def test_delays_add_up_per_endpoint_and_zero_clears():
    f = with_delay(with_delay(Faults(), 1, 200, 0, 4), 2, 50, 0, 4)
    rng = random.Random(1)
    assert f.link_delay_s(0, 1, rng) == pytest.approx(0.2)
    assert f.link_delay_s(1, 2, rng) == pytest.approx(0.25)
    assert f.link_delay_s(0, 3, rng) == 0
    assert with_delay(f, 1, 0, 0, 4).delays == {2: f.delays[2]}


def test_jitter_stays_within_bounds():
    f = with_delay(Faults(), 0, 100, 30, 2)
    rng = random.Random(7)
    samples = [f.link_delay_s(0, 1, rng) for _ in range(500)]
    assert 0.07 <= min(samples) and max(samples) <= 0.13


def test_drop_probability_combines_both_ends():
    f = with_drop(with_drop(Faults(), 0, 50, 3), 1, 50, 3)
    assert f.drop_probability(0, 2) == pytest.approx(0.5)
    assert f.drop_probability(0, 1) == pytest.approx(0.75)
    with pytest.raises(FaultError):
        with_drop(f, 0, 101, 3)


def test_json_round_trip():
    f = with_drop(with_delay(with_partition(Faults(), [[0], [1, 2]], 3), 1, 20, 5, 3), 2, 5, 3)
    assert Faults.from_json(f.to_json()) == f


def test_parsers():
    assert parse_groups(["0,1", "node2,3"]) == [[0, 1], [2, 3]]
    assert parse_node("node12") == 12
    assert (parse_ms("200ms"), parse_ms("1.5s"), parse_ms("40")) == (200, 1500, 40)
    assert parse_percent("5%") == 5.0
    for bad in (lambda: parse_node("x"), lambda: parse_ms("fast"), lambda: parse_percent("lots")):
        with pytest.raises(FaultError):
            bad()
