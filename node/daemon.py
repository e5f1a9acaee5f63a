"""`finchain node`: wires store, chain, mempool, engine and RPC into one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector

from node.chain import Chain
from node.config import NodeConfig, load_config, load_key
from node.host.engine import BadPeer, CommittedBlock, Engine, EngineConfig, EngineOutput, Outbox
from node.host.signer import Signer, SignerStateError
from node.host.wal import WAL
from node.mempool.pool import Mempool, MempoolConfig
from node.mempool.recovery import RecoveryPool
from node.mempool.verifier import TxVerifier
from node.metrics.http import MetricsServer, metrics_handler
from node.metrics.instruments import ConsensusMetrics, RpcMetrics
from node.metrics.readings import PeerBytes, Readings, register_readings
from node.net.network import Network, P2PSettings
from node.net.out_of_turn import OutOfTurnProposer
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.eth_api import EthApi
from node.rpc.eth_subscribe import EthSubscriptions
from node.rpc.limits import CallLimiter, CallLimits, ReadPool
from node.rpc.methods import build_registry
from node.rpc.notify import CommitNotifier, register_topics
from node.rpc.server import RpcServer
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.crypto import sha256
from node.types.envelopes import TxDecoder
from node.types.errors import StoreCorrupted
from node.types.genesis import load_genesis
from p2p.config import SwitchConfig
from p2p.handshake import PROTOCOL_VERSION
from p2p.handshake import NodeInfo as P2PInfo

log = logging.getLogger("finchain.node")


class StartupError(Exception):
    """The node cannot start: a port is taken, the store or signer state is unusable."""


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
        # Built in dependency order: every object gets only what exists already. The engine
        # speaks through its outbox, which `_dispatch` hands to the network and RPC built after it.
        self.store = Store(LevelDBKV(config.data_dir / "db"))
        p = self.genesis.params
        verifier = TxVerifier(p.max_tx_bytes, config.verifier_cache_entries, config.verifier_cache_bytes,
                              TxDecoder.for_genesis(self.genesis))
        self.chain = Chain(self.store, self.genesis, verifier.decode)
        self.mempool = Mempool(
            MempoolConfig(
                max_txs=config.mempool_max_txs,
                max_bytes=config.mempool_max_bytes,
                max_tx_bytes=p.max_tx_bytes,
                nonce_gap=config.mempool_nonce_gap,
                ttl_seconds=config.mempool_ttl_seconds,
                future_per_sender=config.mempool_future_per_sender,
                future_max_txs=config.mempool_future_max_txs,
                future_max_bytes=config.mempool_future_max_bytes,
            ),
            self.chain.next_view(),
            self.chain,
            verifier,
            time.monotonic,
        )
        signer = None
        self.validator_address = vkey.address if is_validator else None
        if is_validator:
            signer = Signer(vkey, self.genesis.chain_id, config.data_dir / "priv_validator_state.json")
        self.wal = WAL(config.data_dir / "cs.wal" / "wal")
        self.outbox = Outbox()
        # This node's own registry, never prometheus_client's global one: tests run several nodes in one process.
        self.metrics = CollectorRegistry() if config.metrics_enabled else None
        consensus_metrics = ConsensusMetrics(self.metrics) if self.metrics is not None else None
        rpc_metrics = RpcMetrics(self.metrics) if self.metrics is not None else None
        self.engine = Engine(
            self.chain,
            self.mempool,
            signer,
            self.wal,
            EngineConfig(config.create_empty_blocks, config.empty_block_interval_s, p.max_block_txs,
                         config.build_budget_ms / 1000, config.max_queue_per_peer, config.max_queue_total),
            self.outbox,
            metrics=consensus_metrics,
        )
        self.network = Network(self.engine, self.mempool, self.chain, P2PSettings(
            self.node_key.secret,
            P2PInfo(self.node_id, self.genesis.chain_id, self.chain.genesis_hash, PROTOCOL_VERSION,
                    f"{config.p2p_host}:{config.p2p_port}", config.moniker),
            listen_host=config.p2p_host,
            listen_port=config.p2p_port,
            persistent_peers=tuple(config.persistent_peers),
            seeds=tuple(config.seeds),
            max_inbound=config.max_inbound,
            max_outbound=config.max_outbound,
            addrbook_path=config.data_dir / "addrbook.json",
            config=SwitchConfig(
                pex=config.pex, backoff_cap=config.reconnect_max_s,
                handshake_timeout=config.handshake_timeout_s,
                max_pending_inbound=config.max_pending_handshakes,
                max_pending_per_address=config.max_pending_handshakes_per_ip,
                ban_threshold=config.ban_threshold, ban_seconds=config.ban_seconds,
                ban_addresses=config.ban_addresses,
                recv_rate_msgs=config.max_msgs_per_s, recv_burst_msgs=config.max_msgs_burst,
            ),
        ))
        self.switch = self.network.switch
        self.blocksync = self.network.blocksync
        # Test-only misbehaviour, None unless config.toml has [testing] propose_out_of_turn (node/net/out_of_turn.py).
        self.out_of_turn = OutOfTurnProposer.from_config(config, self.chain, signer.key if signer else None,
                                                         self.switch.broadcast)
        # Expensive reads run in these threads, at most so many per client and in all.
        self.read_pool = ReadPool(config.rpc_read_threads)
        limiter = CallLimiter(CallLimits(config.rpc_max_expensive_calls, config.rpc_max_expensive_calls_per_ip))
        self.api = NodeApi(
            self.chain.reader,
            self.mempool,
            self.engine,
            NodeInfo(self.node_id, config.moniker, signer.address if signer else None, self.switch.peers,
                     lambda: self.blocksync.catching_up, self._sync_status, self.network.peer_views,
                     self.switch.banned),
            on_tx_admitted=self.network.tx_admitted,
            pool=self.read_pool,
            risk_policy=config.risk,
            recovery=(RecoveryPool(config.recovery_workers, TxDecoder.for_genesis(self.genesis).signer)
                      if config.recovery_workers else None),
        )
        scrape = metrics_handler(self.metrics) if self.metrics is not None else None
        self.rpc = RpcServer(
            build_registry(self.api, config.rpc_max_batch, guard=limiter.slot,
                           max_response_bytes=config.rpc_max_response_bytes,
                           on_call=rpc_metrics.on_call if rpc_metrics is not None else None),
            host=config.rpc_host,
            port=config.rpc_port,
            max_body_bytes=config.rpc_max_body_bytes,
            cors_origins=config.rpc_cors_origins,
            explorer=config.rpc_explorer,
            health=self.api.health,
            max_connections=config.rpc_max_connections,
            max_connections_per_client=config.rpc_max_connections_per_ip,
            idle_timeout=config.rpc_idle_timeout_s,
            body_timeout=config.rpc_body_timeout_s,
            max_ws_send_bytes=config.rpc_ws_max_send_bytes,
            max_subscriptions=config.rpc_ws_max_subscriptions,
            max_subscriptions_total=config.rpc_ws_max_subscriptions_total,
            metrics=scrape if config.metrics_port is None else None,
        )
        self.metrics_server = (MetricsServer(scrape, config.metrics_host or "127.0.0.1", config.metrics_port)
                               if scrape is not None and config.metrics_port is not None else None)
        register_topics(self.rpc)
        publishers = []
        if self.genesis.eth_chain_id:  # the Ethereum face, as build_registry adds its methods
            publishers.append(EthSubscriptions(self.rpc, EthApi(self.api)).publish)
        self.notifier = CommitNotifier(self.rpc, publishers=publishers)
        if self.metrics is not None:
            ProcessCollector(namespace="finchain", registry=self.metrics)
            register_readings(self.metrics, self._readings())
        # Test seams, added only by code (devnet's byzantine validator), never by configuration: each sees
        # every engine output after the node has handled it.
        self.taps: list[Callable[[EngineOutput], None]] = []

    async def _dispatch(self) -> None:
        """Hand what the engine says to those it concerns, in the engine's order."""
        while True:
            item = await self.outbox.get()
            match item:
                case CommittedBlock():
                    self._on_commit(item)
                case BadPeer(peer=peer, fault=fault):
                    self.network.report(peer, fault)
                case _:
                    self.network.broadcast(item)
            for tap in self.taps:
                tap(item)

    def _readings(self) -> Readings:
        """What metrics read at scrape time: numbers the node keeps anyway (node/metrics/readings.py)."""
        engine, mempool, rpc = self.engine, self.mempool, self.rpc

        def round_() -> int | None:
            core = engine.snapshot().state
            return None if core is None else core.round

        def peers() -> list[PeerBytes]:
            return [PeerBytes(p.node_id, p.bytes_in, p.bytes_out) for p in self.switch.peers()]

        votes = self.network.votes_received
        return Readings(
            height=lambda: self.chain.height, round=round_, input_queue=engine.queued,
            dropped_peer_events=lambda: engine.dropped,
            votes_received=lambda: {kind.name.lower(): count for kind, count in votes.items()},
            catching_up=lambda: self.blocksync.catching_up, mempool_size=lambda: len(mempool),
            mempool_bytes=lambda: mempool.total_bytes, mempool_future=lambda: mempool.future_txs,
            peers=peers, rpc_connections=lambda: rpc.tcp_connections, ws_connections=lambda: rpc.ws_connections,
            ws_subscriptions=rpc.subscriptions_by_topic,
        )

    def _sync_status(self) -> dict[str, Any]:
        return {"catching_up": self.blocksync.catching_up, "best_peer_height": self.blocksync.best_peer_height,
                "blocks_per_s": round(self.blocksync.blocks_per_s, 1)}

    def _on_commit(self, c: CommittedBlock) -> None:
        self.blocksync.on_committed()
        self.notifier.on_commit(c.executed)  # queued: the fan-out runs in the notifier's task
        if self.out_of_turn is not None:  # test-only, see node/net/out_of_turn.py
            self.out_of_turn.on_commit(c)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.rpc.start()
        except OSError as exc:
            self.wal.close()
            self.store.close()
            raise StartupError(f"cannot listen for JSON-RPC on {self.config.rpc_host}:{self.config.rpc_port}: "
                               f"{exc.strerror or exc}") from exc
        if self.metrics_server is not None:
            try:
                await self.metrics_server.start()
            except OSError as exc:
                await self.rpc.stop()
                self.wal.close()
                self.store.close()
                raise StartupError(f"cannot listen for metrics on {self.config.metrics_host}:"
                                   f"{self.config.metrics_port}: {exc.strerror or exc}") from exc
        log.info(
            "node %s (%s) on chain %s at height %d; RPC on http://%s:%d; P2P on %s:%d; validator: %s",
            self.node_id, self.config.moniker, self.genesis.chain_id, self.chain.height,
            self.config.rpc_host, self.rpc.port, self.config.p2p_host, self.config.p2p_port,
            "yes" if self.validator_address else "no",
        )
        try:
            async with asyncio.TaskGroup() as tg:
                # Listen first: a node that cannot take its P2P port must not sign anything.
                switch_task = tg.create_task(self._run_switch())
                await self.switch.wait_listening()
                tasks = [tg.create_task(self.engine.run()), switch_task, tg.create_task(self.network.run()),
                         tg.create_task(self._dispatch()), tg.create_task(self.notifier.run())]
                await stop.wait()
                log.info("shutting down")
                for task in tasks:
                    task.cancel()
        finally:
            if self.metrics_server is not None:
                await self.metrics_server.stop()
            await self.rpc.stop()
            self.read_pool.close()
            if self.api.recovery is not None:
                self.api.recovery.close()
            self.wal.close()
            self.store.close()
            log.info("stopped at height %d", self.chain.height)


    async def _run_switch(self) -> None:
        try:
            await self.switch.run()
        except* OSError as group:
            exc = group.exceptions[0]
            raise StartupError(f"cannot listen for P2P on {self.config.p2p_host}:{self.config.p2p_port}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None


# A young generation collected after this many net new tracked objects, not 700: a node's
# objects die by reference counting (transactions, receipts, frames), and at the default every
# full collection walked the whole verifier cache and mempool, about a sixth of the CPU.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """What startup built lives as long as the process: out of the collector's sight."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle * 2, old)


async def serve(home: Path) -> None:
    config = load_config(home)
    try:
        node = Node(config)
    except StoreCorrupted as exc:
        raise StartupError(str(exc)) from exc
    except SignerStateError as exc:  # the signer refuses an unreadable last-signed state
        raise StartupError(str(exc)) from exc
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await node.run(stop)
