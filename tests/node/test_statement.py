"""Account statements (node/rpc/statement.py over node/state/movements.py): the movement index a
commit writes, the statement's JSON, its bounds and pages, CSV, and on random histories executed
into real blocks that every statement reconciles exactly with the balances read from state."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.client.statements import CSV_COLUMNS, StatementError, join_pages, statement_csv
from node.state.movements import COIN, FEE, Movement, MovementRecord
from node.types import codec
from node.types.crypto import to_checksum_address
from node.types.errors import StoreCorrupted
from tests.node.helpers import COIN as ONE_COIN
from tests.node.statement_world import USERS, VALIDATORS, World, addr
from vm import Address

cs = to_checksum_address


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    w.close()


def _rows(statement: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(m["height"], m["tx_index"], m["asset"], m["kind"], int(m["amount"]), m["counterparty"])
            for m in statement["movements"]]


def _asset(statement: dict[str, Any], asset: str) -> dict[str, Any]:
    found = [a for a in statement["assets"] if a["asset"] == asset]
    assert len(found) == 1, (asset, statement["assets"])
    return found[0]


def test_every_kind_of_movement_with_its_counterparty(world: World) -> None:
    u0, u1, u2 = USERS[:3]
    deploy_token, token = world.deploy_token(u0, 1000)
    deploy_vault, vault = world.deploy_vault(u0)
    b1 = world.block([deploy_token, deploy_vault], proposer=1)
    txs = [
        world.transfer(u0, u1.address, 7 * ONE_COIN),
        world.call(u0, token, "approve", [addr(u1), 500]),
        world.call(u1, token, "transfer_from", [addr(u0), addr(u2), 300]),  # u2 is in neither sender nor to
        world.call(u2, token, "transfer", [addr(u1), 10**9]),  # reverts: only its fee moves
        world.call(u1, vault, "deposit", [], value=5 * ONE_COIN),
        world.call(u0, vault, "withdraw", [2 * ONE_COIN, addr(u2)]),  # the vault's send_coin
        world.call(u2, token, "burn", [100]),
    ]
    b2 = world.block(txs, proposer=2)
    assert [r.status for r in b2.receipts] == [1, 1, 1, 0, 1, 1, 1]
    fee = {i: r.fee for i, r in enumerate(b2.receipts)}
    tk, vt = cs(token), cs(vault)

    s2 = world.statement(u2.address, 2, 2)
    assert _rows(s2) == [
        (2, 2, tk, "token_transfer", 300, cs(u0.address)),
        (2, 3, "coin", "fee", -fee[3], None),
        (2, 5, "coin", "contract_call", 2 * ONE_COIN, vt),
        (2, 6, "coin", "fee", -fee[6], None),
        (2, 6, tk, "burn", -100, None),
    ]
    assert [m["fee"] for m in s2["movements"]] == ["0", str(fee[3]), "0", str(fee[6]), str(fee[6])]
    assert _asset(s2, tk)["opening"] == "0" and _asset(s2, tk)["closing"] == "200"
    assert _asset(s2, tk)["symbol"] == "TK" and _asset(s2, tk)["decimals"] == 6

    s_vault = world.statement(vault, 1, 2)
    assert _rows(s_vault) == [(2, 4, "coin", "contract_call", 5 * ONE_COIN, cs(u1.address)),
                              (2, 5, "coin", "contract_call", -2 * ONE_COIN, cs(u0.address))]
    s0 = world.statement(u0.address, 1, 2)
    assert (1, 0, tk, "mint", 1000, None) in _rows(s0)
    assert (2, 0, "coin", "transfer", -7 * ONE_COIN, cs(u1.address)) in _rows(s0)
    assert (2, 2, tk, "token_transfer", -300, cs(u2.address)) in _rows(s0)

    # The proposers' tips: one fee_income row per block, after its transactions.
    for block, proposer in ((b1, 1), (b2, 2)):
        tips = sum(r.fee for r in block.receipts) - sum(r.gas_used for r in block.receipts)  # base fee 1
        got = world.statement(VALIDATORS[proposer].address, block.height, block.height)
        assert _rows(got) == [(block.height, None, "coin", "fee_income", tips, None)]
        assert got["movements"][0]["tx_hash"] is None and tips > 0
    for s in (s0, s2, s_vault):
        assert s["complete"] and all(a["reconciled"] for a in s["assets"])

    # The history index now holds every address a transaction moved assets of.
    history = world.result("account_txs", cs(u2.address), 100)["txs"]
    assert {(t["height"], t["index"]) for t in history} == {(2, 2), (2, 3), (2, 5), (2, 6)}


def test_movement_records_round_trip_and_a_corrupt_one_is_refused() -> None:
    record = MovementRecord(b"\x01" * 32, 42, (Movement(COIN, FEE, -42, b""),
                                               Movement(b"\x02" * 20, "mint", 2**255, b"")))
    assert MovementRecord.decode(record.encode()) == record
    for raw in (b"\xc1", codec.encode([b"", b"", [[b"", "gift", False, b"\x01", b""]]]), codec.encode([1, 2])):
        with pytest.raises(StoreCorrupted):
            MovementRecord.decode(raw)


def test_bad_ranges_and_parameters_are_invalid_params(world: World) -> None:
    world.block([world.transfer(USERS[0], USERS[1].address, 1)])
    world.block([])
    a = cs(USERS[0].address)
    bad = [
        (a, 2, 1), (a, 1, 3), (a, 0, 1), (a, -1, 1), (a, 1, -5), (a, True, 1), (a, 1, "2"), (a, 1.0, 2),
        ("0x1234", 1, 1), ("0x" + "zz" * 20, 1, 1), (42, 1, 1), (a, 1, 2**70), (a, 1, 2, 0), (a, 1, 2, 10_001),
        (a, 1, 2, True), (a, 1, 2, 10, "x"), (a, 1, 2, 10, "5:0"), (a, 2, 2, 10, "1:0"), (a, 1, 2, 10, 7),
    ]
    for params in bad:
        answer = world.rpc("account_statement", *params)
        assert answer.get("error", {}).get("code") == -32602, (params, answer)
    assert "above to_height" in world.rpc("account_statement", a, 2, 1)["error"]["message"]
    assert "above the latest height 2" in world.rpc("account_statement", a, 1, 3)["error"]["message"]
    assert world.result("account_statement", a, 2, 2)["movements"] == []
    # A store from before the index keeps its older heights out of statements, and says so.
    world.chain.store.set_movements_from(2)
    answer = world.rpc("account_statement", a, 1, 2)
    assert answer["error"]["code"] == -32602 and answer["error"]["data"] == {"indexed_from": 2}


def test_pages_join_into_the_whole_statement(world: World) -> None:
    u0, u1 = USERS[:2]
    for _ in range(4):
        world.block([world.transfer(u0, u1.address, 3) for _ in range(5)], proposer=0)
    whole = world.result("account_statement", cs(u0.address), 1, 4)
    assert len(whole["movements"]) == 40 and whole["next_cursor"] is None and whole["complete"]
    pages = [world.result("account_statement", cs(u0.address), 1, 4, 7)]
    while pages[-1]["next_cursor"] is not None:
        pages.append(world.result("account_statement", cs(u0.address), 1, 4, 7, pages[-1]["next_cursor"]))
    # A page ends at a whole transaction (two movements each) once it holds `limit` movements.
    assert [len(p["movements"]) for p in pages] == [8, 8, 8, 8, 8]
    assert all(not p["complete"] and p["assets"][0]["reconciled"] is None for p in pages)
    assert join_pages(pages) == whole
    end = whole["movements"][-1]
    assert world.result("account_statement", cs(u0.address), 1, 4, 7, f"{end['height']}:{end['tx_index']}") == {
        **pages[-1], "movements": [], "next_cursor": None,
        "assets": [{**pages[-1]["assets"][0], "movements_total": "0"}]}
    with pytest.raises(StatementError):
        join_pages([pages[0], world.result("account_statement", cs(u0.address), 2, 4, 7)])


def test_csv_has_opening_movement_and_closing_rows_with_running_balances(world: World) -> None:
    u0, u1 = USERS[:2]
    tx, token = world.deploy_token(u0, 50)
    world.block([tx])
    world.block([world.call(u0, token, "transfer", [addr(u1), 20]), world.transfer(u0, u1.address, 9)])
    statement = world.statement(u0.address, 1, 2)
    rows = list(csv.DictReader(io.StringIO(statement_csv(statement))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["row"] for r in rows] == ["opening"] * 2 + ["movement"] * len(statement["movements"]) + ["closing"] * 2
    for asset in statement["assets"]:
        mine = [r for r in rows if r["asset"] == asset["asset"]]
        assert mine[0]["balance"] == asset["opening"] and mine[-1]["balance"] == asset["closing"]
        assert mine[-2]["balance"] == asset["closing"]  # the running balance after the last movement
        assert int(mine[-1]["amount"]) == sum(int(r["amount"]) for r in mine[1:-1])
    assert {r["symbol"] for r in rows if r["asset"] == cs(token)} == {"TK"}


# -- random histories --------------------------------------------------------------------------

USER = st.integers(0, len(USERS) - 1)
AMOUNT = st.sampled_from([1, 7, 250, 10**12])  # the last one fails wherever it is tried
OPS = st.one_of(
    st.tuples(st.just("coin"), USER, st.integers(0, 9), st.sampled_from([1, 3 * ONE_COIN, 10**30])),
    st.tuples(st.just("token"), st.integers(0, 1), USER, st.integers(0, 9), AMOUNT),
    st.tuples(st.just("approve"), st.integers(0, 1), USER, USER, AMOUNT),
    st.tuples(st.just("transfer_from"), st.integers(0, 1), USER, USER, st.integers(0, 9), AMOUNT),
    st.tuples(st.just("deposit"), USER, st.sampled_from([1, ONE_COIN])),
    st.tuples(st.just("withdraw"), USER, st.sampled_from([1, ONE_COIN, 10**30]), st.integers(0, 9)),
    st.tuples(st.just("burn"), st.integers(0, 1), USER, AMOUNT),
)
BLOCKS = st.lists(st.tuples(st.integers(0, 3), st.lists(OPS, max_size=6)), min_size=1, max_size=5)


def _run_history(world: World, blocks: list[tuple[int, list[Any]]]) -> tuple[list[bytes], list[bytes]]:
    t0, token0 = world.deploy_token(USERS[0], 10**6, "AAA")
    t1, token1 = world.deploy_token(USERS[1], 10**6, "BBB")
    tv, vault = world.deploy_vault(USERS[0])
    world.block([t0, t1, tv], proposer=3)
    world.block([world.call(USERS[0], token0, "transfer", [addr(u), 10**4]) for u in USERS[1:]]
                + [world.call(USERS[1], token1, "transfer", [addr(u), 10**4]) for u in (USERS[0], USERS[2])],
                proposer=1)
    tokens = [token0, token1]
    # Standing allowances to the next user, so that third-party transfer_from calls go through.
    world.block([world.call(u, t, "approve", [addr(USERS[(i + 1) % len(USERS)]), 10**5])
                 for t in tokens for i, u in enumerate(USERS)], proposer=2)
    everyone = [u.address for u in USERS] + [v.address for v in VALIDATORS] + [token0, vault]
    for proposer, ops in blocks:
        txs = []
        for op in ops:
            match op:
                case ("coin", s, r, amount):
                    txs.append(world.transfer(USERS[s], everyone[r], amount))
                case ("token", t, s, r, amount):
                    txs.append(world.call(USERS[s], tokens[t], "transfer", [Address(everyone[r]), amount]))
                case ("approve", t, s, spender, amount):
                    txs.append(world.call(USERS[s], tokens[t], "approve", [addr(USERS[spender]), amount]))
                case ("transfer_from", t, spender, owner, r, amount):
                    txs.append(world.call(USERS[spender], tokens[t], "transfer_from",
                                          [addr(USERS[owner]), Address(everyone[r]), amount]))
                case ("deposit", s, value):
                    txs.append(world.call(USERS[s], vault, "deposit", [], value=value))
                case ("withdraw", s, amount, r):
                    txs.append(world.call(USERS[s], vault, "withdraw", [amount, Address(everyone[r])]))
                case ("burn", t, s, amount):
                    txs.append(world.call(USERS[s], tokens[t], "burn", [amount]))
        world.block(txs, proposer)
    return [*everyone, token1], tokens


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks=BLOCKS, data=st.data())
def test_statements_reconcile_with_state_on_random_histories(blocks: list[tuple[int, list[Any]]],
                                                             data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            parties, tokens = _run_history(world, blocks)
            tip = world.chain.height
            for _ in range(3):
                lo = data.draw(st.integers(1, tip), label="from_height")
                hi = data.draw(st.integers(lo, tip), label="to_height")
                limit = data.draw(st.sampled_from([1, 4, 10_000]), label="limit")
                for party in parties:
                    statement = world.statement(party, lo, hi, limit)
                    _check(world, statement, party, lo, hi, tokens)
            # Block 1 (the deploys) pays its proposer a tip: a statement from 1 shows it.
            first = world.statement(VALIDATORS[3].address, 1, tip)
            assert any(m["kind"] == "fee_income" and m["height"] == 1 for m in first["movements"])
        finally:
            world.close()


def _check(world: World, statement: dict[str, Any], party: bytes, lo: int, hi: int, tokens: list[bytes]) -> None:
    coin = _asset(statement, "coin")
    assert int(coin["opening"]) == world.coin_balance(party, lo - 1)
    assert int(coin["closing"]) == world.coin_balance(party, hi)
    sums: dict[str, int] = {}
    last = (0, -1)
    for m in statement["movements"]:
        assert lo <= m["height"] <= hi
        at = (m["height"], 2**32 if m["tx_index"] is None else m["tx_index"])
        assert at >= last
        last = at
        sums[m["asset"]] = sums.get(m["asset"], 0) + int(m["amount"])
    for token in tokens:
        start, end = world.token_balance(token, party, lo - 1), world.token_balance(token, party, hi)
        listed = [a for a in statement["assets"] if a["asset"] == cs(token)]
        if not listed:
            assert start == end == 0 and cs(token) not in sums
            continue
        assert (int(listed[0]["opening"]), int(listed[0]["closing"])) == (start, end)
    for a in statement["assets"]:
        assert a["reconciled"] is True
        assert int(a["opening"]) + sums.get(a["asset"], 0) == int(a["closing"]), (a, statement["movements"])


def test_the_openrpc_document_describes_the_method(world: World) -> None:
    methods = {m["name"]: m for m in world.result("rpc.discover")["methods"]}
    params = methods["account_statement"]["params"]
    assert [(p["name"], p["required"]) for p in params] == [
        ("address", True), ("from_height", True), ("to_height", True), ("limit", False), ("cursor", False)]
