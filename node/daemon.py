"""`finchain node`: wires store, chain, mempool, engine and RPC into one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

from node.chain import Chain
from node.config import NodeConfig, load_config, load_key
from node.crypto import sha256, to_checksum_address
from node.engine import CommittedBlock, Engine, EngineConfig
from node.genesis import load_genesis
from node.mempool import ChainView, Mempool, MempoolConfig
from node.rpc_methods import NodeApi, NodeInfo, build_registry
from node.rpc_server import RpcServer
from node.signer import Signer
from node.store import Store
from node.views import header_json, hx
from node.wal import WAL

log = logging.getLogger("finchain.node")


def node_id_of(public_key: bytes) -> str:
    """A node id: the first 20 bytes of SHA-256 of its compressed public key, as hex."""
    return sha256(public_key)[:20].hex()


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.genesis = load_genesis(config.genesis_path)
        self.node_key = load_key(config.home / "config" / "node_key.json")
        self.node_id = node_id_of(self.node_key.public_key)
        vkey = load_key(config.home / "config" / "validator_key.json")
        is_validator = any(v.address == vkey.address for v in self.genesis.validators)
        self.store = Store(config.data_dir / "db")
        p = self.genesis.params
        self.mempool = Mempool(
            MempoolConfig(
                max_txs=config.mempool_max_txs,
                max_bytes=config.mempool_max_bytes,
                max_tx_bytes=p.max_tx_bytes,
                nonce_gap=config.mempool_nonce_gap,
                ttl_seconds=config.mempool_ttl_seconds,
            ),
            ChainView(self.genesis.chain_id, 1, p.min_gas_price, p.max_block_gas),
            lambda addr: self.chain.get_account(addr),
            time.monotonic,
        )
        self.chain = Chain(self.store, self.genesis, self.mempool.decode_verified)
        self.mempool.chain = ChainView(self.genesis.chain_id, self.chain.height + 1, p.min_gas_price, p.max_block_gas)
        signer = None
        if is_validator:
            signer = Signer(vkey, self.genesis.chain_id, config.data_dir / "priv_validator_state.json")
        self.wal = WAL(config.data_dir / "cs.wal" / "wal")
        self.engine = Engine(
            self.chain,
            self.mempool,
            signer,
            self.wal,
            EngineConfig(config.create_empty_blocks, config.empty_block_interval_s, p.max_block_txs),
            on_commit=self._on_commit,
        )
        self.api = NodeApi(
            self.chain,
            self.mempool,
            self.engine,
            NodeInfo(self.node_id, config.moniker, signer.address if signer else None, lambda: [], lambda: False),
        )
        self.rpc = RpcServer(
            build_registry(self.api, config.rpc_max_batch),
            host=config.rpc_host,
            port=config.rpc_port,
            max_body_bytes=config.rpc_max_body_bytes,
            health=self.api.health,
        )
        self.rpc.register_topic("newHeads")
        self.rpc.register_topic("tx", accepts=_tx_accepts, validate=_tx_validate)
        self.rpc.register_topic("events", accepts=_event_accepts, validate=_event_validate)

    def _on_commit(self, c: CommittedBlock) -> None:
        block = c.executed.block
        self.rpc.publish("newHeads", header_json(block.header))
        for index, (tx, receipt) in enumerate(zip(c.executed.txs, c.executed.receipts, strict=True)):
            self.rpc.publish("tx", {"hash": hx(tx.hash), "status": "committed", "height": block.height,
                                    "index": index, "success": bool(receipt.status), "error": receipt.error or None})
            for event in receipt.events:
                self.rpc.publish("events", {"address": to_checksum_address(event.address), "name": event.name,
                                            "tx_hash": hx(tx.hash), "height": block.height})

    async def run(self, stop: asyncio.Event) -> None:
        await self.rpc.start()
        log.info(
            "node %s (%s) on chain %s at height %d; RPC on http://%s:%d; validator: %s",
            self.node_id, self.config.moniker, self.genesis.chain_id, self.chain.height,
            self.config.rpc_host, self.rpc.port, "yes" if self.engine.signer else "no",
        )
        try:
            async with asyncio.TaskGroup() as tg:
                engine_task = tg.create_task(self.engine.run())
                await stop.wait()
                log.info("shutting down")
                engine_task.cancel()
        finally:
            await self.rpc.stop()
            self.wal.close()
            self.store.close()
            log.info("stopped at height %d", self.chain.height)


def _tx_validate(params: dict[str, Any]) -> None:
    h = params.get("hash")
    if not isinstance(h, str) or len(h) != 66 or not h.startswith("0x"):
        raise ValueError("tx subscription needs params {\"hash\": \"0x<64 hex>\"}")


def _tx_accepts(params: dict[str, Any], payload: Any) -> bool:
    return str(params.get("hash", "")).lower() == payload["hash"]


def _event_validate(params: dict[str, Any]) -> None:
    for key in ("address", "name"):
        if key in params and not isinstance(params[key], str):
            raise ValueError(f"events filter {key} must be a string")


def _event_accepts(params: dict[str, Any], payload: Any) -> bool:
    if "address" in params and params["address"].lower() != payload["address"].lower():
        return False
    return "name" not in params or params["name"] == payload["name"]


async def serve(home: Path) -> None:
    config = load_config(home)
    node = Node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await node.run(stop)
