"""Every method of rpc.discover, called with wrong types, nulls, huge ints, nested containers and
wrong arity: the answer is a result or a client error, never -32603 Internal error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.rpc.registry import INTERNAL_ERROR, Registry
from node.types.crypto import to_checksum_address
from tests.node.helpers import key, make_chain
from tests.node.test_chain import T0, advance
from tests.node.test_contract_txs import deploy_tx
from vm import contract_address

ADDRESS = to_checksum_address(key(0).address)
CONTRACT = to_checksum_address(contract_address(key(0).address, 0))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**200),
    st.integers(max_value=-1), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.sampled_from(["latest", "0", "١٢", "12", "9" * 30, "0x", "0x" + "ab" * 32, ADDRESS,
                                           CONTRACT, "deposit", "info", "withdraw", "init",
                                           "1:2", "a:b", "١:٢", "-1", " 1", "1_0", "\ud800"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)
# tx_estimateGas objects with the right field names and wrong values.
TX_FIELDS = st.sampled_from(["from", "to", "value", "source", "method", "args"])
TX_OBJECTS = st.dictionaries(TX_FIELDS, VALUES | st.just(ADDRESS) | st.just(CONTRACT), max_size=6)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, asyncio.AbstractEventLoop]:
    tmp = tmp_path_factory.mktemp("fuzz")
    chain, mempool = make_chain(tmp)
    advance(chain, [deploy_tx()], T0 + 1000)  # a contract to call, a block and a receipt to read
    engine = Engine(chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))
    loop = asyncio.new_event_loop()
    yield registry, loop
    loop.close()


def _names(registry: Registry) -> list[str]:
    return sorted(m.name for m in registry.methods())


@st.composite
def calls(draw: st.DrawFn, names: list[str], registry: Registry) -> dict[str, Any]:
    name = draw(st.sampled_from(names))
    method = registry.find(name)
    assert method is not None
    declared = [p.name for p in method.params]
    values = TX_OBJECTS | VALUES if name == "tx_estimateGas" else VALUES
    if name in ("contract_call", "contract_getCode", "account_txs", "account_get") and draw(st.booleans()):
        # A valid first parameter, so the others get past it.
        rest = draw(st.lists(values, max_size=len(declared) + 1))
        return {"jsonrpc": "2.0", "id": 1, "method": name, "params": [CONTRACT, *rest]}
    if draw(st.booleans()):
        # The right arity, each parameter one of the shapes that break handlers most.
        nasty = st.sampled_from([2**64, 2**200, -1, -(2**70), None, {}, [], [[]], "١٢", True, 1.5, "", "0x"])
        return {"jsonrpc": "2.0", "id": 1, "method": name,
                "params": [draw(nasty | values) for _ in declared]}
    if draw(st.booleans()):
        params: Any = draw(st.lists(values, max_size=len(declared) + 2))
    else:
        keys = st.sampled_from(declared) if declared and draw(st.booleans()) else st.text(max_size=6)
        params = draw(st.dictionaries(keys, values, max_size=len(declared) + 1))
    return {"jsonrpc": "2.0", "id": 1, "method": name, "params": params}


def test_no_parameter_shape_is_an_internal_error(served: tuple[Registry, asyncio.AbstractEventLoop]) -> None:
    registry, loop = served
    names = _names(registry)
    assert len(names) >= 12
    failures: dict[str, str] = {}

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(calls(names, registry))
    def one(request: dict[str, Any]) -> None:
        answer = loop.run_until_complete(registry.handle(json.dumps(request)))
        assert answer is not None
        reply = json.loads(answer)
        if reply.get("error", {}).get("code") == INTERNAL_ERROR:
            failures.setdefault(request["method"], json.dumps(request["params"])[:200])

    one()
    assert not failures, failures


@pytest.mark.parametrize("block", ["١٢", "١", "²", "12\u0660", "9" * 40])
def test_heights_are_ascii_digits_only(served: tuple[Registry, asyncio.AbstractEventLoop], block: str) -> None:
    registry, loop = served
    request = {"jsonrpc": "2.0", "id": 1, "method": "chain_getHeader", "params": [block]}
    reply = json.loads(loop.run_until_complete(registry.handle(json.dumps(request))) or b"null")
    assert reply["error"]["code"] == -32602, reply


def test_ascii_height_still_reads(served: tuple[Registry, asyncio.AbstractEventLoop]) -> None:
    registry, loop = served
    request = {"jsonrpc": "2.0", "id": 1, "method": "chain_getHeader", "params": ["0"]}
    reply = json.loads(loop.run_until_complete(registry.handle(json.dumps(request))) or b"null")
    assert reply["error"]["code"] == -32020  # the genesis has no block: found as a height, not found as a block
