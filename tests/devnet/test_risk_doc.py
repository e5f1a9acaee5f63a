"""docs/finance.md "Risk in every quote", run: every `finchain swap` and `finchain lend` command of the
page against a real node, with its placeholders filled in, after the admin has made a pool and markets."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from node.config import save_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text()
SECTION = DOC[DOC.index("## Risk in every quote"):DOC.index("## Reason codes")]
E18 = 10**18
FAR = 2**40
MARKET = [str(75 * 10**16), str(10**17), str(10**15), str(10**15), str(10**16), str(8 * 10**17), str(E18), str(E18)]


def _commands(after: str) -> list[list[str]]:
    found = re.search(rf"{re.escape(after)}.*?\n```\n(.*?)^```$", SECTION, re.M | re.S)
    assert found, after
    return [shlex.split(line) for line in found.group(1).splitlines() if line.startswith("finchain ")]


def test_the_risk_commands_of_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Cluster(validators=1, block_time_ms=300, base_dir=tmp_path, proxy=False) as c:
        contracts = c.manifest.contracts
        tusd, wgld, oracle, swap, lending = (contracts[n] for n in ("tusd", "wgld", "oracle", "swap", "lending"))
        alice, bob = c.accounts[0], c.accounts[1]
        rpc = c.node(0).client

        def send(key, contract: str, method: str, args: list) -> None:
            receipt = rpc.call_contract(key, contract, method, args, timeout=30)["receipt"]
            assert receipt["status"] == "success", f"{method}: {receipt['error']}"

        for token in (tusd, wgld):
            send(alice, token, "approve", [swap, str(10**30)])
            send(alice, token, "approve", [lending, str(10**30)])
        send(alice, oracle, "report", [tusd, str(E18)])
        send(alice, oracle, "report", [wgld, str(2 * E18)])
        send(alice, swap, "add_liquidity", [tusd, wgld, str(200_000 * E18), str(100_000 * E18), "0", "0",
                                            c.addresses[0], FAR])
        send(alice, lending, "list_market", [tusd, *MARKET])
        send(alice, lending, "list_market", [wgld, *MARKET])
        send(alice, lending, "supply", [tusd, str(100_000 * E18)])
        send(alice, wgld, "transfer", [c.addresses[1], str(1_000 * E18)])
        save_key(tmp_path / "alice.json", alice)
        save_key(tmp_path / "bob.json", bob)

        def fill(argv: list[str]) -> list[str]:
            subst = {"URL": c.node(0).rpc_url, "0xBOB": c.addresses[1], "alice.json": str(tmp_path / "alice.json"),
                     "bob.json": str(tmp_path / "bob.json")}
            return [subst.get(a, a) for a in argv[1:]]

        swaps = _commands("Swaps, with tokens")
        lends = _commands("Lending (the market")
        assert [a[1:3] for a in swaps] == [["swap", "quote"]] * 2 + [["swap", "send"]]
        for argv in swaps + lends:
            capsys.readouterr()
            code = finchain(fill(argv))
            out, err = capsys.readouterr()
            assert code == 0, (argv, out, err)
            assert "risk:" in err, (argv, err)
            if argv[2] in ("quote", "preview"):
                answer = json.loads(out)
                assert answer["risk"]["tier"] in ("low", "medium", "high"), answer
            if argv[2] == "send":
                assert int(json.loads(out)["amount_out"]) >= int(json.loads(out)["min_out"]) > 0
        # 900 WGLD at 2 with factor 0.75 carry 1,350: owing about 1,300 is under 1.2, not sent without
        # --accept-risk, and sent with it.
        borrow = next(fill(a) for a in lends if a[2] == "borrow")
        borrow[borrow.index("400000000000000000000")] = str(1_000 * E18)
        owed = int(rpc.contract_call(lending, "borrow_balance", [tusd, c.addresses[1]])["output"])
        code = finchain(borrow)
        err = capsys.readouterr().err
        assert code == 1 and "--accept-risk" in err and "nothing was sent" in err and "health_high" in err, err
        assert int(rpc.contract_call(lending, "borrow_balance", [tusd, c.addresses[1]])["output"]) < owed + E18
        assert finchain([*borrow, "--accept-risk"]) == 0, capsys.readouterr()
        assert int(rpc.contract_call(lending, "borrow_balance", [tusd, c.addresses[1]])["output"]) > owed + 999 * E18
        # A trade that moves the pool by more than 10% is refused, even with --accept-risk.
        code = finchain(["swap", "send", "--path", "TUSD,WGLD", "--amount-in", str(100_000 * E18),
                         "--key-file", str(tmp_path / "alice.json"), "--rpc", c.node(0).rpc_url, "--accept-risk"])
        err = capsys.readouterr().err
        assert code == 1 and "blocked" in err and "price_impact_blocked" in err, err
