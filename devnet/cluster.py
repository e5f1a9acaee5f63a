"""The scenario API: a devnet of real node processes as a context manager, for pytest and scripts.

    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        c.node(0).client.transfer(c.accounts[0], c.addresses[1], 5, wait=True)
        c.kill(3)
        c.wait_height(c.height() + 3, nodes=[0, 1, 2])
        c.partition([0, 1], [2, 3]); c.heal()
        c.assert_agree()

Every P2P link passes through an in-process fault proxy (a background thread), so partitions, delays and
drops need neither root nor Docker. Leaving the context always stops every process, even on
KeyboardInterrupt; an exception inside it first prints the tail of every node's log to stderr.
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from devnet.checks import disagreements
from devnet.errors import DevnetError
from devnet.homes import (
    DEFAULT_SEED,
    Manifest,
    NodeEntry,
    derive_key,
    disable_metrics,
    generate,
    node_urls,
    write_node_home,
    write_testing_options,
)
from devnet.load import Load
from devnet.ports import free_block, plan_free
from devnet.process import NodeProcess
from devnet.proxy import FaultProxy, Link
from devnet.proxy_control import ProxyThread
from node.client.sdk import Client, TransportError
from node.daemon import node_id_of
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.genesis import TimeoutsMs, load_genesis

_live: weakref.WeakSet[Cluster] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    # Belt and braces: a cluster never closed (a crashed test runner) must not leave nodes behind.
    for cluster in list(_live):
        cluster.close()


@dataclass(eq=False)
class ClusterNode:
    index: int
    name: str
    role: str
    home: Path
    process: NodeProcess
    node_id: str
    paused: bool = False
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.process.client

    @property
    def rpc_url(self) -> str:
        return self.process.rpc_url

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def is_running(self) -> bool:
        """Started and not exited (a paused node is running, though it answers nothing)."""
        proc = self.process.proc
        return proc is not None and proc.poll() is None

    def is_serving(self) -> bool:
        return self.is_running() and not self.paused

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def height(self) -> int:
        return int(self.status()["height"])

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)


class Cluster:
    def __init__(
        self,
        validators: int = 4,
        non_validators: int = 0,
        *,
        block_time_ms: int = 500,
        timeouts: TimeoutsMs | None = None,
        base_dir: Path | None = None,
        seed: str = DEFAULT_SEED,
        proxy: bool = True,
        start_timeout: float = 60.0,
        log_lines: int = 30,
        accounts: int = 10,
        testing: Mapping[int, Mapping[str, bool | int]] | None = None,
        metrics: bool = True,
        recovery_workers: int = 0,
    ) -> None:
        self.n_accounts = accounts
        self.recovery_workers = recovery_workers  # each node's [mempool] recovery_workers
        self.metrics = metrics  # False: [metrics] enabled = false on every node (to measure their cost)
        # node index -> [testing] options of its config.toml (test-only misbehaviour, docs/operations.md)
        self.testing = dict(testing or {})
        self.validators = validators
        self.non_validators = non_validators
        self.timeouts = timeouts or TimeoutsMs(commit=block_time_ms)
        self._own_dir = base_dir is None
        self.dir = (Path(tempfile.mkdtemp(prefix="finchain-cluster-")) if base_dir is None else base_dir) / "devnet"
        self.seed = seed
        self.use_proxy = proxy
        self.start_timeout = start_timeout
        self.log_lines = log_lines
        self.nodes: list[ClusterNode] = []
        self.manifest: Manifest | None = None
        self.accounts: list[PrivateKey] = []
        self.addresses: list[str] = []
        self.roles: dict[str, PrivateKey] = {}
        self.ledger_addresses: list[str] = []
        self.chain_id = ""
        self.genesis_total = 0
        self._proxy: ProxyThread | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        _live.add(self)
        try:
            self._start()
        except BaseException:
            self.print_logs("the cluster did not start")
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
                self.print_logs(f"{exc_type.__name__}: {exc}")
        finally:
            self.close()

    def _start(self) -> None:
        total = self.validators + self.non_validators
        self.dir.mkdir(parents=True, exist_ok=True)
        ports = plan_free(total, self.use_proxy)
        manifest = generate(self.dir, self.validators, self.non_validators, seed=self.seed, ports=ports,
                            proxy=self.use_proxy, timeouts=self.timeouts, accounts=self.n_accounts,
                            recovery_workers=self.recovery_workers)
        self.manifest = manifest
        for i, options in self.testing.items():
            if not 0 <= i < total:
                raise DevnetError(f"testing options for node {i}: the cluster has {total} nodes")
            write_testing_options(Path(manifest.nodes[i].home), options)
        if not self.metrics:
            for entry in manifest.nodes:
                disable_metrics(Path(entry.home))
        genesis = load_genesis(Path(manifest.nodes[0].home) / "config" / "genesis.json")
        self.chain_id = genesis.chain_id
        self.genesis_total = sum(a.balance for a in genesis.accounts)
        self.accounts = [PrivateKey.from_hex(a["private_key"]) for a in manifest.accounts]
        self.addresses = [to_checksum_address(k.address) for k in self.accounts]
        # Funded accounts with a part in the financial flow (devnet/README.md, "roles").
        self.roles = {name: PrivateKey.from_hex(r["private_key"]) for name, r in (manifest.roles or {}).items()}
        # Every account the genesis funds: what a conservation check must sum.
        self.ledger_addresses = self.addresses + [to_checksum_address(k.address) for k in self.roles.values()]
        if manifest.proxy is not None:
            links = [Link.from_json(x) for x in manifest.proxy["links"]]
            # Its control endpoint too, as `devnet up` serves it: the explorer's network view reads it.
            control = manifest.proxy.get("control")
            self._proxy = ProxyThread(FaultProxy(links, total), int(control.rsplit(":", 1)[1]) if control else None)
            self._proxy.start()
        for i, entry in enumerate(manifest.nodes):
            self.nodes.append(self._node(i, entry))
        for n in self.nodes:
            n.process.start()
        self._save_pids()
        for n in self.nodes:
            n.process.wait_ready(self.start_timeout)
        self.wait_height(1, self.start_timeout)

    @staticmethod
    def _node(index: int, entry: NodeEntry) -> ClusterNode:
        rpc_port = int(entry.rpc.rsplit(":", 1)[1])
        home = Path(entry.home)
        process = NodeProcess(home, rpc_port, entry.name, hash_seed=index + 1)
        return ClusterNode(index, entry.name, entry.role, home, process, entry.node_id)

    def close(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after a bound) and the proxy; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for n in self.nodes:
            if n.paused:
                n.process.signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                n.paused = False
        for n in self.nodes:
            n.process.signal(signal.SIGTERM)  # to all first: they shut down in parallel
        deadline = time.monotonic() + 10.0
        for n in self.nodes:
            try:
                n.process.stop(max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # keep stopping the others
                print(f"devnet: stopping {n.name} failed: {exc!r}", file=sys.stderr)
        if self._proxy is not None:
            self._proxy.stop()
        if self._own_dir:
            shutil.rmtree(self.dir.parent, ignore_errors=True)
        _live.discard(self)

    def _save_pids(self) -> None:
        if self.manifest is not None:
            self.manifest = self.manifest.with_pids({n.name: n.pid for n in self.nodes})
            self.manifest.save(self.dir)

    # -- nodes ----------------------------------------------------------------------------------------

    def node(self, i: int) -> ClusterNode:
        try:
            return self.nodes[i]
        except IndexError:
            raise DevnetError(f"no node {i}: the cluster has {len(self.nodes)}") from None

    def _pick(self, nodes: Iterable[int] | None) -> list[ClusterNode]:
        if nodes is None:
            return [n for n in self.nodes if n.is_serving()]
        return [self.node(i) for i in nodes]

    def urls(self, nodes: Iterable[int] | None = None) -> list[str]:
        return [n.rpc_url for n in self._pick(nodes)]

    def heights(self, nodes: Iterable[int] | None = None) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for n in self._pick(nodes):
            try:
                out[n.index] = n.height()
            except TransportError:
                out[n.index] = None
        return out

    def height(self, nodes: Iterable[int] | None = None) -> int:
        """The highest height among the (serving) nodes."""
        return max((h for h in self.heights(nodes).values() if h is not None), default=0)

    def wait_height(self, height: int, timeout: float = 30.0, nodes: Iterable[int] | None = None) -> dict[int, int]:
        """Wait until every chosen node (default: every running, unpaused one) has committed `height`."""
        chosen = self._pick(nodes)
        deadline = time.monotonic() + timeout
        last: dict[int, int | None] = {}
        while True:
            for n in chosen:
                if (last.get(n.index) or 0) >= height:
                    continue
                try:
                    last[n.index] = n.height()
                except TransportError:
                    last[n.index] = None
            if all((last.get(n.index) or 0) >= height for n in chosen):
                return {k: v for k, v in last.items() if v is not None}
            if time.monotonic() > deadline:
                shown = ", ".join(f"{self.node(i).name}={h}" for i, h in sorted(last.items()))
                raise TimeoutError(f"not every node reached height {height} within {timeout}s: {shown}")
            time.sleep(0.05)

    def kill(self, i: int) -> None:
        """SIGKILL: no shutdown, as in a power cut."""
        n = self.node(i)
        n.process.kill()
        n.paused = False

    def stop(self, i: int, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`)."""
        n = self.node(i)
        if n.paused:
            self.resume(i)
        n.process.stop(timeout)

    def start(self, i: int, timeout: float = 30.0) -> None:
        n = self.node(i)
        if n.is_running():
            raise DevnetError(f"{n.name} is already running (pid {n.pid})")
        n.process.start()
        self._save_pids()
        n.process.wait_ready(timeout)

    def restart(self, i: int, timeout: float = 30.0) -> None:
        self.stop(i)
        self.start(i, timeout)

    def pause(self, i: int) -> None:
        """SIGSTOP: the process freezes with its sockets open, as a node stuck in a long GC pause."""
        n = self.node(i)
        if not n.is_running():
            raise DevnetError(f"{n.name} is not running")
        n.process.signal(signal.SIGSTOP)
        n.paused = True

    def resume(self, i: int) -> None:
        n = self.node(i)
        n.process.signal(signal.SIGCONT)
        n.paused = False

    def add_node(self, *, start: bool = True, timeout: float = 30.0) -> ClusterNode:
        """A late joiner: a non-validator with the same genesis that dials every node (through the proxy)."""
        if self.manifest is None:
            raise DevnetError("the cluster is not started")
        index = len(self.nodes)
        name = f"node{index}"
        ports = free_block(2 + index)
        rpc, p2p, link_ports = ports[0], ports[1], ports[2:]
        vkey, nkey = derive_key(self.seed, "validator", index), derive_key(self.seed, "node", index)
        if self._proxy is not None:
            links = [Link(index, j, link_ports[j], self._p2p_port(j)) for j in range(index)]
            self._proxy.add_links(links, index + 1)
            peers = ",".join(f"{self.nodes[j].node_id}@127.0.0.1:{link_ports[j]}" for j in range(index))
        else:
            peers = ",".join(f"{self.nodes[j].node_id}@127.0.0.1:{self._p2p_port(j)}" for j in range(index))
        home = self.dir / name
        genesis = load_genesis(self.nodes[0].home / "config" / "genesis.json")
        write_node_home(home, name, genesis, vkey, nkey, rpc, p2p, peers,
                        recovery_workers=self.recovery_workers)
        if not self.metrics:
            disable_metrics(home)
        node_id = node_id_of(nkey.public_key)
        entry = NodeEntry(name, "full", f"http://127.0.0.1:{rpc}", f"{node_id}@127.0.0.1:{p2p}", node_id, str(home),
                          **node_urls(f"http://127.0.0.1:{rpc}"))
        self.manifest = dataclasses.replace(self.manifest, nodes=(*self.manifest.nodes, entry))
        node = self._node(index, entry)
        self.nodes.append(node)
        if start:
            self.start(index, timeout)
        return node

    def _p2p_port(self, i: int) -> int:
        assert self.manifest is not None
        return int(self.manifest.nodes[i].p2p.rsplit(":", 1)[1])

    # -- network faults -------------------------------------------------------------------------------

    def _fault(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._proxy is None:
            raise DevnetError("this cluster runs without the fault proxy (proxy=False)")
        return self._proxy.request(action, body)

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut every link between groups (nodes in no group form one more group)."""
        self._fault("partition", {"groups": [list(g) for g in groups]})

    def cut(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Cut the links between each pair of nodes (both directions); e.g. a bridge: every link between two
        sides cut, a third node linked to both."""
        self._fault("cut", {"pairs": [list(p) for p in pairs]})

    def heal(self) -> None:
        """Clear every network fault: partition, cuts, delays and drops."""
        self._fault("heal", {})

    def delay(self, i: int, ms: int, jitter_ms: int = 0) -> None:
        """Hold every chunk to and from node i for ms (± jitter_ms), order preserved; 0 clears it."""
        self._fault("delay", {"node": i, "ms": ms, "jitter_ms": jitter_ms})

    def drop(self, i: int, percent: float) -> None:
        """Close each link of node i with probability percent/100 every second; 0 clears it."""
        self._fault("drop", {"node": i, "percent": percent})

    def faults(self) -> dict[str, Any]:
        """The proxy's state: active faults and per-link counters."""
        if self._proxy is None:
            return {}
        return self._proxy.state()

    # -- checks and helpers ---------------------------------------------------------------------------

    def assert_agree(self, nodes: Iterable[int] | None = None) -> int:
        """Block hash and state root equal at every height all chosen nodes have; returns that common height."""
        chosen = self._pick(nodes)
        urls = {n.name: n.rpc_url for n in chosen}
        common, problems = disagreements(urls)
        if problems:
            raise AssertionError("nodes disagree:\n" + "\n".join(problems))
        return common

    def load(self, rate: float = 20.0, accounts: int | None = None) -> Load:
        """Background transfers among the funded accounts to the serving nodes; use as a context manager."""
        keys = self.accounts[: accounts or len(self.accounts)]
        return Load(lambda: self.urls(), keys, self.chain_id, rate=rate)

    def print_logs(self, why: str = "", lines: int | None = None) -> None:
        out = [f"==== devnet failure{': ' + why if why else ''} ({self.dir})"]
        for n in self.nodes:
            state = "paused" if n.paused else "running" if n.is_running() else "stopped"
            out.append(f"---- {n.name} ({n.role}, {state}, pid {n.pid}) {n.log_path}")
            out.append(n.log_tail(lines or self.log_lines))
        for n in self.nodes:
            if n.is_running() and not n.paused:
                try:
                    out.append(f"---- {n.name} consensus: " + describe_consensus(n.client.consensus_state()))
                except Exception as exc:  # a report of a failure must not fail in turn
                    out.append(f"---- {n.name} consensus state unavailable: {exc!r}")
        if self._proxy is not None:
            try:
                st = self._proxy.state(timeout=2.0)
                out.append(f"---- proxy faults: {st['faults']}")
                out.append("---- proxy links (from->to open/held accepted bytes fwd/back): " + ", ".join(
                    f"{x['from']}->{x['to']} {x['open']}/{x['held']} {x['accepted']} {x['bytes_fwd']}/{x['bytes_back']}"
                    for x in st["links"]))
            except Exception as exc:
                out.append(f"---- proxy state unavailable: {exc!r}")
        print("\n".join(out), file=sys.stderr)

    def log_lines_matching(self, *needles: str) -> list[str]:
        """Lines of every node's log containing any of `needles` (case-insensitive), prefixed by the node."""
        found = []
        for n in self.nodes:
            try:
                text = n.log_path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            for line in text.splitlines():
                low = line.lower()
                if any(x.lower() in low for x in needles):
                    found.append(f"{n.name}: {line}")
        return found


def describe_consensus(cs: dict[str, Any]) -> str:
    """One short paragraph of `consensus_state`: where the node is, what it holds per round, where peers are."""
    if cs.get("height") is None:
        return "not started"
    lines = [f"h{cs['height']}/r{cs['round']}/{cs['step']} proposer {cs['proposer'][:10]} "
             f"locked r{cs['locked_round']} valid r{cs['valid_round']} age {cs['height_age_s']}s "
             f"quorum {cs['quorum_power']}/{cs['total_power']}"]
    for r in cs["rounds"]:
        props = ", ".join(f"{p['proposer'][:8]}:{p['block_hash'][:10]}{'' if p['valid'] else ' INVALID'}"
                          for p in r["proposals"]) or "none"
        votes = "; ".join(
            f"{kind} {r[kind + '_power']}: " + " ".join(f"{v[:10]}x{len(a)}" for v, a in r[kind].items())
            for kind in ("prevotes", "precommits"))
        lines.append(f"  r{r['round']}: proposals {props}; {votes}")
    for p in cs["peers"]:
        lines.append(f"  peer {p['moniker'] or p['node_id'][:8]}: h{p['height']}/r{p['round']}/s{p['step']} "
                     f"known {p['known_votes']} idle {p['no_progress_s']}s frames {p['frames_in']}/{p['frames_out']} "
                     f"dropped {p['dropped']}")
    return "\n".join(lines)
