"""The `finchain` command line: init, node, keys, tx, query, status, contract (node/cli/contract.py).

Amounts are read and printed in coins with up to 18 decimals ("1.5"), never through
floating point. Errors print one line and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from node.cli.common import DEFAULT_KEYSTORE, DEFAULT_RPC, CliError, password, print_json, signing_key
from node.cli.contract import add_contract_commands
from node.cli.products import add_product_commands
from node.client.keystore import Keystore, KeystoreError
from node.client.sdk import Client, RpcCallError, TransportError, build_transfer
from node.config import ConfigError, init_home
from node.types.amounts import AmountError, format_amount, parse_amount
from node.types.crypto import AddressError, PrivateKey, parse_address, to_checksum_address
from node.types.genesis import GenesisAccount, GenesisError

# -- init and node --------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    accounts = []
    for item in args.fund or []:
        addr, _, amount = item.partition("=")
        try:
            accounts.append(GenesisAccount(parse_address(addr), parse_amount(amount)))
        except (AddressError, AmountError) as exc:
            raise CliError(f"--fund {item}: {exc}") from exc
    genesis, vkey = init_home(
        Path(args.home), chain_id=args.chain_id, moniker=args.moniker, rpc_port=args.rpc_port,
        p2p_port=args.p2p_port, accounts=tuple(accounts), overwrite=args.force,
    )
    print_json(f"initialised {args.home} for chain {genesis.chain_id}; validator {to_checksum_address(vkey.address)}")


def cmd_node(args: argparse.Namespace) -> None:
    from node.config import load_config
    from node.daemon import serve
    from node.logs import setup_logging

    home = Path(args.home)
    config = load_config(home)
    setup_logging(args.log_format or config.log_format, config.log_level)
    import uvloop

    from node.daemon import StartupError

    try:
        uvloop.run(serve(home))
    except KeyboardInterrupt:
        pass
    except StartupError as exc:
        raise CliError(str(exc)) from None
    except BaseExceptionGroup as group:
        startup = group.subgroup(StartupError)
        if startup is None:
            raise
        raise CliError("; ".join(str(e) for e in startup.exceptions)) from None


# -- keys -----------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace) -> None:
    ks = Keystore(Path(args.keystore))
    if args.keys_cmd == "new":
        print_json(ks.new(password(args, confirm=True), args.name))
    elif args.keys_cmd == "list":
        for address, name, _ in ks.list():
            print(f"{address}  {name or ''}".rstrip())
    elif args.keys_cmd == "show":
        for address, name, path in ks.list():
            if args.key in (address, name) or args.key.lower() == address.lower():
                print_json({"address": address, "name": name, "file": str(path)})
                return
        raise CliError(f"no key {args.key!r} in {args.keystore}")
    elif args.keys_cmd == "import":
        text = Path(args.private_key_file).read_text().strip() if args.private_key_file else getpass.getpass("Key: ")
        try:
            key = PrivateKey.from_hex(text)
        except ValueError as exc:
            raise CliError(f"not a private key: {exc}") from exc
        print_json(ks.import_key(key.secret, password(args, confirm=True), args.name))
    elif args.keys_cmd == "export":
        print("0x" + ks.export_key(args.key, password(args)).hex())


# -- tx, query, status ----------------------------------------------------------------------


def cmd_tx(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    key = signing_key(args)
    try:
        to = parse_address(args.to)
        amount = parse_amount(args.amount)
    except (AddressError, AmountError) as exc:
        raise CliError(str(exc)) from exc
    sender = to_checksum_address(key.address)
    nonce = args.nonce if args.nonce is not None else client.next_nonce(sender)
    max_fee, priority_fee = client.fees(args.max_fee, args.priority_fee)
    tx = build_transfer(key, client.chain_id, nonce, to, amount, max_fee=max_fee, priority_fee=priority_fee,
                        gas_limit=args.gas_limit, expiry_height=args.expiry_height)
    tx_hash = client.send_raw(tx.raw)
    if not args.wait:
        print_json({"hash": tx_hash, "status": "pending"})
        return
    answer = client.wait_for_tx(tx_hash, args.timeout)
    receipt = answer["receipt"]
    print_json({"hash": tx_hash, "status": receipt["status"], "height": answer["height"],
            "fee": format_amount(int(receipt["fee"])), "error": receipt["error"]})


def cmd_query(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    if args.query_cmd == "account":
        acct = client.account(args.address, args.height if args.height is not None else "latest")
        acct["balance_coins"] = format_amount(int(acct["balance"]))
        print_json(acct)
    elif args.query_cmd == "tx":
        print_json(client.get_tx(args.hash))
    elif args.query_cmd == "block":
        block: int | str = int(args.block) if args.block.isdigit() else args.block
        print_json(client.get_block(block, args.full))
    elif args.query_cmd == "history":
        print_json(client.call("account_txs", args.address, args.limit, args.cursor))


def cmd_status(args: argparse.Namespace) -> None:
    print_json(Client(args.rpc).status())


# -- parser ---------------------------------------------------------------------------------


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    parser = argparse.ArgumentParser(prog="finchain", description="finchain: a BFT blockchain node for finance")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("init", help="create a node home folder (keys, genesis, config)")
    p.add_argument("--home", required=True)
    p.add_argument("--chain-id", default="finchain-local")
    p.add_argument("--moniker", default="node0")
    p.add_argument("--rpc-port", type=int, default=8545)
    p.add_argument("--p2p-port", type=int, default=26656)
    p.add_argument("--fund", action="append", metavar="ADDRESS=AMOUNT", help="prefund an account (coins)")
    p.add_argument("--force", action="store_true", help="overwrite an existing home")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("node", help="run the node in the foreground")
    p.add_argument("--home", required=True)
    p.add_argument("--log-format", choices=("text", "json"))
    p.set_defaults(func=cmd_node)

    rpc_parent = argparse.ArgumentParser(add_help=False)
    rpc_parent.add_argument("--rpc", default=DEFAULT_RPC, help="node JSON-RPC URL (env FINCHAIN_RPC)")
    ks_parent = argparse.ArgumentParser(add_help=False)
    ks_parent.add_argument("--keystore", default=str(DEFAULT_KEYSTORE), help="keystore folder (env FINCHAIN_KEYSTORE)")
    ks_parent.add_argument("--password-file", help="read the password from this file (or env FINCHAIN_PASSWORD)")

    p = sub.add_parser("keys", help="manage the encrypted keystore")
    ksub = p.add_subparsers(dest="keys_cmd", required=True)
    k = ksub.add_parser("new", parents=[ks_parent])
    k.add_argument("--name")
    ksub.add_parser("list", parents=[ks_parent])
    k = ksub.add_parser("show", parents=[ks_parent])
    k.add_argument("key", help="address or name")
    k = ksub.add_parser("import", parents=[ks_parent])
    k.add_argument("--name")
    k.add_argument("--private-key-file", help="file holding the 0x hex private key (else prompted)")
    k = ksub.add_parser("export", parents=[ks_parent])
    k.add_argument("key", help="address or name")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("tx", help="send transactions")
    tsub = p.add_subparsers(dest="tx_cmd", required=True)
    t = tsub.add_parser("transfer", parents=[rpc_parent, ks_parent], help="send native coin")
    t.add_argument("--to", required=True)
    t.add_argument("--amount", required=True, help="in coins, e.g. 1.5")
    t.add_argument("--from", dest="sender", help="keystore name or address")
    t.add_argument("--key-file", help="a plain key file (node key format; for devnets)")
    t.add_argument("--max-fee", type=int,
                   help="max fee per gas in base units (default: twice the next base fee plus the tip)")
    t.add_argument("--priority-fee", type=int,
                   help="max priority fee (tip) per gas in base units (default: the node's suggestion)")
    t.add_argument("--gas-limit", type=int, default=21_000)
    t.add_argument("--nonce", type=int)
    t.add_argument("--expiry-height", type=int, default=0)
    t.add_argument("--wait", action="store_true", help="wait until committed")
    t.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_tx)

    p = sub.add_parser("query", help="read chain state")
    qsub = p.add_subparsers(dest="query_cmd", required=True)
    q = qsub.add_parser("account", parents=[rpc_parent])
    q.add_argument("address")
    q.add_argument("--height", type=int)
    q = qsub.add_parser("tx", parents=[rpc_parent])
    q.add_argument("hash")
    q = qsub.add_parser("block", parents=[rpc_parent])
    q.add_argument("block", nargs="?", default="latest")
    q.add_argument("--full", action="store_true")
    q = qsub.add_parser("history", parents=[rpc_parent])
    q.add_argument("address")
    q.add_argument("--limit", type=int, default=20)
    q.add_argument("--cursor")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("status", parents=[rpc_parent], help="the node's status")
    p.set_defaults(func=cmd_status)


    add_contract_commands(sub, rpc_parent, ks_parent)
    add_product_commands(sub, rpc_parent, ks_parent)
    return parser, sub


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except (CliError, ConfigError, GenesisError, KeystoreError, AmountError, AddressError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RpcCallError as exc:
        reason = f" [{exc.reason}]" if exc.reason else ""
        print(f"error: {exc.message}{reason}", file=sys.stderr)
        return 1
    except (TransportError, TimeoutError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser, argv)
