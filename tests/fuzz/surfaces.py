"""The surfaces by name, and how each is set up, run and torn down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.fuzz.blocks import BlockTarget
from tests.fuzz.codec_txs import CodecTarget, TxTarget
from tests.fuzz.contracts import ContractTarget
from tests.fuzz.driver import Finding, Report, run_async, run_sync
from tests.fuzz.live import LiveNode
from tests.fuzz.p2p import P2PTarget
from tests.fuzz.rpc import HttpTarget, WsTarget

IN_PROCESS = ["codec", "txs", "blocks", "contracts"]
LIVE = ["rpc-http", "rpc-ws", "p2p"]
WORKERS = {"rpc-http": 8, "rpc-ws": 8, "p2p": 8}


def run_in_process(name: str, budget: int, seed: int) -> Report:
    if name == "codec":
        return run_sync(CodecTarget(), budget, seed)
    if name == "txs":
        return run_sync(TxTarget(), budget, seed)
    if name == "blocks":
        target = BlockTarget()
        try:
            return run_sync(target, budget, seed)
        finally:
            target.close()
    if name == "contracts":
        return run_sync(ContractTarget(), budget, seed)
    raise ValueError(f"unknown surface {name}")


def live_target(name: str, node: LiveNode, methods: list[dict[str, Any]]) -> Any:
    if name == "rpc-http":
        return HttpTarget(node.url, methods, node.facts, node)
    if name == "rpc-ws":
        return WsTarget(node.url, methods, node.facts, node)
    if name == "p2p":
        return P2PTarget(node.p2p_port, node.genesis.chain_id, node.genesis.hash(), node, node.facts["height"])
    raise ValueError(f"unknown surface {name}")


async def run_live(names: list[str], budget: int, seed: int,
                   on_report: Callable[[Report], None] = lambda _r: None) -> list[Report]:
    """Each surface in turn against one real node; after each, the node must still commit and log no traceback."""
    node = LiveNode()
    await asyncio.to_thread(node.start)
    reports = []
    try:
        methods = (await asyncio.to_thread(node.proc.client.call, "rpc.discover"))["methods"]
        for name in names:
            target = live_target(name, node, methods)
            async with target:
                report = await run_async(target, budget, seed, workers=WORKERS[name])
            if isinstance(target, P2PTarget):
                report.outcomes["info:sessions"] = target.sessions
            why = await asyncio.to_thread(node.final_check)
            if why is not None:
                report.findings.append(Finding(name, report.inputs, "liveness", why, ""))
            on_report(report)
            reports.append(report)
    finally:
        await asyncio.to_thread(node.stop)
    return reports
