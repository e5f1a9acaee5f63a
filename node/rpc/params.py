"""What every JSON-RPC method group shares: parameter parsing, schemas and error mapping."""

from __future__ import annotations

from node.rpc.registry import ErrorSpec, RpcError, invalid_params
from node.types import errors
from node.types.crypto import AddressError, parse_address

VERSION = "0.1.0"
STALL_AFTER_S = 60.0
HEX = {"type": "string", "pattern": "^0x[0-9a-fA-F]*$"}
ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "EIP-55 address"}
HASH = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
BLOCK_ID = {"oneOf": [{"type": "integer"}, {"type": "string"}],
            "description": "a height, \"latest\", or a 0x block hash"}


def rpc_error(exc: errors.FinchainError) -> RpcError:
    return RpcError(exc.code, str(exc), {"reason": exc.reason})


def map_node_error(exc: Exception) -> RpcError | None:
    """The answer to a node error a method let through: NotFound, which any lookup may raise."""
    return rpc_error(exc) if isinstance(exc, errors.NotFound) else None


TX_ERROR_SPECS = tuple(ErrorSpec(e.code, e.reason) for e in errors.TX_ERRORS)
NOT_FOUND = ErrorSpec(errors.NotFound.code, errors.NotFound.reason)


MAX_HEIGHT_DIGITS = 20  # 2^64 has 20 digits; longer would cost int() time for nothing


def height_text(value: object) -> int | None:
    """A height written as a string of ASCII digits, None for any other string.

    str.isdigit alone accepts other scripts' digits ("١٢") and superscripts, which int()
    reads as numbers or refuses with an error; heights are ASCII only."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > MAX_HEIGHT_DIGITS:
        raise invalid_params(f"block: a height has at most {MAX_HEIGHT_DIGITS} digits")
    return int(value)


def parse_cursor(text: str) -> tuple[int, int]:
    """An account_txs cursor "height:index", as next_cursor writes it (ASCII digits only)."""
    height, sep, index = text.partition(":")
    parts = (height_text(height) if len(height) <= MAX_HEIGHT_DIGITS else None,
             height_text(index) if len(index) <= MAX_HEIGHT_DIGITS else None)
    if not sep or parts[0] is None or parts[1] is None or not (parts[0] < 2**64 and parts[1] < 2**32):
        raise invalid_params("cursor: use the next_cursor of a previous answer")
    return parts[0], parts[1]


def bytes_param(text: str, name: str, length: int | None = None) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise invalid_params(f"{name}: expected 0x-prefixed hex")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError as exc:
        raise invalid_params(f"{name}: not valid hex") from exc
    if length is not None and len(raw) != length:
        raise invalid_params(f"{name}: expected {length} bytes")
    return raw


def address_param(text: str, name: str = "address") -> bytes:
    try:
        return parse_address(text)
    except AddressError as exc:
        raise invalid_params(f"{name}: {exc}") from exc
