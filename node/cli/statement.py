"""`finchain statement ADDRESS --from-height H1 --to-height H2 [--csv]`: an account statement.

Every page of `account_statement` is fetched and joined (node/client/statements.py), so the
output is the whole range: JSON as the RPC answers it, or CSV (docs/finance.md lists the columns).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from node.cli.common import CliError, print_json
from node.client.sdk import STATEMENT_PAGE, Client
from node.client.statements import StatementError, statement_csv
from node.types.crypto import AddressError, parse_address, to_checksum_address


def cmd_statement(args: argparse.Namespace) -> None:
    try:
        address = to_checksum_address(parse_address(args.address))
    except AddressError as exc:
        raise CliError(f"ADDRESS: {exc}") from exc
    try:
        statement = Client(args.rpc).account_statement(address, args.from_height, args.to_height, limit=args.limit)
    except StatementError as exc:
        raise CliError(f"the node's pages do not join: {exc}") from exc
    for asset in statement["assets"]:
        if not asset["reconciled"]:
            # Only a token without a Transfer event for every balance change can get here.
            print(f"warning: {asset['asset']} does not reconcile: opening {asset['opening']} + movements "
                  f"{asset['movements_total']} != closing {asset['closing']}", file=sys.stderr)
    if args.csv:
        sys.stdout.write(statement_csv(statement))
    else:
        print_json(statement)


def add_statement_command(sub: Any, rpc_parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("statement", parents=[rpc_parent],
                       help="opening and closing balances of every asset of an address, and every movement between")
    p.add_argument("address")
    p.add_argument("--from-height", type=int, required=True, help="first height (opening: the state after it - 1)")
    p.add_argument("--to-height", type=int, required=True, help="last height (closing: the state after it)")
    p.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    p.add_argument("--limit", type=int, default=STATEMENT_PAGE, help="movements per request (1..10000)")
    p.set_defaults(func=cmd_statement)
