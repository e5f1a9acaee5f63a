"""docs/monitoring.md, run: the rules example, `finchain devnet up` with its monitor, and every
`finchain aml` command of the page against it, with the page's placeholders filled in."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import aiohttp
import pytest

from devnet.cli import main as finchain
from devnet.cluster import Cluster
from devnet.homes import Manifest
from devnet.monitor import MonitorProcess
from devnet.process import free_port
from finance.monitor.config import RULES, parse_config
from finance.monitor.store import MonitorStore
from node.client.sdk import Client
from node.types.crypto import PrivateKey, to_checksum_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
COIN = 10**18


def _block(marker: str) -> str:
    found = re.search(rf"{marker}\n+```\w+\n(.*?)^```$", DOC, re.M | re.S)
    assert found, marker
    return found.group(1)


def test_the_rules_example_is_the_defaults():
    example = parse_config(_block("<!-- rules example -->"))
    defaults = parse_config("")
    assert example.rules == defaults.rules and example.thresholds == defaults.thresholds
    assert set(example.rules) == set(RULES) and len(example.watchlist) == 1


def test_the_page_against_a_devnet(tmp_path, capsys):
    home = tmp_path / "devnet"
    assert finchain(["devnet", "up", "--detach", "--validators", "1", "--base-port", "0", "--block-time", "300ms",
                     "--home", str(home)]) == 0
    try:
        manifest = Manifest.load(home)
        assert manifest.monitor and "AML monitor on" in capsys.readouterr().out
        mon_home = manifest.monitor["home"]
        rpc = manifest.nodes[0].rpc
        node = Client(rpc)
        funder = PrivateKey.from_hex(manifest.accounts[0]["private_key"])
        source = to_checksum_address(funder.address)
        node.transfer(funder, to_checksum_address(PrivateKey((4242).to_bytes(32, "big")).address), 20_000 * COIN,
                      wait=True)
        monitor = MonitorProcess(Path(mon_home), rpc, 0)
        monitor.url = json.loads((Path(mon_home) / "monitor.json").read_text())["url"]
        monitor.client = Client(monitor.url)
        monitor.wait_height(node.status()["height"])
        alert = monitor.alerts()[0]
        assert alert["rule"] == "large_value"

        lines = [x for x in _block("## The command line").splitlines() if x.startswith("finchain aml")]
        assert {shlex.split(x)[2] for x in lines} >= {"status", "rules", "alerts", "alert", "trace", "watch",
                                                      "export", "case"}
        for line in lines:
            text = line.split("  #")[0].replace(".monitor", mon_home).replace("0xb2f1f8126009a2395c870ebd06a20cb8",
                                                                               alert["id"])
            text = text.replace("0x17eEe238d24C5fD35D4c2918D0BF2D19c8952116", source)
            text = text.replace("http://127.0.0.1:26600", rpc).replace("0xIdentityRegistry",
                                                                       manifest.contracts["identity"])
            text = text.replace("alerts.csv", str(tmp_path / "alerts.csv"))
            for argv in ([t for t in shlex.split(text) if t != "[--csv]"],
                         [t.strip("[]") for t in shlex.split(text)] if "[--csv]" in text else None):
                if argv is None:
                    continue
                assert finchain(argv[1:]) == 0, text
        out = capsys.readouterr().out
        assert "Case " + alert["id"] in out and "KYC: not_verified" in out
        assert (tmp_path / "alerts.csv").read_text().startswith("id,height,rule,severity")
        listed = monitor.client.call("aml_watchlist_list")["watchlist"]
        assert [w["source"] for w in listed] == ["OFAC SDN"]

        # A subscription gets the next large transfer's alert as it is raised.
        got = asyncio.run(_subscribed(monitor.url, lambda: node.transfer(
            funder, to_checksum_address(PrivateKey((4343).to_bytes(32, "big")).address), 15_000 * COIN)))
        assert got["method"] == "aml_alert" and got["params"]["result"]["rule"] == "large_value"
        assert "15,000 FIN" in got["params"]["result"]["explanation"]

        # The documented way to run one against any node, with the page's rules file.
        rules = tmp_path / "rules.toml"
        rules.write_text(_block("<!-- rules example -->"))
        second = MonitorProcess(tmp_path / "second", rpc, free_port(), rules)
        second.start()
        try:
            second.wait_ready()
            assert second.wait_height(alert["height"])["height"] >= alert["height"]
            assert [a["id"] for a in second.alerts() if a["height"] <= alert["height"]][:1] == [alert["id"]]
        finally:
            second.stop()
        bad = tmp_path / "bad.toml"
        bad.write_text("[rules.fan_out]\n\nwindo = 3\n")
        capsys.readouterr()
        assert finchain(["monitor", "--rpc", rpc, "--home", str(tmp_path / "third"), "--config", str(bad)]) != 0
        err = capsys.readouterr().err
        assert "rules refused" in err and "(line 3)" in err and "windo" in err, err
    finally:
        finchain(["devnet", "down", "--home", str(home)])
    assert not Path(f"/proc/{manifest.monitor['pid']}").exists() or b"monitor" not in Path(
        f"/proc/{manifest.monitor['pid']}/cmdline").read_bytes()


async def _subscribed(url: str, act) -> dict:
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "aml_subscribe", "params": {"rule": "large_value"}})
        sub = (await ws.receive_json(timeout=10))["result"]
        await asyncio.to_thread(act)
        msg = await ws.receive_json(timeout=30)
        assert msg["params"]["subscription"] == sub
        bad = {"jsonrpc": "2.0", "id": 2, "method": "aml_subscribe", "params": {"rule": "x", "colour": "red"}}
        await ws.send_json(bad)
        assert (await ws.receive_json(timeout=10))["error"]["code"] == -32602
        return msg


def test_large_values_in_fiat_terms_from_the_devnet_oracle(tmp_path):
    """A stablecoin transfer below the unit threshold but worth more than the fiat one, priced by the
    oracle contract at that height through the node's RPC."""
    with Cluster(validators=1, block_time_ms=200, proxy=False, base_dir=tmp_path) as c:
        node = c.node(0).client
        admin = c.accounts[0]
        fusd, oracle = c.manifest.contracts["fusd"], c.manifest.contracts["oracle"]
        receipt = node.call_contract(admin, oracle, "report", [fusd, str(3 * COIN)], wait=True)["receipt"]
        assert receipt["status"] == "success", receipt
        someone = to_checksum_address(PrivateKey((4444).to_bytes(32, "big")).address)
        sent = node.call_contract(admin, fusd, "transfer", [someone, str(4_000 * COIN)], wait=True)
        assert sent["receipt"]["status"] == "success", sent
        rules = tmp_path / "rules.toml"
        rules.write_text(f'[fiat]\noracle = "{oracle}"\nthreshold = 10000\nrefresh_blocks = 1\n')
        monitor = MonitorProcess(tmp_path / "monitor", c.node(0).rpc_url, free_port(), rules)
        monitor.start()
        try:
            monitor.wait_ready()
            monitor.wait_height(sent["height"])
            found = [a for a in monitor.alerts() if a["rule"] == "large_value"]
        finally:
            monitor.stop()
        assert [a["txs"] for a in found] == [[sent["hash"]]]
        assert "worth 12,000.00" in found[0]["explanation"]
        # A database of another chain is not mixed with this one: the monitor stops and says why.
        store = MonitorStore(tmp_path / "monitor" / "db")
        store.set_genesis("0x" + "00" * 32)
        store.close()
        again = MonitorProcess(tmp_path / "monitor", c.node(0).rpc_url, free_port(), rules)
        again.start()
        assert again.wait_exit(20) != 0
        assert "this monitor's database follows 0x0000" in again.log_tail()
