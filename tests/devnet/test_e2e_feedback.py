"""End to end with a real node process: a user's successful contract call is rated with the CLI;
a stranger, a second rating and a failed call are refused with their codes and cost nothing; and
every command of docs/finance.md's Feedback section runs, its placeholders filled in."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from node.config import save_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text()


def _doc_lines() -> list[str]:
    found = re.search(r"<!-- feedback commands -->\n```\n(.*?)^```$", DOC, re.M | re.S)
    assert found, "the feedback commands block"
    return [x for x in found.group(1).splitlines() if x.startswith("finchain ")]


def _refused(capsys, argv: list[str], reason: str) -> None:
    capsys.readouterr()
    assert finchain(argv) == 1
    err = capsys.readouterr().err
    assert f"[{reason}]" in err, err


def test_feedback_on_a_devnet(tmp_path, capsys):
    with Cluster(validators=1, block_time_ms=200, base_dir=tmp_path) as c:
        rpc = c.node(0).client
        url = c.node(0).rpc_url
        feedback = c.manifest.contracts["feedback"]
        service = c.manifest.contracts["tusd"]
        user, stranger = c.accounts[1], c.accounts[2]
        save_key(tmp_path / "alice.json", user)
        save_key(tmp_path / "stranger.json", stranger)
        # The user's calls of the token: two that succeed, one that fails on chain (no balance to send).
        calls = [rpc.call_contract(user, service, "approve", [c.addresses[3], str(n)]) for n in (1, 2)]
        assert all(a["receipt"]["status"] == "success" for a in calls)
        failed = rpc.call_contract(user, service, "transfer", [c.addresses[3], "5"], gas_limit=200_000)
        assert failed["receipt"]["status"] == "failed"
        first, second = calls[0]["hash"], calls[1]["hash"]
        common = ["--feedback", feedback, "--rpc", url]

        # Each refusal prints its code, exits 1, and sends nothing.
        nonces = (rpc.next_nonce(c.addresses[1]), rpc.next_nonce(c.addresses[2]))
        as_user = ["--key-file", str(tmp_path / "alice.json"), *common]
        _refused(capsys, ["feedback", "give", first, "--score", "5", "--key-file", str(tmp_path / "stranger.json"),
                          *common], "not_a_party")
        _refused(capsys, ["feedback", "give", failed["hash"], "--score", "1", *as_user], "tx_failed")
        _refused(capsys, ["feedback", "give", "0x" + "11" * 32, "--score", "3", *as_user], "not_settled")
        _refused(capsys, ["feedback", "give", first, "--score", "9", *as_user], "bad_score")
        _refused(capsys, ["feedback", "give", first, "--score", "3", "--comment", "x" * 281, *as_user], "bad_comment")
        assert (rpc.next_nonce(c.addresses[1]), rpc.next_nonce(c.addresses[2])) == nonces

        # The page's commands, in its order: the first rates `first`, the second `second` by a hash.
        digest = "0x" + hashlib.sha256(b"kept off chain").hexdigest()
        lines = _doc_lines()
        assert {shlex.split(x)[1] + " " + shlex.split(x)[2] for x in lines} >= {"feedback give", "feedback show"}
        outputs = []
        for line in lines:
            text = (line.replace("0xTX_HASH", first).replace("0xOTHER_TX", second)
                    .replace("0xCOMMENT_SHA256", digest).replace("0xFEEDBACK", feedback)
                    .replace("0xSERVICE", service).replace("alice.json", str(tmp_path / "alice.json"))
                    .replace("http://127.0.0.1:26600", url))
            capsys.readouterr()
            assert finchain(shlex.split(text)[1:]) == 0, text
            outputs.append(json.loads(capsys.readouterr().out))
        given, hashed, shown, listed, queried = outputs
        assert given["rating"]["score"] == "5" and given["rating"]["comment"] == "paid in seconds"
        assert given["rating"]["rater"] == c.addresses[1] and given["rating"]["service"] == service
        assert hashed["rating"]["comment_hash"] == digest
        assert shown["reputation"] == {"service": service, "count": "2", "sum": "9", "average_x100": "450",
                                       "distribution": ["0", "0", "0", "1", "1"]}
        assert [r["tx_hash"] for r in listed["ratings"]] == [first, second] and listed["next"] is None
        assert queried["output"]["score"] == "5"
        receipt = rpc.get_tx(given["hash"])["receipt"]
        assert [e["name"] for e in receipt["events"]] == ["Rated"]

        # A second rating of the same call, from the command line and straight to the chain.
        _refused(capsys, ["feedback", "give", first, "--score", "1", *as_user], "already_rated")
        sent = rpc.call_contract(user, feedback, "rate", [first, 1, "", "0x"], gas_limit=300_000)
        assert (sent["receipt"]["status"], sent["receipt"]["error"]) == ("failed", "already_rated")
        # And a stranger's, sent anyway: refused on chain with its code.
        sent = rpc.call_contract(stranger, feedback, "rate", [second, 1, "", "0x"], gas_limit=300_000)
        assert (sent["receipt"]["status"], sent["receipt"]["error"]) == ("failed", "not_a_party")
        assert rpc.contract_call(feedback, "reputation", [service])["output"]["count"] == "2"
