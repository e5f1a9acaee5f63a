"""Which 127.0.0.1 ports a devnet uses: node RPC and P2P ports, one proxy port per ordered link, a control port.

A devnet from `--base-port P` is laid out consecutively from P (node i: RPC P+2i, P2P P+2i+1; then the
links (0,1), (0,2), ... ; then the proxy's control port). Tests take a random free block instead, below the
kernel's ephemeral range so that no outgoing connection can grab the port of a node that is down.
"""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass

from devnet.errors import DevnetError

SCAN_LOW, SCAN_HIGH = 20000, 32000  # under Linux's default ephemeral range (32768-60999)
_handed_out: set[int] = set()  # this process's blocks: two clusters in one test session never share a port
_lock = threading.Lock()


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(count: int, attempts: int = 50) -> list[int]:
    """`count` consecutive free ports at a random place (bounded attempts)."""
    rng = random.Random()
    with _lock:
        for _ in range(attempts):
            start = rng.randrange(SCAN_LOW, SCAN_HIGH - count)
            block = list(range(start, start + count))
            if not _handed_out.intersection(block) and all(port_is_free(p) for p in block):
                _handed_out.update(block)
                return block
    raise DevnetError(f"found no {count} consecutive free ports in {SCAN_LOW}-{SCAN_HIGH} after {attempts} tries")


@dataclass(frozen=True, slots=True)
class PortPlan:
    rpc: tuple[int, ...]
    p2p: tuple[int, ...]
    links: tuple[tuple[int, int, int], ...]  # (dialer, dialed, proxy port); empty without a proxy
    control: int | None

    def all_ports(self) -> list[int]:
        return [*self.rpc, *self.p2p, *(p for _, _, p in self.links), *([self.control] if self.control else [])]


def ports_needed(nodes: int, proxy: bool) -> int:
    return 2 * nodes + (nodes * (nodes - 1) + 1 if proxy else 0)


def layout(ports: list[int], nodes: int, proxy: bool) -> PortPlan:
    rpc = tuple(ports[2 * i] for i in range(nodes))
    p2p = tuple(ports[2 * i + 1] for i in range(nodes))
    if not proxy:
        return PortPlan(rpc, p2p, (), None)
    pairs = [(i, j) for i in range(nodes) for j in range(nodes) if i != j]
    rest = ports[2 * nodes :]
    return PortPlan(rpc, p2p, tuple((i, j, rest[k]) for k, (i, j) in enumerate(pairs)), rest[len(pairs)])


def plan_from_base(base_port: int, nodes: int, proxy: bool = True) -> PortPlan:
    count = ports_needed(nodes, proxy)
    if base_port < 1024 or base_port + count > 65535:
        raise DevnetError(f"--base-port {base_port}: the devnet needs ports {base_port}..{base_port + count - 1}")
    plan = layout(list(range(base_port, base_port + count)), nodes, proxy)
    check_free(plan.all_ports())
    return plan


def plan_free(nodes: int, proxy: bool = True) -> PortPlan:
    return layout(free_block(ports_needed(nodes, proxy)), nodes, proxy)


def check_free(ports: list[int]) -> None:
    taken = [p for p in ports if not port_is_free(p)]
    if taken:
        shown = ", ".join(map(str, taken[:5])) + (" ..." if len(taken) > 5 else "")
        raise DevnetError(f"port(s) {shown} on 127.0.0.1 already taken (another devnet or program?); "
                          f"choose another range with --base-port, or stop what holds them")
