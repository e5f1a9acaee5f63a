"""Tools from npm that tests drive as a user would (ethers, Foundry's cast), installed once per machine.

They go to a cache outside the repository (`FINCHAIN_TOOLS_CACHE`, default ~/.cache/finchain-tools);
`make test` makes sure node and npm are there and installs them before the suite starts
(`python -m tests.devnet.npm_tools`), so that their download does not count in the suite's time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("FINCHAIN_TOOLS_CACHE", Path.home() / ".cache" / "finchain-tools"))
INSTALL_TIMEOUT_S = 600


def npm_install(*specs: str) -> Path:
    """Install npm packages into the cache (once) and return the folder holding node_modules."""
    CACHE.mkdir(parents=True, exist_ok=True)
    missing = [s for s in specs if not (CACHE / "node_modules" / _name(s)).exists()]
    if missing:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), *missing], check=True,
                       capture_output=True, timeout=INSTALL_TIMEOUT_S)
    return CACHE


def npm_binary(package: str, name: str) -> Path:
    """The path of a binary an npm package ships (e.g. @foundry-rs/cast-linux-amd64's cast)."""
    path = npm_install(package) / "node_modules" / package / "bin" / name
    if not path.exists():
        raise FileNotFoundError(f"{package} has no bin/{name}")
    return path


def _name(spec: str) -> str:
    """The package of a spec: "ethers@6" is ethers, "@foundry-rs/cast-linux-amd64" a scoped name."""
    at = spec.rfind("@")
    return spec[:at] if at > 0 else spec


# What the suite drives (tests/devnet/test_ethereum_doc.py), installed by `make test` ahead of it.
PACKAGES = ("ethers", "@foundry-rs/cast-linux-amd64")

if __name__ == "__main__":
    npm_install(*PACKAGES)
    sys.exit(0)
