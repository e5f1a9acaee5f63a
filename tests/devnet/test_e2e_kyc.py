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
        deposit_to_products(c, tmp_path, capsys, user, stranger)


def deposit_to_products(c: Cluster, tmp_path, capsys, user: PrivateKey, stranger: PrivateKey) -> None:
    """The verified user: a deposit minted by the custodian, a gated market and pool, a redemption
    settled by the custodian; the stranger is refused at each step with the registry's reason."""
    contracts, admin = c.manifest.contracts, c.accounts[0]
    fusd, feur, lending, swap, oracle = (contracts[k] for k in ("fusd", "feur", "lending", "swap", "oracle"))
    identity, rpc = contracts["identity"], c.node(0).client
    save_key(tmp_path / "custodian.json", c.roles["custodian"])
    user_addr, stranger_addr = to_checksum_address(user.address), to_checksum_address(stranger.address)
    money = ["--rpc", c.node(1).rpc_url, "--key-file", str(tmp_path / "custodian.json")]

    def mint(to: str, deposit: str) -> int:
        return finchain(["custodian", "mint", "--coin", fusd, "--to", to, "--amount", str(500 * COIN),
                         "--deposit-ref", deposit, *money])

    assert mint(user_addr, "bank-dep-1") == 0
    assert json.loads(capsys.readouterr().out)["amount"] == str(500 * COIN)
    assert mint(user_addr, "bank-dep-1") == 1 and "[deposit_ref_used]" in capsys.readouterr().err
    assert mint(stranger_addr, "bank-dep-2") == 1 and "[not_verified]" in capsys.readouterr().err
    assert int(c.node(3).client.contract_call(fusd, "balance_of", [user_addr])["output"]) == 500 * COIN

    def send(key: PrivateKey, contract: str, method: str, args: list) -> dict:
        return rpc.call_contract(key, contract, method, args, gas_limit=3_000_000)["receipt"]

    # The admin lists a KYC-gated FUSD market and a gated FUSD/FEUR pool (docs/finance.md).
    for call in [(oracle, "report", [fusd, str(COIN)]), (fusd, "approve", [lending, str(10**30)]),
                 (lending, "list_market", [fusd, str(75 * 10**16), str(10**17), 0, 10**9, 10**10,
                                           str(8 * 10**17), str(COIN), str(COIN)]),
                 (lending, "set_requirement", [fusd, identity, ["kyc.basic"]]),
                 (fusd, "approve", [swap, str(10**30)]), (feur, "approve", [swap, str(10**30)]),
                 (swap, "add_liquidity", [fusd, feur, str(10_000 * COIN), str(9_000 * COIN), 0, 0,
                                          to_checksum_address(admin.address), 2**40]),
                 (swap, "set_requirement", [fusd, feur, identity, ["kyc.basic"]])]:
        assert send(admin, *call)["status"] == "success", call
    rpc.transfer(admin, user_addr, 10 * COIN, wait=True)  # coin for the user's fees; the stranger has some
    assert send(admin, fusd, "transfer", [stranger_addr, str(100 * COIN)])["status"] == "success"  # open transfers
    for key in (user, stranger):
        for spender in (lending, swap):
            assert send(key, fusd, "approve", [spender, str(10**30)])["status"] == "success"
    for key, expect in ((user, None), (stranger, "not_verified")):
        for contract, method, args in [(lending, "supply", [fusd, str(100 * COIN)]),
                                       (swap, "swap_exact_tokens_for_tokens",
                                        [str(50 * COIN), 0, [fusd, feur], to_checksum_address(key.address), 2**40])]:
            receipt = send(key, contract, method, args)
            assert (receipt["status"], receipt["error"]) == (("success", None) if expect is None
                                                              else ("failed", expect)), (method, receipt)
    # The user redeems part; the custodian sees it and settles it once.
    assert send(user, fusd, "redeem", [str(200 * COIN), "0x" + "ab" * 32])["status"] == "success"
    assert finchain(["custodian", "pending-redemptions", "--coin", fusd, "--rpc", c.node(2).rpc_url]) == 0
    pending = json.loads(capsys.readouterr().out)["redemptions"]
    assert [(r["holder"], r["amount"]) for r in pending] == [(user_addr, str(200 * COIN))]
    assert finchain(["custodian", "settle", str(pending[0]["id"]), "--coin", fusd, "--bank-ref", "wire-77",
                     *money]) == 0
    capsys.readouterr()
    assert finchain(["custodian", "settle", str(pending[0]["id"]), "--coin", fusd, "--bank-ref", "wire-77",
                     *money]) == 1 and "[already_settled]" in capsys.readouterr().err
    assert int(c.node(3).client.contract_call(fusd, "balance_of", [user_addr])["output"]) == 150 * COIN
    bond_units(c, capsys, user, stranger)


def bond_units(c: Cluster, capsys, user: PrivateKey, stranger: PrivateKey) -> None:
    """The genesis bond: the agent issues units to the verified user (country SG), who cannot pass
    them to the stranger; can_transfer tells why before anything is sent."""
    bond, admin, rpc = c.manifest.contracts["bond"], c.accounts[0], c.node(0).client
    user_addr, stranger_addr = to_checksum_address(user.address), to_checksum_address(stranger.address)
    receipt = rpc.call_contract(admin, bond, "issue", [user_addr, 10, 0], gas_limit=3_000_000)["receipt"]
    assert receipt["status"] == "success", receipt
    refused = rpc.call_contract(admin, bond, "issue", [stranger_addr, 10, 0], gas_limit=3_000_000)["receipt"]
    assert (refused["status"], refused["error"]) == ("failed", "not_verified")
    assert finchain(["contract", "query", bond, "can_transfer", "--args", json.dumps([user_addr, stranger_addr, 5]),
                     "--rpc", c.node(2).rpc_url]) == 0
    assert "not_verified" in capsys.readouterr().out
    sent = rpc.call_contract(user, bond, "transfer", [stranger_addr, 5], gas_limit=3_000_000)["receipt"]
    assert (sent["status"], sent["error"]) == ("failed", "not_verified")
    assert int(c.node(3).client.contract_call(bond, "balance_of", [user_addr])["output"]) == 10
