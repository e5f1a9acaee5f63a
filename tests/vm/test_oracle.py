"""Unit and property tests of the standard Oracle contract (vm/contracts/oracle.py)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.testing import Chain, load_contract

MAX_AGE = 60


def median(prices):
    """The reference: middle value, or the floored mean of the two middle values."""
    s = sorted(prices)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) // 2


@pytest.fixture
def chain():
    return Chain()


@pytest.fixture
def admin(chain):
    return chain.account(balance=10**24)


@pytest.fixture
def reporters(chain):
    return [chain.account(balance=10**24) for _ in range(5)]


@pytest.fixture
def outsider(chain):
    return chain.account(balance=10**24)


@pytest.fixture
def asset(chain):
    # Any address will do as an asset key; a fresh account is distinct from every contract.
    return chain.account(balance=0)


@pytest.fixture
def zero(admin):
    return type(admin)(bytes(20))


@pytest.fixture
def oracle(chain, admin, reporters):
    res = chain.deploy(admin, load_contract("oracle"), [reporters, MAX_AGE])
    assert res.ok, res.error
    return res.address


def names(res):
    return [(e.name, list(e.data)) for e in res.events]


def reverts(chain, sender, contract, method, args, reason):
    res = chain.call(sender, contract, method, args)
    assert not res.ok
    assert res.error == reason
    assert not res.events


def price_error(chain, oracle, asset):
    with pytest.raises(AssertionError) as info:
        chain.query(oracle, "price", [asset])
    return str(info.value)


# ---- constructor and views ----


def test_constructor(chain, admin, oracle, reporters):
    assert chain.query(oracle, "reporters", []) == reporters
    assert chain.query(oracle, "max_age", []) == MAX_AGE
    assert chain.query(oracle, "admin", []) == admin


def test_constructor_emits_reporter_added(chain, admin, reporters):
    res = chain.deploy(admin, load_contract("oracle"), [reporters[:2], 5])
    assert res.ok, res.error
    assert names(res) == [("ReporterAdded", [reporters[0]]), ("ReporterAdded", [reporters[1]])]


def test_constructor_with_no_reporters(chain, admin, asset):
    res = chain.deploy(admin, load_contract("oracle"), [[], 5])
    assert res.ok, res.error
    assert chain.query(res.address, "reporters", []) == []
    assert "stale price" in price_error(chain, res.address, asset)


@pytest.mark.parametrize(
    ("which", "max_age", "reason"),
    [
        ("dup", 60, "already a reporter"),
        ("zero", 60, "reporter is the zero address"),
        ("ok", 0, "max_age must be positive"),
        ("ok", -1, "max_age must be positive"),
    ],
)
def test_constructor_rejects(chain, admin, reporters, zero, which, max_age, reason):
    lists = {"dup": [reporters[0], reporters[1], reporters[0]], "zero": [reporters[0], zero], "ok": reporters}
    res = chain.deploy(admin, load_contract("oracle"), [lists[which], max_age])
    assert not res.ok
    assert res.error == reason


# ---- report and median ----


@pytest.mark.parametrize(
    "prices",
    [
        [7],
        [10, 20],
        [10, 11],
        [1, 2],
        [30, 10, 20],
        [5, 5, 9],
        [40, 10, 30, 20],
        [1, 1, 2, 2],
        [50, 10, 40, 20, 30],
        [10**30, 1, 3 * 10**18, 2 * 10**18, 2 * 10**18 + 1],
    ],
)
def test_median_of_1_to_5_reporters(chain, oracle, reporters, asset, prices):
    for reporter, p in zip(reporters, prices, strict=False):
        chain.must(reporter, oracle, "report", [asset, p])
    got = chain.query(oracle, "price", [asset])
    assert got == median(prices)
    assert got > 0


def test_even_count_takes_floor_of_middle_mean(chain, oracle, reporters, asset):
    chain.must(reporters[0], oracle, "report", [asset, 3])
    chain.must(reporters[1], oracle, "report", [asset, 4])
    assert chain.query(oracle, "price", [asset]) == 3
    chain.must(reporters[2], oracle, "report", [asset, 100])
    chain.must(reporters[3], oracle, "report", [asset, 1])
    assert chain.query(oracle, "price", [asset]) == 3


def test_median_ignores_one_outlier(chain, oracle, reporters, asset):
    for reporter, p in zip(reporters, [100, 101, 99, 100, 10**40], strict=True):
        chain.must(reporter, oracle, "report", [asset, p])
    assert chain.query(oracle, "price", [asset]) == 100


def test_report_stores_latest_and_emits(chain, oracle, reporters, asset):
    assert chain.query(oracle, "latest", [asset, reporters[0]]) == {"price": 0, "time": 0}
    res = chain.call(reporters[0], oracle, "report", [asset, 2 * 10**18])
    assert res.ok, res.error
    first = chain.query(oracle, "latest", [asset, reporters[0]])
    assert first["price"] == 2 * 10**18
    assert names(res) == [("PriceReported", [asset, reporters[0], 2 * 10**18, first["time"]])]
    assert res.events[0].address == oracle
    chain.advance(blocks=1, seconds=7)
    chain.must(reporters[0], oracle, "report", [asset, 3])
    assert chain.query(oracle, "latest", [asset, reporters[0]]) == {"price": 3, "time": first["time"] + 7}
    assert chain.query(oracle, "price", [asset]) == 3
    assert chain.query(oracle, "latest", [asset, reporters[1]]) == {"price": 0, "time": 0}


def test_report_reverts(chain, oracle, reporters, outsider, admin, asset):
    reverts(chain, outsider, oracle, "report", [asset, 10], "not a reporter")
    reverts(chain, admin, oracle, "report", [asset, 10], "not a reporter")
    reverts(chain, reporters[0], oracle, "report", [asset, 0], "price must be positive")
    reverts(chain, reporters[0], oracle, "report", [asset, -5], "price must be positive")
    assert chain.query(oracle, "latest", [asset, reporters[0]]) == {"price": 0, "time": 0}


def test_assets_are_separate(chain, oracle, reporters, asset, outsider):
    chain.must(reporters[0], oracle, "report", [asset, 10])
    chain.must(reporters[0], oracle, "report", [outsider, 99])
    assert chain.query(oracle, "price", [asset]) == 10
    assert chain.query(oracle, "price", [outsider]) == 99


def test_no_report_is_stale(chain, oracle, asset):
    assert "stale price" in price_error(chain, oracle, asset)


# ---- staleness ----


def test_report_goes_stale_after_max_age(chain, oracle, reporters, asset):
    chain.must(reporters[0], oracle, "report", [asset, 42])
    chain.advance(blocks=1, seconds=MAX_AGE)
    # Exactly max_age old is still fresh.
    assert chain.query(oracle, "price", [asset]) == 42
    chain.advance(blocks=1, seconds=1)
    assert "stale price" in price_error(chain, oracle, asset)
    chain.must(reporters[1], oracle, "report", [asset, 43])
    assert chain.query(oracle, "price", [asset]) == 43


def test_stale_reports_leave_the_median(chain, oracle, reporters, asset):
    chain.must(reporters[0], oracle, "report", [asset, 1000])
    chain.must(reporters[1], oracle, "report", [asset, 1000])
    chain.advance(blocks=3, seconds=40)
    chain.must(reporters[2], oracle, "report", [asset, 10])
    chain.must(reporters[3], oracle, "report", [asset, 20])
    chain.must(reporters[4], oracle, "report", [asset, 30])
    assert chain.query(oracle, "price", [asset]) == median([1000, 1000, 10, 20, 30])
    chain.advance(blocks=3, seconds=21)
    assert chain.query(oracle, "price", [asset]) == 20
    chain.advance(blocks=1, seconds=40)
    assert "stale price" in price_error(chain, oracle, asset)


def test_set_max_age_applies_to_existing_reports(chain, oracle, admin, reporters, asset):
    chain.must(reporters[0], oracle, "report", [asset, 5])
    chain.advance(blocks=1, seconds=MAX_AGE + 10)
    assert "stale price" in price_error(chain, oracle, asset)
    res = chain.call(admin, oracle, "set_max_age", [MAX_AGE + 10])
    assert res.ok, res.error
    assert names(res) == [("MaxAgeSet", [MAX_AGE + 10])]
    assert chain.query(oracle, "max_age", []) == MAX_AGE + 10
    assert chain.query(oracle, "price", [asset]) == 5
    chain.must(admin, oracle, "set_max_age", [1])
    assert "stale price" in price_error(chain, oracle, asset)


def test_set_max_age_reverts(chain, oracle, admin, reporters):
    reverts(chain, reporters[0], oracle, "set_max_age", [100], "only the admin")
    reverts(chain, admin, oracle, "set_max_age", [0], "max_age must be positive")
    reverts(chain, admin, oracle, "set_max_age", [-3], "max_age must be positive")
    assert chain.query(oracle, "max_age", []) == MAX_AGE


# ---- reporter management ----


def test_removed_reporters_report_is_ignored(chain, oracle, admin, reporters, asset):
    chain.must(reporters[0], oracle, "report", [asset, 10])
    chain.must(reporters[1], oracle, "report", [asset, 1000])
    assert chain.query(oracle, "price", [asset]) == 505
    res = chain.call(admin, oracle, "remove_reporter", [reporters[1]])
    assert res.ok, res.error
    assert names(res) == [("ReporterRemoved", [reporters[1]])]
    assert reporters[1] not in chain.query(oracle, "reporters", [])
    assert chain.query(oracle, "price", [asset]) == 10
    reverts(chain, reporters[1], oracle, "report", [asset, 1000], "not a reporter")
    # Coming back does not revive the old report, only new ones count.
    chain.must(admin, oracle, "add_reporter", [reporters[1]])
    assert chain.query(oracle, "price", [asset]) == 10
    chain.must(reporters[1], oracle, "report", [asset, 30])
    assert chain.query(oracle, "price", [asset]) == 20


def test_removing_the_only_fresh_reporter_makes_the_price_stale(chain, oracle, admin, reporters, asset):
    chain.must(reporters[2], oracle, "report", [asset, 10])
    chain.must(admin, oracle, "remove_reporter", [reporters[2]])
    assert "stale price" in price_error(chain, oracle, asset)


def test_add_reporter(chain, oracle, admin, reporters, outsider, asset):
    res = chain.call(admin, oracle, "add_reporter", [outsider])
    assert res.ok, res.error
    assert names(res) == [("ReporterAdded", [outsider])]
    assert chain.query(oracle, "reporters", []) == [*reporters, outsider]
    chain.must(outsider, oracle, "report", [asset, 8])
    assert chain.query(oracle, "price", [asset]) == 8


def test_reporter_management_reverts(chain, oracle, admin, reporters, outsider, zero):
    reverts(chain, outsider, oracle, "add_reporter", [outsider], "only the admin")
    reverts(chain, reporters[0], oracle, "remove_reporter", [reporters[1]], "only the admin")
    reverts(chain, admin, oracle, "add_reporter", [reporters[0]], "already a reporter")
    reverts(chain, admin, oracle, "add_reporter", [zero], "reporter is the zero address")
    reverts(chain, admin, oracle, "remove_reporter", [outsider], "not a reporter")
    assert chain.query(oracle, "reporters", []) == reporters


def test_reporter_count_is_capped(chain, oracle, admin, reporters):
    extra = [chain.account(balance=0) for _ in range(32 - len(reporters))]
    for a in extra:
        chain.must(admin, oracle, "add_reporter", [a])
    assert len(chain.query(oracle, "reporters", [])) == 32
    reverts(chain, admin, oracle, "add_reporter", [chain.account(balance=0)], "too many reporters")


def test_price_with_32_reporters(chain, oracle, admin, reporters, asset):
    extra = [chain.account(balance=0) for _ in range(32 - len(reporters))]
    for a in extra:
        chain.must(admin, oracle, "add_reporter", [a])
    prices = [(i * 7919) % 1000 + 1 for i in range(32)]
    for reporter, p in zip(reporters + extra, prices, strict=True):
        chain.must(reporter, oracle, "report", [asset, p])
    assert chain.query(oracle, "price", [asset]) == median(prices)


# ---- admin ----


def test_set_admin(chain, oracle, admin, outsider, reporters):
    res = chain.call(admin, oracle, "set_admin", [outsider])
    assert res.ok, res.error
    assert names(res) == [("AdminChanged", [admin, outsider])]
    assert chain.query(oracle, "admin", []) == outsider
    reverts(chain, admin, oracle, "set_max_age", [5], "only the admin")
    reverts(chain, admin, oracle, "set_admin", [admin], "only the admin")
    chain.must(outsider, oracle, "set_max_age", [5])
    chain.must(outsider, oracle, "remove_reporter", [reporters[0]])
    assert chain.query(oracle, "max_age", []) == 5


def test_set_admin_reverts(chain, oracle, admin, outsider, zero):
    reverts(chain, outsider, oracle, "set_admin", [outsider], "only the admin")
    reverts(chain, admin, oracle, "set_admin", [zero], "admin is the zero address")
    assert chain.query(oracle, "admin", []) == admin


# ---- use from another contract, as the lending market does ----


CONSUMER = '''
"""Reads the oracle the way the lending market does."""


@public
def value_of(oracle: address, asset: address, amount: int) -> int:
    p = call(oracle, "price", [asset])
    require(p > 0, "price is zero")
    return amount * p // 10**18


@view
def peek(oracle: address, asset: address) -> int:
    return call(oracle, "price", [asset])
'''


def test_price_read_from_another_contract(chain, oracle, reporters, asset, outsider):
    res = chain.deploy(outsider, CONSUMER, [])
    assert res.ok, res.error
    consumer = res.address
    chain.must(reporters[0], oracle, "report", [asset, 2 * 10**18])
    assert chain.query(consumer, "peek", [oracle, asset]) == 2 * 10**18
    assert chain.must(outsider, consumer, "value_of", [oracle, asset, 21]) == 42
    chain.advance(blocks=1, seconds=MAX_AGE + 1)
    res = chain.call(outsider, consumer, "value_of", [oracle, asset, 21])
    assert not res.ok
    assert res.error == "stale price"


# ---- property: price always equals the reference median of the fresh, current reports ----


report_step = st.tuples(st.just("report"), st.integers(0, 4), st.integers(1, 10**20))
step = st.one_of(
    report_step,
    report_step,
    # Steps that add up to exactly MAX_AGE often, to hit the freshness boundary.
    st.tuples(st.just("advance"), st.just(0), st.sampled_from([0, 1, 10, 20, 30, 59, MAX_AGE, MAX_AGE + 1])),
    st.tuples(st.just("remove"), st.integers(0, 4), st.integers(0, 0)),
    st.tuples(st.just("add"), st.integers(0, 4), st.integers(0, 0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=5, max_size=40))
def test_price_matches_reference_median(steps):
    chain = Chain()
    admin = chain.account(balance=10**24)
    people = [chain.account(balance=10**24) for _ in range(5)]
    asset = chain.account(balance=0)
    res = chain.deploy(admin, load_contract("oracle"), [people, MAX_AGE])
    assert res.ok, res.error
    oracle = res.address
    now = 0
    active = set(range(5))
    reports = {}  # reporter index -> (price, time) made while active
    for kind, who, value in steps:
        if kind == "report":
            res = chain.call(people[who], oracle, "report", [asset, value])
            assert res.ok == (who in active)
            if res.ok:
                reports[who] = (value, now)
        elif kind == "advance":
            chain.advance(blocks=1, seconds=value)
            now += value
        elif kind == "remove":
            res = chain.call(admin, oracle, "remove_reporter", [people[who]])
            assert res.ok == (who in active)
            active.discard(who)
            reports.pop(who, None)
        else:
            res = chain.call(admin, oracle, "add_reporter", [people[who]])
            assert res.ok == (who not in active)
            active.add(who)
        fresh = [p for i, (p, t) in reports.items() if now - t <= MAX_AGE]
        if fresh:
            assert chain.query(oracle, "price", [asset]) == median(fresh)
        else:
            assert "stale price" in price_error(chain, oracle, asset)
