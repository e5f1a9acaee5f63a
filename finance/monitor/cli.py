"""`finchain monitor` (run the AML monitor) and `finchain aml ...` (ask it; docs/monitoring.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from finance.monitor import export
from finance.monitor.client import MonitorClient
from finance.monitor.config import ConfigError
from finance.monitor.home import admin_token, read_endpoint, rules, write_endpoint
from finance.monitor.service import Monitor, MonitorSettings, WrongChain, serve
from finance.monitor.store import MonitorStore, StoreError
from finance.registry import Registry, RegistryError
from node.cli.common import DEFAULT_RPC, CliError, print_json
from node.client.sdk import Client, RpcCallError, TransportError

DEFAULT_MONITOR = os.environ.get("FINCHAIN_MONITOR", "http://127.0.0.1:8600")
KYC_TOPIC = "kyc.basic"


def add_monitor_commands(sub: Any) -> None:
    p = sub.add_parser("monitor", help="run the AML monitor against a node (docs/monitoring.md)")
    p.add_argument("--rpc", default=DEFAULT_RPC, help="the node's JSON-RPC URL (env FINCHAIN_RPC)")
    p.add_argument("--home", required=True, help="the monitor's folder (database, token, rules)")
    p.add_argument("--config", help="a rules file (TOML); kept in the home for the next start")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8600, help="its JSON-RPC port (0: any free one)")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between looks at the node when caught up")
    p.add_argument("--cors-origins", default="",
                   help="comma-separated browser origins that may read it, e.g. the explorer's (docs/explorer.md)")
    p.set_defaults(func=cmd_monitor)

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--monitor", help=f"the monitor's URL (env FINCHAIN_MONITOR, default {DEFAULT_MONITOR})")
    where.add_argument("--home", help="or the monitor's home, to find its URL and admin token")
    p = sub.add_parser("aml", help="ask an AML monitor: alerts, traces, the watchlist, exports, case reports")
    asub = p.add_subparsers(dest="aml_cmd", required=True)
    asub.add_parser("status", parents=[where], help="how far it has read, and the node's height")
    asub.add_parser("rules", parents=[where], help="the rules in force with their parameters")
    c = asub.add_parser("alerts", parents=[where], help="alerts, oldest first")
    for flag in ("--rule", "--severity", "--address"):
        c.add_argument(flag)
    c.add_argument("--from-height", type=int, default=0)
    c.add_argument("--to-height", type=int)
    c.add_argument("--limit", type=int, default=100)
    c.add_argument("--cursor")
    c = asub.add_parser("alert", parents=[where], help="one alert with its evidence")
    c.add_argument("id")
    c = asub.add_parser("trace", parents=[where], help="follow value from an address or a transaction")
    c.add_argument("start", help="an address (0x + 40 hex) or a transaction hash (0x + 64 hex)")
    c.add_argument("--asset", default="FIN", help="FIN or a token's address")
    c.add_argument("--direction", choices=("forward", "backward"), default="forward")
    c.add_argument("--hops", type=int, default=3)
    c.add_argument("--method", choices=("fifo", "haircut"), default="fifo")
    c.add_argument("--csv", action="store_true", help="the edges as CSV")
    c = asub.add_parser("watch", parents=[where], help="the watchlist: list, add ADDRESS, remove ADDRESS")
    c.add_argument("action", choices=("list", "add", "remove"))
    c.add_argument("address", nargs="?")
    c.add_argument("--source", default="operator", help="where the listing comes from (e.g. OFAC SDN)")
    c.add_argument("--reason", default="", help="why it is listed")
    c = asub.add_parser("export", parents=[where], help="every alert (with filters) as JSON or CSV")
    c.add_argument("--format", choices=("json", "csv"), default="json")
    c.add_argument("--rule")
    c.add_argument("--from-height", type=int, default=0)
    c.add_argument("--out", help="a file (default: standard output)")
    c = asub.add_parser("case", parents=[where], help="a case report of one alert: parties with KYC status, txs")
    c.add_argument("id")
    c.add_argument("--rpc", default=DEFAULT_RPC, help="the node, for the transactions and the identity registry")
    c.add_argument("--identity", default=os.environ.get("FINCHAIN_IDENTITY"), help="the identity registry")
    c.add_argument("--format", choices=("json", "text"), default="json")
    p.set_defaults(func=cmd_aml)


def cmd_monitor(args: argparse.Namespace) -> None:
    home = Path(args.home)
    try:
        config = rules(home, Path(args.config) if args.config else None)
    except ConfigError as exc:
        raise CliError(f"rules refused: {exc}") from None
    try:
        store = MonitorStore(home / "db")
    except StoreError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
                        stream=sys.stderr)
    origins = tuple(o.strip() for o in args.cors_origins.split(",") if o.strip())
    settings = MonitorSettings(args.rpc, home, args.host, args.port, args.poll, admin_token(home), origins)
    try:
        asyncio.run(_run(settings, config, store))
    except WrongChain as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    finally:
        store.close()


async def _run(settings: MonitorSettings, config: Any, store: MonitorStore) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    monitor = Monitor(settings, config, store)

    def ready(url: str) -> None:
        write_endpoint(settings.home, url, settings.node_rpc)
        print(f"AML monitor serving on {url}", flush=True)

    await serve(monitor, stop, ready)


class _Monitor:
    """The monitor the command names, its errors as one-line CLI errors."""

    def __init__(self, args: argparse.Namespace) -> None:
        home = Path(args.home) if args.home else None
        url = args.monitor or (read_endpoint(home) if home else DEFAULT_MONITOR)
        token = admin_token(home) if home and (home / "admin_token").exists() else ""
        self.client = MonitorClient(url, token)

    def _guarded(self, run: Any) -> Any:
        try:
            return run()
        except RpcCallError as exc:
            reason = exc.data.get("reason", "error") if isinstance(exc.data, dict) else "error"
            raise CliError(f"{exc.message} [{reason}]") from None
        except (TransportError, ValueError) as exc:
            raise CliError(f"the monitor did not answer: {exc}") from None

    def call(self, name: str, /, **params: Any) -> Any:
        return self._guarded(lambda: self.client.call(name, **params))

    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        return self._guarded(lambda: self.client.alerts(**filters))


def cmd_aml(args: argparse.Namespace) -> None:
    try:
        m = _Monitor(args)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    cmd = args.aml_cmd
    if cmd in ("status", "rules"):
        print_json(m.call(f"aml_{cmd}"))
    elif cmd == "alerts":
        filters = {k: v for k, v in (("rule", args.rule), ("severity", args.severity), ("address", args.address),
                                     ("to_height", args.to_height), ("cursor", args.cursor)) if v is not None}
        print_json(m.call("aml_alerts", from_height=args.from_height, limit=args.limit, **filters))
    elif cmd == "alert":
        print_json(m.call("aml_alert", id=args.id))
    elif cmd == "trace":
        start = {"tx": args.start} if len(args.start) == 66 else {"address": args.start}
        graph = m.call("aml_trace", asset=args.asset, direction=args.direction, hops=args.hops, method=args.method,
                       **start)
        sys.stdout.write(export.trace_csv(graph)) if args.csv else print_json(graph)
    elif cmd == "watch":
        _watch(m, args)
    elif cmd == "export":
        alerts = m.alerts(from_height=args.from_height, rule=args.rule)
        text = export.alerts_csv(alerts) if args.format == "csv" else json.dumps({"alerts": alerts}, indent=2) + "\n"
        if args.out:
            Path(args.out).write_text(text)
            print(f"{len(alerts)} alerts written to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    elif cmd == "case":
        _case(m, args)


def _watch(m: _Monitor, args: argparse.Namespace) -> None:
    if args.action == "list":
        print_json(m.call("aml_watchlist_list"))
        return
    if not args.address:
        raise CliError(f"aml watch {args.action} needs an ADDRESS")
    if args.action == "add":
        print_json(m.call("aml_watchlist_add", address=args.address, source=args.source,
                          reason=args.reason or args.source))
    else:
        print_json(m.call("aml_watchlist_remove", address=args.address))


def _case(m: _Monitor, args: argparse.Namespace) -> None:
    alert = m.call("aml_alert", id=args.id)
    node = Client(args.rpc)
    kyc: dict[str, str] = {}
    if args.identity:
        registry = Registry(node, args.identity)
        for address in alert["addresses"]:
            try:
                reason = registry.check(address, [KYC_TOPIC])
            except (RegistryError, RpcCallError, TransportError) as exc:
                reason = f"unknown ({exc})"
            kyc[address] = reason or "verified"
    try:
        txs = [node.get_tx(h) for h in alert["txs"]]
    except (RpcCallError, TransportError) as exc:
        raise CliError(f"the node did not answer: {exc}") from None
    report = export.case_report(alert, kyc, txs)
    sys.stdout.write(export.case_text(report)) if args.format == "text" else print_json(report)

