"""docs/finance.md "Investment vault", run: the admin's listing of FUSD and every `finchain vault`
command of the page against a real node (one validator) and its genesis vault, with the page's
placeholders filled in; then a refusal that costs nothing, a withdrawal beyond the market's cash,
and a high-tier deposit (the market almost fully borrowed) held back until --accept-risk."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from node.config import save_key
from node.types.crypto import PrivateKey, to_checksum_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text()
SECTION = DOC[DOC.index("## Investment vault"):DOC.index("\n## ", DOC.index("## Investment vault"))]
E18 = 10**18
SHARES = 10**24  # fvUSD base units per FUSD at the start
MARKET = [str(75 * 10**16), str(10**17), "0", str(10**9), str(10**10), str(8 * 10**17), str(E18), str(E18)]


def _blocks() -> list[list[str]]:
    found = re.findall(r"^```\n(.*?)^```$", SECTION, re.M | re.S)
    return [[line for line in block.splitlines() if line.startswith("finchain ")] for block in found]


def test_the_vault_commands_of_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup, usage = _blocks()[:2]
    assert [shlex.split(x)[4] for x in setup] == ["approve", "report", "list_market"]
    assert {shlex.split(x)[2] for x in usage} == {"info", "preview", "deposit", "mint", "withdraw", "redeem", "call"}
    with Cluster(validators=1, block_time_ms=300, base_dir=tmp_path, proxy=False) as c:
        contracts = c.manifest.contracts
        vault, fusd, lending = contracts["vault"], contracts["fusd"], contracts["lending"]
        alice, bob = c.accounts[0], c.accounts[1]
        a, b = c.addresses[0], c.addresses[1]
        rpc = c.node(0).client
        for name, key in (("admin", alice), ("alice", alice), ("bob", bob)):
            save_key(tmp_path / f"{name}.json", key)
        subst = {"URL": c.node(0).rpc_url, "0xALICE": a, "0xBOB": b, "0xFUSD": fusd, "0xLENDING": lending,
                 "0xORACLE": contracts["oracle"], "0xVAULT": vault}

        def fill(line: str) -> list[str]:
            for k, v in subst.items():
                line = line.replace(k, v)
            return [t.replace("admin.json", str(tmp_path / "admin.json")).replace(
                "alice.json", str(tmp_path / "alice.json")).replace("bob.json", str(tmp_path / "bob.json"))
                for t in shlex.split(line)[1:]]

        def run(argv: list[str]) -> tuple[int, str, str]:
            capsys.readouterr()
            code = finchain(argv)
            out, err = capsys.readouterr()
            return code, out, err

        def view(method: str, args: list) -> int:
            res = rpc.contract_call(vault, method, args)
            assert res["status"] == "success", res
            return int(res["output"])

        # Before the listing the vault refuses, for free.
        code, _, err = run(fill(usage[2]))
        assert code == 1 and "market_not_listed" in err, err
        for line in setup:
            code, out, err = run(fill(line))
            assert code == 0, (line, out, err)

        fusd_before = int(rpc.contract_call(fusd, "balance_of", [b])["output"])
        outputs = []
        for line in usage:
            argv = fill(line)
            code, out, err = run(argv)
            assert code == 0, (line, out, err)
            outputs.append(json.loads(out))
            if argv[1] != "info" and argv[0] == "vault":
                assert "risk: low" in err, (line, err)
        # The view of the page's prose, run as written.
        query = re.search(r"`(finchain contract query 0xVAULT [^`]*)`", SECTION)
        assert query, "the contract query of the page"
        code, out, err = run(fill(query.group(1)))
        assert code == 0 and int(json.loads(out)["output"]) > 0, (out, err)
        info, preview, deposit, mint, mine = outputs[:5]
        assert info["symbol"] == "fvUSD" and info["decimals"] == 24 and info["total_assets"] == "0"
        assert preview["shares"] == str(1000 * E18 * 10**6) and preview["approval"]["needed"] is True
        assert deposit["shares"] == preview["shares"] == deposit["previewed"]
        assert mint["shares"] == str(500 * SHARES) and 500 * E18 <= int(mint["assets"]) < 501 * E18
        assert mine["account"]["shares"] == str(1500 * SHARES)
        withdraw, redeem = outputs[6], outputs[7]
        assert withdraw["assets"] == str(200 * E18) and int(withdraw["shares"]) >= 200 * SHARES
        assert redeem["shares"] == str(100 * SHARES) and int(redeem["assets"]) <= 100 * E18 + 10**6
        # Bob redeemed 50 FUSD worth of Alice's shares to himself with her share allowance.
        assert view("allowance", [a, b]) == 0
        assert int(rpc.contract_call(fusd, "balance_of", [b])["output"]) >= fusd_before + 249 * E18
        assert view("balance_of", [a]) == 1500 * SHARES - int(withdraw["shares"]) - 150 * SHARES

        # A refusal costs nothing: a stranger's deposit stops at the dry run, no transaction sent.
        stranger = PrivateKey((777).to_bytes(32, "big"))
        rpc.transfer(alice, to_checksum_address(stranger.address), 10 * E18, wait=True)
        save_key(tmp_path / "stranger.json", stranger)
        nonce = rpc.account(to_checksum_address(stranger.address))["nonce"]
        code, _, err = run(["vault", "deposit", str(E18), "--key-file", str(tmp_path / "stranger.json"),
                            "--rpc", subst["URL"]])
        assert code == 1 and "deposit would fail: insufficient_balance (nothing was sent)" in err, err
        assert rpc.account(to_checksum_address(stranger.address))["nonce"] == nonce

        # Bob borrows nearly all the market's cash against WGLD: withdrawals beyond what is left are
        # refused, and a deposit is high-tier (utilization over 95%) until --accept-risk.
        wgld, oracle = contracts["wgld"], contracts["oracle"]
        for key, contract, method, args in (
                (alice, oracle, "report", [wgld, str(2 * E18)]),
                (alice, wgld, "approve", [lending, str(10**30)]),
                (alice, lending, "list_market", [wgld, *MARKET]),
                (alice, wgld, "transfer", [b, str(10_000 * E18)]),
                (bob, wgld, "approve", [lending, str(10**30)]),
                (bob, lending, "supply", [wgld, str(10_000 * E18)])):
            receipt = rpc.call_contract(key, contract, method, args, timeout=30)["receipt"]
            assert receipt["status"] == "success", (method, receipt["error"])
        cash = int(rpc.contract_call(lending, "market_now", [fusd])["output"]["cash"])
        receipt = rpc.call_contract(bob, lending, "borrow", [fusd, str(cash - 10 * E18)], timeout=30)["receipt"]
        assert receipt["status"] == "success", receipt["error"]
        alice_file = str(tmp_path / "alice.json")
        code, _, err = run(["vault", "withdraw", str(100 * E18), "--key-file", alice_file, "--rpc", subst["URL"]])
        assert code == 1 and "insufficient_liquidity (nothing was sent)" in err, err
        code, _, err = run(["vault", "deposit", str(E18), "--key-file", alice_file, "--rpc", subst["URL"]])
        assert code == 1 and "--accept-risk" in err and "utilization_high" in err, err
        held = view("balance_of", [a])
        code, out, err = run(["vault", "deposit", str(E18), "--key-file", alice_file, "--rpc", subst["URL"],
                              "--accept-risk"])
        assert code == 0, err
        assert view("balance_of", [a]) == held + int(json.loads(out)["shares"])
        # The loan pays interest: the share price has grown since the start.
        assert view("share_price", []) > E18
