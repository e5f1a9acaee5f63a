"""Error types of the p2p package.

The split follows h11: `PeerProtocolError` is the remote side's fault (it costs the peer reputation and
closes the connection), `LocalProtocolError` is our own misuse (a bug in the caller, never the peer's).
"""

from __future__ import annotations


class P2PError(Exception):
    """Base class of every error raised by the p2p package."""


class PeerProtocolError(P2PError):
    """The peer sent something the protocol forbids: malformed, oversized, unknown or unauthenticated data."""


class LocalProtocolError(P2PError):
    """We tried to do something the protocol forbids (encode an invalid message, send on a closed connection)."""


class HandshakeError(P2PError):
    """The secure handshake did not establish an acceptable authenticated session."""


class HandshakeTimeout(HandshakeError):
    """The peer did not complete the handshake in time."""


class AuthenticationError(HandshakeError, PeerProtocolError):
    """The peer's key, signature or node id does not check out, or its frames fail to decrypt."""


class IncompatiblePeer(HandshakeError):
    """Chain id, genesis hash or protocol version differ: an honest node of another network."""


class UnexpectedPeer(HandshakeError):
    """We dialed `id@host:port` and a different node id answered (impersonation or stale address)."""


class SelfConnection(HandshakeError):
    """We connected to ourselves (our own address came back through peer exchange)."""


class DuplicatePeer(HandshakeError):
    """We already have a connection to this node id."""


class PeerRejected(HandshakeError):
    """The peer is banned or our inbound or outbound slots are full."""


class NonceOverflow(LocalProtocolError):
    """The 96-bit frame counter of a direction is exhausted: the connection must be closed, never reuse a nonce."""
