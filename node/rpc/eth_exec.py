"""eth_call, eth_estimateGas and eth_getCode: the ERC-20 face run on the contract VM.

There is no EVM: calldata is mapped onto a token method (node.types.erc20) and run by the VM
over a snapshot of the state, in the read pool's threads, like contract_call. A call to an
address without code answers "0x", as on Ethereum; a call of calldata that is not an ERC-20
function, or to a contract without the method, is refused with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eth_abi.exceptions import EncodingError

from node.rpc.contracts import ESTIMATE_GAS_CAP, QUERY_GAS_CAP, ContractApi
from node.rpc.eth_api import parse_quantity
from node.rpc.eth_errors import NotAToken, chain_error, eth_tx_error, revert_error
from node.rpc.eth_views import data, qty
from node.rpc.params import address_param, bytes_param
from node.rpc.registry import invalid_params
from node.state.accounts import StateOverlay
from node.state.contracts import StateHost, overlay_vm
from node.types import errors
from node.types.crypto import keccak256, to_checksum_address
from node.types.erc20 import MappedCall, UnknownSelector, decode_calldata, encode_result
from node.types.eth_tx import UnsupportedEnvelope
from node.types.tx import PAYLOAD_BYTE_GAS, TRANSFER_GAS
from vm.compiler import compile_contract
from vm.values import ZERO_ADDRESS, encode_value

if TYPE_CHECKING:
    from node.rpc.eth_api import EthApi

# Code of a Python contract as eth_getCode shows it: 0xfe (an EVM's INVALID opcode, so nothing
# mistakes it for EVM code it could run), a tag, and the Keccak-256 of the contract's source.
CODE_MARKER: Final = b"\xfefinchain:python:"
CALL_FIELDS: Final = frozenset({"from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
                                "data", "input", "nonce", "type", "chainId", "accessList"})


@dataclass(frozen=True, slots=True)
class CallArgs:
    sender: bytes
    to: bytes | None
    value: int
    data: bytes
    gas: int | None


def parse_call(tx: Any) -> CallArgs:
    """The transaction object of eth_call and eth_estimateGas (fee fields are read and ignored)."""
    if not isinstance(tx, dict):
        raise invalid_params("transaction: expected an object")
    unknown = set(tx) - CALL_FIELDS
    if unknown:
        raise invalid_params(f"transaction: unknown fields {sorted(unknown)}")
    if "data" in tx and "input" in tx and tx["data"] != tx["input"]:
        raise invalid_params("transaction: data and input differ")
    raw = tx.get("input", tx.get("data"))
    return CallArgs(
        sender=ZERO_ADDRESS if tx.get("from") is None else address_param(tx["from"], "from"),
        to=None if tx.get("to") is None else address_param(tx["to"], "to"),
        value=0 if tx.get("value") is None else parse_quantity(tx["value"], "value"),
        data=b"" if raw is None else bytes_param(raw, "data"),
        gas=None if tx.get("gas") is None else parse_quantity(tx["gas"], "gas"),
    )


class EthExec:
    def __init__(self, eth: EthApi) -> None:
        self.eth = eth
        self.api = eth.api
        self.contracts = ContractApi(eth.api)

    def _mapped(self, host: StateHost, to: bytes, calldata: bytes) -> MappedCall:
        code = host.get_code(to)
        if code is None:
            raise chain_error(NotAToken(f"no contract at {to_checksum_address(to)}"))
        try:
            mapped = decode_calldata(calldata)
        except UnknownSelector as exc:
            raise chain_error(exc) from None
        interface = compile_contract(code.decode(), self.api.chain.code_cache).interface
        if mapped.function.method not in interface.methods:
            raise chain_error(NotAToken(f"{to_checksum_address(to)} has no ERC-20 method {mapped.function.signature}: "
                                        "eth_call serves the token face only"))
        return mapped

    async def eth_call(self, transaction: Any, block: Any = None) -> str:
        call = parse_call(transaction)
        if call.to is None:
            raise chain_error(UnsupportedEnvelope("contract creation is not supported: there is no EVM"))
        limit = QUERY_GAS_CAP if call.gas is None else min(call.gas, QUERY_GAS_CAP)
        height = self.eth.block_number(block)
        to = call.to
        return await self.api.pool.run(lambda: self._call(height, call, to, limit))

    def _call(self, height: int, call: CallArgs, to: bytes, limit: int) -> str:
        host = self.contracts._host(height)
        if not call.data or host.get_code(to) is None:
            return "0x"  # a plain value transfer or an account without code: nothing runs
        mapped = self._mapped(host, to, call.data)
        vm = self.contracts.vm_at(height, host)
        res = vm.query(to, mapped.function.method, mapped.args, limit, call.sender, call.value)
        if not res.ok:
            raise revert_error(res.error)
        output = res.output
        if output is None and mapped.function.result_type == "bool":
            output = True  # a method that returns nothing has succeeded, as ERC-20's bool says
        try:
            return data(encode_result(mapped.function, output))
        except (EncodingError, TypeError, ValueError, OverflowError):
            raise chain_error(NotAToken(f"{mapped.function.signature} of {to_checksum_address(to)} returned "
                                        f"a value that is not a {mapped.function.result_type}")) from None

    async def eth_estimateGas(self, transaction: Any, block: Any = None) -> str:
        call = parse_call(transaction)
        if call.to is None:
            raise chain_error(UnsupportedEnvelope("contract creation is not supported: there is no EVM"))
        chain = self.api.chain
        self.eth.block_number(block)  # validated; an estimate runs against the next block, as geth's does
        height, tip_time_ms = chain.height, chain.tip_time_ms
        to = call.to
        return await self.api.pool.run(lambda: self._estimate(call, to, height, tip_time_ms))

    def _estimate(self, call: CallArgs, to: bytes, height: int, tip_time_ms: int) -> str:
        chain = self.api.chain
        state = StateOverlay(self.contracts._snapshot(height))
        state.code_store = chain.code_cache
        state.settled = chain.settled
        balance = state.get_account(call.sender).balance
        if not call.data:
            if balance < call.value:
                raise eth_tx_error(errors.InsufficientFunds(
                    f"balance {balance} is below the value {call.value}"))
            return qty(TRANSFER_GAS)
        host = StateHost(state.get, state.get_account, chain.settled)
        mapped = self._mapped(host, to, call.data)
        vm = overlay_vm(state, chain.exec_params(height + 1, tip_time_ms))
        res = vm.call(call.sender, to, mapped.function.method, mapped.args, call.value, ESTIMATE_GAS_CAP)
        if not res.ok:
            raise revert_error(res.error)
        args = encode_value(mapped.args)
        used = TRANSFER_GAS + PAYLOAD_BYTE_GAS * (len(mapped.function.method.encode()) + len(args)) + res.gas_used
        # State can change before inclusion; the margin keeps a slightly longer path in gas.
        return qty(used + used // 5)

    async def eth_getCode(self, address: str, block: Any = None) -> str:
        addr = address_param(address, "address")
        height = self.eth.block_number(block)

        def read() -> str:
            code = self.contracts._host(height).get_code(addr)
            return "0x" if code is None else data(CODE_MARKER + keccak256(code))

        return await self.api.pool.run(read)
