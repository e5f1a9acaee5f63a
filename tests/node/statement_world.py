"""An in-process chain of four validators over LevelDB, served by the node's own JSON-RPC registry,
for the statement tests: blocks are built from signed transactions by any proposer and committed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from node.chain import Chain, ExecutedBlock
from node.client.sdk import build_call, build_deploy, build_transfer
from node.client.statements import join_pages
from node.host.engine import Engine, EngineConfig, Outbox
from node.host.wal import WAL
from node.rpc.api import NodeApi, NodeInfo
from node.rpc.methods import build_registry
from node.types.block import PRECOMMIT, Commit, CommitSig, sign_vote
from node.types.crypto import PrivateKey, to_checksum_address
from node.types.tx import SignedTx
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis
from tests.node.test_contract_txs import VAULT
from vm import Address, contract_address
from vm.contracts import source

T0 = 1_700_000_000_000
VALIDATORS = [key(100 + i) for i in range(4)]
USERS = [key(i) for i in range(4)]
MAX_FEE, TIP = 3, 1  # above the floor of 1: every block pays its proposer a tip


class World:
    def __init__(self, tmp: Path, users: int = 4) -> None:
        self.chain: Chain
        self.chain, mempool = make_chain(tmp, make_genesis(funded=users, validators=4))
        engine = Engine(self.chain, mempool, None, WAL(tmp / "wal"), EngineConfig(), Outbox())  # never run
        self.api = NodeApi(self.chain.reader, mempool, engine, NodeInfo("n", "m", None, list, bool))
        self.registry = build_registry(self.api)
        self.loop = asyncio.new_event_loop()
        self.nonces: dict[bytes, int] = {}
        self.t = T0

    def close(self) -> None:
        self.api.pool.close()
        self.loop.close()
        self.chain.store.close()

    # -- transactions --------------------------------------------------------------------

    def _nonce(self, k: PrivateKey) -> int:
        n = self.nonces.get(k.address, 0)
        self.nonces[k.address] = n + 1
        return n

    def transfer(self, k: PrivateKey, to: bytes, amount: int) -> SignedTx:
        return build_transfer(k, CHAIN_ID, self._nonce(k), to, amount, max_fee=MAX_FEE, priority_fee=TIP)

    def call(self, k: PrivateKey, contract: bytes, method: str, args: list[Any], value: int = 0,
             gas_limit: int = 400_000) -> SignedTx:
        return build_call(k, CHAIN_ID, self._nonce(k), contract, method, args, value=value, gas_limit=gas_limit,
                          max_fee=MAX_FEE, priority_fee=TIP)

    def deploy(self, k: PrivateKey, code: str, args: list[Any]) -> tuple[SignedTx, bytes]:
        nonce = self._nonce(k)
        tx = build_deploy(k, CHAIN_ID, nonce, code, args, gas_limit=30_000_000, max_fee=MAX_FEE, priority_fee=TIP)
        return tx, bytes(contract_address(k.address, nonce))

    def deploy_token(self, k: PrivateKey, supply: int, symbol: str = "TK") -> tuple[SignedTx, bytes]:
        return self.deploy(k, source("token"), [f"Token {symbol}", symbol, 6, supply])

    def deploy_vault(self, k: PrivateKey) -> tuple[SignedTx, bytes]:
        return self.deploy(k, VAULT, ["vault"])

    # -- blocks --------------------------------------------------------------------------

    def block(self, txs: list[SignedTx], proposer: int = 0) -> ExecutedBlock:
        chain = self.chain
        last = chain.store.get_commit(chain.height) if chain.height else None
        self.t += 1000
        executed = chain.build_block(VALIDATORS[proposer].address, txs, last, self.t)
        assert len(executed.txs) == len(txs), "a transaction was left out"
        sigs = tuple(CommitSig(v.address, sign_vote(v, CHAIN_ID, PRECOMMIT, executed.height, 0, executed.hash))
                     for v in VALIDATORS)
        chain.commit_block(executed, Commit(executed.height, 0, executed.hash, sigs))
        return executed

    # -- reads through the node's JSON-RPC -----------------------------------------------

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = self.loop.run_until_complete(self.registry.handle(request))
        assert answer is not None
        return json.loads(answer)  # type: ignore[no-any-return]

    def result(self, method: str, *params: Any) -> Any:
        answer = self.rpc(method, *params)
        assert "result" in answer, answer
        return answer["result"]

    def statement(self, address: bytes, lo: int, hi: int, limit: int = 10_000) -> dict[str, Any]:
        """Every page, joined as the SDK joins them."""
        pages = [self.result("account_statement", to_checksum_address(address), lo, hi, limit)]
        while pages[-1]["next_cursor"] is not None:
            pages.append(self.result("account_statement", to_checksum_address(address), lo, hi, limit,
                                     pages[-1]["next_cursor"]))
        return join_pages(pages) if len(pages) > 1 else pages[0]

    def coin_balance(self, address: bytes, height: int) -> int:
        return int(self.result("account_get", to_checksum_address(address), height)["balance"])

    def token_balance(self, token: bytes, address: bytes, height: int) -> int:
        answer = self.rpc("contract_call", to_checksum_address(token), "balance_of", [to_checksum_address(address)],
                          height)
        if "error" in answer and answer["error"]["data"]["reason"] == "not_found":
            return 0  # not deployed yet at that height
        assert answer["result"]["status"] == "success", answer
        return int(answer["result"]["output"])


def addr(k: PrivateKey) -> Address:
    return Address(k.address)
