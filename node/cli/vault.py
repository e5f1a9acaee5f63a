"""`finchain vault ...`: the ERC-4626 investment vault (docs/finance.md, "Investment vault").

Every action is previewed first (`vault_preview`), which also dry-runs it as the sender: a refusal
stops here with the vault's reason code and costs nothing. The risk line is shown; a blocked
action is refused and a high-tier one needs --accept-risk (node.cli.common.check_risk). Only then,
if the vault is not yet approved for the assets it will pull, an approval is sent, then the action.
Amounts are integers of base units: assets for deposit and withdraw, shares for mint and redeem.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from node.cli.common import CliError, check_risk, print_json, resolve_contract, send_call, show_risk, signing_key
from node.client.sdk import Client
from node.types.crypto import to_checksum_address

# A mint's price moves up with each block of interest between the preview and the transaction:
# the approval leaves this much room (in basis points) so the mint does not fall short.
MINT_APPROVAL_MARGIN_BPS = 10


def _amount(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        raise CliError(f"{what}: a positive integer of base units, got {text!r}")
    return int(text)




def _where(names: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    out = {}
    for field in ("vault", "receiver", "owner"):
        text = getattr(args, field, None)
        if text:
            out[field] = resolve_contract(names, text, "--" + field)
    return out


def cmd_vault(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    names = client.contracts()
    where = _where(names, args)
    vault = where.get("vault") or names.get("vault")
    if vault is None:
        raise CliError("--vault: this chain has no genesis vault; pass its address")
    if args.vault_cmd == "info":
        _info(client, vault, resolve_contract(names, args.account, "--account") if args.account else None)
        return
    if args.vault_cmd == "preview":
        account = resolve_contract(names, args.account, "--account")
        preview = client.vault_preview(args.action, _amount(args.amount, "AMOUNT"), account, **where)
        print_json(preview)
        print(show_risk(preview["risk"]), file=sys.stderr)
        return
    action = args.vault_cmd
    amount = _amount(args.amount, "AMOUNT")
    sender = to_checksum_address(signing_key(args).address)
    preview = client.vault_preview(action, amount, sender, **where)
    print(show_risk(preview["risk"]), file=sys.stderr)
    outcome = preview["outcome"]
    if outcome["status"] != "success":
        raise CliError(f"{action} would fail: {outcome['error']} (nothing was sent)")
    check_risk(preview["risk"], args.accept_risk)
    approval = preview["approval"]
    if approval and approval["needed"]:
        pulled = int(approval["amount"])
        if action == "mint":
            pulled += pulled * MINT_APPROVAL_MARGIN_BPS // 10_000 + 1
        send_call(client, args, preview["asset"], "approve", [vault, str(pulled)])
    receiver = where.get("receiver", sender)
    call_args = [str(amount), receiver] if action in ("deposit", "mint") else [str(amount), receiver,
                                                                               where.get("owner", sender)]
    answer = send_call(client, args, vault, action, call_args)
    given = "shares" if action in ("deposit", "withdraw") else "assets"
    print_json({"hash": answer["hash"], "height": answer["height"], "action": action,
                "assets" if given == "shares" else "shares": str(amount),
                given: str(answer["receipt"]["output"]), "previewed": preview["preview"]})


def _info(client: Client, vault: str, account: str | None) -> None:
    def view(method: str, call_args: list[Any]) -> Any:
        res = client.contract_call(vault, method, call_args)
        if res["status"] != "success":
            raise CliError(f"{method}: {res['error']}")
        return res["output"]

    out = {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
           for k, v in view("info", []).items()}
    out = {"vault": vault, "name": view("name", []), "symbol": view("symbol", []),
           "decimals": int(view("decimals", [])), **out}
    if account is not None:
        shares = int(view("balance_of", [account]))
        out["account"] = {"address": account, "shares": str(shares),
                          "assets": str(view("convert_to_assets", [str(shares)])),
                          "max_withdraw": str(view("max_withdraw", [account])),
                          "max_redeem": str(view("max_redeem", [account]))}
    print_json(out)


def add_vault_commands(sub: Any, rpc_parent: argparse.ArgumentParser, ks_parent: argparse.ArgumentParser) -> None:
    place = argparse.ArgumentParser(add_help=False)
    place.add_argument("--vault", help="the vault (default: the genesis one)")
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--from", dest="sender", help="keystore name or address")
    signer.add_argument("--key-file", help="a plain key file (node key format; for devnets)")
    signer.add_argument("--accept-risk", action="store_true", help="send a high-tier action anyway")
    signer.add_argument("--timeout", type=float, default=30.0)

    p = sub.add_parser("vault", help="the investment vault: deposit, mint, withdraw, redeem, with their risk")
    vsub = p.add_subparsers(dest="vault_cmd", required=True)
    c = vsub.add_parser("info", parents=[rpc_parent, place], help="total assets, share price, the market's cash")
    c.add_argument("--account", help="also this account's shares, their worth and its maximums")
    c = vsub.add_parser("preview", parents=[rpc_parent, place], help="the preview, a dry run and the risk block")
    c.add_argument("action", choices=("deposit", "mint", "withdraw", "redeem"))
    c.add_argument("amount", help="assets (deposit, withdraw) or shares (mint, redeem), base units")
    c.add_argument("--account", required=True, help="who would act")
    c.add_argument("--receiver", help="who would get the shares or assets (default: the account)")
    c.add_argument("--owner", help="withdraw, redeem: whose shares (default: the account)")
    for action, text, unit in (("deposit", "put assets in for shares", "assets"),
                               ("mint", "get exact shares for assets", "shares"),
                               ("withdraw", "take exact assets out, burning shares", "assets"),
                               ("redeem", "burn exact shares for assets", "shares")):
        c = vsub.add_parser(action, parents=[rpc_parent, ks_parent, place, signer], help=text)
        c.add_argument("amount", help=f"{unit}, base units")
        c.add_argument("--receiver", help="who gets the " + ("shares" if action in ("deposit", "mint") else
                                                              "assets") + " (default: the sender)")
        if action in ("withdraw", "redeem"):
            c.add_argument("--owner", help="whose shares (default: the sender; another needs a share allowance)")
    p.set_defaults(func=cmd_vault)
