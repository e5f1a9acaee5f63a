"""`finchain contract ...`: deploy, call, query and read contracts (docs/contracts.md).

Arguments are a JSON array (`--args '[5, "0x…"]'`) converted by the contract's declared
types; `--value` is in coins like every amount of the CLI. A source is checked locally
before anything is signed, and without `--gas` the node's estimate sets the limit, so a
transaction that would fail is refused before it costs a fee (`--gas N` sends it anyway).
A committed transaction that failed prints its summary, then exits with status 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from node.cli.common import CliError, print_json, signing_key
from node.client.contracts import ContractError, EstimateFailed, constructor_values, deployed_address
from node.client.sdk import Client
from node.types.amounts import AmountError, format_amount, parse_amount
from node.types.crypto import parse_address, to_checksum_address


def _no_float(text: str) -> Any:
    raise CliError(f"--args: {text} is not an integer: contracts have no floats (use an integer or a decimal string)")


def _json_args(text: str | None) -> list[Any]:
    if text is None:
        return []
    try:
        value = json.loads(text, parse_float=_no_float)
    except json.JSONDecodeError as exc:
        raise CliError(f"--args: not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise CliError("--args: expected a JSON array of arguments, e.g. '[5, \"0x…\"]'")
    return value


def _address(text: str, what: str = "address") -> str:
    try:
        return to_checksum_address(parse_address(text))
    except ValueError as exc:
        raise CliError(f"{what}: {exc}") from None


def _block(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _read_source(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def _summary(answer: dict[str, Any]) -> dict[str, Any]:
    receipt = answer["receipt"]
    out = {"hash": answer["hash"], "status": receipt["status"], "height": answer["height"]}
    if "contract_address" in answer:
        out["contract_address"] = answer["contract_address"]
    out.update(gas_used=receipt["gas_used"], fee=format_amount(int(receipt["fee"])), error=receipt["error"],
               output=receipt["output"], events=receipt["events"])
    return out


def _finish(answer: dict[str, Any]) -> None:
    summary = _summary(answer)
    print_json(summary)
    if summary["status"] != "success":
        raise CliError(f"transaction {summary['hash']} failed: {summary['error'] or 'unknown error'}")


def _value(args: argparse.Namespace) -> int:
    try:
        return parse_amount(args.value) if args.value is not None else 0
    except AmountError as exc:
        raise CliError(f"--value: {exc}") from None


def cmd_contract(args: argparse.Namespace) -> None:
    try:
        {"deploy": _deploy, "call": _call, "query": _query, "code": _code}[args.contract_cmd](args)
    except EstimateFailed as exc:
        raise CliError(f"{exc.what} would fail: {exc.reason} (nothing was sent; --gas N sends it anyway)") from None
    except ContractError as exc:
        raise CliError(str(exc)) from None


def _deploy(args: argparse.Namespace) -> None:
    source = _read_source(args.file)
    call_args = _json_args(args.args)
    value = _value(args)
    try:
        constructor_values(source, call_args)  # refuse before asking for a key or a password
    except ContractError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    key = signing_key(args)
    client = Client(args.rpc)
    nonce = args.nonce if args.nonce is not None else client.next_nonce(to_checksum_address(key.address))
    result = client.deploy(key, source, call_args, value=value, gas_limit=args.gas, max_fee=args.max_fee,
                           priority_fee=args.priority_fee, nonce=nonce, wait=args.wait, timeout=args.timeout)
    if not args.wait:
        print_json({"hash": result, "status": "pending", "contract_address": deployed_address(key.address, nonce)})
        return
    _finish(result)


def _call(args: argparse.Namespace) -> None:
    address = _address(args.address)
    call_args = _json_args(args.args)
    value = _value(args)
    key = signing_key(args)
    client = Client(args.rpc)
    result = client.call_contract(key, address, args.method, call_args, value=value, gas_limit=args.gas,
                                  max_fee=args.max_fee, priority_fee=args.priority_fee, nonce=args.nonce,
                                  wait=args.wait, timeout=args.timeout)
    if not args.wait:
        print_json({"hash": result, "status": "pending"})
        return
    _finish(result)


def _query(args: argparse.Namespace) -> None:
    address = _address(args.address)
    sender = _address(args.sender, "--from") if args.sender else None
    result = Client(args.rpc).contract_call(address, args.method, _json_args(args.args), _block(args.block), sender)
    print_json(result)
    if result["status"] != "success":
        raise CliError(f"{args.method} failed: {result['error'] or 'unknown error'}")


def _code(args: argparse.Namespace) -> None:
    code = Client(args.rpc).get_code(_address(args.address), _block(args.block))
    if args.source:
        print(code["source"], end="" if code["source"].endswith("\n") else "\n")
    elif args.interface:
        print_json(code["interface"])
    else:
        print_json(code)


def add_contract_commands(sub: Any, rpc_parent: argparse.ArgumentParser,
                          ks_parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("contract", help="deploy, call and read contracts")
    csub = p.add_subparsers(dest="contract_cmd", required=True)

    send = argparse.ArgumentParser(add_help=False)
    send.add_argument("--args", help="constructor or method arguments as a JSON array, e.g. '[5, \"0x…\"]'")
    send.add_argument("--value", help="native coin sent with it, in coins (e.g. 1.5)")
    send.add_argument("--gas", type=int, help="gas limit (default: the node's estimate + 20%%)")
    send.add_argument("--max-fee", type=int,
                   help="max fee per gas in base units (default: twice the next base fee plus the tip)")
    send.add_argument("--priority-fee", type=int,
                   help="max priority fee (tip) per gas in base units (default: the node's suggestion)")
    send.add_argument("--from", dest="sender", help="keystore name or address")
    send.add_argument("--key-file", help="a plain key file (node key format; for devnets)")
    send.add_argument("--nonce", type=int)
    send.add_argument("--no-wait", dest="wait", action="store_false", help="print the hash and return")
    send.add_argument("--timeout", type=float, default=30.0)

    c = csub.add_parser("deploy", parents=[rpc_parent, ks_parent, send], help="deploy a contract from a source file")
    c.add_argument("file", help="the contract's Python source")
    c = csub.add_parser("call", parents=[rpc_parent, ks_parent, send], help="call a public method (a transaction)")
    c.add_argument("address")
    c.add_argument("method")
    c = csub.add_parser("query", parents=[rpc_parent], help="run a view on the node (no transaction, no fee)")
    c.add_argument("address")
    c.add_argument("method")
    c.add_argument("--args", help="arguments as a JSON array")
    c.add_argument("--block", default="latest", help="height or block hash (default latest)")
    c.add_argument("--from", dest="sender", help="the address seen as ctx.sender (default the zero address)")
    c = csub.add_parser("code", parents=[rpc_parent], help="a contract's source, code hash and interface")
    c.add_argument("address")
    c.add_argument("--block", default="latest", help="height or block hash (default latest)")
    shown = c.add_mutually_exclusive_group()
    shown.add_argument("--source", action="store_true", help="print only the source")
    shown.add_argument("--interface", action="store_true", help="print only the interface")
    p.set_defaults(func=cmd_contract)
