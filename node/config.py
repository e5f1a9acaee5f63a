"""The home folder and config.toml: what `finchain init` writes and `finchain node` reads."""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from node.storage.files import write_atomic
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params
from node.types.risk import EXP, RiskPolicy, RiskPolicyError


class ConfigError(ValueError):
    """config.toml or a key file is missing or wrong; the message names the file and field."""


DEFAULT_CONFIG = """\
# finchain node configuration. Every value shown is the default.

[node]
# A name for this node in logs and status.
moniker = "{moniker}"
# "text" for people, "json" for log collectors. `--log-format` overrides it.
log_format = "text"
log_level = "info"

[rpc]
# JSON-RPC 2.0 over HTTP (POST /) and WebSocket (/ws). Keep it on 127.0.0.1 unless a proxy guards it.
listen = "127.0.0.1:{rpc_port}"
max_body_bytes = 1048576
max_batch = 100
# Comma-separated browser origins allowed to call (e.g. "http://localhost:3000", or "*" for any).
# A request with an Origin header not listed gets 403; clients outside a browser send none.
cors_origins = ""
# Serve the explorer page at GET /explorer/ (docs/explorer.md). The page may call this node from
# its own origin when that names the node by IP address or localhost; other origins need cors_origins.
explorer = true
# Limits against clients that would exhaust the node (docs/operations.md, "RPC limits").
# TCP connections (HTTP and WebSocket) in all and per client IP; beyond either: 503 and close.
max_connections = 1024
max_connections_per_ip = 64
# A connection with no request in progress (idle, or sending its headers slowly) is closed after this.
idle_timeout_s = 10
# A request body must arrive within this; otherwise 408 and close.
body_timeout_s = 30
# Bytes of one answer (a batch's members together); members past it get error -32050.
max_response_bytes = 16777216
# Expensive calls (blocks, receipts, history, contract_call, tx_estimateGas) running at once,
# in all and per client IP; more wait their turn. Each batch member counts.
max_expensive_calls = 8
max_expensive_calls_per_ip = 4
# Threads that run expensive calls off the consensus event loop.
read_threads = 2
# Bytes waiting to be sent to one WebSocket; a client that lets more pile up is dropped (1008).
ws_max_send_bytes = 4194304
# Subscriptions per WebSocket and on the whole node.
ws_max_subscriptions = 100
ws_max_subscriptions_total = 10000

[p2p]
listen = "127.0.0.1:{p2p_port}"
# Comma-separated id@host:port.
persistent_peers = "{peers}"
seeds = ""
max_inbound = 40
max_outbound = 10
# Peer exchange: learn peers' addresses from peers. Off, only persistent_peers and seeds are dialed.
pex = true
# Reconnect attempts back off exponentially up to this many seconds.
reconnect_max_s = 10
# Limits against hostile peers (docs/operations.md, "Limits against hostile peers").
# An inbound connection must finish its handshake within this many seconds.
handshake_timeout_s = 3
# Inbound handshakes in progress, in all and per remote IP; a newcomer past either takes the
# place of the oldest, so idle connections cannot keep persistent peers out.
max_pending_handshakes = 32
max_pending_handshakes_per_ip = 8
# Misbehaviour score at which a peer is disconnected and banned, and for how long. With
# ban_addresses, its IP is banned too (never our own host's or a persistent peer's).
ban_threshold = 100
ban_seconds = 600
ban_addresses = true
# Messages per second one peer may send, and its burst; beyond, they are dropped and charged.
max_msgs_per_s = 20000
max_msgs_burst = 40000

[mempool]
max_txs = 50000
max_bytes = 67108864
nonce_gap = 64
ttl_seconds = 600
# Transactions behind a nonce gap cannot run, so they pay nothing while they wait: a small quota.
future_per_sender = 8
future_max_txs = 1024
future_max_bytes = 8388608
# Decoded, signature-checked transactions remembered so that gossip checks each once (those the
# mempool holds are kept apart, whatever this says); about 800 bytes of memory each.
verifier_cache_entries = 50000
verifier_cache_bytes = 67108864
# Worker processes that recover the signers of submitted transactions, for a node with a core
# to spare (0: the node recovers them itself).
recovery_workers = 0

[consensus]
# With false, a height starts only when transactions wait (or every empty_block_interval_s).
create_empty_blocks = true
empty_block_interval_s = 30
# A proposal stops taking transactions after this long (at most a third of the genesis
# propose timeout), so that the peers can still check it within the round.
build_budget_ms = 300
# Peer messages waiting for the consensus engine, per peer and for all peers together;
# beyond either, the message is dropped and costs the peer reputation.
max_queue_per_peer = 2000
max_queue_total = 10000

[risk]
# Tiers of the risk block in every quote and preview (swap_quote, payment_findPaths, lending_preview,
# vault_preview). Price impact below impact_low_bps is low, below impact_medium_bps medium, below
# impact_high_bps high, and blocked from there (the CLI refuses it; high needs --accept-risk).
impact_low_bps = 100
impact_medium_bps = 300
impact_high_bps = 1000
# A loan's health factor at or above health_low is low risk, at or above health_medium medium,
# above 1 high; at or below 1 it is blocked (liquidatable). Decimal strings.
health_low = "1.5"
health_medium = "1.2"

[metrics]
# Prometheus metrics on GET /metrics (docs/operations.md, "Metrics").
enabled = true
# Empty: on the RPC port. Or host:port of a port of their own (e.g. "127.0.0.1:26660").
listen = ""
"""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    home: Path
    moniker: str = "node"
    log_format: str = "text"
    log_level: str = "info"
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    rpc_max_body_bytes: int = 1 << 20
    rpc_max_batch: int = 100
    rpc_cors_origins: tuple[str, ...] = ()
    rpc_explorer: bool = True
    rpc_max_connections: int = 1024
    rpc_max_connections_per_ip: int = 64
    rpc_idle_timeout_s: float = 10.0
    rpc_body_timeout_s: float = 30.0
    rpc_max_response_bytes: int = 16 << 20
    rpc_max_expensive_calls: int = 8
    rpc_max_expensive_calls_per_ip: int = 4
    rpc_read_threads: int = 2
    rpc_ws_max_send_bytes: int = 4 << 20
    rpc_ws_max_subscriptions: int = 100
    rpc_ws_max_subscriptions_total: int = 10_000
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 26656
    persistent_peers: tuple[str, ...] = ()
    seeds: tuple[str, ...] = ()
    max_inbound: int = 40
    max_outbound: int = 10
    pex: bool = True
    reconnect_max_s: float = 10.0
    handshake_timeout_s: float = 3.0
    max_pending_handshakes: int = 32
    max_pending_handshakes_per_ip: int = 8
    ban_threshold: int = 100
    ban_seconds: float = 600.0
    ban_addresses: bool = True
    max_msgs_per_s: float = 20_000.0
    max_msgs_burst: float = 40_000.0
    mempool_max_txs: int = 50_000
    mempool_max_bytes: int = 64 << 20
    mempool_nonce_gap: int = 64
    mempool_ttl_seconds: float = 600.0
    mempool_future_per_sender: int = 8
    mempool_future_max_txs: int = 1024
    mempool_future_max_bytes: int = 8 << 20
    verifier_cache_entries: int = 50_000
    verifier_cache_bytes: int = 64 << 20
    recovery_workers: int = 0
    create_empty_blocks: bool = True
    empty_block_interval_s: float = 30.0
    build_budget_ms: int = 300
    max_queue_per_peer: int = 2_000
    max_queue_total: int = 10_000
    metrics_enabled: bool = True
    # None: /metrics is served on the RPC port; otherwise on this host and port alone.
    metrics_host: str | None = None
    metrics_port: int | None = None
    risk: RiskPolicy = field(default_factory=RiskPolicy)
    propose_out_of_turn: bool = False  # [testing]: test-only misbehaviour (node/net/out_of_turn.py)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def genesis_path(self) -> Path:
        return self.home / "config" / "genesis.json"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


def _split_addr(text: str, where: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{where}: expected host:port, got {text!r}")
    return host or "127.0.0.1", int(port)


def _health(text: str, where: str, path: Path) -> int:
    """A decimal string such as "1.5" as a mantissa of 10^18, exactly."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{path}: {where} must be a decimal string such as \"1.5\", got {text!r}") from None
    if not value.is_finite():
        raise ConfigError(f"{path}: {where} must be a finite number, got {text!r}")
    return int(value * EXP)


def _risk_policy(table: dict[str, Any], path: Path, typed: Callable[..., Any]) -> RiskPolicy:
    d = RiskPolicy()
    policy = RiskPolicy(
        impact_low_bps=typed(table, "impact_low_bps", int, d.impact_low_bps, "risk"),
        impact_medium_bps=typed(table, "impact_medium_bps", int, d.impact_medium_bps, "risk"),
        impact_high_bps=typed(table, "impact_high_bps", int, d.impact_high_bps, "risk"),
        health_low=_health(typed(table, "health_low", str, "1.5", "risk"), "risk.health_low", path),
        health_medium=_health(typed(table, "health_medium", str, "1.2", "risk"), "risk.health_medium", path),
    )
    try:
        policy.validate()
    except RiskPolicyError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return policy


def load_config(home: Path) -> NodeConfig:
    path = home / "config" / "config.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found: run `finchain init --home {home}` first") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc

    def sect(name: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        return value

    def typed(table: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
        value = table.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: {where}.{key} must be {kind.__name__}, got {value!r}")
        return value

    n, r, p, m, c, x = sect("node"), sect("rpc"), sect("p2p"), sect("mempool"), sect("consensus"), sect("metrics")
    risk = _risk_policy(sect("risk"), path, typed)
    t = sect("testing")  # test-only options, absent from DEFAULT_CONFIG on purpose
    d = NodeConfig(home=home)
    rpc_host, rpc_port = _split_addr(typed(r, "listen", str, f"127.0.0.1:{d.rpc_port}", "rpc"), "rpc.listen")
    p2p_host, p2p_port = _split_addr(typed(p, "listen", str, f"127.0.0.1:{d.p2p_port}", "p2p"), "p2p.listen")
    metrics_listen = typed(x, "listen", str, "", "metrics").strip()
    metrics_host, metrics_port = _split_addr(metrics_listen, "metrics.listen") if metrics_listen else (None, None)
    if metrics_port is not None and metrics_port != 0 and metrics_port in (rpc_port, p2p_port):
        raise ConfigError(f"{path}: metrics.listen {metrics_listen!r} takes the port of rpc.listen or p2p.listen; "
                          f"leave it empty to serve /metrics on the RPC port")
    log_format = typed(n, "log_format", str, d.log_format, "node")
    if log_format not in ("text", "json"):
        raise ConfigError(f"{path}: node.log_format must be \"text\" or \"json\"")

    def positive(table: dict[str, Any], key: str, kind: type, default: Any, minimum: float = 1,
                 where: str = "rpc") -> Any:
        # A limit of 0 (or less) would refuse everything or nothing: neither is meant.
        value = typed(table, key, kind, default, where)
        if value < minimum:
            raise ConfigError(f"{path}: {where}.{key} must be at least {minimum}, got {value!r}")
        return value

    def at_most(small: tuple[str, str, Any], large: tuple[str, str, Any]) -> None:
        if small[2] > large[2]:
            raise ConfigError(f"{path}: {small[0]}.{small[1]} ({small[2]!r}) must not exceed "
                              f"{large[0]}.{large[1]} ({large[2]!r})")

    pending = positive(p, "max_pending_handshakes", int, d.max_pending_handshakes, where="p2p")
    pending_ip = positive(p, "max_pending_handshakes_per_ip", int, d.max_pending_handshakes_per_ip, where="p2p")
    at_most(("p2p", "max_pending_handshakes_per_ip", pending_ip), ("p2p", "max_pending_handshakes", pending))
    msgs = positive(p, "max_msgs_per_s", float, d.max_msgs_per_s, where="p2p")
    burst = positive(p, "max_msgs_burst", float, d.max_msgs_burst, where="p2p")
    at_most(("p2p", "max_msgs_per_s", msgs), ("p2p", "max_msgs_burst", burst))
    queue_peer = positive(c, "max_queue_per_peer", int, d.max_queue_per_peer, where="consensus")
    queue_total = positive(c, "max_queue_total", int, d.max_queue_total, where="consensus")
    at_most(("consensus", "max_queue_per_peer", queue_peer), ("consensus", "max_queue_total", queue_total))

    def listed(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        return tuple(x.strip() for x in typed(table, key, str, "", where).split(",") if x.strip())

    return NodeConfig(
        home=home,
        moniker=typed(n, "moniker", str, d.moniker, "node"),
        log_format=log_format,
        log_level=typed(n, "log_level", str, d.log_level, "node"),
        rpc_host=rpc_host,
        rpc_port=rpc_port,
        rpc_max_body_bytes=typed(r, "max_body_bytes", int, d.rpc_max_body_bytes, "rpc"),
        rpc_max_batch=typed(r, "max_batch", int, d.rpc_max_batch, "rpc"),
        rpc_cors_origins=listed(r, "cors_origins", "rpc"),
        rpc_explorer=typed(r, "explorer", bool, d.rpc_explorer, "rpc"),
        rpc_max_connections=positive(r, "max_connections", int, d.rpc_max_connections),
        rpc_max_connections_per_ip=positive(r, "max_connections_per_ip", int, d.rpc_max_connections_per_ip),
        rpc_idle_timeout_s=positive(r, "idle_timeout_s", float, d.rpc_idle_timeout_s),
        rpc_body_timeout_s=positive(r, "body_timeout_s", float, d.rpc_body_timeout_s),
        rpc_max_response_bytes=positive(r, "max_response_bytes", int, d.rpc_max_response_bytes, 1024),
        rpc_max_expensive_calls=positive(r, "max_expensive_calls", int, d.rpc_max_expensive_calls),
        rpc_max_expensive_calls_per_ip=positive(r, "max_expensive_calls_per_ip", int,
                                                d.rpc_max_expensive_calls_per_ip),
        rpc_read_threads=positive(r, "read_threads", int, d.rpc_read_threads),
        rpc_ws_max_send_bytes=positive(r, "ws_max_send_bytes", int, d.rpc_ws_max_send_bytes, 1024),
        rpc_ws_max_subscriptions=positive(r, "ws_max_subscriptions", int, d.rpc_ws_max_subscriptions),
        rpc_ws_max_subscriptions_total=positive(r, "ws_max_subscriptions_total", int,
                                                d.rpc_ws_max_subscriptions_total),
        p2p_host=p2p_host,
        p2p_port=p2p_port,
        persistent_peers=listed(p, "persistent_peers", "p2p"),
        seeds=listed(p, "seeds", "p2p"),
        max_inbound=typed(p, "max_inbound", int, d.max_inbound, "p2p"),
        max_outbound=typed(p, "max_outbound", int, d.max_outbound, "p2p"),
        pex=typed(p, "pex", bool, d.pex, "p2p"),
        reconnect_max_s=typed(p, "reconnect_max_s", float, d.reconnect_max_s, "p2p"),
        handshake_timeout_s=positive(p, "handshake_timeout_s", float, d.handshake_timeout_s, 0.1, "p2p"),
        max_pending_handshakes=pending,
        max_pending_handshakes_per_ip=pending_ip,
        ban_threshold=positive(p, "ban_threshold", int, d.ban_threshold, where="p2p"),
        ban_seconds=positive(p, "ban_seconds", float, d.ban_seconds, where="p2p"),
        ban_addresses=typed(p, "ban_addresses", bool, d.ban_addresses, "p2p"),
        max_msgs_per_s=msgs,
        max_msgs_burst=burst,
        mempool_max_txs=typed(m, "max_txs", int, d.mempool_max_txs, "mempool"),
        mempool_max_bytes=typed(m, "max_bytes", int, d.mempool_max_bytes, "mempool"),
        mempool_nonce_gap=typed(m, "nonce_gap", int, d.mempool_nonce_gap, "mempool"),
        mempool_ttl_seconds=typed(m, "ttl_seconds", float, d.mempool_ttl_seconds, "mempool"),
        mempool_future_per_sender=typed(m, "future_per_sender", int, d.mempool_future_per_sender, "mempool"),
        mempool_future_max_txs=typed(m, "future_max_txs", int, d.mempool_future_max_txs, "mempool"),
        mempool_future_max_bytes=typed(m, "future_max_bytes", int, d.mempool_future_max_bytes, "mempool"),
        verifier_cache_entries=positive(m, "verifier_cache_entries", int, d.verifier_cache_entries,
                                        where="mempool"),
        verifier_cache_bytes=positive(m, "verifier_cache_bytes", int, d.verifier_cache_bytes, 1 << 20, "mempool"),
        recovery_workers=positive(m, "recovery_workers", int, d.recovery_workers, 0, "mempool"),
        create_empty_blocks=typed(c, "create_empty_blocks", bool, d.create_empty_blocks, "consensus"),
        empty_block_interval_s=typed(c, "empty_block_interval_s", float, d.empty_block_interval_s, "consensus"),
        build_budget_ms=positive(c, "build_budget_ms", int, d.build_budget_ms, where="consensus"),
        max_queue_per_peer=queue_peer,
        max_queue_total=queue_total,
        metrics_enabled=typed(x, "enabled", bool, d.metrics_enabled, "metrics"),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        risk=risk,
        propose_out_of_turn=typed(t, "propose_out_of_turn", bool, d.propose_out_of_turn, "testing"),
    )


def save_key(path: Path, key: PrivateKey) -> None:
    record = {
        "address": to_checksum_address(key.address),
        "pub_key": "0x" + key.public_key.hex(),
        "private_key": "0x" + key.secret.hex(),
    }
    write_atomic(path, (json.dumps(record, indent=2) + "\n").encode(), 0o600)


def load_key(path: Path) -> PrivateKey:
    try:
        return PrivateKey.from_hex(json.loads(path.read_text())["private_key"])
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a valid key file ({exc})") from exc


def init_home(
    home: Path,
    *,
    chain_id: str = "finchain-local",
    moniker: str = "node0",
    rpc_port: int = 8545,
    p2p_port: int = 26656,
    accounts: tuple[GenesisAccount, ...] = (),
    params: Params | None = None,
    validator_key: PrivateKey | None = None,
    node_key: PrivateKey | None = None,
    genesis: Genesis | None = None,
    peers: str = "",
    overwrite: bool = False,
) -> tuple[Genesis, PrivateKey]:
    """Create a home folder. Without `genesis`, a one-validator genesis of this node's key is written."""
    cfg = home / "config"
    if (cfg / "genesis.json").exists() and not overwrite:
        raise ConfigError(f"{cfg} already holds a node; pass --force to overwrite it")
    cfg.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "data").mkdir(parents=True, exist_ok=True, mode=0o700)
    vkey = validator_key or PrivateKey.generate()
    save_key(cfg / "validator_key.json", vkey)
    save_key(cfg / "node_key.json", node_key or PrivateKey.generate())
    if genesis is None:
        genesis = Genesis(
            chain_id=chain_id,
            genesis_time_ms=int(time.time() * 1000),
            params=params or Params(),
            validators=(GenesisValidator(vkey.address, vkey.public_key, 10, moniker),),
            accounts=accounts,
        )
    genesis.save(cfg / "genesis.json")
    (cfg / "config.toml").write_text(DEFAULT_CONFIG.format(moniker=moniker, rpc_port=rpc_port, p2p_port=p2p_port,
                                                           peers=peers))
    return genesis, vkey
