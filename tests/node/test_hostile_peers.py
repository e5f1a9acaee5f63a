"""What a hostile peer can make this node hold or compute is bounded, and every useless message costs it.

The engine's input queue (a share per peer and a total), the early drop of non-members' votes
and proposals (before any queue slot or signature check), block sync's answers to nothing we
asked, status request floods, and the verifier cache's byte bound. The real-process attacks
are in tests/devnet/test_e2e_hostile_peers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from consensus.driver import PeerVote, TimeoutFired
from consensus.types import TimeoutKind, Vote, VoteType
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.mempool.verifier import TxVerifier
from node.net.blocksync import STATUS_REQUESTS_BURST, BlockSync
from node.net.network import Network, P2PSettings
from node.types import errors
from node.types.tx import Transfer, TxBody
from p2p.address import compute_node_id
from p2p.config import SwitchConfig
from p2p.handshake import PROTOCOL_VERSION, NodeInfo, node_pubkey
from p2p.messages import BlockResponse, NoBlockResponse, StatusRequest, VoteMsg
from p2p.switch import Switch
from tests.node.helpers import CHAIN_ID, key, make_chain

MEMBER = key(100)  # the one validator of make_genesis()
STRANGER = key(999)


def junk_vote(signer: bytes, height: int = 1) -> Vote:
    return Vote(VoteType.PREVOTE, height, 0, b"\x11" * 32, signer, b"\x01" * 65)


def switch() -> Switch:
    node_key = secrets.token_bytes(32)
    info = NodeInfo(compute_node_id(node_pubkey(node_key)), CHAIN_ID, b"\x00" * 32, PROTOCOL_VERSION, "", "t")
    return Switch(node_key, info, on_message=lambda _p, _m: None)


def test_the_engine_queue_bounds_each_peer_and_all_peers_but_never_our_own_events(tmp_path):
    chain, mempool = make_chain(tmp_path)
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(max_queue_per_peer=3, max_queue_total=5),
                    Outbox())
    vote = junk_vote(MEMBER.address)
    assert [engine.submit(PeerVote(vote, "a")) for _ in range(4)] == [True, True, True, False]
    assert [engine.submit(PeerVote(vote, "b")) for _ in range(3)] == [True, True, False]  # the total is 5
    assert engine.queued("a") == 3 and engine.queued("b") == 2 and engine.dropped == 2
    assert all(engine.submit(TimeoutFired(TimeoutKind.PROPOSE, 1, r)) for r in range(100))
    assert engine.queued() == 105
    chain.store.close()


async def test_non_members_are_dropped_before_the_queue_and_a_flood_gets_banned(tmp_path):
    chain, mempool = make_chain(tmp_path)
    engine = Engine(chain, mempool, None, WAL(tmp_path / "wal"), EngineConfig(max_queue_per_peer=10), Outbox())
    sw = switch()
    net = Network(engine, mempool, chain, P2PSettings(sw._key, sw.info, "127.0.0.1", 0, (), (), 4, 4, None,
                                                      SwitchConfig()))
    task = asyncio.create_task(engine.run())
    try:
        async with asyncio.timeout(5):
            while engine.is_member(MEMBER.address) is None:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()  # the engine stops reading its queue: what peers send now stays there
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert engine.is_member(STRANGER.address) is False

    def vote_msg(signer: bytes) -> VoteMsg:
        return VoteMsg(int(VoteType.PREVOTE), 1, 0, b"\x11" * 32, signer, b"\x01" * 65)

    def sent_until_banned(peer: str, signer: bytes) -> int:
        for n in range(1, 1_000):
            net.on_message(peer, vote_msg(signer))
            if net.switch.is_banned(peer):
                return n
        raise AssertionError(f"{peer} never banned")

    # 25 each, banned at 100 (the fifth, as the score decays a little meanwhile).
    assert sent_until_banned("outsider", STRANGER.address) == 5
    assert engine.queued() == 0
    # A member's votes (signatures unchecked yet) take the peer's share; beyond it each costs 5.
    assert sent_until_banned("flooder", MEMBER.address) == 10 + 21
    assert engine.queued("flooder") == 10
    chain.store.close()


def test_block_sync_charges_unasked_answers_and_status_floods_but_not_late_answers(tmp_path):
    chain, _ = make_chain(tmp_path)
    sw = switch()
    sync = BlockSync(chain.reader, lambda _b: None, sw)
    sync._gave_up(5, "late")  # we asked "late" for height 5, then gave up: its answer is no fault
    sync.on_message("late", NoBlockResponse(5))
    sync.on_message("late", BlockResponse(6, b"", b""))  # never asked: 5
    assert not sw.is_banned("late")
    for h in range(20):
        sync.on_message("late", BlockResponse(7 + h, b"", b""))
    assert sw.is_banned("late")

    # An honest peer's once-a-second requests, queued while a loop stalled for 30 s, read at once: free.
    assert STATUS_REQUESTS_BURST >= 30
    for _ in range(int(STATUS_REQUESTS_BURST)):
        sync.on_message("chatty", StatusRequest())
    assert "chatty" not in sw._scores and not sw.is_banned("chatty")
    for _ in range(51):  # 2 each beyond the burst
        sync.on_message("chatty", StatusRequest())
    assert sw.is_banned("chatty")
    banned = sw.banned()  # what `net_peers` lists: each banned peer with the seconds left
    assert set(banned) == {"late", "chatty"} and all(0 < left <= 600 for left in banned.values())
    chain.store.close()


def test_the_verifier_cache_is_bounded_in_bytes():
    verifier = TxVerifier(128 * 1024, cache_size=1_000, cache_bytes=250_000)
    raws = [TxBody(CHAIN_ID, n, 21_000, 1, 0, 0, Transfer(key(1).address, 1)).sign(key(0)).raw for n in range(50)]
    per = len(raws[0])
    for raw in raws:
        verifier.decode(raw)
    assert verifier.cached() == 50 and verifier.cached_bytes == sum(map(len, raws))
    small = TxVerifier(128 * 1024, cache_size=1_000, cache_bytes=10 * per)
    for raw in raws:
        small.decode(raw)
    assert small.cached() == 10 and small.cached_bytes <= 10 * per


def test_refused_transactions_leave_the_verifier_cache(tmp_path):
    chain, pool = make_chain(tmp_path)
    verifier = pool._verifier
    unfunded = TxBody(CHAIN_ID, 0, 21_000, 1, 0, 0, Transfer(key(1).address, 1)).sign(key(500)).raw
    try:
        pool.add(unfunded)
    except errors.InsufficientFunds:
        pass
    else:
        raise AssertionError("an unfunded sender's transaction was admitted")
    assert verifier.cached() == 0 and verifier.cached_bytes == 0
    funded = TxBody(CHAIN_ID, 0, 21_000, 1, 0, 0, Transfer(key(1).address, 1)).sign(key(0)).raw
    pool.add(funded)
    assert len(pool) == 1
    chain.store.close()


def test_remembered_rejections_keep_no_traceback(tmp_path):
    # A kept exception's traceback holds add()'s frame, and with it the raw transaction.
    chain, pool = make_chain(tmp_path)
    raw = b"\x92\xc1" + b"\x00" * 1000  # malformed (a native envelope header, then junk)
    for _ in range(2):
        try:
            pool.add(raw)
        except errors.MalformedTransaction as exc:
            assert exc.__traceback__ is not None  # ours, raised now
    kept = list(pool._rejected.values())
    assert len(kept) == 1 and kept[0].__traceback__ is None
    chain.store.close()
