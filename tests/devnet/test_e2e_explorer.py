"""The explorer page in a real headless Chromium against a real devnet (docs/explorer.md).

Debian's chromium, driven by Playwright for Python through `executable_path` (`make test`
installs it; Playwright's own browser downloads are never used). The page is opened on node 0,
and what it shows is checked against the same node's JSON-RPC: the height moves, a block, a
transaction and an address are found through the search box, bad searches get a message,
strings from the chain that hold HTML are shown as text and never run, and a node killed under
the page shows a banner that goes away by itself once the node is back. Screenshots are kept in
$EXPLORER_ARTIFACTS (default: the test's tmp_path) and in .artifacts/ of the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devnet.cluster import Cluster
from devnet.monitor import MonitorProcess
from devnet.process import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
E18 = 10**18
FAR = 4_000_000_000
UI_TIMEOUT_MS = 15_000

# A contract whose every string is an attack on a page that builds HTML from chain data: if any
# ran, window.__xss would be set or a dialog would open.
HOSTILE_NAME = '<img src=x onerror="window.__xss=1;alert(1)">'
HOSTILE_SYMBOL = "<script>window.__xss=2</script>"
HOSTILE_EVENT = '<svg onload="window.__xss=3"></svg><img src=y onerror=alert(3)>'
HOSTILE_SOURCE = f'''
@constructor
def init(label: str):
    storage["label"] = label


@view
def name() -> str:
    return storage["label"]


@view
def symbol() -> str:
    return "{HOSTILE_SYMBOL}"


@view
def decimals() -> int:
    return 18


@view
def total_supply() -> int:
    return 0


@view
def balance_of(owner: address) -> int:
    return 0


@public
def shout(text: str):
    emit("Shout", text)


@public
def refuse():
    require(False, "<b>not_verified</b>")
'''


def artifact_dir(tmp_path: Path) -> Path:
    where = Path(os.environ.get("EXPLORER_ARTIFACTS") or tmp_path / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def keep(page: Any, where: Path, name: str) -> Path:
    path = where / f"explorer-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    repo_copy = REPO / ".artifacts"
    repo_copy.mkdir(exist_ok=True)
    shutil.copy(path, repo_copy / path.name)
    print(f"screenshot: {path} (and .artifacts/{path.name})")
    return path


def text(page: Any, field: str) -> str:
    return page.locator(f'#view [data-field="{field}"]').first.inner_text()


def search(page: Any, query: str) -> None:
    page.fill("#q", query)
    page.click("#search button")


def units(value: str, decimals: int = 18, frac: int = 6) -> str:
    """What the page's units() shows for a decimal string of base units."""
    n = int(value)
    whole, rest = divmod(n, 10**decimals)
    shown = str(rest).rjust(decimals, "0")[:frac].rstrip("0")
    return f"{whole:,}" + (f".{shown}" if shown else "")


def monitor_post(url: str, origin: str) -> tuple[int, dict[str, str]]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "aml_status", "params": []}).encode()
    req = urllib.request.Request(url + "/", body, {"Content-Type": "application/json", "Origin": origin})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_explorer_in_chromium(tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: `make tools` installs Debian's chromium")
        pytest.skip("no /usr/bin/chromium (`make tools` installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    started = time.monotonic()
    where = artifact_dir(tmp_path)
    with Cluster(validators=2, block_time_ms=300, base_dir=tmp_path) as c:
        rpc = c.node(0).client
        contracts = c.manifest.contracts
        alice, a_addr, b_addr = c.accounts[0], c.addresses[0], c.addresses[1]

        # Chain data for the page: a transfer large enough for the monitor's large_value rule,
        # a pool, and the hostile contract with an event and a refused call.
        transfer = rpc.call("tx_get", rpc.transfer(alice, b_addr, 20_000 * E18, wait=True))
        tusd, wgld, swap = contracts["tusd"], contracts["wgld"], contracts["swap"]
        for token in (tusd, wgld):
            assert rpc.call_contract(alice, token, "approve", [swap, str(10**30)])["receipt"]["status"] == "success"
        added = rpc.call_contract(alice, swap, "add_liquidity",
                                  [tusd, wgld, str(1000 * E18), str(2000 * E18), "0", "0", a_addr, FAR])
        assert added["receipt"]["status"] == "success", added["receipt"]["error"]
        issuer = c.roles["kyc_issuer"]
        attested = rpc.call_contract(issuer, contracts["identity"], "attest",
                                     [a_addr, "kyc.basic", "verified", "0x" + "11" * 32, 10**6, "0x" + "22" * 32])
        assert attested["receipt"]["status"] == "success", attested["receipt"]["error"]
        hostile = rpc.deploy(alice, HOSTILE_SOURCE, [HOSTILE_NAME])["contract_address"]
        shouted = rpc.call_contract(alice, hostile, "shout", [HOSTILE_EVENT])
        assert shouted["receipt"]["events"][0]["data"] == [HOSTILE_EVENT]
        refused = rpc.call_contract(alice, hostile, "refuse", [], gas_limit=200_000)
        assert refused["receipt"]["status"] == "failed"

        # The page finds the tokens, swap, lending market and registry through chain_getGenesisContracts.
        listed = {x["name"]: x for x in rpc.call("chain_getGenesisContracts")["contracts"]}
        assert {name: x["address"] for name, x in listed.items()} == contracts
        assert "token" in listed["tusd"]["faces"] and "swap" in listed["swap"]["faces"]
        assert "identity" in listed["identity"]["faces"] and "lending" in listed["lending"]["faces"]

        # A compliance refusal: the custodian mints FUSD to an address with no KYC claim.
        unverified = rpc.call_contract(c.roles["custodian"], contracts["fusd"], "mint",
                                       [b_addr, str(E18), "0x" + "33" * 32], gas_limit=300_000)
        assert unverified["receipt"]["error"] == "not_verified"

        node0 = c.node(0).rpc_url
        monitor = MonitorProcess(tmp_path / "monitor", node0, free_port(),
                                 cors_origins=(node0,))
        monitor.start()
        try:
            monitor.wait_ready()
            monitor.wait_height(unverified["height"])
            # The monitor answers the explorer's origin, and refuses another one.
            assert monitor_post(monitor.url, node0)[0] == 200
            assert monitor_post(monitor.url, node0)[1].get("Access-Control-Allow-Origin") == node0
            assert monitor_post(monitor.url, "http://evil.test")[0] == 403
            explore(sync_api, c, monitor.url, where, transfer, hostile, shouted, refused, unverified)
        finally:
            monitor.stop(5)
    print(f"explorer browser test: {time.monotonic() - started:.1f} s")


def explore(sync_api: Any, c: Cluster, monitor_url: str, where: Path, transfer: dict[str, Any], hostile: str,
            shouted: dict[str, Any], refused: dict[str, Any], unverified: dict[str, Any]) -> None:
    rpc = c.node(0).client
    assert c.manifest is not None and c.manifest.proxy is not None
    base = (f"{c.node(0).rpc_url}/explorer/?monitor={monitor_url}&nodes={','.join(c.urls())}"
            f"&proxy={c.manifest.proxy['control']}")
    dialogs: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            # The page's Content-Security-Policy forbids inline scripts, which would hide an escaping
            # bug; it is bypassed so that the hostile strings below test the page's escaping alone.
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))

            # First content: the live block list, from navigation start.
            response = page.goto(base)
            assert "script-src 'self'" in response.headers["content-security-policy"]
            page.wait_for_function("performance.getEntriesByName('explorer-first-content').length > 0")
            first_ms = page.evaluate("performance.getEntriesByName('explorer-first-content')[0].startTime")
            print(f"explorer first content: {first_ms:.0f} ms after navigation start")
            assert first_ms < 3000

            # The height moves by itself (newHeads over the WebSocket).
            shown = int(page.inner_text("#height"))
            page.wait_for_function(f"Number(document.getElementById('height').textContent) > {shown + 2}")
            page.wait_for_selector("#latest-blocks tr")
            # The chart: a bar per block interval, and the tx/s line over them.
            assert page.locator("#view svg.chart .bars rect").count() >= 10
            assert page.locator("#view svg.chart polyline.tps").count() == 1
            assert page.locator("#latest-blocks tr").count() <= 15
            keep(page, where, "home")

            # A block by height.
            height = transfer["height"]
            search(page, str(height))
            page.wait_for_url(f"**#/block/{height}")
            page.wait_for_selector('#view [data-field="hash"]')
            block = rpc.call("chain_getBlock", height)
            assert text(page, "hash") == block["hash"]
            assert text(page, "tx_count") == str(block["tx_count"])
            assert block["header"]["proposer"] == page.locator('#view [data-field="proposer"] a').get_attribute(
                "href").rsplit("/", 1)[1]
            keep(page, where, "block")

            # A transaction by hash.
            search(page, transfer["hash"])
            page.wait_for_url(f"**#/tx/{transfer['hash']}")
            page.wait_for_selector('#view [data-field="fee"]')
            got = rpc.call("tx_get", transfer["hash"])
            assert text(page, "status") == got["receipt"]["status"] == "success"
            assert text(page, "gas_used") == f"{got['receipt']['gas_used']} / {got['tx']['gas_limit']}"
            assert text(page, "fee") == units(got["receipt"]["fee"], 18, 9) + " FIN"
            assert text(page, "amount") == units(got["tx"]["amount"]) + " FIN"
            page.wait_for_selector("#risk")  # 20,000 FIN is over the monitor's large_value threshold
            assert "large_value" in page.inner_text("#risk")
            keep(page, where, "tx")

            # An address: coin balance at the height shown, token balances, history.
            address = c.addresses[0]
            search(page, address)
            page.wait_for_url(f"**#/address/{address}")
            page.wait_for_selector("#history")
            at = int(text(page, "at"))
            assert text(page, "balance_raw") == rpc.call("account_get", address, at)["balance"]
            tusd_balance = rpc.contract_call(c.manifest.contracts["tusd"], "balance_of", [address], at)["output"]
            assert units(tusd_balance) in page.locator("#token-balances").inner_text()
            claims = page.locator("#claims tbody tr").first.inner_text()
            assert claims.split("\t")[:3] == ["kyc.basic", "ok", "verified"]
            assert "11" * 32 not in page.inner_text("#view")  # the commitment is not shown
            first_row = page.locator("#history tbody tr").first.inner_text()
            newest = rpc.call("account_txs", address, 1)["txs"][0]["tx"]["hash"]
            assert newest[:10] in first_row
            keep(page, where, "address")

            # Bad searches: a malformed hash, a hash nothing has, a height beyond the tip.
            search(page, "0x12345")
            page.wait_for_selector("#search-error:not([hidden])")
            assert "Malformed" in page.inner_text("#search-error")
            search(page, "0x" + "ab" * 32)
            page.wait_for_function("document.getElementById('search-error').textContent.startsWith('Nothing found')")
            search(page, "999999999")
            page.wait_for_function("document.getElementById('search-error').textContent.startsWith('No block')")
            keep(page, where, "bad-search")

            # Hostile strings: shown as text, never run.
            page.goto(f"{base}#/address/{hostile}")
            page.wait_for_selector("#source")
            assert text(page, "token_name") == HOSTILE_NAME
            assert text(page, "token_symbol") == HOSTILE_SYMBOL
            assert HOSTILE_SYMBOL in page.inner_text("#source")
            page.goto(f"{base}#/tx/{shouted['hash']}")
            page.wait_for_selector("#events")
            # Event data is shown as its JSON text (JSON.stringify's form).
            assert json.dumps([HOSTILE_EVENT], separators=(",", ":")) in page.inner_text("#events")
            page.goto(f"{base}#/tx/{refused['hash']}")
            page.wait_for_selector('#view [data-field="error"]')
            assert text(page, "status") == "failed"
            assert text(page, "error") == refused["receipt"]["error"]
            assert "<b>not_verified</b>" in refused["receipt"]["error"]
            assert page.evaluate("window.__xss") is None
            assert page.locator("#view img, #view script, #view svg:not(.chart)").count() == 0
            keep(page, where, "hostile")

            # A compliance refusal: the reason code and its meaning from docs/finance.md.
            search(page, unverified["hash"])
            page.wait_for_selector('#view [data-field="reason"]')
            assert text(page, "status") == "failed" and text(page, "error") == "not_verified"
            assert text(page, "reason") == "no claim for the topic (docs/finance.md)"

            # Pools: the reserves the swap contract reports.
            page.goto(f"{base}#/markets")
            page.wait_for_selector("#pools")
            pair = rpc.contract_call(c.manifest.contracts["swap"], "get_pair",
                                     [c.manifest.contracts["tusd"], c.manifest.contracts["wgld"]])["output"]
            pools = page.inner_text("#pools")
            assert units(pair["reserve0"]) in pools and units(pair["reserve1"]) in pools

            # The monitor's alerts, read by the page from the monitor's own JSON-RPC.
            page.goto(f"{base}#/alerts")
            page.wait_for_selector("#alerts")
            assert "large_value" in page.inner_text("#alerts")

            # The devnet's nodes, and a fault injected through its proxy.
            c.delay(1, 40, 5)
            page.goto(f"{base}#/network")
            page.wait_for_selector("#nodes")
            assert page.locator("#nodes tbody tr").count() == len(c.nodes)
            page.wait_for_function("(document.querySelector('#view [data-field=delays]') || {}).textContent"
                                   " === 'node1: 40 ms ± 5'")
            heights = [int(page.locator(f"#nodes tbody tr:nth-child({i + 1}) td:nth-child(4)").inner_text())
                       for i in range(len(c.nodes))]
            assert all(h >= refused["height"] for h in heights)
            keep(page, where, "network")
            c.heal()

            # The same page reading another node (?rpc=): node 1 lists node 0's origin, as every devnet node does.
            page.goto(f"{c.node(0).rpc_url}/explorer/?rpc={c.node(1).rpc_url}#/")
            page.wait_for_selector("#latest-blocks tr")
            assert page.inner_text("#endpoint") == c.node(1).rpc_url
            assert page.locator("#banner").is_hidden()

            page.goto(f"{c.node(0).rpc_url}/explorer/?rpc=javascript:alert(1)#/")
            page.wait_for_selector("#latest-blocks tr")
            assert "is not an http(s) URL" in page.inner_text("#view")
            assert page.inner_text("#endpoint") == c.node(0).rpc_url

            # Phone width.
            page.set_viewport_size({"width": 375, "height": 800})
            page.goto(f"{base}#/")
            page.wait_for_selector("#latest-blocks tr")
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            keep(page, where, "phone")

            # The node goes down: a banner; back up: the banner goes and the height moves again.
            c.kill(0)
            page.wait_for_selector("#banner:not([hidden])", timeout=UI_TIMEOUT_MS)
            assert "unreachable" in page.inner_text("#banner")
            keep(page, where, "node-down")
            c.start(0)
            page.wait_for_selector("#banner", state="hidden", timeout=30_000)
            back = int(page.inner_text("#height"))
            page.wait_for_function(f"Number(document.getElementById('height').textContent) > {back}", timeout=30_000)
            keep(page, where, "recovered")

            assert dialogs == [], f"a dialog opened: {dialogs}"
            assert errors == [], f"errors on the page: {errors}"
        finally:
            browser.close()
