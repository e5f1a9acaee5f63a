"""`finchain pay quote|send|travel|publish-key`: cross-border payments (docs/finance.md, "Cross-border payments").

`send` quotes first (payment_findPaths) and shows the risk block: a blocked payment is refused
and a high-tier one needs --accept-risk (node.cli.common.check_risk). With --travel it encrypts
the R.16 data to the beneficiary's published key and the sender's own (finance/travel.py) and
puts only its SHA-256 in the payment. Then it previews the payment on a copy of the chain
(payment_preview), so a refusal costs nothing and prints the contract's reason code; only then
does it store the travel data, approve the payments contract if the allowance is short, send,
and wait. Tokens are addresses or genesis contract names (FUSD, feur, TUSD: chain_getContracts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from finance.errors import BadTravelData
from finance.travel import (
    TravelClient,
    check_published_key,
    compute_travel_ref,
    encrypt_travel,
    read_travel,
)
from node.cli.common import (
    CliError,
    check_risk,
    ensure_allowance,
    print_json,
    resolve_contract,
    send_call,
    show_risk,
    signing_key,
)
from node.client.sdk import Client
from node.types.crypto import to_checksum_address

DEFAULT_DEADLINE_BLOCKS = 100
MAX_MEMO = 256





def _amount(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        raise CliError(f"{what}: a positive integer of base units, got {text!r}")
    return int(text)


def _deadline(client: Client, text: str | None) -> int:
    """H (a height) or +N (N blocks from now); default +100."""
    raw = text or f"+{DEFAULT_DEADLINE_BLOCKS}"
    relative = raw.startswith("+")
    digits = raw[1:] if relative else raw
    if not digits.isascii() or not digits.isdigit():
        raise CliError(f"--deadline: a height H or +N blocks, got {raw!r}")
    return client.status()["height"] + int(digits) if relative else int(digits)


def _quote(client: Client, names: dict[str, str], args: argparse.Namespace, send: str, deliver: str,
           amount: int | None, deliver_amount: int | None, limit: int) -> dict[str, Any]:
    where = {"payments": resolve_contract(names, args.payments, "--payments")} if args.payments else {}
    return client.find_paths(send, deliver, amount, deliver_amount, limit=limit, **where)


def cmd_quote(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    names = client.contracts()
    send = resolve_contract(names, args.send_token, "--send-token")
    deliver = resolve_contract(names, args.deliver_token, "--deliver-token")
    if (args.amount is None) == (args.deliver_amount is None):
        raise CliError("give one of --amount (to send) and --deliver-amount")
    amount = _amount(args.amount, "--amount") if args.amount else None
    deliver_amount = _amount(args.deliver_amount, "--deliver-amount") if args.deliver_amount else None
    quote = _quote(client, names, args, send, deliver, amount, deliver_amount, args.limit)
    print_json(quote)
    if quote["paths"]:
        print(show_risk(quote["paths"][0]["risk"]), file=sys.stderr)
    else:
        print("no path: no pools connect these tokens, or none is deep enough", file=sys.stderr)


def _choose(quote: dict[str, Any], path: list[str] | None) -> dict[str, Any]:
    if not quote["paths"]:
        raise CliError("no path: no pools connect these tokens, or none is deep enough (nothing was sent)")
    if path is None:
        return quote["paths"][0]
    for p in quote["paths"]:
        if [a.lower() for a in p["path"]] == [a.lower() for a in path]:
            return p
    raise CliError("--path: not among the quoted paths (finchain pay quote lists them); nothing was sent")


def _travel(client: Client, args: argparse.Namespace, payments: str, to: str) -> bytes | None:
    if not args.travel:
        return None
    if not args.travel_service:
        raise CliError("--travel needs --travel-service URL (a KYC issuer service that stores travel data)")
    try:
        data = json.loads(Path(args.travel).read_text())
    except OSError as exc:
        raise CliError(f"cannot read --travel {args.travel}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"--travel {args.travel}: not JSON ({exc})") from None
    out = client.contract_call(payments, "encryption_key", [to])
    if out["status"] != "success":
        raise CliError(f"cannot read the beneficiary's key: {out['error']}")
    raw = bytes.fromhex(str(out["output"])[2:])
    beneficiary_pub = check_published_key(bytes.fromhex(to[2:]), raw)
    return encrypt_travel(data, signing_key(args).public_key, beneficiary_pub)


def cmd_send(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    names = client.contracts()
    send = resolve_contract(names, args.send_token, "--send-token")
    deliver = resolve_contract(names, args.deliver_token, "--deliver-token")
    to = to_checksum_address(bytes.fromhex(resolve_contract(names, args.to, "--to")[2:]))
    if (args.deliver_min is None) == (args.deliver_amount is None):
        raise CliError("give one of --deliver-min and --deliver-amount")
    send_max = _amount(args.send_max, "--send-max")
    deliver_min = _amount(args.deliver_min, "--deliver-min") if args.deliver_min else 0
    deliver_amount = _amount(args.deliver_amount, "--deliver-amount") if args.deliver_amount else 0
    path = [resolve_contract(names, t.strip(), "--path") for t in args.path.split(",")] if args.path else None
    memo = args.memo.encode()
    if len(memo) > MAX_MEMO:
        raise CliError(f"--memo: at most {MAX_MEMO} bytes")
    quote = _quote(client, names, args, send, deliver, None if deliver_amount else send_max,
                   deliver_amount or None, 10)
    chosen = _choose(quote, path)
    print(show_risk(chosen["risk"]), file=sys.stderr)
    check_risk(chosen["risk"], args.accept_risk)
    payments = quote.get("payments")
    if payments is None:
        raise CliError("--payments: this chain has no genesis payments contract; pass its address")
    route = chosen["path"] if len(chosen["path"]) > 1 else []
    ciphertext = _travel(client, args, payments, to)
    ref = compute_travel_ref(ciphertext) if ciphertext is not None else b""
    key = signing_key(args)
    sender = to_checksum_address(key.address)
    deadline = _deadline(client, args.deadline)
    call_args = [to, send, deliver, str(send_max), str(deliver_min), str(deliver_amount), route, deadline,
                 "0x" + memo.hex(), "0x" + ref.hex()]
    preview = client.payment_preview(sender, to, send, deliver, send_max, deliver_min=str(deliver_min),
                                     deliver_amount=str(deliver_amount), path=route, deadline=deadline,
                                     memo="0x" + memo.hex(), travel_ref="0x" + ref.hex(), payments=payments)
    outcome = preview["outcome"]
    if outcome["status"] != "success":
        raise CliError(f"the payment would fail: {outcome['error']} (nothing was sent)")
    if ciphertext is not None:
        TravelClient(args.travel_service).submit(ciphertext)
    ensure_allowance(client, args, send, payments, int(outcome["output"]["spent"]))
    answer = send_call(client, args, payments, "pay", call_args)
    out = answer["receipt"]["output"]
    print_json({"hash": answer["hash"], "height": answer["height"], "to": to,
                "delivered_amount": str(out["delivered_amount"]), "spent": str(out["spent"]),
                "rate": str(out["rate"]), "path": out["path"], "travel_ref": "0x" + ref.hex() if ref else None,
                "gas_used": answer["receipt"]["gas_used"], "quoted_delivered": chosen["delivered_amount"],
                "quoted_spent": chosen["spent"]})


def cmd_travel(args: argparse.Namespace) -> None:
    """The beneficiary (or the originator) reads a payment's travel data: by its ref, checked, decrypted."""
    client = Client(args.rpc)
    tx = client.call("tx_get", args.tx_hash)
    receipt = tx.get("receipt") or {}
    events = [e for e in receipt.get("events", []) if e["name"] == "PathPayment"]
    if not events:
        raise CliError(f"{args.tx_hash} is not a committed payment (no PathPayment event)")
    ref_hex = events[0]["data"][9]
    if ref_hex in ("0x", "", None):
        raise BadTravelData("this payment carries no travel_ref")
    data = read_travel(args.travel_service, bytes.fromhex(ref_hex[2:]), signing_key(args))
    print_json({"tx": args.tx_hash, "travel_ref": ref_hex, "travel": data})


def cmd_publish_key(args: argparse.Namespace) -> None:
    """Publish the account's own public key, which travel data sent to it is encrypted to."""
    client = Client(args.rpc)
    names = client.contracts()
    payments = resolve_contract(names, args.payments or "payments", "--payments")
    key = signing_key(args)
    answer = send_call(client, args, payments, "set_encryption_key", ["0x" + key.public_key.hex()])
    print_json({"hash": answer["hash"], "height": answer["height"], "account": to_checksum_address(key.address),
                "encryption_key": "0x" + key.public_key.hex()})


def add_pay_commands(sub: Any, rpc: argparse.ArgumentParser, keys: argparse.ArgumentParser, guard: Any) -> None:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--payments", help="the payments contract (default: the genesis one)")
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--accept-risk", action="store_true", help="send a high-tier payment anyway")
    signer.add_argument("--timeout", type=float, default=30.0)
    p = sub.add_parser("pay", help="cross-border path payments with travel-rule data")
    psub = p.add_subparsers(dest="pay_cmd", required=True)
    c = psub.add_parser("quote", parents=[rpc, where], help="the best paths, amounts, rate and risk")
    c.add_argument("--send-token", required=True, help="address or genesis name (FUSD, FEUR, TUSD)")
    c.add_argument("--deliver-token", required=True)
    c.add_argument("--amount", help="send exactly this many base units")
    c.add_argument("--deliver-amount", help="deliver exactly this many base units")
    c.add_argument("--limit", type=int, default=3, help="paths shown, 1 to 10")
    c.set_defaults(func=lambda a: guard(cmd_quote, a))
    c = psub.add_parser("send", parents=[rpc, keys, where, signer], help="quote, preview, then pay")
    c.add_argument("--to", required=True, help="the recipient's address")
    c.add_argument("--send-token", required=True)
    c.add_argument("--deliver-token", required=True)
    c.add_argument("--send-max", required=True, help="the most base units spent (all of it with --deliver-min)")
    c.add_argument("--deliver-min", help="deliver at least this much, spending exactly --send-max")
    c.add_argument("--deliver-amount", help="deliver exactly this much, spending at most --send-max")
    c.add_argument("--path", help="tokens from sent to delivered, e.g. FEUR,FUSD,TUSD (default: the best quoted)")
    c.add_argument("--deadline", help="last block height H, or +N blocks from now (default +100)")
    c.add_argument("--memo", default="", help=f"text kept in the payment's event (at most {MAX_MEMO} bytes)")
    c.add_argument("--travel", help="R.16 originator/beneficiary data (JSON file), sent encrypted off chain")
    c.add_argument("--travel-service", help="the KYC issuer service URL that stores travel data")
    c.set_defaults(func=lambda a: guard(cmd_send, a))
    c = psub.add_parser("travel", parents=[rpc, keys], help="read a payment's travel data as a party to it")
    c.add_argument("tx_hash")
    c.add_argument("--travel-service", required=True)
    c.set_defaults(func=lambda a: guard(cmd_travel, a))
    c = psub.add_parser("publish-key", parents=[rpc, keys, where, signer],
                        help="publish your public key for travel data sent to you")
    c.set_defaults(func=lambda a: guard(cmd_publish_key, a))
