"""The KYC issuer service as a real process against a real node: the wallet and operator commands,
every refusal's code, and the privacy rule that only ciphertext is stored."""

from __future__ import annotations

import json
import time
import urllib.request

import plyvel
import pytest

from devnet.cli import main as finchain
from finance import wallet
from finance.identity.commitment import SaltedDocument
from finance.kyc.envelope import build_application
from node.client.sdk import RpcCallError
from node.config import save_key
from node.types.crypto import to_checksum_address
from tests.finance.chain import attestations, start_world
from tests.node.helpers import key

DOCUMENT = {"given_name": "Anna", "family_name": "Schmidt", "birth_date": "1990-05-17", "country": "DE",
            "document_number": "C01X00T47"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kyc-service")
    w = start_world(tmp)
    svc = w.service()
    svc.start()
    try:
        svc.wait_ready()
        w.svc = svc  # type: ignore[attr-defined]
        yield w
    finally:
        svc.stop()
        w.node.stop()


def _wait_state(svc, app_id: str, states: tuple[str, ...], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rec = svc.client.application(app_id)
        if rec["state"] in states or time.monotonic() > deadline:
            return rec
        time.sleep(0.1)


def test_apply_approve_disclose_verify_through_the_cli(world, tmp_path, capsys):
    alice = key(1)
    save_key(tmp_path / "alice.json", alice)
    (tmp_path / "id.json").write_text(json.dumps(DOCUMENT))
    wallet_dir, svc = tmp_path / "wallet", world.svc
    assert finchain(["kyc", "apply", "--issuer", svc.url, "--document", str(tmp_path / "id.json"), "--topics",
                     "kyc.basic,country", "--key-file", str(tmp_path / "alice.json"), "--wallet",
                     str(wallet_dir)]) == 0
    app = json.loads(capsys.readouterr().out)
    assert app["state"] == "pending" and app["applicant"] == to_checksum_address(alice.address)
    home = ["--home", str(world.issuer_home)]
    assert finchain(["kyc-issuer", "list", *home, "--state", "pending"]) == 0
    assert [a["id"] for a in json.loads(capsys.readouterr().out)] == [app["id"]]
    assert finchain(["kyc-issuer", "show", app["id"], *home]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["document"] == DOCUMENT
    assert finchain(["kyc-issuer", "approve", app["id"], *home]) == 0
    approved = json.loads(capsys.readouterr().out)
    assert approved["state"] == "attested" and approved["commitment"] == shown["document_commitment"]
    assert {e["topic"]: e["value"] for e in approved["attest"]} == {"kyc.basic": "verified", "country": "DE"}

    rpc = ["--rpc", world.node.rpc_url, "--identity", world.identity]
    assert finchain(["kyc", "status", to_checksum_address(alice.address), *rpc, "--topics", "kyc.basic,country",
                     "--issuer", svc.url, "--id", app["id"]]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["verified"] and status["claims"]["country"]["value"] == "DE"
    assert status["claims"]["kyc.basic"]["commitment"] == approved["commitment"]

    keyargs = ["--key-file", str(tmp_path / "alice.json"), "--wallet", str(wallet_dir)]
    assert finchain(["kyc", "disclose", "--field", "birth_date", "--predicate", "before:2008-01-01",
                     "--challenge", "shop-1", *rpc, *keyargs]) == 0
    proof = tmp_path / "proof.json"
    proof.write_text(capsys.readouterr().out)
    assert finchain(["kyc", "verify-disclosure", str(proof), "--challenge", "shop-1", *rpc]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["valid"] and verified["value"] == "1990-05-17"
    assert verified["predicate"] == "birth_date before 2008-01-01"
    # Each refusal exits 1 with its code.
    assert finchain(["kyc", "verify-disclosure", str(proof), "--challenge", "shop-2", *rpc]) == 1
    assert "[challenge_mismatch]" in capsys.readouterr().err
    tampered = json.loads(proof.read_text()) | {"value": "2009-01-01"}
    proof.write_text(json.dumps(tampered))
    assert finchain(["kyc", "verify-disclosure", str(proof), *rpc]) == 1
    assert "[disclosure_mismatch]" in capsys.readouterr().err
    assert finchain(["kyc", "disclose", "--field", "country", *rpc, "--key-file", str(tmp_path / "alice.json"),
                     "--wallet", str(tmp_path / "empty")]) == 1
    assert "[bad_document]" in capsys.readouterr().err
    # Bob has no claim.
    save_key(tmp_path / "bob.json", key(2))
    assert finchain(["kyc", "disclose", "--field", "country", *rpc, "--key-file", str(tmp_path / "bob.json")]) == 1
    assert "[not_verified]" in capsys.readouterr().err
    assert len([e for e in attestations(world.client, to_checksum_address(world.issuer_key.address))
                if e["data"][0] == to_checksum_address(alice.address)]) == 2


def test_reject_withdraw_erase_and_only_ciphertext_at_rest(world, tmp_path, capsys):
    svc, home = world.svc, ["--home", str(world.issuer_home)]
    carol, dave = key(3), key(4)
    secret = "Zebulon-Quixote-7731"
    c = wallet.apply(svc.url, {**DOCUMENT, "given_name": secret}, carol, wallet_dir=tmp_path)
    d = wallet.apply(svc.url, DOCUMENT, dave, wallet_dir=tmp_path)
    with pytest.raises(RpcCallError) as info:
        wallet.apply(svc.url, DOCUMENT, carol, wallet_dir=tmp_path)
    assert info.value.reason == "application_pending" and info.value.data["id"] == c["id"]
    assert finchain(["kyc-issuer", "erase", c["id"], *home]) == 1
    assert "[bad_state]" in capsys.readouterr().err
    assert finchain(["kyc-issuer", "reject", c["id"], *home, "--reason", "blurred photo"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "blurred photo"
    assert finchain(["kyc-issuer", "approve", c["id"], *home]) == 1
    assert "[bad_state]" in capsys.readouterr().err
    with pytest.raises(RpcCallError) as info:
        wallet.withdraw(svc.url, carol, d["id"])
    assert info.value.reason == "bad_application_signature"
    save_key(tmp_path / "dave.json", dave)
    assert finchain(["kyc", "withdraw", d["id"], "--issuer", svc.url, "--key-file", str(tmp_path / "dave.json")]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "withdrawn"
    for app_id in (c["id"], d["id"]):
        assert finchain(["kyc-issuer", "erase", app_id, *home]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "erased"
    assert finchain(["kyc-issuer", "show", c["id"], *home]) == 0
    assert "document" not in json.loads(capsys.readouterr().out)
    # The store holds no plaintext of any application: stop the service to read its LevelDB.
    svc.stop()
    try:
        db = plyvel.DB(str(world.issuer_home / "data"))
        blob = b"".join(k + v for k, v in db.iterator())
        db.close()
    finally:
        svc.start()
        svc.wait_ready()
    assert secret.encode() not in blob and b"Schmidt" not in blob and b"1990-05-17" not in blob
    assert svc.operator.call("kyc_get", c["id"])["ciphertext"] is None


def _post(url: str, body: bytes, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=5) as resp:
        return json.loads(resp.read())


def _submit(url: str, application: dict) -> str:
    answer = _post(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "kyc_submit",
                                    "params": [application]}).encode())
    return answer["error"]["data"]["reason"] if "error" in answer else "ok"


def test_bad_applications_get_stable_codes(world):
    svc = world.svc
    info = svc.client.info()
    issuer, pub = bytes.fromhex(info["issuer"][2:]), bytes.fromhex(info["public_key"][2:])
    erin, now = key(5), int(time.time() * 1000)
    doc = SaltedDocument.create({"country": "FR"}).to_json()
    good = build_application(erin, issuer, pub, ("kyc.basic",), doc, now).to_json()
    assert _submit(svc.url, {**good, "signature": build_application(key(6), issuer, pub, ("kyc.basic",), doc,
                                                                    now).to_json()["signature"]}) \
        == "bad_application_signature"
    flipped = good["ciphertext"][:-2] + ("00" if good["ciphertext"][-2:] != "00" else "01")
    forged = build_application(erin, issuer, pub, ("kyc.basic",), doc, now)
    from finance.kyc.envelope import Application, compute_application_digest
    body = bytes.fromhex(flipped[2:])
    resigned = Application(issuer, erin.address, now, ("kyc.basic",), body,
                           erin.sign(compute_application_digest(issuer, erin.address, now, ("kyc.basic",), body)))
    assert forged.id != resigned.id
    assert _submit(svc.url, resigned.to_json()) == "bad_ciphertext"
    stale = build_application(erin, issuer, pub, ("kyc.basic",), doc, now - 3_600_000).to_json()
    assert _submit(svc.url, stale) == "application_stale"
    assert _submit(svc.url, {**good, "issuer": "0x" + "44" * 20}) == "wrong_issuer"
    assert _submit(svc.url, {**good, "topics": ["accredited"]}) == "bad_application"
    assert _submit(svc.url, {**good, "version": 2}) == "bad_application"
    not_a_document = build_application(erin, issuer, pub, ("kyc.basic",), {"name": "Erin"}, now).to_json()
    assert _submit(svc.url, not_a_document) == "bad_document"
    big = build_application(erin, issuer, pub, ("kyc.basic",),
                            SaltedDocument.create({f"f{i}": "x" * 400 for i in range(45)}).to_json(), now)
    assert _submit(svc.url, big.to_json()) == "application_too_large"
    huge = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "kyc_info", "params": ["x" * 70_000]}).encode()
    assert _post(svc.url, huge)["error"]["data"]["reason"] == "application_too_large"
    assert _submit(svc.url, good) == "ok"
    assert _submit(svc.url, good) == "application_replay"
    assert _post(svc.url, b"{nope")["error"]["code"] == -32700
    listing = _post(svc.url, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "kyc_list", "params": []}).encode())
    assert listing["error"]["data"]["reason"] == "unauthorized"
    wrong = _post(svc.url, json.dumps({"jsonrpc": "2.0", "id": 3, "method": "kyc_list", "params": []}).encode(),
                  "0" * 64)
    assert wrong["error"]["data"]["reason"] == "unauthorized"
    unknown = _post(svc.url, json.dumps({"jsonrpc": "2.0", "id": 4, "method": "kyc_status",
                                         "params": ["0x" + "00" * 32]}).encode())
    assert unknown["error"]["data"]["reason"] == "application_not_found"
    bad_params = _post(svc.url, json.dumps({"jsonrpc": "2.0", "id": 5, "method": "kyc_status",
                                            "params": [1, 2, 3]}).encode())
    assert bad_params["error"]["code"] == -32602


def test_init_makes_a_home_with_its_own_or_a_given_key(world, tmp_path, capsys):
    home = tmp_path / "issuer"
    args = ["kyc-issuer", "init", "--home", str(home), "--node", world.node.rpc_url, "--identity", world.identity,
            "--port", "8651", "--topics", "kyc.basic"]
    assert finchain(args) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["topics"] == ["kyc.basic"] and made["url"] == "http://127.0.0.1:8651"
    assert (home / "admin_token").stat().st_mode & 0o777 == 0o600
    assert finchain(args) == 1
    assert "already holds" in capsys.readouterr().err
    save_key(tmp_path / "given.json", key(7))
    assert finchain([*args, "--force", "--key-file", str(tmp_path / "given.json")]) == 0
    assert json.loads(capsys.readouterr().out)["issuer"] == to_checksum_address(key(7).address)
    assert finchain(["kyc-issuer", "list", "--home", str(tmp_path / "nowhere")]) == 1
    assert "not found" in capsys.readouterr().err
