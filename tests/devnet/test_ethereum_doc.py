"""docs/ethereum.md's recipes, run as written against a devnet: web3.py, ethers and Foundry's cast.

The page's `env` snippet is run in a folder whose `.devnet` is the test devnet, then each recipe
with that environment; each must succeed and move the coin and the FUSD it says it moves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devnet.cluster import Cluster
from node.client.sdk import Client
from tests.devnet.npm_tools import npm_binary, npm_install

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ethereum.md").read_text()
COIN = 10**18


def recipe(name: str) -> str:
    found = re.search(rf"<!-- recipe {name} -->\n```\w+\n(.*?)^```$", DOC, re.M | re.S)
    assert found, f"recipe {name} not found on the page"
    return found.group(1)


def _environment(work: Path) -> dict[str, str]:
    out = subprocess.run(["bash", "-c", recipe("env") + "\nenv"], cwd=work, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k: env[k] for k in ("RPC", "KEY", "FUSD", "TO")}


def test_the_recipes_run_against_a_devnet(tmp_path):
    cast = npm_binary("@foundry-rs/cast-linux-amd64", "cast")
    tools = npm_install("ethers")
    with Cluster(validators=1, block_time_ms=300, base_dir=tmp_path) as c:
        work = tmp_path / "work"
        work.mkdir()
        (work / ".devnet").symlink_to(c.dir)
        variables = _environment(work)
        assert variables["RPC"] == c.node(0).rpc_url
        env = {**os.environ, **variables, "PATH": f"{cast.parent}:{os.environ['PATH']}"}
        client = Client(variables["RPC"])
        to = variables["TO"]

        def balances() -> tuple[int, int]:
            fusd = client.contract_call(variables["FUSD"], "balance_of", [to])["output"]
            return int(client.account(to)["balance"]), int(fusd)

        runs = {
            "web3": [sys.executable, "-c", recipe("web3")],
            "ethers": ["node", str(tools / "recipe.mjs")],
            "cast": ["bash", "-euo", "pipefail", "-c", recipe("cast")],
        }
        (tools / "recipe.mjs").write_text(recipe("ethers"))  # beside its node_modules, as ESM resolves imports
        for name, argv in runs.items():
            before = balances()
            proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, f"{name}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            after = balances()
            assert after == (before[0] + COIN, before[1] + 10 * COIN), f"{name}: {before} -> {after}\n{proc.stdout}"
            assert "status" in proc.stdout or name == "cast", proc.stdout
