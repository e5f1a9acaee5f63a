"""Idle connections cannot lock peers out, and a banned peer cannot come back with a fresh key.

Real sockets on loopback. 127.0.0.2 stands for "another machine": Linux routes all of
127.0.0.0/8 to the loopback interface, and the switch listens on 127.0.0.1, which (as its own
listen host) it never bans by address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest

from p2p.errors import HandshakeError
from p2p.handshake import handshake
from tests.p2p.util import FAST, Node, make_identity, make_node, running, wait_until

pytestmark = pytest.mark.timeout(60)

ELSEWHERE = "127.0.0.2"


async def idle_connections(node: Node, count: int, host: str = "127.0.0.1") -> list[asyncio.StreamWriter]:
    """Connections that never say a word: each holds a pending-handshake slot until it is evicted."""
    out = []
    for _ in range(count):
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", node.switch.listen_port, local_addr=(host, 0)), 5)
        out.append(writer)
    return out


async def session_from(node: Node, host: str) -> bool:
    """A fresh key's handshake from `host`: True if the node admitted it (it stays open a moment)."""
    key, info = make_identity()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", node.switch.listen_port, local_addr=(host, 0)), 5)
    try:
        await handshake(reader, writer, key, info, expected_id=node.id, timeout=2)
    except HandshakeError:
        return False
    finally:
        await asyncio.sleep(0.2)
        admitted = info.node_id in node.connected()
        writer.transport.abort()
    return admitted


async def test_idle_connections_cannot_keep_a_persistent_peer_out() -> None:
    cfg = dataclasses.replace(FAST, handshake_timeout=30.0)  # the idle ones would outlive the test
    b = make_node(config=cfg)
    async with running(b):
        idle = await idle_connections(b, 40)
        try:
            await asyncio.sleep(0.2)
            assert len(b.switch._pending) == cfg.max_pending_per_address
            a = make_node(persistent_peers=[b.addr])
            async with running(a):
                await wait_until(lambda: a.id in b.connected(), timeout=5)
            assert b.switch.evicted_pending >= 40 - cfg.max_pending_per_address
        finally:
            for w in idle:
                w.transport.abort()


async def test_idle_connections_from_one_address_leave_slots_for_others() -> None:
    cfg = dataclasses.replace(FAST, handshake_timeout=30.0, max_pending_inbound=12, max_pending_per_address=8)
    b = make_node(config=cfg)
    async with running(b):
        idle = await idle_connections(b, 30, ELSEWHERE)
        try:
            await asyncio.sleep(0.2)
            # The flooding address churns through its own 8 slots; a stranger elsewhere still gets in.
            assert len(b.switch._pending) == 8
            assert await session_from(b, "127.0.0.1")
        finally:
            for w in idle:
                w.transport.abort()


async def test_a_ban_covers_the_address_but_not_the_listen_host() -> None:
    b = make_node()
    async with running(b):
        key, info = make_identity()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", b.switch.listen_port, local_addr=(ELSEWHERE, 0)), 5)
        await handshake(reader, writer, key, info, expected_id=b.id, timeout=2)
        await wait_until(lambda: info.node_id in b.connected())
        b.switch.report(info.node_id, "junk", 100)
        await wait_until(lambda: info.node_id not in b.connected())
        writer.transport.abort()
        assert b.switch.is_address_banned(ELSEWHERE)
        # A fresh key from the banned address: aborted on accept, before any handshake.
        assert not await session_from(b, ELSEWHERE)
        # The same from our own listen host (a loopback devnet's everyone): only the id was banned.
        key2, info2 = make_identity()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", b.switch.listen_port), 5)
        await handshake(reader, writer, key2, info2, expected_id=b.id, timeout=2)
        await wait_until(lambda: info2.node_id in b.connected())
        b.switch.report(info2.node_id, "junk", 100)
        await wait_until(lambda: info2.node_id not in b.connected())
        writer.transport.abort()
        assert not b.switch.is_address_banned("127.0.0.1")
        assert await session_from(b, "127.0.0.1")


async def test_the_address_ban_can_be_turned_off() -> None:
    b = make_node(config=dataclasses.replace(FAST, ban_addresses=False))
    async with running(b):
        key, info = make_identity()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", b.switch.listen_port, local_addr=(ELSEWHERE, 0)), 5)
        await handshake(reader, writer, key, info, expected_id=b.id, timeout=2)
        await wait_until(lambda: info.node_id in b.connected())
        b.switch.report(info.node_id, "junk", 100)
        await wait_until(lambda: info.node_id not in b.connected())
        with contextlib.suppress(OSError):
            writer.transport.abort()
        assert b.switch.is_banned(info.node_id) and not b.switch.is_address_banned(ELSEWHERE)
        assert await session_from(b, ELSEWHERE)
