"""Switches in one event loop over 127.0.0.1: relaying, peer exchange, bans, back-pressure, reconnects."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
import uvloop
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from devnet.process import free_port
from p2p.addrbook import AddrBook
from p2p.handshake import (
    HANDSHAKE_MAX_FRAME,
    NodeInfo,
    SecureSession,
    compute_session_keys,
    handshake,
    make_auth,
)
from p2p.messages import BlockResponse, Channel, Message, Ping, TxsMsg, VoteMsg, encode_message, encode_message_fields
from p2p.secret_connection import SecretConnection
from p2p.wire import FrameDecoder, encode_frame
from tests.p2p.util import FAST, Node, make_identity, make_node, running, wait_until

pytestmark = pytest.mark.timeout(60)


async def raw_peer(
    node: Node, key: bytes, info: NodeInfo
) -> tuple[SecureSession, asyncio.StreamReader, asyncio.StreamWriter]:
    """A hand-driven peer: we do the handshake ourselves and then send whatever the test wants."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node.switch.listen_port), 5)
    session = await handshake(reader, writer, key, info, expected_id=node.id, timeout=2)
    return session, reader, writer


async def closed_by_remote(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    async with asyncio.timeout(timeout):
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
    return True


def relay_once(node: Node, sender: str, msg: Message) -> None:
    """The node's gossip rule in miniature: forward a transaction batch the first time we see it."""
    if isinstance(msg, TxsMsg) and [m for _, m in node.received].count(msg) == 1:
        node.switch.broadcast(msg, exclude=sender)


async def test_line_topology_relays_a_broadcast() -> None:
    # max_outbound=0 with persistent peers keeps the line a line: peer exchange cannot add shortcuts.
    a = make_node(relay_once, moniker="a", max_outbound=0)
    async with running(a) as cluster:
        b = make_node(relay_once, moniker="b", max_outbound=0, persistent_peers=[a.addr])
        await cluster.start(b)
        c = make_node(relay_once, moniker="c", max_outbound=0, persistent_peers=[b.addr])
        await cluster.start(c)
        d = make_node(relay_once, moniker="d", max_outbound=0, persistent_peers=[c.addr])
        await cluster.start(d)
        await wait_until(lambda: a.connected() == {b.id} and b.connected() == {a.id, c.id} and d.connected() == {c.id})
        msg = TxsMsg((b"tx-1", b"tx-2"))
        assert a.switch.broadcast(msg) == 1
        await wait_until(lambda: any(m == msg for _, m in d.received))
        assert d.received == [(c.id, msg)]
        assert c.received == [(b.id, msg)]
        assert b.received == [(a.id, msg)]
        await asyncio.sleep(0.1)
        assert a.received == []  # B forwards to C only, never back to where it came from
        assert a.connected() == {b.id} and c.connected() == {b.id, d.id}
        status = {p.node_id: p for p in b.switch.peers()}
        assert status[a.id].outbound and not status[c.id].outbound
        assert status[a.id].frames_in >= 1 and status[c.id].bytes_out > 0


async def test_send_to_one_peer_and_unknown_peer() -> None:
    a, b = make_node(), make_node()
    async with running(a, b):
        a.switch.dial(b.addr)
        await wait_until(lambda: b.id in a.connected() and a.id in b.connected())
        vote = VoteMsg(1, 5, 0, b"", b"\x01" * 20, b"\x02" * 65)
        assert a.switch.send(b.id, vote)
        assert not a.switch.send("00" * 20, vote)
        await wait_until(lambda: (a.id, vote) in b.received)
        assert a.ups == [b.id] and b.ups == [a.id]


async def test_pex_a_node_given_only_a_seed_finds_everyone(tmp_path: Path) -> None:
    seed = make_node(moniker="seed")
    async with running(seed) as cluster:
        nodes = []
        for i in range(3):
            node = make_node(moniker=f"n{i}", seeds=[seed.addr], addrbook_path=tmp_path / f"book{i}.json")
            await cluster.start(node)
            nodes.append(node)
        everyone = {seed.id} | {n.id for n in nodes}
        await wait_until(lambda: all(n.connected() == everyone - {n.id} for n in nodes), timeout=20)
        # PEX is internal: nothing was delivered to the node.
        assert all(n.received == [] for n in [seed, *nodes])
        await wait_until(lambda: (tmp_path / "book2.json").exists())
        await asyncio.sleep(0.3)
    saved = json.loads((tmp_path / "book2.json").read_text())
    assert {row["addr"].partition("@")[0] for row in saved["addrs"]} >= {nodes[0].id, nodes[1].id}
    reloaded = AddrBook(nodes[2].id, tmp_path / "book2.json")
    assert nodes[0].id in reloaded and nodes[1].id in reloaded


async def test_garbage_frames_get_a_peer_banned_while_others_are_served() -> None:
    a, good = make_node(moniker="a"), make_node(moniker="good")
    async with running(a, good):
        good.switch.dial(a.addr)
        await wait_until(lambda: good.id in a.connected())
        bad_key, bad_info = make_identity(moniker="bad")
        session, reader, writer = await raw_peer(a, bad_key, bad_info)
        await wait_until(lambda: bad_info.node_id in a.connected())
        # Authentic (correctly encrypted) frames whose plaintext is not a message.
        out: list[bytes] = []
        session.conn.seal_payload(b"\xc1garbage", out)
        writer.writelines(out)
        assert await closed_by_remote(reader)
        await wait_until(lambda: a.switch.is_banned(bad_info.node_id))
        assert bad_info.node_id not in a.connected()
        writer.transport.abort()
        # The banned node comes back: rejected right after the handshake.
        _s, reader2, writer2 = await raw_peer(a, bad_key, bad_info)
        assert await closed_by_remote(reader2)
        writer2.transport.abort()
        assert bad_info.node_id not in a.connected()
        # Meanwhile the good peer is served as usual.
        assert a.switch.send(good.id, TxsMsg((b"still here",)))
        await wait_until(lambda: (a.id, TxsMsg((b"still here",))) in good.received)
        assert good.id in a.connected()


async def test_unencrypted_garbage_after_handshake_closes_and_bans() -> None:
    a = make_node()
    async with running(a):
        key, info = make_identity()
        _s, reader, writer = await raw_peer(a, key, info)
        writer.write(encode_frame(encode_message(Ping(1))))  # plaintext where ciphertext is due
        assert await closed_by_remote(reader)
        await wait_until(lambda: a.switch.is_banned(info.node_id))
        writer.transport.abort()


async def test_report_accumulates_score_then_bans() -> None:
    a, b = make_node(), make_node()
    async with running(a, b):
        a.switch.dial(b.addr)
        await wait_until(lambda: b.id in a.connected())
        a.switch.report(b.id, "invalid vote signature", 40)
        assert b.id in a.connected()
        assert 0 < next(p.score for p in a.switch.peers() if p.node_id == b.id) <= 40
        a.switch.report(b.id, "invalid block", 70)
        await wait_until(lambda: b.id not in a.connected())
        assert a.switch.is_banned(b.id)
        assert a.downs == [b.id]
        a.switch.dial(b.addr)  # dialing a banned peer is refused
        b.switch.dial(a.addr)  # and so is its inbound connection
        await asyncio.sleep(0.5)
        assert b.id not in a.connected()


async def test_message_flood_is_rate_limited_and_banned() -> None:
    cfg = dataclasses.replace(FAST, recv_rate_msgs=100.0, recv_burst_msgs=50.0, flood_severity=5)
    a = make_node(config=cfg)
    async with running(a):
        key, info = make_identity()
        session, reader, writer = await raw_peer(a, key, info)
        out: list[bytes] = []
        for i in range(500):
            session.conn.seal_payload(encode_message(TxsMsg((i.to_bytes(4, "big"),))), out)
        writer.writelines(out)
        assert await closed_by_remote(reader)
        assert a.switch.is_banned(info.node_id)
        assert len(a.received) < 200  # messages beyond the burst were dropped, not delivered
        writer.transport.abort()


async def test_a_peer_that_never_reads_neither_blocks_nor_grows_memory() -> None:
    cfg = dataclasses.replace(FAST, send_queue_bytes=1 << 20, send_queue_msgs=64, write_timeout=1.5, ping_timeout=10)
    a, good = make_node(config=cfg), make_node()
    async with running(a, good):
        good.switch.dial(a.addr)
        await wait_until(lambda: good.id in a.connected())
        key, info = make_identity()
        _s, _reader, writer = await raw_peer(a, key, info)  # ... and never reads again
        await wait_until(lambda: info.node_id in a.connected())
        stalled = next(p for p in a.switch._peers.values() if p.node_id == info.node_id)
        block = BlockResponse(1, b"\xab" * (256 * 1024), b"")
        loop = asyncio.get_running_loop()
        offered = accepted = 0
        async with asyncio.timeout(20):
            # Keep offering until the kernel buffers are full and the write timeout drops the peer.
            while info.node_id in a.connected():
                t0 = loop.time()
                accepted += a.switch.send(info.node_id, block)
                offered += 1
                assert loop.time() - t0 < 0.1  # send never blocks
                # Memory stays bounded: the queue by its limit, the transport by one batch plus one message.
                assert stalled.queued_bytes() <= cfg.send_queue_bytes
                assert stalled._writer.transport.get_write_buffer_size() <= 2 * (1 << 20)
                if offered % 100 == 0:
                    # Others still get their messages promptly.
                    msg = TxsMsg((offered.to_bytes(4, "big"),))
                    assert a.switch.send(good.id, msg)
                    await wait_until(lambda m=msg: (a.id, m) in good.received, timeout=2)
                await asyncio.sleep(0.002)
        assert accepted < offered
        assert stalled.dropped == offered - accepted
        assert stalled.close_reason.startswith("write timeout")
        assert not a.switch.is_banned(info.node_id)  # slow is not malicious
        assert good.id in a.connected()
        writer.transport.abort()


async def test_keepalive_drops_a_peer_that_does_not_answer_pings() -> None:
    cfg = dataclasses.replace(FAST, ping_interval=0.1, ping_timeout=0.4)
    a = make_node(config=cfg)
    async with running(a):
        key, info = make_identity()
        session, reader, writer = await raw_peer(a, key, info)
        received: list[Message] = []
        async with asyncio.timeout(5):
            while len(received) < 1:  # read (so this is not write back-pressure) but never answer
                session.conn.receive_data(await reader.read(65536))
                while (m := session.conn.next_message()) is not None:
                    received.append(m)
        assert isinstance(received[0], Ping)
        assert await closed_by_remote(reader)
        assert not a.switch.is_banned(info.node_id)  # a timeout is not misbehaviour
        writer.transport.abort()


async def test_keepalive_keeps_answering_peers_connected() -> None:
    cfg = dataclasses.replace(FAST, ping_interval=0.05, ping_timeout=0.3)
    a, b = make_node(config=cfg), make_node(config=cfg)
    async with running(a, b):
        a.switch.dial(b.addr)
        await wait_until(lambda: b.id in a.connected())
        await asyncio.sleep(1.0)
        assert b.id in a.connected() and a.downs == []


async def test_persistent_peer_reconnects_after_restart() -> None:
    port = free_port()
    key, info = make_identity(moniker="b")
    seen: list[str] = []

    def new_b() -> Node:
        from p2p.switch import Switch

        node = Node.__new__(Node)
        node.received, node.ups, node.downs = [], [], []
        node.switch = Switch(key, info, listen_port=port, on_message=lambda p, m: seen.append(p), config=FAST)
        return node

    b = new_b()
    a = make_node(persistent_peers=[f"{info.node_id}@127.0.0.1:{port}"])
    async with running(a) as cluster:
        task = await cluster.start(b)
        await wait_until(lambda: info.node_id in a.connected())
        task.cancel()
        await wait_until(lambda: info.node_id not in a.connected())
        await asyncio.sleep(0.3)  # a few failed redials with backoff
        b2 = new_b()
        await cluster.start(b2)
        await wait_until(lambda: info.node_id in a.connected(), timeout=10)
        assert a.ups == [info.node_id, info.node_id] and a.downs == [info.node_id]
        assert a.switch.send(info.node_id, TxsMsg((b"back",)))
        await wait_until(lambda: seen == [a.id])


async def test_mutual_persistent_peers_settle_on_one_connection() -> None:
    a, b = make_node(), make_node()
    async with running(a, b):
        a.switch.dial(b.addr)
        b.switch.dial(a.addr)
        await wait_until(lambda: b.id in a.connected() and a.id in b.connected())
        await asyncio.sleep(0.5)
        assert b.id in a.connected() and a.id in b.connected()
        assert len(a.switch.peers()) == 1 and len(b.switch.peers()) == 1
        # Whichever connection won, both sides agree on its direction.
        (pa,), (pb,) = a.switch.peers(), b.switch.peers()
        assert pa.outbound != pb.outbound
        assert len(a.ups) - len(a.downs) == 1 and len(b.ups) - len(b.downs) == 1


async def test_inbound_limit() -> None:
    a = make_node(max_inbound=1)
    b, c = make_node(), make_node()
    async with running(a, b, c):
        b.switch.dial(a.addr)
        await wait_until(lambda: b.id in a.connected())
        c.switch.dial(a.addr)
        await asyncio.sleep(0.5)
        assert a.connected() == {b.id}


async def test_dial_wrong_id_at_an_address_is_refused() -> None:
    a, b = make_node(), make_node()
    async with running(a, b):
        _, impostor = make_identity()
        a.switch.dial(f"{impostor.node_id}@127.0.0.1:{b.switch.listen_port}")
        await asyncio.sleep(0.5)
        assert impostor.node_id not in a.connected()
        assert impostor.node_id not in a.switch.addrbook
        with pytest.raises(ValueError):
            a.switch.dial("not-an-address")


async def test_messages_sent_with_the_auth_message_are_served_at_once() -> None:
    """A peer may send its first messages in the same write as its AuthMsg; the node had them in its
    frame decoder when the session started and served them only after the peer's next packet."""
    a = make_node()
    async with running(a):
        key, info = make_identity()
        reader, writer = await asyncio.open_connection("127.0.0.1", a.switch.listen_port)
        try:
            ephemeral = X25519PrivateKey.generate()
            ours = ephemeral.public_key().public_bytes_raw()
            writer.write(encode_frame(ours))
            frames = FrameDecoder(HANDSHAKE_MAX_FRAME)
            async with asyncio.timeout(5):
                while (theirs := frames.next_frame()) is None:
                    frames.receive_data(await reader.read(65536))
            keys = compute_session_keys(ephemeral.exchange(X25519PublicKey.from_public_bytes(theirs)), ours, theirs)
            conn = SecretConnection(keys.send_key, keys.recv_key, frames=frames)
            out: list[bytes] = []
            conn.seal_payload(encode_message_fields(make_auth(key, info, keys.transcript)), out)
            conn.seal_payload(encode_message(TxsMsg((b"first",))), out)
            writer.write(b"".join(out))  # one write: AuthMsg and a message, then silence
            await wait_until(lambda: (info.node_id, TxsMsg((b"first",))) in a.received, timeout=1.0)
        finally:
            writer.transport.abort()


def test_a_write_after_the_connection_closed_under_uvloop_is_a_connection_error() -> None:
    """uvloop (the node's loop) raises RuntimeError on a write to a closed handle: the p2p fuzzer saw a
    peer task fail with a traceback when a reset closed the transport before its write loop woke."""

    async def scenario() -> str | None:
        a = make_node()
        async with running(a):
            key, info = make_identity()
            _s, _reader, writer = await raw_peer(a, key, info)
            await wait_until(lambda: info.node_id in a.connected())
            peer = a.switch._peers[info.node_id]
            peer._writer.transport.abort()  # what a reset does to the node's side
            peer.enqueue(Channel.CONTROL, encode_message(Ping(5)))
            await wait_until(lambda: info.node_id not in a.connected())
            writer.transport.abort()
            return peer.close_reason

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        reason = runner.run(scenario())
    assert reason is not None and reason.startswith("connection error"), reason
