"""The ERC-20 face of token contracts: ABI calldata mapped onto the token's Python methods.

Only the standard selectors are known; any other calldata is refused (UnknownSelector) rather than
guessed at, since there is no EVM to run it. Encoding and decoding are done by `eth-abi`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError as AbiDecodingError

from node.types.crypto import keccak256
from node.types.errors import InvalidTransaction
from vm.values import Address


class UnknownSelector(InvalidTransaction):
    """Calldata whose 4-byte selector is not one of the ERC-20 functions, or whose arguments do not decode."""

    code = -32018
    reason = "unknown_selector"


@dataclass(frozen=True, slots=True)
class Erc20Function:
    signature: str  # e.g. "transfer(address,uint256)"
    method: str  # the token contract's method name
    arg_types: tuple[str, ...]
    result_type: str
    view: bool

    @property
    def selector(self) -> bytes:
        return keccak256(self.signature.encode())[:4]


FUNCTIONS: tuple[Erc20Function, ...] = (
    Erc20Function("balanceOf(address)", "balance_of", ("address",), "uint256", True),
    Erc20Function("allowance(address,address)", "allowance", ("address", "address"), "uint256", True),
    Erc20Function("totalSupply()", "total_supply", (), "uint256", True),
    Erc20Function("decimals()", "decimals", (), "uint8", True),
    Erc20Function("symbol()", "symbol", (), "string", True),
    Erc20Function("name()", "name", (), "string", True),
    Erc20Function("transfer(address,uint256)", "transfer", ("address", "uint256"), "bool", False),
    Erc20Function("approve(address,uint256)", "approve", ("address", "uint256"), "bool", False),
    Erc20Function("transferFrom(address,address,uint256)", "transfer_from", ("address", "address", "uint256"),
                  "bool", False),
)
BY_SELECTOR: dict[bytes, Erc20Function] = {f.selector: f for f in FUNCTIONS}
# Event and error signatures as text, hashed like the function signatures above.
_TRANSFER, _APPROVAL, _ERROR = "Transfer(address,address,uint256)", "Approval(address,address,uint256)", "Error(string)"
TRANSFER_TOPIC = keccak256(_TRANSFER.encode())
APPROVAL_TOPIC = keccak256(_APPROVAL.encode())


@dataclass(frozen=True, slots=True)
class MappedCall:
    function: Erc20Function
    args: list[Any]  # the VM's own argument values: Address and int


def decode_calldata(data: bytes) -> MappedCall:
    """Map ERC-20 calldata onto a token method call, or raise UnknownSelector."""
    if len(data) < 4:
        raise UnknownSelector("calldata shorter than a 4-byte selector")
    function = BY_SELECTOR.get(data[:4])
    if function is None:
        raise UnknownSelector(f"unknown function selector 0x{data[:4].hex()}: only ERC-20 functions are served")
    body = data[4:]
    # Strict length: eth-abi ignores trailing bytes, which would let two calldatas mean one call.
    if len(body) != 32 * len(function.arg_types):
        raise UnknownSelector(f"{function.signature}: arguments are {len(body)} bytes, expected "
                              f"{32 * len(function.arg_types)}")
    try:
        values = abi_decode(list(function.arg_types), body, strict=True)
    except (AbiDecodingError, ValueError) as exc:
        raise UnknownSelector(f"{function.signature}: bad arguments: {exc}") from None
    pairs = zip(function.arg_types, values, strict=True)
    args = [Address(bytes.fromhex(v[2:])) if t == "address" else v for t, v in pairs]
    return MappedCall(function, args)


def encode_result(function: Erc20Function, value: Any) -> bytes:
    """ABI-encode a token method's return value as the ERC-20 function returns it."""
    return abi_encode([function.result_type], [value])


def encode_revert(reason: str) -> bytes:
    """Solidity's `Error(string)` revert data, which wallets and libraries decode into a message."""
    return keccak256(_ERROR.encode())[:4] + abi_encode(["string"], [reason])


def encode_transfer_log(sender: bytes, to: bytes, amount: int) -> tuple[list[bytes], bytes]:
    """Topics and data of the standard Transfer event."""
    return [TRANSFER_TOPIC, sender.rjust(32, b"\0"), to.rjust(32, b"\0")], abi_encode(["uint256"], [amount])


def encode_approval_log(owner: bytes, spender: bytes, amount: int) -> tuple[list[bytes], bytes]:
    """Topics and data of the standard Approval event."""
    return [APPROVAL_TOPIC, owner.rjust(32, b"\0"), spender.rjust(32, b"\0")], abi_encode(["uint256"], [amount])
