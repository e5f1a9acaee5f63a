"""The synthetic ledger's plan (finance/monitor/synth/plan.py): what it plants and how quiet its
ordinary users are, counted on the plan itself with one block per slot (the tightest replay)."""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict

import pytest

from finance.monitor.synth.check import cross_check
from finance.monitor.synth.params import TYPOLOGIES, Params, rules_toml
from finance.monitor.synth.plan import COIN, TOKEN, UNIT, PlanError, build_plan, derive, quiet_check

FUNDERS = [derive("funders", i) for i in range(8)]


@pytest.fixture(scope="module")
def plan():
    return build_plan("test ledger", FUNDERS, 3000, 44)


def test_every_typology_is_planted_evenly_in_both_assets(plan):
    count = Counter((i.typology, i.asset) for i in plan.instances)
    assert {t for t, _ in count} == set(TYPOLOGIES)
    assert all(count[(t, a)] == 2 for t in TYPOLOGIES for a in (COIN, TOKEN))


def test_planted_accounts_are_fresh_and_belong_to_one_instance(plan):
    users = set(plan.users)
    seen: dict[int, int] = {}
    for k, moves in enumerate(plan.slots):
        for m in moves:
            if m.instance >= 0:
                for a in (m.sender, m.receiver):
                    assert a not in users and a >= plan.funders, (k, m)
                    assert seen.setdefault(a, m.instance) == m.instance


def test_the_setup_pays_every_sender_at_least_what_it_spends(plan):
    funded: dict[tuple[int, str], int] = defaultdict(int)
    for m in plan.funding:
        funded[(m.receiver, m.asset)] += m.amount
    spent: dict[tuple[int, str], int] = defaultdict(int)
    received: dict[tuple[int, str], int] = defaultdict(int)
    for moves in plan.slots:
        for m in moves:
            spent[(m.sender, m.asset)] += m.amount
            received[(m.receiver, m.asset)] += m.amount
    for key, amount in spent.items():
        assert funded[key] + received[key] >= amount, key
    token_out = sum(m.amount for m in plan.funding if m.asset == TOKEN and m.sender != 0)
    assert sum(m.amount for m in plan.distribute) == token_out


def test_ordinary_users_stay_under_every_rule_at_one_block_per_slot(plan):
    committed = [(0, m) for m in plan.funding] + [(k + 1, m) for k, moves in enumerate(plan.slots) for m in moves]
    check = quiet_check(plan, committed)
    p = plan.params
    assert check["max_movements_per_velocity_window"] < p.velocity_min_movements
    assert check["max_payees_per_fan_window"] <= 3
    assert check["max_payers_per_fan_window"] <= 4  # three on the ring and the funder
    assert check["max_amount_units"] < min(p.fan_min_amount, p.graph_min_amount)


def test_only_the_subjects_of_a_rule_reach_it_at_one_block_per_slot(plan):
    committed = [(0, m) for m in plan.funding] + [(k + 1, m) for k, moves in enumerate(plan.slots) for m in moves]
    margins = cross_check(plan, committed)
    for rule, row in margins.items():
        assert row["max_of_others"] < row["limit"], (rule, row)
        assert row["subjects_at_limit"] == row["subjects"] == 4, (rule, row)


def test_planted_instances_exceed_their_rules(plan):
    p = plan.params
    for k, inst in enumerate(plan.instances):
        moves = [m for slot in plan.slots for m in slot if m.instance == k]
        if inst.typology == "large_value":
            assert moves[0].amount >= p.threshold * UNIT
        elif inst.typology == "structuring":
            assert len(moves) >= p.structuring_min_count
            assert all(p.structuring_band * p.threshold * UNIT <= m.amount < p.threshold * UNIT for m in moves)
        elif inst.typology == "fan_out":
            assert len({m.receiver for m in moves}) >= p.fan_min_counterparties
        elif inst.typology == "fan_in":
            assert len({m.sender for m in moves}) >= p.fan_min_counterparties
        elif inst.typology == "velocity":
            assert len(moves) >= p.velocity_min_movements
            assert inst.last_slot - inst.first_slot < p.velocity_window
        elif inst.typology == "dormant":
            assert inst.first_slot >= p.dormant_blocks and moves[0].amount >= p.dormant_min_amount * UNIT
        elif inst.typology == "cycle":
            assert moves[-1].receiver == moves[0].sender and len(moves) <= p.cycle_max_hops
        elif inst.typology == "watchlist":
            assert set(inst.subjects) & set(plan.watchlist)


def test_the_plan_is_the_same_for_the_same_seed(plan):
    again = build_plan("test ledger", FUNDERS, 3000, 44)
    assert again.addresses == plan.addresses and again.slots == plan.slots
    assert build_plan("other", FUNDERS, 3000, 44).addresses[len(FUNDERS)] != plan.addresses[len(FUNDERS)]


def test_the_rules_file_states_the_parameters_and_the_watchlist(plan):
    token = "0x" + "ab" * 20
    watch = {plan.addresses[a]: why for a, why in plan.watchlist.items()}
    doc = tomllib.loads(rules_toml(Params(), token, watch, "a note"))
    assert doc["assets"] == {"FIN": 10000, token: 10000, "default": 10000}
    assert doc["rules"]["dormant"]["dormant_blocks"] == 40
    assert set(doc["rules"]) == set(TYPOLOGIES)
    assert doc["watchlist"] == {a: f"{s}: {r}" for a, (s, r) in watch.items()}


def test_too_few_slots_or_funders_are_refused():
    with pytest.raises(PlanError, match="slots"):
        build_plan("x", FUNDERS, 100, 11, slots=40)
    with pytest.raises(PlanError, match="funders"):
        build_plan("x", FUNDERS[:3], 100, 11)
