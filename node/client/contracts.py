"""Contract helpers of the SDK: ABI type strings, JSON arguments to contract values, requests.

The node describes a contract's interface in JSON (`contract_getCode`): each parameter has
a type string such as "int", "address", "list[address]" or "dict[str, int]". To sign a
deploy or a call the client needs contract values (the transaction carries them in the VM
encoding), so it converts JSON-style arguments with those types, exactly as the node does
for `contract_call` and `tx_estimateGas`. A deploy is checked locally first: a source the
checker refuses never costs a fee.

Shared by `Client` and `AsyncClient` (node/client/sdk.py); everything here is pure.
"""

from __future__ import annotations

from typing import Any

from vm import contract_address
from vm.checker import check
from vm.errors import AbiError, CheckError
from vm.values import from_json, to_checksum, to_json


class ContractError(Exception):
    """A contract problem found before sending: rejected source, bad arguments, unknown method."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class EstimateFailed(ContractError):
    """`tx_estimateGas` says the transaction would fail; nothing was sent."""

    def __init__(self, what: str, estimate: dict[str, Any]) -> None:
        self.what = what
        self.reason = str(estimate.get("error") or "unknown error")
        self.estimate = estimate
        super().__init__(f"{what} would fail: {self.reason} (gas estimate; nothing was sent)")


# -- types and arguments --------------------------------------------------------------------


def parse_abi_type(text: str) -> Any:
    """An interface type string to the form `vm.values.from_json` takes.

    "int" -> "int"; "list[address]" -> ("list", "address"); "dict[str, list[int]]" ->
    ("dict", "str", ("list", "int")).
    """
    if not isinstance(text, str):
        raise ContractError(f"not an ABI type: {text!r:.60}")
    t = text.replace(" ", "")
    if "[" not in t:
        if not t.isidentifier():
            raise ContractError(f"not an ABI type: {text!r:.60}")
        return t
    head, _, rest = t.partition("[")
    if head not in ("list", "dict") or not rest.endswith("]"):
        raise ContractError(f"not an ABI type: {text!r:.60}")
    parts = _split_top(rest[:-1])
    if (head == "list" and len(parts) != 1) or (head == "dict" and len(parts) != 2):
        raise ContractError(f"not an ABI type: {text!r:.60}")
    return (head, *(parse_abi_type(p) for p in parts))


def _split_top(inner: str) -> list[str]:
    """Split "str,list[int]" at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    if depth != 0 or any(not p for p in parts):
        raise ContractError(f"not an ABI type: {inner!r:.60}")
    return parts


def as_json(value: Any) -> Any:
    """Accept contract values too (vm.Address, bytes) where JSON-style values are expected.

    Ints stay JSON numbers (Python's json writes them exactly): a parameter typed plain
    `list` or `dict` takes its items as they come, so "1" would arrive as a str.
    """
    t = type(value)
    if t is int or t is bool or t is str or value is None:
        return value
    if t is list or t is tuple:
        return [as_json(v) for v in value]
    if t is dict:
        return {k if isinstance(k, str) else str(as_json(k)): as_json(v) for k, v in value.items()}
    try:
        return to_json(value)
    except TypeError as exc:
        raise ContractError(f"arguments: {exc}") from None


def convert(params: list[tuple[str, Any]], args: Any, what: str, required: int | None = None) -> list[Any]:
    """JSON-style arguments to contract values by the declared (name, ABI type) of each parameter."""
    args = [] if args is None else args
    if not isinstance(args, list | tuple):
        raise ContractError(f"{what}: arguments must be a JSON array, got {type(args).__name__}")
    low = len(params) if required is None else required
    if not low <= len(args) <= len(params):
        want = str(len(params)) if low == len(params) else f"{low} to {len(params)}"
        raise ContractError(f"{what} takes {want} argument{'s' if want != '1' else ''}, got {len(args)}")
    try:
        return [from_json(abi, as_json(v), f"{what}: argument {i} ({name})")
                for i, ((name, abi), v) in enumerate(zip(params, args, strict=False))]
    except AbiError as exc:
        raise ContractError(str(exc)) from None


def constructor_values(source: str, args: Any) -> list[Any]:
    """Check `source` as the node will (CheckError -> ContractError with the line) and convert the deploy args."""
    try:
        _, interface = check(source)
    except CheckError as exc:
        raise ContractError(f"contract rejected: {exc}", exc.line) from None
    ctor = interface.constructor
    if ctor is None:
        if args:
            raise ContractError("the contract has no constructor: deploy it without arguments")
        return []
    return convert(list(ctor.params), args, f"constructor {ctor.name}", ctor.required)


def find_method(interface: list[dict[str, Any]], method: str) -> dict[str, Any]:
    for m in interface:
        if m.get("name") == method and m.get("kind") in ("public", "view"):
            return m
    names = ", ".join(m["name"] for m in interface if m.get("kind") in ("public", "view"))
    raise ContractError(f"the contract has no public method {method!r} (it has: {names or 'none'})")


def method_values(interface: list[dict[str, Any]], method: str, args: Any) -> list[Any]:
    """Convert call args by the types of `method` in a JSON interface (contract_getCode's `interface`)."""
    m = find_method(interface, method)
    params = [(p["name"], parse_abi_type(p["type"])) for p in m["params"]]
    required = sum(1 for p in m["params"] if not p.get("optional", False))
    return convert(params, args, method, required=required)


# -- requests and answers -------------------------------------------------------------------


def call_params(address: str, method: str, args: Any, block: int | str, sender: str | None) -> list[Any]:
    params: list[Any] = [address, method, as_json(list(args or [])), block]
    if sender is not None:
        params.append(sender)
    return params


def deploy_estimate(sender: str, source: str, values: list[Any], value: int) -> dict[str, Any]:
    return {"from": sender, "source": source, "args": as_json(values), "value": str(value)}


def call_estimate(sender: str, address: str, method: str, values: list[Any], value: int) -> dict[str, Any]:
    return {"from": sender, "to": address, "method": method, "args": as_json(values), "value": str(value)}


def suggested_gas(estimate: dict[str, Any], what: str) -> int:
    """The limit to sign with; EstimateFailed when the node says the transaction would fail."""
    if estimate.get("status") != "success":
        raise EstimateFailed(what, estimate)
    return int(estimate["gas"])


def deployed_address(sender: bytes, nonce: int) -> str:
    """The address a deploy by `sender` at `nonce` creates (EIP-55)."""
    return to_checksum(contract_address(sender, nonce))


def with_contract_address(answer: dict[str, Any], address: str) -> dict[str, Any]:
    """A committed deploy's tx_get answer with `contract_address` on top (None if the deploy failed)."""
    ok = (answer.get("receipt") or {}).get("status") == "success"
    return {**answer, "contract_address": address if ok else None}
