"""Tunables of the switch and its peers; every loop, queue and wait in p2p is bounded by one of these."""

from __future__ import annotations

from dataclasses import dataclass

from p2p.messages import DEFAULT_MAX_MESSAGE_SIZE, MiB


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    # An honest handshake takes three round trips; anything slower is holding a pending slot.
    handshake_timeout: float = 3.0
    dial_timeout: float = 5.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    # Keepalive: a ping every interval; no pong within the timeout closes the connection.
    ping_interval: float = 10.0
    ping_timeout: float = 20.0
    # A peer whose socket does not drain within this time is not reading: drop it instead of buffering forever.
    write_timeout: float = 30.0
    # Per peer and per channel; when either bound is hit `send` drops the message and counts it.
    send_queue_msgs: int = 4096
    send_queue_bytes: int = 16 * MiB
    write_batch_bytes: int = 256 * 1024
    read_chunk: int = 256 * 1024
    # Receive rate limits per peer: bytes are throttled (TCP back-pressure); messages beyond the burst are a flood.
    recv_rate_bytes: float = 64 * MiB
    recv_burst_bytes: float = 128 * MiB
    recv_rate_msgs: float = 20_000.0
    recv_burst_msgs: float = 40_000.0
    flood_severity: int = 5
    # Misbehaviour: faults add severity; at the threshold the peer is disconnected and banned for a while.
    ban_threshold: int = 100
    ban_seconds: float = 600.0
    score_decay_per_s: float = 0.5
    # Reconnects and dials back off exponentially from base to cap, with jitter.
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    dial_interval: float = 1.0
    # Peer exchange off: only persistent peers and explicit dials (a devnet behind a fault proxy needs this).
    pex: bool = True
    pex_interval: float = 30.0
    pex_max_addrs: int = 30
    # Inbound connections still in their handshake: at most this many in all and per remote
    # address. A new connection past either bound does not wait: it takes the place of the
    # oldest pending one (of its own address, or of the address holding most), so idle
    # connections cannot keep a persistent peer, whose handshake takes milliseconds, out.
    max_pending_inbound: int = 32
    max_pending_per_address: int = 8
    # A ban also covers the peer's remote address (a fresh key from there is refused before its
    # handshake), except for our own listen host and the hosts of persistent peers: on a devnet
    # on 127.0.0.1 a loopback address is everyone's.
    ban_addresses: bool = True
    addrbook_max: int = 1000
    addrbook_save_interval: float = 10.0
