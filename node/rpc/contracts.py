"""JSON-RPC methods for contracts: read-only calls, code and interface, gas estimates.

Each runs the VM in the read pool's threads (node.rpc.api), over a snapshot of the state at
a height fixed on the event loop: a commit meanwhile changes nothing the run reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.rpc.registry import ErrorSpec, Method, Param, RawJson, encode_json, invalid_params
from node.rpc.views import hx
from node.state.accounts import Account, StateOverlay
from node.state.contracts import StateHost, block_info, overlay_vm
from node.storage.schema import account_key
from node.types import errors
from node.types.tx import PAYLOAD_BYTE_GAS, TRANSFER_GAS
from vm import VM, AbiError, CallResult, CheckError, Outcome
from vm.checker import Interface
from vm.compiler import compile_contract
from vm.values import ZERO_ADDRESS, encode_value, from_json, parse_address, to_checksum, to_json

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

QUERY_GAS_CAP = 20_000_000  # about 0.2 s of contract code per call, in a read-pool thread
ESTIMATE_GAS_CAP = QUERY_GAS_CAP
ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "EIP-55 address"}


def _address(text: Any, name: str) -> bytes:
    try:
        return parse_address(text)
    except AbiError as exc:
        raise invalid_params(f"{name}: {exc}") from None


def _amount(value: Any) -> int:
    try:
        amount = from_json("int", value, "value")
    except AbiError as exc:
        raise invalid_params(str(exc)) from None
    if amount < 0:
        raise invalid_params("value: must not be negative")
    return amount


def convert_args(interface: Interface, method: str | None, args: Any) -> list[Any]:
    """JSON arguments to contract values, by the method's declared types (the constructor if method is None)."""
    m = interface.constructor if method is None else interface.methods.get(method)
    if m is None:
        if method is None:
            if args:
                raise invalid_params("args: the contract has no constructor")
            return []
        raise invalid_params(f"method: the contract has no public method {method!r}")
    if not isinstance(args, list):
        raise invalid_params("args: expected a JSON array")
    wrong = m.arity_error(len(args))
    if wrong:
        raise invalid_params(f"args: {wrong}")
    try:
        return [from_json(abi, v, f"args[{i}] ({name})") for i, ((name, abi), v) in enumerate(zip(m.params, args,
                                                                                                 strict=False))]
    except AbiError as exc:
        raise invalid_params(str(exc)) from None


def result_json(res: CallResult) -> dict[str, Any]:
    return {
        "status": "success" if res.ok else "failed",
        "output": to_json(res.output) if res.ok else None,
        "error": res.error or None,
        "gas_used": res.gas_used,
        "events": [event_json_vm(e) for e in res.events],
    }


def event_json_vm(e: Any) -> dict[str, Any]:
    return {"address": to_checksum(e.address), "name": e.name, "data": to_json(e.data)}


def _account_from(read: Any, address: bytes) -> Account:
    raw = read(account_key(address))
    return Account() if raw is None else Account.decode(raw)


class ContractApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    def _snapshot(self, height: int) -> Any:
        read = self.api.chain.state_snapshot(height)
        if read is None:
            raise errors.NotFound(f"no state at height {height}")
        return read

    def _host(self, height: int) -> StateHost:
        read = self._snapshot(height)
        return StateHost(read, lambda a: _account_from(read, a), self.api.chain.settled)

    def _interface(self, host: StateHost, address: bytes) -> tuple[str, Interface]:
        code = host.get_code(address)
        if code is None:
            raise errors.NotFound(f"no contract at {to_checksum(address)}")
        source = code.decode()
        return source, compile_contract(source, self.api.chain.code_cache).interface

    def vm_at(self, height: int, host: StateHost) -> VM:
        """A VM over `host` that sees block `height` (its time; the genesis time at 0), for read-only runs."""
        stored = self.api.chain.get_block(height) if height else None
        time_ms = stored.header.time_ms if stored else self.api.chain.genesis.genesis_time_ms
        return VM(host, block_info(self.api.chain.exec_params(height, time_ms)), self.api.chain.code_cache)

    async def contract_call(self, address: str, method: str, args: list[Any] | None = None,
                            block: int | str = "latest", sender: str | None = None,
                            gas: int | None = None, value: int | str = 0) -> RawJson:
        contract = _address(address, "address")
        amount = _amount(value)
        caller = ZERO_ADDRESS if sender is None else _address(sender, "sender")
        limit = QUERY_GAS_CAP if gas is None else gas
        if not isinstance(limit, int) or not 0 < limit <= QUERY_GAS_CAP:
            raise invalid_params(f"gas: between 1 and {QUERY_GAS_CAP}")
        height = self.api._height_of(block)
        return await self.api.pool.run(lambda: self._call(height, contract, method, args or [], caller, limit,
                                                          amount))

    def _call(self, height: int, contract: bytes, method: str, args: list[Any], caller: bytes, limit: int,
              amount: int) -> RawJson:
        host = self._host(height)
        _, interface = self._interface(host, contract)
        values = convert_args(interface, method, args)
        res = self.vm_at(height, host).query(contract, method, values, limit, caller, amount)
        return encode_json({"height": height, **result_json(res)})

    async def contract_getCode(self, address: str, block: int | str = "latest") -> RawJson:
        contract = _address(address, "address")
        height = self.api._height_of(block)
        return await self.api.pool.run(lambda: self._code(height, contract))

    def _code(self, height: int, contract: bytes) -> RawJson:
        source, interface = self._interface(self._host(height), contract)
        compiled = compile_contract(source, self.api.chain.code_cache)
        return encode_json({"address": to_checksum(contract), "height": height, "source": source,
                            "code_hash": hx(compiled.code_hash), "interface": interface.to_json()})

    async def tx_estimateGas(self, tx: dict[str, Any]) -> RawJson:
        """Run a transaction against the latest state without a signature; nothing is kept."""
        if not isinstance(tx, dict):
            raise invalid_params("tx: expected an object")
        unknown = set(tx) - {"from", "to", "value", "source", "method", "args"}
        if unknown:
            raise invalid_params(f"tx: unknown fields {sorted(unknown)}")
        chain = self.api.chain
        sender = _address(tx.get("from"), "from")
        amount = _amount(tx.get("value", "0"))
        # Fixed here, on the loop: the tip and the mempool are the loop's to change.
        height, tip_time_ms = chain.height, chain.tip_time_ms
        pending_nonce = self.api.mempool.pending_nonce(sender) if "source" in tx else None
        return await self.api.pool.run(
            lambda: encode_json(self._estimate(tx, sender, amount, height, tip_time_ms, pending_nonce)))

    def _estimate(self, tx: dict[str, Any], sender: bytes, amount: int, height: int, tip_time_ms: int,
                  pending_nonce: int | None) -> dict[str, Any]:
        chain = self.api.chain
        params = chain.exec_params(height + 1, tip_time_ms)
        state = StateOverlay(self._snapshot(height))
        state.code_store = chain.code_cache
        state.settled = chain.settled
        vm = overlay_vm(state, params)
        host = StateHost(state.get, state.get_account, chain.settled)
        if "source" in tx:
            source = tx["source"]
            if not isinstance(source, str):
                raise invalid_params("source: expected a string")
            # surrogatepass: a source with a lone surrogate still gets its size, and the checker's refusal.
            intrinsic = TRANSFER_GAS + PAYLOAD_BYTE_GAS * len(source.encode("utf-8", "surrogatepass"))
            try:
                interface = compile_contract(source).interface
            except CheckError as exc:
                return _estimate(intrinsic, CallResult(Outcome.FAULT, 0, None, (), f"contract rejected: {exc}"))
            values = convert_args(interface, None, tx.get("args", []))
            nonce = state.get_account(sender).nonce if pending_nonce is None else pending_nonce
            intrinsic += PAYLOAD_BYTE_GAS * len(encode_value(values))
            res = vm.deploy(sender, nonce, source, values, amount, ESTIMATE_GAS_CAP)
            out = _estimate(intrinsic, res)
            out["contract_address"] = to_checksum(res.address) if res.address else None
            return out
        to = _address(tx.get("to"), "to")
        method = tx.get("method")
        if method is None:
            balance = state.get_account(sender).balance
            ok = balance >= amount
            outcome = Outcome.OK if ok else Outcome.FAULT
            out = _estimate(TRANSFER_GAS, CallResult(outcome, 0, None, (), "" if ok else "insufficient_funds"))
            out["gas"] = TRANSFER_GAS  # a transfer's gas is fixed
            return out
        if not isinstance(method, str):
            raise invalid_params("method: expected a string")
        _, interface = self._interface(host, to)
        values = convert_args(interface, method, tx.get("args", []))
        intrinsic = TRANSFER_GAS + PAYLOAD_BYTE_GAS * (len(method.encode()) + len(encode_value(values)))
        return _estimate(intrinsic, vm.call(sender, to, method, values, amount, ESTIMATE_GAS_CAP))


def _estimate(intrinsic: int, res: CallResult) -> dict[str, Any]:
    used = intrinsic + res.gas_used
    # State can change between the estimate and inclusion; a margin keeps the tx from
    # running out of gas on a slightly longer path.
    return {**result_json(res), "gas_used": used, "gas": used + used // 5 if res.ok else used,
            "gas_used_by_contract": res.gas_used}


def contract_methods(api: NodeApi) -> list[Method]:
    c = ContractApi(api)
    block = Param("block", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, False, "default \"latest\"")
    args = Param("args", {"type": "array"}, False, "JSON arguments, converted by the method's declared types")
    nf = (ErrorSpec(errors.NotFound.code, errors.NotFound.reason),)
    return [
        Method("contract_call", c.contract_call,
               (Param("address", ADDRESS), Param("method", {"type": "string"}), args, block,
                Param("sender", ADDRESS, False, "ctx.sender of the call, default the zero address"),
                Param("gas", {"type": "integer"}, False, f"at most {QUERY_GAS_CAP}"),
                Param("value", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, False,
                      "native coin sent with a dry run (a decimal string), default 0")),
               {"name": "result", "type": "object"},
               "Run a view (or dry-run a public method) at a height; nothing is kept.", nf, expensive=True),
        Method("contract_getCode", c.contract_getCode, (Param("address", ADDRESS), block),
               {"name": "code", "type": "object"}, "A contract's source, code hash and interface (its ABI).", nf,
               expensive=True),
        Method("tx_estimateGas", c.tx_estimateGas,
               (Param("tx", {"type": "object"}, True,
                      "{from, to?, value?, source?, method?, args?}: a transfer, a deploy (source) or a call"),),
               {"name": "estimate", "type": "object"},
               "Gas a transaction would use now (gas_used) and a limit to sign with (gas), with the outcome.", nf,
               expensive=True),
    ]
