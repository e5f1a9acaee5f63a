"""docs/finance.md "Cross-border payments", run end to end on a devnet with a KYC issuer service as a
real process: every `finchain pay` command of the section with its placeholders filled in. A FUSD ->
FEUR payment above the travel-rule threshold without travel data is refused and moves nothing; with
it, it goes through, the chain holds only the ref, and the beneficiary (nobody else) reads the data
back; a two-hop FEUR -> TUSD payment delivers exactly its amount."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from devnet.kyc import IssuerProcess
from devnet.process import free_port
from finance.kyc.home import init_issuer_home
from finance.travel import TravelClient
from node.config import save_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text()
START = DOC.index("## Cross-border payments")
SECTION = DOC[START:DOC.index("\n## ", START)]
E18 = 10**18


def _commands() -> list[list[str]]:
    return [shlex.split(line) for line in SECTION.splitlines() if line.startswith("finchain ")]


def _travel_example() -> dict:
    found = re.search(r"^```json\n(.*?)^```$", SECTION, re.M | re.S)
    assert found
    return json.loads(found.group(1))


def test_the_payment_commands_of_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commands = _commands()
    assert [a[1:3] for a in commands] == [["pay", "quote"]] * 2 + [["pay", "publish-key"], ["pay", "send"],
                                                                   ["pay", "travel"], ["pay", "send"]]
    travel = _travel_example()
    (tmp_path / "travel.json").write_text(json.dumps(travel))
    with Cluster(validators=1, block_time_ms=300, base_dir=tmp_path / "devnet", proxy=False) as c:
        names = c.manifest.contracts
        alice, bob, eve = c.accounts[0], c.accounts[1], c.accounts[2]
        for name, k in (("alice", alice), ("bob", bob), ("eve", eve)):
            save_key(tmp_path / f"{name}.json", k)
        home = tmp_path / "issuer"
        init_issuer_home(home, node_rpc=c.node(0).rpc_url, identity=names["identity"], port=free_port(),
                         key=c.roles["kyc_issuer"], topics=("kyc.basic",))
        svc = IssuerProcess(home)
        svc.start()
        try:
            svc.wait_ready()
            rpc = c.node(0).client
            subst = {"URL": c.node(0).rpc_url, "ISSUER": svc.url, "0xBOB": c.addresses[1],
                     "alice.json": str(tmp_path / "alice.json"), "bob.json": str(tmp_path / "bob.json"),
                     "travel.json": str(tmp_path / "travel.json")}

            def run(argv: list[str], extra: dict[str, str] | None = None) -> tuple[int, str, str]:
                capsys.readouterr()
                table = {**subst, **(extra or {})}
                code = finchain([table.get(a, a) for a in argv[1:]])
                out, err = capsys.readouterr()
                return code, out, err

            def balance(token: str, who: str) -> int:
                return int(rpc.contract_call(names[token], "balance_of", [who])["output"])

            for argv in commands[:2]:
                code, out, err = run(argv)
                assert code == 0, (argv, err)
                quote = json.loads(out)
                assert quote["paths"] and "risk:" in err
            assert [p.lower() for p in json.loads(out)["paths"][0]["path"]] == [
                names[n].lower() for n in ("feur", "fusd", "tusd")]
            code, out, err = run(commands[2])
            assert code == 0, err

            # Without travel data the gated corridor refuses, and nothing moves.
            send = commands[3]
            cut = send.index("--travel")
            bare = send[:cut] + send[cut + 4:]
            before = (balance("fusd", c.addresses[0]), balance("feur", c.addresses[1]))
            code, out, err = run(bare)
            assert code == 1 and "travel_rule_required" in err and "nothing was sent" in err, err
            assert (balance("fusd", c.addresses[0]), balance("feur", c.addresses[1])) == before

            # Travel data for a recipient that published no key cannot be encrypted to it: refused first.
            code, out, err = run(send, {"0xBOB": c.addresses[2]})
            assert code == 1 and "bad_travel_data" in err and "published no encryption key" in err, err

            # A payment that moves the pool by 3% to 10% waits for --accept-risk; over 10% is refused.
            for amount, accept, word in ((5_000, False, "--accept-risk"), (20_000, True, "blocked")):
                risky = [str(amount * E18) if a == "2000000000000000000000" else a for a in bare]
                risky = [str(1) if a == "1800000000000000000000" else a for a in risky]
                code, out, err = run(risky + (["--accept-risk"] if accept else []))
                assert code == 1 and word in err and "nothing was sent" in err, err
            assert (balance("fusd", c.addresses[0]), balance("feur", c.addresses[1])) == before

            code, out, err = run(send)
            assert code == 0, err
            paid = json.loads(out)
            assert int(paid["spent"]) == 2000 * E18 and int(paid["delivered_amount"]) >= 1800 * E18
            assert int(paid["delivered_amount"]) == int(paid["quoted_delivered"])
            assert balance("feur", c.addresses[1]) - before[1] == int(paid["delivered_amount"])
            tx = rpc.call("tx_get", paid["hash"])
            event = next(e for e in tx["receipt"]["events"] if e["name"] == "PathPayment")
            assert event["data"][9] == paid["travel_ref"] and event["data"][8] == "0x" + b"invoice 2026-117".hex()
            assert "Anna" not in json.dumps(tx) and b"Schmidt".hex() not in json.dumps(tx)

            code, out, err = run(commands[4], {"0xTX": paid["hash"]})
            assert code == 0, err
            read = json.loads(out)
            assert read["travel"] == travel
            ref = bytes.fromhex(read["travel_ref"][2:])
            ciphertext = TravelClient(svc.url).fetch(ref, bob)
            assert hashlib.sha256(ciphertext).digest() == ref and b"Anna" not in ciphertext
            code, out, err = run(commands[4], {"0xTX": paid["hash"], "bob.json": str(tmp_path / "eve.json")})
            assert code == 1 and "travel_forbidden" in err, err

            tusd_before = balance("tusd", c.addresses[1])
            code, out, err = run(commands[5])
            assert code == 0, err
            paid = json.loads(out)
            assert int(paid["delivered_amount"]) == 100 * E18 and int(paid["spent"]) <= 200 * E18
            assert len(paid["path"]) == 3
            assert balance("tusd", c.addresses[1]) - tusd_before == 100 * E18
        finally:
            svc.stop()
