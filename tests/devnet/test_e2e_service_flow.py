"""The service flow of issue 14 on a 4-validator devnet: a verified user holding FUSD pays a verified
recipient in FEUR through the gated FX pool, the recipient's statement shows the delivery, the sender
rates the payment service, and a stranger can neither pay through the gated pool nor rate."""

from __future__ import annotations

import hashlib

import pytest

from devnet.cluster import Cluster
from finance import custodian

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
E18 = 10**18


def test_verified_cross_currency_payment_statement_and_feedback(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        names = c.manifest.contracts
        identity, fusd, feur, swap = names["identity"], names["fusd"], names["feur"], names["swap"]
        payments, feedback = names["payments"], names["feedback"]
        admin, issuer = c.accounts[0], c.roles["kyc_issuer"]
        alice, stranger = c.accounts[1], c.accounts[3]
        a_addr, b_addr, s_addr = c.addresses[1], c.addresses[2], c.addresses[3]
        rpc, reader = c.node(0).client, c.node(3).client

        def send(key, contract, method, args):
            answer = rpc.call_contract(key, contract, method, args, timeout=30)
            assert answer["receipt"]["status"] == "success", f"{method}: {answer['receipt']['error']}"
            reader.wait_for_tx(answer["hash"], timeout=30)
            return answer

        for n, who in enumerate((a_addr, b_addr)):
            commitment = "0x" + hashlib.sha256(bytes([n])).hexdigest()
            ref = "0x" + hashlib.sha256(b"ref" + bytes([n])).hexdigest()
            send(issuer, identity, "attest", [who, "kyc.basic", "verified", commitment, 10**9, ref])
        send(admin, swap, "set_requirement", [fusd, feur, identity, ["kyc.basic"]])
        custodian.mint(rpc, c.roles["custodian"], fusd, a_addr, 600 * E18, "bank-dep-flow-1")
        send(admin, fusd, "transfer", [s_addr, str(600 * E18)])

        quote = reader.find_paths(fusd, feur, amount=500 * E18)
        best = quote["paths"][0]
        assert best["path"] == [fusd, feur] and best["risk"]["tier"] in ("low", "medium")
        deliver_min = int(best["delivered_amount"]) * 99 // 100
        send(alice, fusd, "approve", [payments, str(500 * E18)])
        height = reader.status()["height"]
        paid = send(alice, payments, "pay", [b_addr, fusd, feur, str(500 * E18), str(deliver_min), "0", [],
                                             height + 100, "0x" + b"invoice 7".hex(), "0x"])
        assert [e["name"] for e in paid["receipt"]["events"]].count("PathPayment") == 1
        delivered = int(paid["receipt"]["output"]["delivered_amount"])
        assert delivered >= deliver_min and int(paid["receipt"]["output"]["spent"]) <= 500 * E18

        # The recipient's statement over the payment's height: the FEUR delivery, reconciled.
        statement = reader.account_statement(b_addr, paid["height"], paid["height"])
        [feur_row] = [a for a in statement["assets"] if a["asset"] == feur]
        assert int(feur_row["closing"]) - int(feur_row["opening"]) == delivered
        [credit] = [m for m in statement["movements"] if m["asset"] == feur]
        assert credit["tx_hash"] == paid["hash"] and int(credit["amount"]) == delivered
        assert credit["direction"] == "credit" and all(a["reconciled"] for a in statement["assets"])

        # The sender rates the payment service; a stranger and a second rating are refused.
        send(alice, feedback, "rate", [paid["hash"], 5, "fast and cheap"])
        reputation = reader.contract_call(feedback, "reputation", [payments])["output"]
        assert int(reputation["count"]) == 1
        for who, code in ((s_addr, "not_a_party"), (a_addr, "already_rated")):
            dry = reader.contract_call(feedback, "rate", [paid["hash"], 1, ""], sender=who)
            assert dry["status"] == "failed" and dry["error"] == code, dry

        # The stranger holds FUSD but no claim: the gated pool refuses the payment, nothing moves.
        send(stranger, fusd, "approve", [payments, str(500 * E18)])
        before = reader.contract_call(fusd, "balance_of", [s_addr])["output"]
        dry = reader.contract_call(payments, "pay", [b_addr, fusd, feur, str(500 * E18), "1", "0", [],
                                                     height + 100, "0x", "0x"], sender=s_addr)
        assert dry["status"] == "failed" and dry["error"] == "not_verified", dry
        assert reader.contract_call(fusd, "balance_of", [s_addr])["output"] == before
        c.assert_agree()
