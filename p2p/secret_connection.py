"""The encrypted half of a connection: per-direction ChaCha20-Poly1305 with counter nonces, no IO.

Each direction has its own key (derived by the handshake) and its own 96-bit frame counter used as the nonce,
so a nonce is never reused under a key; when a counter would wrap we refuse to go on (NonceOverflow) and the
connection must be closed. Frame lengths travel in clear, but a changed length breaks the Poly1305 tag.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from p2p.errors import AuthenticationError, LocalProtocolError, NonceOverflow, PeerProtocolError
from p2p.messages import DEFAULT_MAX_MESSAGE_SIZE, Message, encode_message
from p2p.wire import AEAD_TAG_SIZE, LENGTH_SIZE, FrameDecoder, MessageDecoder

KEY_SIZE = 32
NONCE_SIZE = 12
MAX_COUNTER = 2 ** (8 * NONCE_SIZE) - 1


class CipherState:
    """One direction of the channel: a key and the counter of frames already sealed or opened under it."""

    __slots__ = ("_aead", "counter")

    def __init__(self, key: bytes, counter: int = 0) -> None:
        if len(key) != KEY_SIZE:
            raise LocalProtocolError("ChaCha20-Poly1305 keys are 32 bytes")
        self._aead = ChaCha20Poly1305(key)
        self.counter = counter

    def _next_nonce(self) -> bytes:
        if self.counter > MAX_COUNTER:
            raise NonceOverflow("frame counter exhausted: close the connection rather than reuse a nonce")
        nonce = self.counter.to_bytes(NONCE_SIZE, "little")
        self.counter += 1
        return nonce

    def seal(self, plaintext: bytes) -> bytes:
        return self._aead.encrypt(self._next_nonce(), plaintext, None)

    def open(self, ciphertext: bytes | memoryview) -> bytes:
        if len(ciphertext) < AEAD_TAG_SIZE:
            raise PeerProtocolError("frame shorter than its authentication tag")
        try:
            return self._aead.decrypt(self._next_nonce(), ciphertext, None)
        except InvalidTag:
            # A forged, reordered, replayed or truncated frame: nothing after it can be trusted.
            raise AuthenticationError("frame failed authentication (bad key, replay or tampering)") from None


class SecretConnection:
    """Seal outgoing message bytes into frames and open incoming frames into messages; pure, no sockets."""

    __slots__ = ("_decoder", "_max_message", "_messages", "_recv", "_send", "bytes_out", "frames_out")

    def __init__(
        self,
        send_key: bytes,
        recv_key: bytes,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        frames: FrameDecoder | None = None,
    ) -> None:
        self._send = CipherState(send_key)
        self._recv = CipherState(recv_key)
        self._max_message = max_message_size
        # The handshake hands over its frame decoder so bytes the peer sent right after its auth are kept.
        self._decoder = frames if frames is not None else FrameDecoder(max_message_size + AEAD_TAG_SIZE)
        # Decrypted frames go through the same strict message decoder as plaintext ones.
        self._messages = MessageDecoder(max_message_size, self._recv.open, frames=self._decoder)
        self.frames_out = 0
        self.bytes_out = 0

    @property
    def send_cipher(self) -> CipherState:
        return self._send

    @property
    def recv_cipher(self) -> CipherState:
        return self._recv

    @property
    def frames_in(self) -> int:
        return self._decoder.frames_in

    def seal_payload(self, payload: bytes, out: list[bytes]) -> int:
        """Append the length prefix and ciphertext of one encoded message to `out`; returns the wire size."""
        if len(payload) > self._max_message:
            raise LocalProtocolError(f"message of {len(payload)} bytes exceeds {self._max_message}")
        sealed = self._send.seal(payload)
        out.append(len(sealed).to_bytes(LENGTH_SIZE, "big"))
        out.append(sealed)
        self.frames_out += 1
        size = LENGTH_SIZE + len(sealed)
        self.bytes_out += size
        return size

    def seal_message(self, msg: Message) -> bytes:
        """One message as wire bytes (convenience for tests; the peer writer batches via seal_payload)."""
        out: list[bytes] = []
        self.seal_payload(encode_message(msg, self._max_message), out)
        return b"".join(out)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self._messages.receive_data(data)

    def next_message(self) -> Message | None:
        """The next decrypted and decoded message, None when more bytes are needed."""
        return self._messages.next_message()
