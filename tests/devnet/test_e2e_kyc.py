"""End to end on a 4-validator devnet with real processes: registration with a private identity.

A new user applies to the KYC issuer service (a real process of its own), the operator reads
and approves the application, the claim is visible on every node, the user discloses one
field and a verifier checks it against another node; a user nobody verified is refused.
"""

from __future__ import annotations

import json

import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from devnet.kyc import IssuerProcess
from devnet.process import free_port
from finance import wallet
from finance.kyc.home import init_issuer_home
from node.client.sdk import Client
from node.config import save_key
from node.types.crypto import PrivateKey, to_checksum_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

COIN = 10**18
TOPICS = ["kyc.basic", "country"]


def test_registration_on_a_devnet(tmp_path, capsys):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        # The genesis deploys the registry, with the devnet's KYC issuer account registered.
        admin = c.accounts[0]
        identity = c.manifest.contracts["identity"]
        issuer_key = c.roles["kyc_issuer"]
        issuer = to_checksum_address(issuer_key.address)
        assert c.node(0).client.contract_call(identity, "issuer", [issuer])["output"]["active"]
        save_key(tmp_path / "admin.json", admin)
        assert finchain(["contract", "call", identity, "add_issuer", "--args",
                         json.dumps([issuer, "Devnet KYC", TOPICS]), "--key-file", str(tmp_path / "admin.json"),
                         "--rpc", c.node(0).rpc_url]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "success"

        home = tmp_path / "issuer"
        init_issuer_home(home, node_rpc=c.node(1).rpc_url, identity=identity, port=free_port(), key=issuer_key,
                         topics=tuple(TOPICS))
        svc = IssuerProcess(home)
        svc.start()
        try:
            svc.wait_ready()
            # A new user: a fresh key with no coin; registration costs the user nothing on chain.
            user = PrivateKey((777_001).to_bytes(32, "big"))
            user_addr = to_checksum_address(user.address)
            save_key(tmp_path / "user.json", user)
            (tmp_path / "id.json").write_text(json.dumps({"given_name": "Mei", "family_name": "Lin",
                                                          "birth_date": "2001-09-30", "country": "SG"}))
            keyargs = ["--key-file", str(tmp_path / "user.json"), "--wallet", str(tmp_path / "wallet")]
            assert finchain(["kyc", "apply", "--issuer", svc.url, "--document", str(tmp_path / "id.json"),
                             "--topics", "kyc.basic,country", *keyargs]) == 0
            app = json.loads(capsys.readouterr().out)
            assert finchain(["kyc-issuer", "approve", app["id"], "--home", str(home)]) == 0
            approved = json.loads(capsys.readouterr().out)
            assert approved["state"] == "attested", approved

            # The claim on every node.
            for node in c.nodes:
                client = node.process.client
                for entry in approved["attest"]:
                    client.wait_for_tx(entry["hash"], timeout=30)
                status = wallet.claims(client, identity, user_addr, TOPICS)
                assert status["verified"], (node.name, status)
                assert status["claims"]["country"]["value"] == "SG"
                assert status["claims"]["kyc.basic"]["commitment"] == approved["commitment"]

            # Disclosure through node 2, verification through node 3.
            rpc2 = ["--rpc", c.node(2).rpc_url, "--identity", identity]
            assert finchain(["kyc", "disclose", "--field", "birth_date", "--predicate", "before:2008-01-01",
                             "--challenge", "bank-42", *rpc2, *keyargs]) == 0
            proof = tmp_path / "proof.json"
            proof.write_text(capsys.readouterr().out)
            rpc3 = ["--rpc", c.node(3).rpc_url, "--identity", identity]
            assert finchain(["kyc", "verify-disclosure", str(proof), "--challenge", "bank-42", *rpc3]) == 0
            verified = json.loads(capsys.readouterr().out)
            assert verified["valid"] and verified["issuer"] == issuer

            # An unverified user is refused with the documented reason.
            stranger = c.accounts[5]
            save_key(tmp_path / "stranger.json", stranger)
            assert wallet.claims(Client(c.node(3).rpc_url), identity, c.addresses[5], TOPICS)["reason"] \
                == "not_verified"
            assert finchain(["kyc", "disclose", "--field", "country", *rpc3, "--key-file",
                             str(tmp_path / "stranger.json")]) == 1
            assert "[not_verified]" in capsys.readouterr().err
            assert svc.client.application(app["id"])["state"] == "attested"
        finally:
            svc.stop()
