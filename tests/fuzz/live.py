"""A real one-validator `finchain node` process for the fuzzers of its network surfaces.

It takes Ethereum-signed transactions too (an eth_chain_id in its genesis), and before the run
gets a transfer, a deployed contract and a call committed, so that the requests seeded from them
read real blocks, receipts and code. Liveness, checked during and after a run: the process is
running, answers `node_status`, keeps committing blocks, and its log holds no traceback.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from devnet.process import NodeProcess, free_port
from node.client.sdk import TransportError
from node.config import init_home
from node.types.crypto import to_checksum_address
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params, TimeoutsMs, load_genesis
from tests.fuzz.codec_txs import COUNTER, ETH_CHAIN_ID
from tests.node.helpers import CHAIN_ID, COIN, key

FUNDED = 10
COMMIT_MS = 200
RUNNING: set[LiveNode] = set()  # so that a signal handler can end them (tests/fuzz/__main__.py)


class LiveNode:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fuzz-node-"))
        home = self.dir / "home"
        self.rpc_port, self.p2p_port = free_port(), free_port()
        validator = key(100)
        genesis = Genesis(CHAIN_ID, int(time.time() * 1000), Params(timeouts=TimeoutsMs(commit=COMMIT_MS)),
                          (GenesisValidator(validator.address, validator.public_key, 10, "v0"),),
                          tuple(GenesisAccount(key(i).address, 1000 * COIN) for i in range(FUNDED)),
                          eth_chain_id=ETH_CHAIN_ID)
        init_home(home, chain_id=CHAIN_ID, rpc_port=self.rpc_port, p2p_port=self.p2p_port, genesis=genesis,
                  validator_key=validator)
        self.genesis = load_genesis(home / "config" / "genesis.json")
        self.proc = NodeProcess(home, self.rpc_port)
        self.url = self.proc.rpc_url
        self.facts: dict[str, Any] = {}
        self._last_height = -1

    def start(self) -> None:
        RUNNING.add(self)
        self.proc.start()
        self.proc.wait_ready()
        client = self.proc.client
        to = to_checksum_address(key(1).address)
        tx_hash = client.transfer(key(0), to, 10**18, wait=True)
        deployed = client.deploy(key(2), COUNTER, [])
        contract = deployed["contract_address"]
        call = client.call_contract(key(2), contract, "bump", [3])
        self.facts = {
            "address": to_checksum_address(key(0).address), "to": to, "contract": contract, "tx_hash": tx_hash,
            "call_hash": call["hash"], "height": client.status()["height"],
        }

    def stop(self) -> None:
        self.proc.stop()
        RUNNING.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LiveNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pid(self) -> int | None:
        return self.proc.pid

    async def check_alive(self) -> str | None:
        return await asyncio.to_thread(self.check_alive_sync)

    def check_alive_sync(self) -> str | None:
        """None while the node runs, answers and has committed since the last check; else why not."""
        why = self.proc.exited()
        if why is not None:
            return f"the node died: {why}"
        deadline = time.monotonic() + 20
        height = -1
        while time.monotonic() < deadline:
            try:
                height = self.proc.client.status()["height"]
            except TransportError:
                height = -1
            if height > self._last_height:
                self._last_height = height
                return None
            time.sleep(0.1)
        return f"the node stopped committing at height {height} (or stopped answering)"

    def final_check(self) -> str | None:
        """After a run: still committing (3 more blocks) and no traceback in its log."""
        why = self.check_alive_sync()
        if why is not None:
            return why
        try:
            self.proc.wait_height(self._last_height + 3, timeout=30)
        except TimeoutError as exc:
            return f"the node does not commit after the run: {exc}"
        log = self.proc.log_path.read_text(errors="replace")
        if "Traceback" in log:
            start = log.index("Traceback")
            return "the node logged a traceback:\n" + log[max(0, start - 300):start + 3000]
        return None
