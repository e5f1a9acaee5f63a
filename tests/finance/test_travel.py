"""Travel-rule data: encryption to both parties, the R.16 field rules, and the KYC issuer service's store
(`travel_submit`, `travel_get`) over real HTTP and a real LevelDB, readable only with a party's key."""

from __future__ import annotations

import asyncio
import time

import plyvel
import pytest
from aiohttp import web

from devnet.process import free_port
from finance.errors import BadTravelData, TravelMismatch
from finance.kyc.home import init_issuer_home, load_issuer_home
from finance.kyc.service import MAX_BODY_BYTES, IssuerService
from finance.kyc.store import ApplicationStore
from finance.travel import (
    TravelClient,
    check_published_key,
    compute_travel_ref,
    decrypt_travel,
    encrypt_travel,
    read_travel,
    send_travel,
)
from node.client.sdk import AsyncClient, RpcCallError
from node.types.crypto import PrivateKey
from tests.node.helpers import key

DATA = {"originator": {"name": "Anna Schmidt", "account": "DE89370400440532013000", "address": "Berlin, DE"},
        "beneficiary": {"name": "Jean Dupont", "account": "FR1420041010050500013M02606"},
        "payment": {"purpose": "invoice 7"}}
ALICE, BOB, EVE = key(1), key(2), key(3)


def test_both_parties_decrypt_and_nobody_else():
    ct = encrypt_travel(DATA, ALICE.public_key, BOB.public_key)
    assert decrypt_travel(ALICE, ct) == DATA and decrypt_travel(BOB, ct) == DATA
    with pytest.raises(TravelMismatch):
        decrypt_travel(EVE, ct)
    assert b"Anna" not in ct and b"Dupont" not in ct
    # a changed byte of the beneficiary's envelope no longer decrypts for it
    tampered = ct[:-1] + bytes([ct[-1] ^ 1])
    with pytest.raises(TravelMismatch):
        decrypt_travel(BOB, tampered)
    assert compute_travel_ref(ct) != compute_travel_ref(tampered)


def test_r16_fields_are_required():
    for bad in ({"originator": DATA["originator"]},
                {**DATA, "originator": {"name": "A", "account": "1"}},  # no address / id
                {**DATA, "beneficiary": {"name": "B"}},
                {**DATA, "originator": {**DATA["originator"], "name": 7}},
                {**DATA, "extra": {}}):
        with pytest.raises(BadTravelData):
            encrypt_travel(bad, ALICE.public_key, BOB.public_key)


def test_a_published_key_must_be_the_accounts_own():
    assert check_published_key(BOB.address, BOB.public_key) == BOB.public_key
    with pytest.raises(BadTravelData):
        check_published_key(BOB.address, EVE.public_key)
    with pytest.raises(BadTravelData):
        check_published_key(BOB.address, b"")


def test_issuer_service_stores_ciphertext_and_serves_it_to_the_parties_only(tmp_path):
    home = tmp_path / "issuer"
    init_issuer_home(home, node_rpc="http://127.0.0.1:9", identity="0x" + "11" * 20, port=free_port(),
                     key=PrivateKey((4242).to_bytes(32, "big")), topics=("kyc.basic",))
    config = load_issuer_home(home)

    async def scenario() -> None:
        store = ApplicationStore(config.data_dir)
        node = AsyncClient("http://127.0.0.1:9")
        service = IssuerService(config, store, node)
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_post("/", service.handle_http)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(_client_side, url)
        finally:
            await runner.cleanup()
            await node.close()
            store.close()

    asyncio.run(scenario())
    # the ciphertext is on disk under its ref; no plaintext anywhere in the database
    db = plyvel.DB(str(config.data_dir))
    try:
        values = [v for _, v in db.iterator(prefix=b"t/")]
        assert len(values) == 1 and b"Anna" not in values[0]
    finally:
        db.close()


def _client_side(url: str) -> None:
    ref = send_travel(url, DATA, ALICE.public_key, BOB.public_key)
    assert len(ref) == 32
    assert read_travel(url, ref, BOB) == DATA
    assert read_travel(url, ref, ALICE) == DATA
    client = TravelClient(url)
    with pytest.raises(RpcCallError) as err:
        client.fetch(ref, EVE)
    assert err.value.reason == "travel_forbidden"
    with pytest.raises(RpcCallError) as err:  # an old signed request is not replayed
        client.fetch(ref, BOB, now_ms=int(time.time() * 1000) - 10**7)
    assert err.value.data["reason"] == "travel_forbidden"
    with pytest.raises(RpcCallError) as err:
        client.fetch(bytes(32), BOB)
    assert err.value.data["reason"] == "travel_not_found"
    with pytest.raises(RpcCallError) as err:
        client.call("travel_submit", "0x0102")
    assert err.value.data["reason"] == "bad_travel_data"
    # submitting the same ciphertext again is the same record
    ct = client.fetch(ref, BOB)
    assert client.submit(ct) == ref
