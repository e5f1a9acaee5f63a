"""Length-prefixed framing and a pure, IO-free decoder in the h11 style.

A frame is a 4-byte big-endian length followed by that many bytes. Before the handshake the frame body is
plaintext; afterwards it is an AEAD ciphertext whose plaintext is one canonical message (see messages.py).
The decoder never touches a socket: feed it bytes with `receive_data` (b"" means end of stream) and pull
messages with `next_message` until it returns None. Every fault of the peer raises PeerProtocolError, and
the decoder then stays in that error state, as h11 does.
"""

from __future__ import annotations

from collections.abc import Callable

from p2p.errors import LocalProtocolError, PeerProtocolError
from p2p.messages import DEFAULT_MAX_MESSAGE_SIZE, Message, decode_message, encode_message

LENGTH_SIZE = 4
AEAD_TAG_SIZE = 16
# Ciphertext adds the Poly1305 tag; the length prefix counts the ciphertext.
DEFAULT_MAX_FRAME_SIZE = DEFAULT_MAX_MESSAGE_SIZE + AEAD_TAG_SIZE

FrameOpener = Callable[[memoryview], bytes]


def encode_frame(payload: bytes) -> bytes:
    """Prefix `payload` with its 4-byte big-endian length."""
    if not payload:
        raise LocalProtocolError("empty frames are not allowed")
    if len(payload) >= 2**32:
        raise LocalProtocolError("frame too large for a 4-byte length")
    return len(payload).to_bytes(LENGTH_SIZE, "big") + payload


def frame_message(msg: Message, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes:
    """A plaintext frame holding one message (tests and the pre-encryption view of the protocol)."""
    return encode_frame(encode_message(msg, max_size))


class FrameDecoder:
    """Splits a byte stream into frame bodies, optionally opening (decrypting) each one."""

    __slots__ = ("_buf", "_eof", "_error", "_max_frame", "_opener", "_pos", "frames_in")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, opener: FrameOpener | None = None) -> None:
        if max_frame_size < 1:
            raise LocalProtocolError("max_frame_size must be positive")
        self._buf = bytearray()
        self._pos = 0  # start of the unparsed data; consumed bytes are dropped lazily in receive_data
        self._eof = False
        self._error: PeerProtocolError | None = None
        self._max_frame = max_frame_size
        self._opener = opener
        self.frames_in = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as frames."""
        return len(self._buf) - self._pos

    def set_opener(self, opener: FrameOpener) -> None:
        """Decrypt every following frame (bytes already buffered included) once the handshake derived keys."""
        self._opener = opener

    def set_max_frame_size(self, max_frame_size: int) -> None:
        """Raise (or lower) the frame limit, e.g. once the handshake authenticated the peer."""
        if max_frame_size < 1:
            raise LocalProtocolError("max_frame_size must be positive")
        self._max_frame = max_frame_size

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer; an empty chunk marks the end of the stream."""
        if self._eof:
            if data:
                raise LocalProtocolError("data received after end of stream")
            return
        if not data:
            self._eof = True
            return
        if self._pos:
            # Deleting a bytearray's prefix only moves its start pointer in CPython: no per-frame memmove.
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def _fail(self, reason: str) -> PeerProtocolError:
        self._error = PeerProtocolError(reason)
        return self._error

    def next_frame(self) -> bytes | None:
        """The next complete frame body (opened if an opener is set), or None if more bytes are needed."""
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < LENGTH_SIZE:
            if self._eof and avail:
                raise self._fail(f"stream ended inside a length prefix ({avail} of {LENGTH_SIZE} bytes)")
            return None
        size = int.from_bytes(buf[pos : pos + LENGTH_SIZE], "big")
        # Checked as soon as the prefix arrives: never buffer toward a frame we would reject anyway.
        if size == 0:
            raise self._fail("empty frame")
        if size > self._max_frame:
            raise self._fail(f"frame of {size} bytes exceeds the {self._max_frame}-byte limit")
        end = pos + LENGTH_SIZE + size
        if len(buf) < end:
            if self._eof:
                raise self._fail(f"stream ended inside a frame ({avail - LENGTH_SIZE} of {size} bytes)")
            return None
        self._pos = end
        self.frames_in += 1
        if self._opener is None:
            return bytes(buf[pos + LENGTH_SIZE : end])
        with memoryview(buf) as view:
            try:
                return self._opener(view[pos + LENGTH_SIZE : end])
            except PeerProtocolError as exc:
                self._error = exc
                raise


class MessageDecoder:
    """Bytes in, messages out: frames (optionally decrypted) decoded by the strict message codec."""

    __slots__ = ("_error", "_frames", "_max_message")

    def __init__(
        self,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        opener: FrameOpener | None = None,
        *,
        frames: FrameDecoder | None = None,
    ) -> None:
        overhead = AEAD_TAG_SIZE if opener is not None or frames is not None else 0
        self._frames = frames if frames is not None else FrameDecoder(max_message_size + overhead, opener)
        if opener is not None and frames is not None:
            frames.set_opener(opener)
        self._max_message = max_message_size
        self._error: PeerProtocolError | None = None

    @property
    def frames(self) -> FrameDecoder:
        return self._frames

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self._frames.receive_data(data)

    def next_message(self) -> Message | None:
        """The next decoded message, None when more bytes are needed; PeerProtocolError on any peer fault."""
        if self._error is not None:
            raise self._error
        try:
            frame = self._frames.next_frame()
            if frame is None:
                return None
            return decode_message(frame, self._max_message)
        except PeerProtocolError as exc:
            self._error = exc
            raise
