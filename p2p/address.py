"""Peer addresses `id@host:port` and node ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

NODE_ID_HEX_LEN = 40  # hex of 20 bytes
MAX_HOST_LEN = 253  # longest DNS name
MAX_ADDR_LEN = NODE_ID_HEX_LEN + 1 + MAX_HOST_LEN + 1 + 5
_HEX = frozenset("0123456789abcdef")


class AddressError(ValueError):
    """A peer address or node id is malformed."""


def compute_node_id(pubkey: bytes) -> str:
    """Node id = hex of the first 20 bytes of SHA-256 of the 33-byte compressed public key (the node does the same)."""
    return hashlib.sha256(pubkey).digest()[:20].hex()


def is_node_id(text: str) -> bool:
    return len(text) == NODE_ID_HEX_LEN and set(text) <= _HEX


@dataclass(frozen=True, slots=True)
class PeerAddress:
    node_id: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id}@{host}:{self.port}"

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_hostport(text: str) -> tuple[str, int]:
    """Split `host:port` or `[v6]:port`; the port must be 1..65535 and the host non-empty and printable."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or len(port_text) > 5:
        raise AddressError(f"expected host:port, got {text[:80]!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if not 0 < port < 65536:
        raise AddressError(f"port out of range in {text[:80]!r}")
    if not host or len(host) > MAX_HOST_LEN or not host.isprintable() or any(c in host for c in " /@[]"):
        raise AddressError(f"bad host in {text[:80]!r}")
    return host, port


def parse_peer_address(text: str) -> PeerAddress:
    """Parse `id@host:port` where id is 40 lowercase hex digits."""
    if len(text) > MAX_ADDR_LEN:
        raise AddressError("peer address too long")
    node_id, sep, rest = text.partition("@")
    if not sep or not is_node_id(node_id):
        raise AddressError(f"expected id@host:port with a 40-hex-digit id, got {text[:80]!r}")
    host, port = parse_hostport(rest)
    return PeerAddress(node_id, host, port)
