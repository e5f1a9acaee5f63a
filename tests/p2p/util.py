"""Helpers shared by the p2p tests: identities, bounded waiting, switches and a capturing TCP relay."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from p2p.address import compute_node_id
from p2p.config import SwitchConfig
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, node_pubkey
from p2p.messages import Message
from p2p.switch import Switch

CHAIN = "finchain-test"
GENESIS = b"\x42" * 32

FAST = SwitchConfig(
    handshake_timeout=2.0,
    dial_timeout=2.0,
    ping_interval=0.5,
    ping_timeout=2.0,
    write_timeout=2.0,
    backoff_base=0.05,
    backoff_cap=0.5,
    dial_interval=0.1,
    pex_interval=0.3,
    ban_seconds=30.0,
    addrbook_save_interval=0.2,
)


def make_identity(
    chain_id: str = CHAIN, genesis: bytes = GENESIS, version: int = PROTOCOL_VERSION, moniker: str = "n"
) -> tuple[bytes, NodeInfo]:
    key = secrets.token_bytes(32)
    return key, NodeInfo(compute_node_id(node_pubkey(key)), chain_id, genesis, version, "", moniker)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


@dataclass
class Node:
    switch: Switch
    received: list[tuple[str, Message]] = field(default_factory=list)
    ups: list[str] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.switch.node_id

    @property
    def addr(self) -> str:
        return f"{self.switch.node_id}@127.0.0.1:{self.switch.listen_port}"

    def connected(self) -> set[str]:
        return {p.node_id for p in self.switch.peers()}


def make_node(
    on_message: Callable[[Node, str, Message], None] | None = None,
    config: SwitchConfig = FAST,
    moniker: str = "n",
    **kwargs: object,
) -> Node:
    key, info = make_identity(moniker=moniker)
    holder: list[Node] = []

    def deliver(peer_id: str, msg: Message) -> None:
        node = holder[0]
        node.received.append((peer_id, msg))
        if on_message is not None:
            on_message(node, peer_id, msg)

    switch = Switch(
        key,
        info,
        listen_port=0,
        on_message=deliver,
        on_peer_up=lambda p: holder[0].ups.append(p),
        on_peer_down=lambda p: holder[0].downs.append(p),
        config=config,
        **kwargs,  # type: ignore[arg-type]
    )
    holder.append(Node(switch))
    return holder[0]


class Cluster:
    """Switches running in one TaskGroup; every one started through it is cancelled on exit."""

    def __init__(self, tg: asyncio.TaskGroup) -> None:
        self.tg = tg
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, node: Node) -> asyncio.Task[None]:
        task = self.tg.create_task(node.switch.run())
        self.tasks.append(task)
        async with asyncio.timeout(5):
            await node.switch.wait_listening()
        return task


@contextlib.asynccontextmanager
async def running(*nodes: Node) -> AsyncIterator[Cluster]:
    """Run switches in a TaskGroup, wait until they listen, cancel them all on exit."""
    async with asyncio.TaskGroup() as tg:
        cluster = Cluster(tg)
        try:
            for n in nodes:
                await cluster.start(n)
            yield cluster
        finally:
            for t in cluster.tasks:
                t.cancel()


class Relay:
    """A TCP relay on 127.0.0.1 that forwards to a target and records both directions."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = bytearray()  # client -> server
        self.down = bytearray()  # server -> client
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: bytearray) -> None:
        while data := await reader.read(65536):
            sink += data
            writer.write(data)
            await writer.drain()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, self.up)),
            asyncio.create_task(self._pipe(up_reader, writer, self.down)),
        ):
            self._tasks.add(task)
