"""`finchain swap ...` and `finchain lend ...`: the swap and lending products with their risk block
(docs/finance.md, "Risk in every quote").

Every action is quoted or previewed first and its risk block shown; a blocked one is refused and
a high-tier one needs --accept-risk (node.cli.common.check_risk), so nothing is signed for an
action the user was not warned about. Token amounts are integers of base units, as the contracts
count them; tokens and contracts are addresses or genesis names (FUSD, feur, swap, lending).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

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

DEFAULT_DEADLINE_S = 300
BPS = 10_000


def _amount(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise CliError(f"{what}: an integer of base units, got {text!r}")
    value = int(text)
    if value == 0:
        raise CliError(f"{what}: must be positive")
    return value


def _path(names: dict[str, str], text: str) -> list[str]:
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if len(tokens) < 2:
        raise CliError("--path: at least two tokens, e.g. FUSD,FEUR")
    return [resolve_contract(names, t, "--path") for t in tokens]


def _note(risk: dict[str, Any]) -> None:
    print(show_risk(risk), file=sys.stderr)





def cmd_swap(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    names = client.contracts()
    path = _path(names, args.path)
    where = {"swap": resolve_contract(names, args.swap, "--swap")} if args.swap else {}
    if args.swap_cmd == "quote":
        if (args.amount_in is None) == (args.amount_out is None):
            raise CliError("give one of --amount-in and --amount-out")
        amount_in = _amount(args.amount_in, "--amount-in") if args.amount_in else None
        amount_out = _amount(args.amount_out, "--amount-out") if args.amount_out else None
        quote = client.swap_quote(path, amount_in, amount_out, **where)
        print_json(quote)
        _note(quote["risk"])
        return
    amount_in = _amount(args.amount_in, "--amount-in")
    quote = client.swap_quote(path, amount_in, **where)
    _note(quote["risk"])
    check_risk(quote["risk"], args.accept_risk)
    quoted = int(quote["amount_out"])
    min_out = (_amount(args.min_out, "--min-out") if args.min_out
               else quoted * (BPS - args.slippage_bps) // BPS)
    key_address = to_checksum_address(signing_key(args).address)
    to = resolve_contract(names, args.to, "--to") if args.to else key_address
    ensure_allowance(client, args, path[0], quote["swap"], amount_in)
    deadline = int(time.time()) + args.deadline_s
    answer = send_call(client, args, quote["swap"], "swap_exact_tokens_for_tokens",
                   [str(amount_in), str(min_out), path, to, deadline])
    amounts = answer["receipt"]["output"]
    print_json({"hash": answer["hash"], "height": answer["height"], "amount_in": str(amounts[0]),
                "amount_out": str(amounts[-1]), "quoted_out": str(quoted), "min_out": str(min_out)})


def cmd_lend(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    names = client.contracts()
    token = resolve_contract(names, args.token, "TOKEN")
    amount = _amount(args.amount, "AMOUNT")
    where = {"lending": resolve_contract(names, args.lending, "--lending")} if args.lending else {}
    if args.lend_cmd == "preview":
        account = resolve_contract(names, args.account, "--account")
        preview = client.lending_preview(args.action, token, amount, account, **where)
        print_json(preview)
        _note(preview["risk"])
        return
    account = to_checksum_address(signing_key(args).address)
    market = where.get("lending") or names.get("lending")
    if market is None:
        raise CliError("--lending: this chain has no genesis lending market; pass its address")
    if args.lend_cmd in ("supply", "repay"):
        # The preview runs the action itself, which pulls the tokens: approve first.
        ensure_allowance(client, args, token, market, amount)
    preview = client.lending_preview(args.lend_cmd, token, amount, account, lending=market)
    _note(preview["risk"])
    if preview["outcome"]["status"] != "success":
        raise CliError(f"{args.lend_cmd} would fail: {preview['outcome']['error']} (nothing was sent)")
    check_risk(preview["risk"], args.accept_risk)
    method = "redeem_underlying" if args.lend_cmd == "redeem" else args.lend_cmd
    answer = send_call(client, args, market, method, [token, str(amount)])
    print_json({"hash": answer["hash"], "height": answer["height"], "action": args.lend_cmd,
                "output": answer["receipt"]["output"],
                "health_factor_after": preview["risk"].get("health_factor_after")})


def add_product_commands(sub: Any, rpc_parent: argparse.ArgumentParser, ks_parent: argparse.ArgumentParser) -> None:
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--from", dest="sender", help="keystore name or address")
    signer.add_argument("--key-file", help="a plain key file (node key format; for devnets)")
    signer.add_argument("--accept-risk", action="store_true", help="send a high-tier action anyway")
    signer.add_argument("--timeout", type=float, default=30.0)

    p = sub.add_parser("swap", help="quote and send swaps through the pools, with their risk")
    ssub = p.add_subparsers(dest="swap_cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--path", required=True, help="tokens from sold to bought, e.g. FUSD,FEUR")
    common.add_argument("--swap", help="the swap contract (default: the genesis one)")
    q = ssub.add_parser("quote", parents=[rpc_parent, common], help="amounts, rate and the risk block")
    q.add_argument("--amount-in", help="sell exactly this many base units")
    q.add_argument("--amount-out", help="buy exactly this many base units")
    s = ssub.add_parser("send", parents=[rpc_parent, ks_parent, common, signer], help="sell an exact amount")
    s.add_argument("--amount-in", required=True, help="base units sold")
    s.add_argument("--min-out", help="fewest base units accepted (default: the quote less --slippage-bps)")
    s.add_argument("--slippage-bps", type=int, default=50, help="default 50 (0.5%%)")
    s.add_argument("--to", help="recipient (default: the sender)")
    s.add_argument("--deadline-s", type=int, default=DEFAULT_DEADLINE_S, help="seconds from now")
    p.set_defaults(func=cmd_swap)

    p = sub.add_parser("lend", help="preview and send lending actions, with the loan's risk")
    lsub = p.add_subparsers(dest="lend_cmd", required=True)
    market = argparse.ArgumentParser(add_help=False)
    market.add_argument("--lending", help="the lending market (default: the genesis one)")
    v = lsub.add_parser("preview", parents=[rpc_parent, market], help="outcome, rates and the risk block")
    v.add_argument("action", choices=("supply", "redeem", "borrow", "repay"))
    v.add_argument("token")
    v.add_argument("amount", help="base units")
    v.add_argument("--account", required=True, help="who would act")
    for action, text in (("supply", "supply tokens (collateral and interest)"),
                         ("redeem", "take supplied tokens back"), ("borrow", "borrow against collateral"),
                         ("repay", "repay a loan")):
        a = lsub.add_parser(action, parents=[rpc_parent, ks_parent, market, signer], help=text)
        a.add_argument("token")
        a.add_argument("amount", help="base units")
    p.set_defaults(func=cmd_lend)
