"""`finchain statement` (JSON and CSV), the SDK and the JSON-RPC requests of docs/finance.md
"Clearing and settlement statements", run against a real node process: every command and request
of that section, with its placeholders filled in, checked against balances read from the node."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shlex
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devnet.cli import main as finchain
from node.client.sdk import AsyncClient, Client
from node.types.crypto import to_checksum_address
from tests.node.helpers import COIN, key
from tests.node.nodes import make_node_home
from vm import contract_address
from vm.contracts import source

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "finance.md").read_text()
SECTION = DOC.split("## Clearing and settlement statements", 1)[1].split("\n## ", 1)[0]
ALICE, BOB, CAROL = key(0), key(1), key(2)
cs = to_checksum_address


def _block(marker: str) -> str:
    found = re.search(rf"{re.escape(marker)}\n+```\w*\n(.*?)^```$", SECTION, re.M | re.S)
    assert found, marker
    return found.group(1)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc = make_node_home(tmp_path_factory.mktemp("statement-node"), funded=4)
    proc.start()
    try:
        proc.wait_ready()
        client = Client(proc.rpc_url)
        token = client.deploy(ALICE, source("token"), ["Token", "TK", 6, 10**6])["contract_address"]
        client.transfer(ALICE, cs(BOB.address), 5 * COIN, wait=True)
        for answer in (client.call_contract(ALICE, token, "approve", [cs(BOB.address), 500]),
                       client.call_contract(BOB, token, "transfer_from", [cs(ALICE.address), cs(CAROL.address), 300]),
                       client.call_contract(ALICE, token, "transfer", [cs(BOB.address), 20])):
            assert answer["receipt"]["status"] == "success", answer
        assert token == cs(contract_address(ALICE.address, 0))
        yield proc, client, token, client.status()["height"]
    finally:
        proc.stop()


def _check_against_the_node(client: Client, token: str, statement: dict[str, Any], who: str) -> None:
    lo, hi = statement["from_height"], statement["to_height"]
    assets = {a["asset"]: a for a in statement["assets"]}
    assert assets["coin"]["opening"] == client.account(who, lo - 1)["balance"]
    assert assets["coin"]["closing"] == client.account(who, hi)["balance"]
    for height, field in ((lo - 1, "opening"), (hi, "closing")):
        answer = client.call("contract_call", token, "balance_of", [who], height) if height else None
        expected = str(answer["output"]) if answer and answer["status"] == "success" else "0"
        if token in assets:
            assert assets[token][field] == expected
        else:
            assert expected == "0"
    for a in statement["assets"]:
        total = sum(int(m["amount"]) for m in statement["movements"] if m["asset"] == a["asset"])
        assert a["reconciled"] is True and int(a["opening"]) + total == int(a["closing"])


def test_the_page_commands_json_and_csv(chain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    proc, client, token, tip = chain
    lines = [x for x in _block("From the command line, JSON (every page fetched and joined) or CSV:").splitlines()
             if x.startswith("finchain statement")]
    assert len(lines) == 3 and any("--csv" in x for x in lines)
    outputs = []
    for line in lines:
        text = line.replace("0xALICE", cs(ALICE.address)).replace("http://127.0.0.1:26600", proc.rpc_url)
        text = text.replace("--to-height 20", f"--to-height {tip}")
        capsys.readouterr()
        assert finchain(shlex.split(text)[1:]) == 0, text
        out = capsys.readouterr()
        assert out.err == ""
        outputs.append((text, out.out))
    whole = json.loads(outputs[0][1])
    _check_against_the_node(client, token, whole, cs(ALICE.address))
    kinds = {m["kind"] for m in whole["movements"]}
    assert {"fee", "transfer", "mint", "token_transfer"} <= kinds
    rows = list(csv.DictReader(io.StringIO(outputs[1][1])))
    assert [r["row"] for r in rows].count("movement") == len(whole["movements"])
    for a in whole["assets"]:
        mine = [r for r in rows if r["asset"] == a["asset"]]
        assert (mine[0]["row"], mine[0]["balance"]) == ("opening", a["opening"])
        assert (mine[-1]["row"], mine[-1]["balance"]) == ("closing", a["closing"])
        assert mine[-2]["balance"] == a["closing"]
    paged = json.loads(outputs[2][1])  # --limit 2: several requests, joined
    assert paged["from_height"] == 5 and paged["complete"]
    assert paged == Client(proc.rpc_url).account_statement(cs(ALICE.address), 5, tip, limit=10_000)
    _check_against_the_node(client, token, paged, cs(ALICE.address))

    # Carol only received tokens, through Bob's transfer_from: her statement and history show it.
    carol = client.account_statement(cs(CAROL.address), 1, tip)
    assert [(m["kind"], m["amount"], m["counterparty"]) for m in carol["movements"]] == [
        ("token_transfer", "300", cs(ALICE.address))]
    _check_against_the_node(client, token, carol, cs(CAROL.address))
    assert client.call("account_txs", cs(CAROL.address))["txs"][0]["tx"]["method"] == "transfer_from"

    # The CLI refuses a bad range with the node's reason.
    assert finchain(["statement", cs(ALICE.address), "--from-height", "3", "--to-height", "2", "--rpc",
                     proc.rpc_url]) == 1
    assert "from_height 3 is above to_height 2" in capsys.readouterr().err


def test_the_page_requests_sdk_and_answer_shape(chain: Any) -> None:
    proc, client, token, tip = chain

    def post(request: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(proc.rpc_url, json.dumps(request).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    requests = [json.loads(x) for x in _block("<!-- statement requests -->").splitlines() if x.strip()]
    assert len(requests) == 3
    answers: list[dict[str, Any]] = []
    for request in requests:
        params = request["params"]
        if isinstance(params, list):
            params[0], params[2] = cs(ALICE.address), tip
        else:
            params["address"], params["to_height"] = cs(ALICE.address), tip
            if "cursor" in params:
                params["cursor"] = answers[-1]["next_cursor"]
        answer = post(request)
        assert "result" in answer, answer
        answers.append(answer["result"])
    whole, first, second = answers
    _check_against_the_node(client, token, whole, cs(ALICE.address))
    assert whole["complete"] and not first["complete"] and first["next_cursor"]
    assert whole["movements"][:len(first["movements"])] == first["movements"]
    assert whole["movements"][len(first["movements"]):][:len(second["movements"])] == second["movements"]

    # The page's example has the answer's shape, field for field.
    example = json.loads(_block("<!-- statement example -->").replace("…", ""))
    assert set(example) == set(whole)
    assert set(example["assets"][0]) == set(whole["assets"][0])
    assert set(example["movements"][0]) == set(whole["movements"][0])
    assert {m["kind"] for m in example["movements"]} <= {m["kind"] for m in whole["movements"]}

    async def joined() -> dict[str, Any]:
        async with AsyncClient(proc.rpc_url) as c:
            return await c.account_statement(cs(ALICE.address), 1, tip, limit=2)

    assert asyncio.run(joined()) == whole == Client(proc.rpc_url).account_statement(cs(ALICE.address), 1, tip)
    one = Client(proc.rpc_url).account_statement(cs(ALICE.address), 1, tip, limit=2, all_pages=False)
    assert one == first
