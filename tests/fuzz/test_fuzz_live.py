"""The network fuzzers at a small budget against one real node process, and the RPC fuzzers'
positive control against an in-process server with a planted fault.

Against the node: no finding (no -32603, no 5xx, no 1011 close, no message from the node that does
not decode, no input over its time bound, the node's memory within bound), both acceptance and
rejection paths reached, and after each surface the node still commits and has logged no traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.rpc.registry import Method, Param
from node.rpc.server import RpcServer
from tests.fuzz.driver import Report, format_findings, run_async
from tests.fuzz.live import LiveNode
from tests.fuzz.rpc import HttpTarget, WsTarget
from tests.fuzz.surfaces import WORKERS, live_target
from tests.node.helpers import make_chain

pytestmark = pytest.mark.slow
SMALL = {"rpc-http": 400, "rpc-ws": 300, "p2p": 60}


def budget(surface: str) -> int:
    return int(os.environ.get("FUZZ_BUDGET", SMALL[surface]))


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[LiveNode, list[dict[str, Any]]]]:
    live = LiveNode()
    live.start()
    try:
        yield live, live.proc.client.call("rpc.discover")["methods"]
    finally:
        live.stop()


def check_clean(report: Report, live: LiveNode) -> None:
    assert not report.findings, format_findings(report)
    # Seeds may be refused by the node (a transaction sent twice, a method a contract lacks): not checked here.
    assert report.accepted > 0 and report.rejected > 0, report.summary()
    assert live.final_check() is None


@pytest.mark.parametrize("surface", ["rpc-http", "rpc-ws", "p2p"])
async def test_surface_against_a_live_node(node: tuple[LiveNode, list[dict[str, Any]]], surface: str) -> None:
    live, methods = node
    target = live_target(surface, live, methods)
    async with target:
        report = await run_async(target, budget(surface), seed=1, workers=WORKERS[surface])
    check_clean(report, live)
    assert report.inputs == report.budget
    if surface != "p2p":
        # Parse errors, invalid requests, unknown methods and invalid params all reached, and results.
        assert {"rejected:-32700", "rejected:-32600", "rejected:-32601", "rejected:-32602"} <= set(report.outcomes)
    else:
        # Frames the node took (it answered the Ping after them) and frames it cut the session for.
        assert report.outcomes["accepted"] > 0 and report.outcomes["rejected:closed"] > 0, report.outcomes


class _InProcess:
    def pid(self) -> int | None:
        return None

    async def check_alive(self) -> str | None:
        return None


async def _planted(height: int) -> int:
    if not 0 <= height <= 10**6:
        raise KeyError(height)  # a handler bug on heights out of range: the registry answers -32603
    return height


@pytest.mark.parametrize("kind", [HttpTarget, WsTarget])
async def test_control_finds_a_planted_internal_error(tmp_path, kind) -> None:
    chain, mempool = make_chain(tmp_path)
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(), Outbox())  # built, never run
    registry = build_registry(NodeApi(chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool)))
    registry.add(Method("fuzz_planted", _planted, (Param("height", {"type": "integer"}),)))
    server = RpcServer(registry, port=0)
    await server.start()
    try:
        methods = registry.openrpc("t", "0")["methods"]
        # The order of concurrent answers varies: a run of 6,000 finds it about half the time over
        # WebSocket, so six runs missed it once in about 30 suites; twelve miss once in about 1,000.
        for seed in range(1, 13):
            target = kind(f"http://127.0.0.1:{server.port}/", methods, {}, _InProcess())
            async with target:
                report = await run_async(target, 6000, seed=seed, workers=4, max_findings=1)
            if report.findings:
                break
    finally:
        await server.stop()
        chain.store.close()
    assert [f.kind for f in report.findings] == ["oracle"], report.summary()
    assert "fuzz_planted" in report.findings[0].input
