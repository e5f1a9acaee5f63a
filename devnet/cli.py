"""`finchain devnet ...`: a local cluster of real node processes, driven from any shell.

This module also provides the `finchain` console script: it takes the node's command
line and adds the `devnet` commands, so `node` never imports `devnet`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from devnet import monitor as devnet_monitor
from devnet import proxy_process
from devnet.bench import add_bench_command
from devnet.chaos import add_chaos_command
from devnet.faults import FaultError, Faults, describe, parse_groups, parse_ms, parse_node, parse_percent
from devnet.homes import DevnetError, Manifest, NodeEntry, generate
from devnet.ports import check_free, plan_free
from devnet.process import NodeProcess
from devnet.proxy_control import ProxyClient, ProxyThread
from finance.cli import add_finance_commands
from node.cli.main import build_parser, run
from node.client.sdk import Client, TransportError


def _alive(entry: NodeEntry) -> bool:
    if not entry.pid:
        return False
    try:
        cmdline = Path(f"/proc/{entry.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return entry.home.encode() in cmdline  # guards against a reused pid


def _proc(entry: NodeEntry) -> NodeProcess:
    index = int(entry.name.removeprefix("node")) if entry.name.removeprefix("node").isdigit() else 0
    return NodeProcess(Path(entry.home), int(entry.rpc.rsplit(":", 1)[1]), entry.name, hash_seed=index + 1)


def _status_row(entry: NodeEntry) -> dict[str, Any]:
    row: dict[str, Any] = {"node": entry.name, "role": entry.role, "pid": entry.pid if _alive(entry) else None,
                           "rpc": entry.rpc, "metrics": entry.metrics, "explorer": entry.explorer}
    if row["pid"] is None:
        row["state"] = "stopped"
        return row
    try:
        st = Client(entry.rpc, timeout=1.0).status()
    except TransportError:
        row["state"] = "unreachable"
        return row
    cs = st.get("consensus") or {}
    row.update(state="running", height=st["height"], round=cs.get("round"), step=cs.get("step"),
               peers=st["peers"], mempool=st.get("mempool_size"), catching_up=st["catching_up"])
    return row


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns))


def _print_urls(entries: tuple[NodeEntry, ...]) -> None:
    """Each node's pages, under its table (the table would be too wide with them)."""
    print("\nURLS:")
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"  {e.name.ljust(width)}  explorer {e.explorer}  metrics {e.metrics}")


def _find(manifest: Manifest, name: str) -> NodeEntry:
    for entry in manifest.nodes:
        if entry.name == name or entry.name == f"node{name}":
            return entry
    names = ", ".join(e.name for e in manifest.nodes)
    raise DevnetError(f"no node {name!r} in this devnet (nodes: {names})")


def _start_all(manifest: Manifest, home: Path, timeout: float = 60.0) -> Manifest:
    procs = {e.name: _proc(e) for e in manifest.nodes}
    for p in procs.values():
        p.start()
    manifest = manifest.with_pids({n: p.pid for n, p in procs.items()})
    manifest.save(home)
    try:
        for p in procs.values():
            p.wait_ready(timeout)
        for p in procs.values():
            p.wait_height(1, timeout)
    except (RuntimeError, TimeoutError) as exc:
        for p in procs.values():
            p.stop(5)
        manifest.with_pids(dict.fromkeys(procs)).save(home)
        raise DevnetError(f"the devnet did not start: {exc}") from exc
    for p in procs.values():
        p.wait_exit = lambda timeout: None  # type: ignore[method-assign]  # detached: nothing to reap here
    return manifest


def cmd_up(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if (home / "devnet.json").exists():
        old = Manifest.load(home)
        if any(_alive(e) for e in old.nodes) or proxy_process.proxy_state(old) is not None:
            raise DevnetError(f"a devnet is already running at {home}; `finchain devnet down --home {home}` first")
        if not args.reset:
            manifest = old
            check_free(manifest.all_ports())
            print(f"restarting the devnet at {home} (use --reset for a new chain)")
        else:
            shutil.rmtree(home)
            manifest = None
    else:
        manifest = None
    if manifest is None:
        home.mkdir(parents=True, exist_ok=True)
        total = args.validators + args.non_validators
        ports = plan_free(total) if args.base_port == 0 else None  # 0: any free range
        manifest = generate(home, args.validators, args.non_validators, base_port=args.base_port, ports=ports,
                            block_time_ms=_duration_ms(args.block_time), seed=args.seed)
    runner: ProxyThread | None = None
    if manifest.proxy is not None:
        if args.detach:
            manifest = manifest.with_proxy_pid(proxy_process.start_detached(manifest, home))
        else:
            runner = proxy_process.start_in_thread(manifest)
            manifest = manifest.with_proxy_pid(os.getpid())
        manifest.save(home)
    try:
        manifest = _start_all(manifest, home)
    except BaseException:
        _stop_proxy(manifest, home, runner)
        raise
    if args.monitor:
        try:
            manifest = devnet_monitor.start_detached(manifest, home)
        except (RuntimeError, TimeoutError) as exc:
            _down(home, clean=False)
            _stop_proxy(manifest, home, runner)
            raise DevnetError(f"the AML monitor did not start: {exc}") from exc
        manifest.save(home)
    rows = [{"node": e.name, "role": e.role, "rpc": e.rpc, "p2p": e.p2p, "pid": e.pid,
             "log": str(Path(e.home) / "node.log")} for e in manifest.nodes]
    _print_table(rows, ["node", "role", "rpc", "p2p", "pid", "log"])
    _print_urls(manifest.nodes)
    if manifest.proxy is not None:
        where = "in this process" if runner is not None else f"pid {manifest.proxy['pid']}, log {home / 'proxy.log'}"
        print(f"\nP2P links pass through the fault proxy ({where}); control {manifest.proxy['control']}")
    print(f"\nchain {manifest.chain_id}; accounts from seed {manifest.seed!r} (devnet only):")
    for a in manifest.accounts:
        print(f"  {a['address']}  {a['private_key']}")
    if manifest.contracts:
        print("\nstandard contracts (deployed at genesis by the first account):")
        for name, address in manifest.contracts.items():
            print(f"  {name:8} {address}")
    if manifest.monitor:
        print(f"\nAML monitor on {manifest.monitor['url']} (log {Path(manifest.monitor['home']) / 'monitor.log'}); "
              f"`finchain aml alerts --monitor {manifest.monitor['url']}`")
    print(f"\nmanifest: {home / 'devnet.json'}")
    if args.detach:
        return
    try:
        _watch(manifest, home)
    finally:
        _stop_proxy(Manifest.load(home), home, runner)


def _stop_proxy(manifest: Manifest, home: Path, runner: ProxyThread | None) -> None:
    if runner is not None:
        runner.stop()
    else:
        proxy_process.stop_detached(manifest)
    if manifest.proxy is not None:
        Manifest.load(home).with_proxy_pid(None).save(home)


def _watch(manifest: Manifest, home: Path) -> None:
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("\nCtrl-C stops the devnet.\n")
    last: dict[str, tuple[float, int]] = {}
    tx_counts: dict[str, int] = {}
    while not stop["now"]:
        parts = []
        for e in manifest.nodes:
            row = _status_row(e)
            if row["state"] != "running":
                parts.append(f"{e.name}: {row['state']}")
                continue
            h = row["height"]
            prev = last.get(e.name)
            if prev and h > prev[1]:
                n = 0
                for height in range(prev[1] + 1, h + 1):
                    try:
                        n += len(Client(e.rpc, timeout=1.0).get_block(height)["txs"])
                    except TransportError:
                        break
                tx_counts[e.name] = round(n / max(time.monotonic() - prev[0], 1e-3))
            if not prev or h > prev[1]:
                last[e.name] = (time.monotonic(), h)
            parts.append(f"{e.name} h={h} r={row['round']} peers={row['peers']} mp={row['mempool']} "
                         f"tx/s={tx_counts.get(e.name, 0)}")
        sys.stdout.write("\r" + " | ".join(parts) + "\033[K")
        sys.stdout.flush()
        for _ in range(10):
            if stop["now"]:
                break
            time.sleep(0.1)
    print("\nstopping...")
    _down(home, clean=False)


def _down(home: Path, clean: bool) -> None:
    manifest = Manifest.load(home)
    for e in manifest.nodes:
        if _alive(e):
            os.kill(e.pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + 15
    while any(_alive(e) for e in manifest.nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for e in manifest.nodes:
        if _alive(e):
            os.kill(e.pid, signal.SIGKILL)  # type: ignore[arg-type]
    proxy_process.stop_detached(manifest)  # after the nodes: they must not see their links cut first
    devnet_monitor.stop_detached(manifest)
    manifest.with_pids(dict.fromkeys(e.name for e in manifest.nodes)).with_proxy_pid(None).save(home)
    if clean:
        shutil.rmtree(home)
        print(f"devnet stopped and {home} removed")
    else:
        print("devnet stopped")


def cmd_down(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if not (home / "devnet.json").exists():
        print(f"no devnet at {home}; nothing to stop")
        return
    manifest = Manifest.load(home)
    devnet_monitor.stop_detached(manifest)
    if not any(_alive(e) for e in manifest.nodes) and proxy_process.proxy_state(manifest) is None:
        if args.clean:
            shutil.rmtree(home)
            print(f"the devnet at {home} was not running; {home} removed")
        else:
            print(f"the devnet at {home} is not running; nothing to stop")
        return
    _down(home, args.clean)


def cmd_status(args: argparse.Namespace) -> None:
    manifest = Manifest.load(Path(args.home))
    rows = [_status_row(e) for e in manifest.nodes]
    state = proxy_process.proxy_state(manifest)
    if args.json:
        print(json.dumps({"chain_id": manifest.chain_id, "nodes": rows,
                          "proxy": None if state is None else {"pid": state["pid"],
                                                               "control": manifest.proxy["control"]},  # type: ignore
                          "faults": None if state is None else state["faults"]}, indent=2))
        return
    _print_table(rows, ["node", "role", "state", "pid", "height", "round", "step", "peers", "mempool"])
    _print_urls(manifest.nodes)
    print()
    if manifest.proxy is None:
        print("FAULTS: - (no fault proxy: nodes dial each other directly)")
    elif state is None:
        print("FAULTS: - (the fault proxy is not running)")
    else:
        lines = describe(Faults.from_json(state["faults"]), [e.name for e in manifest.nodes])
        print("FAULTS: " + ("none" if not lines else "\n  ".join(["", *lines])))


def cmd_logs(args: argparse.Namespace) -> None:
    entry = _find(Manifest.load(Path(args.home)), args.node)
    path = Path(entry.home) / "node.log"
    if not path.exists():
        raise DevnetError(f"{entry.name} has no log yet ({path})")
    with open(path, errors="replace") as f:
        lines = f.readlines()
        sys.stdout.writelines(lines[-args.lines:])
        while args.follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)


def cmd_node_control(args: argparse.Namespace) -> None:
    home = Path(args.home)
    manifest = Manifest.load(home)
    entry = _find(manifest, args.node)
    alive = _alive(entry)
    action = args.devnet_cmd
    if action in ("stop", "kill", "pause", "resume", "restart") and not alive and action != "restart":
        raise DevnetError(f"{entry.name} is not running")
    if action in ("stop", "restart") and alive:
        os.kill(entry.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + 15
        while _alive(entry) and time.monotonic() < deadline:
            time.sleep(0.1)
    elif action == "kill":
        os.kill(entry.pid, signal.SIGKILL)  # type: ignore[arg-type]
    elif action == "pause":
        os.kill(entry.pid, signal.SIGSTOP)  # type: ignore[arg-type]
    elif action == "resume":
        os.kill(entry.pid, signal.SIGCONT)  # type: ignore[arg-type]
    if action in ("start", "restart"):
        if action == "start" and alive:
            raise DevnetError(f"{entry.name} is already running (pid {entry.pid})")
        proc = _proc(entry)
        proc.start()
        manifest.with_pids({entry.name: proc.pid}).save(home)
        proc.wait_ready(30)
    elif action in ("stop", "kill"):
        manifest.with_pids({entry.name: None}).save(home)
    print(f"{entry.name}: {action} done")


def _proxy_client(home: Path) -> tuple[Manifest, ProxyClient]:
    manifest = Manifest.load(home)
    if manifest.proxy is None:
        raise DevnetError(f"the devnet at {home} has no fault proxy (made by an older version): `devnet up --reset`")
    if proxy_process.proxy_state(manifest) is None:
        raise DevnetError(f"the fault proxy of the devnet at {home} is not running; `finchain devnet up --home {home}`")
    assert manifest.proxy is not None
    return manifest, ProxyClient(manifest.proxy["control"])


def cmd_fault(args: argparse.Namespace) -> None:
    manifest, client = _proxy_client(Path(args.home))
    try:
        match args.devnet_cmd:
            case "partition":
                body: dict[str, Any] = {"groups": parse_groups(args.groups)}
            case "heal":
                body = {}
            case "delay":
                body = {"node": parse_node(args.node), "ms": parse_ms(args.delay), "jitter_ms": parse_ms(args.jitter)}
            case _:
                body = {"node": parse_node(args.node), "percent": parse_percent(args.percent)}
    except FaultError as exc:
        raise DevnetError(str(exc)) from exc
    state = client.request(args.devnet_cmd, body)
    lines = describe(Faults.from_json(state["faults"]), [e.name for e in manifest.nodes])
    print("faults now: " + ("none" if not lines else "; ".join(lines)))


def cmd_proxy(args: argparse.Namespace) -> None:
    proxy_process.run_detached(Path(args.home))


def _duration_ms(text: str) -> int:
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            return int(t[:-2])
        if t.endswith("s"):
            return int(float(t[:-1]) * 1000)
        return int(float(t) * 1000)
    except ValueError as exc:
        raise DevnetError(f"not a duration: {text!r} (e.g. 1s, 500ms)") from exc


def add_devnet_commands(sub: Any) -> None:
    p = sub.add_parser("devnet", help="run a local cluster of nodes")
    dsub = p.add_subparsers(dest="devnet_cmd", required=True)
    add_bench_command(dsub)
    add_chaos_command(dsub)
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=".devnet", help="devnet folder (default .devnet)")
    u = dsub.add_parser("up", parents=[home], help="generate (first time) and start a devnet")
    u.add_argument("--validators", type=int, default=4)
    u.add_argument("--non-validators", type=int, default=0)
    u.add_argument("--block-time", default="1s")
    u.add_argument("--base-port", type=int, default=26600,
                   help="node i: RPC on P+2i, P2P on P+2i+1, then the proxy's ports (0: any free range)")
    u.add_argument("--seed", default="finchain devnet", help="derives every key and account")
    u.add_argument("--reset", action="store_true", help="discard an existing devnet and start a new chain")
    u.add_argument("--detach", action="store_true", help="start and return; control with the other commands")
    u.add_argument("--no-monitor", dest="monitor", action="store_false",
                   help="do not start the AML monitor (docs/monitoring.md) on node 0")
    u.set_defaults(func=cmd_up)
    d = dsub.add_parser("down", parents=[home], help="stop every node")
    d.add_argument("--clean", action="store_true", help="also delete the devnet folder")
    d.set_defaults(func=cmd_down)
    s = dsub.add_parser("status", parents=[home])
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    lg = dsub.add_parser("logs", parents=[home])
    lg.add_argument("node")
    lg.add_argument("-f", "--follow", action="store_true")
    lg.add_argument("-n", "--lines", type=int, default=50)
    lg.set_defaults(func=cmd_logs)
    for action in ("start", "stop", "restart", "kill", "pause", "resume"):
        c = dsub.add_parser(action, parents=[home], help=f"{action} one node")
        c.add_argument("node")
        c.set_defaults(func=cmd_node_control)
    add_fault_commands(dsub, home)


def add_fault_commands(dsub: Any, home: argparse.ArgumentParser) -> None:
    pa = dsub.add_parser("partition", parents=[home], help="cut every P2P link between groups of nodes",
                         description="Cut every link between the groups: open connections are closed and new "
                                     "ones held silent until `heal`. Nodes named in no group form one more group. "
                                     "Takes effect at once.", epilog="example: finchain devnet partition 0,1 2,3")
    pa.add_argument("groups", nargs="+", help="comma-separated node indexes or names, e.g. 0,1 2,3")
    pa.set_defaults(func=cmd_fault)
    he = dsub.add_parser("heal", parents=[home], help="clear every network fault (partition, delays, drops)")
    he.set_defaults(func=cmd_fault)
    de = dsub.add_parser("delay", parents=[home], help="hold every chunk to and from a node",
                         description="Every chunk to and from NODE is held DELAY (± a uniform jitter), order "
                                     "preserved. On a link between two delayed nodes the delays add up. 0 clears.",
                         epilog="example: finchain devnet delay node2 200ms --jitter 50ms")
    de.add_argument("node")
    de.add_argument("delay", help="e.g. 200ms or 1s; 0 clears it")
    de.add_argument("--jitter", default="0", help="e.g. 50ms")
    de.set_defaults(func=cmd_fault)
    dr = dsub.add_parser("drop", parents=[home], help="randomly close a node's links",
                         description="The P2P streams are encrypted and authenticated, so dropping bytes inside "
                                     "them could only kill the connection. `drop NODE P%` therefore closes each "
                                     "open link of NODE with probability P% once per second; the nodes reconnect "
                                     "through the proxy as after any lost connection. 0 clears it.",
                         epilog="example: finchain devnet drop 1 5%")
    dr.add_argument("node")
    dr.add_argument("percent", help="e.g. 5%%")
    dr.set_defaults(func=cmd_fault)
    px = dsub.add_parser("proxy", parents=[home], help="(internal) run the fault proxy of a detached devnet")
    px.set_defaults(func=cmd_proxy)


def main(argv: list[str] | None = None) -> int:
    parser, sub = build_parser()
    add_devnet_commands(sub)
    add_finance_commands(sub)
    try:
        return run(parser, argv)
    except DevnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
