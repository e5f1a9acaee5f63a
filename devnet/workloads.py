"""What `finchain devnet bench --workload W --client C` sends: the setup each workload needs on a fresh
devnet (tokens handed out, approvals, a pool, markets), then one signed transaction per (sender, nonce).

The setup runs before the clock starts, through the same node RPC, with every step checked. The
transactions are built by the production signers: native (node.client.sdk) or Ethereum type 2
(node.client.eth_sign, through eth_sendRawTransaction) for the workloads the Ethereum face
carries (coin transfers and ERC-20 token transfers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.client.eth_sign import build_eth_tx, erc20_transfer_data
from node.client.sdk import (
    DEFAULT_MAX_FEE,
    DEFAULT_PRIORITY_FEE,
    AsyncClient,
    RpcCallError,
    build_call,
    build_transfer,
)
from node.types.crypto import PrivateKey
from node.types.envelopes import tx_id
from vm.values import Address, parse_address

WORKLOADS = ("transfer", "token", "swap", "lending", "payment", "mixed")
CLIENTS = ("native", "eth")
ETH_WORKLOADS = ("transfer", "token")
E18 = 10**18
FAR = 2**40
SWAP_IN = 10**15
BORROW = 10**15
SETUP_TIMEOUT_S = 120.0
MAX_PER_SENDER = 60  # one sender's transactions in flight at once, below the mempool's default nonce gap of 64
# list_market arguments after the token: collateral factor 0.75, reserve factor 0.1, the rate model, rate 1, seed 1.
MARKET = [75 * 10**16, 10**17, 10**15, 10**15, 10**16, 8 * 10**17, E18, E18]
# Gas limits with room over what each call uses (docs/contracts.md; README "Numbers"): a limit is
# only a bound, the fee counts the gas used.
GAS = {"transfer": 21_000, "token": 120_000, "swap": 300_000, "lending": 400_000, "payment": 600_000,
       "approve": 120_000, "supply": 400_000, "setup": 2_000_000}
PAY_IN = 10**15  # FUSD sent per cross-currency payment, well under the corridor's travel-rule threshold


class WorkloadError(Exception):
    """A workload this devnet or client cannot run, or a setup step the chain refused."""


@dataclass(frozen=True, slots=True)
class Signed:
    hash: str
    raw: bytes
    method: str  # tx_send or eth_sendRawTransaction


Builder = Callable[[int, int, int], Signed]  # (sender index, nonce, n) -> the n-th transaction


@dataclass
class Prepared:
    """Senders with the nonce each starts at after the setup, and how to build their transactions."""

    senders: list[PrivateKey]
    first_nonce: list[int]
    build: Builder


def _native(tx: Any) -> Signed:
    return Signed("0x" + tx.hash.hex(), tx.raw, "tx_send")


def _eth(raw: bytes) -> Signed:
    return Signed("0x" + tx_id(raw).hex(), raw, "eth_sendRawTransaction")


async def send_and_wait(url: str, txs: list[Signed], timeout: float = SETUP_TIMEOUT_S) -> None:
    """Submit in batches, then wait until each is committed with success; a refusal is a WorkloadError."""
    async with AsyncClient(url, timeout=60) as client:
        for i in range(0, len(txs), 100):
            chunk = txs[i : i + 100]
            answers = await client.batch([(t.method, ["0x" + t.raw.hex()]) for t in chunk])
            for t, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, Exception):
                    raise WorkloadError(f"setup transaction {t.hash} refused: {answer}")
        pending = [t.hash for t in txs]
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise WorkloadError(f"{len(pending)} setup transactions not committed in {timeout:.0f} s")
            answers = await client.batch([("tx_get", [h]) for h in pending[:200]])
            still = []
            for h, answer in zip(pending[:200], answers, strict=True):
                if isinstance(answer, RpcCallError) or answer["status"] != "committed":
                    still.append(h)
                elif answer["receipt"]["status"] != "success":
                    raise WorkloadError(f"setup transaction {h} failed: {answer['receipt']['error']}")
            pending = still + pending[200:]
            if pending:
                await asyncio.sleep(0.2)


class Setup:
    """The admin (the genesis deployer, who holds the plain tokens) prepares the chain for the senders."""

    def __init__(self, url: str, chain_id: str, admin: PrivateKey, admin_nonce: int, contracts: dict[str, str],
                 senders: list[PrivateKey], first_nonce: list[int]) -> None:
        self.url, self.chain_id, self.admin = url, chain_id, admin
        self.nonce = admin_nonce
        self.c = {k: Address(parse_address(v)) for k, v in contracts.items()}
        self.senders, self.next = senders, list(first_nonce)

    def admin_call(self, contract: str, method: str, args: list[Any]) -> Signed:
        tx = build_call(self.admin, self.chain_id, self.nonce, self.c[contract], method, args,
                        gas_limit=GAS["setup"])
        self.nonce += 1
        return _native(tx)

    def each_sender(self, contract: str, method: str, args: Callable[[Address], list[Any]], gas: int) -> list[Signed]:
        out = []
        for i, key in enumerate(self.senders):
            out.append(_native(build_call(key, self.chain_id, self.next[i], self.c[contract], method,
                                          args(Address(key.address)), gas_limit=gas)))
            self.next[i] += 1
        return out

    def run(self, txs: list[Signed]) -> None:
        asyncio.run(send_and_wait(self.url, txs))

    def hand_out(self, token: str, amount: int) -> None:
        # In waves the mempool takes from one sender.
        for i in range(0, len(self.senders), MAX_PER_SENDER):
            self.run([self.admin_call(token, "transfer", [Address(k.address), amount])
                      for k in self.senders[i : i + MAX_PER_SENDER]])

    def pool(self) -> None:
        self.run([self.admin_call(t, "approve", [self.c["swap"], 10**30]) for t in ("tusd", "wgld")])
        self.run([self.admin_call("swap", "add_liquidity", [self.c["tusd"], self.c["wgld"], 10**8 * E18,
                                                            10**8 * E18, 0, 0, Address(self.admin.address), FAR])])

    def markets(self) -> None:
        self.run([self.admin_call("oracle", "report", [self.c["tusd"], E18]),
                  self.admin_call("oracle", "report", [self.c["wgld"], E18]),
                  *(self.admin_call(t, "approve", [self.c["lending"], 10**30]) for t in ("tusd", "wgld"))])
        self.run([self.admin_call("lending", "list_market", [self.c[t], *MARKET]) for t in ("tusd", "wgld")])
        self.run([self.admin_call("lending", "supply", [self.c["tusd"], 10**8 * E18])])


def check_choice(workload: str, client: str) -> None:
    """Refuse a workload and client that cannot run together, before any cluster starts."""
    if workload not in WORKLOADS:
        raise WorkloadError(f"--workload: one of {', '.join(WORKLOADS)}")
    if client not in CLIENTS:
        raise WorkloadError(f"--client: one of {', '.join(CLIENTS)}")
    if client == "eth" and workload not in ETH_WORKLOADS:
        raise WorkloadError(f"--client eth drives the Ethereum face, which carries {' and '.join(ETH_WORKLOADS)} "
                            f"only (docs/ethereum.md); {workload} needs --client native")


def prepare(workload: str, client: str, url: str, chain_id: str, eth_chain_id: int, contracts: dict[str, str],
            admin: PrivateKey, admin_nonce: int, senders: list[PrivateKey], first_nonce: list[int]) -> Prepared:
    """Run the workload's setup on the devnet at `url` and return its transaction builder."""
    check_choice(workload, client)
    if client == "eth" and not eth_chain_id:
        raise WorkloadError("--client eth: this chain takes no Ethereum-signed transactions (eth_chain_id is 0)")
    needed = {"transfer": (), "token": ("tusd",), "swap": ("tusd", "wgld", "swap"),
              "lending": ("tusd", "wgld", "oracle", "lending"), "payment": ("fusd", "feur", "swap", "payments")}
    names = {n for w, ns in needed.items() if workload in (w, "mixed") for n in ns}
    missing = sorted(names - set(contracts))
    if missing:
        raise WorkloadError(f"--workload {workload}: the genesis lacks {', '.join(missing)}")
    s = Setup(url, chain_id, admin, admin_nonce, contracts, senders, first_nonce)
    kinds = ["transfer", "token", "swap", "lending", "payment"] if workload == "mixed" else [workload]
    if "token" in kinds or "swap" in kinds:
        s.hand_out("tusd", 10**6 * E18)
    if "swap" in kinds:
        s.pool()
        s.run(s.each_sender("tusd", "approve", lambda _: [s.c["swap"], 10**30], GAS["approve"]))
    if "lending" in kinds:
        s.markets()
        s.hand_out("wgld", 10**6 * E18)
        s.run(s.each_sender("wgld", "approve", lambda _: [s.c["lending"], 10**30], GAS["approve"]))
        s.run(s.each_sender("lending", "supply", lambda _: [s.c["wgld"], 10**5 * E18], GAS["supply"]))
    if "payment" in kinds:
        s.hand_out("fusd", 10**4 * E18)
        s.run(s.each_sender("fusd", "approve", lambda _: [s.c["payments"], 10**30], GAS["approve"]))
    addresses = [Address(k.address) for k in senders]
    count = len(senders)

    def build(i: int, nonce: int, n: int) -> Signed:
        key, me, to = senders[i], addresses[i], addresses[(i + 1) % count]
        kind = kinds[n % len(kinds)]
        if client == "eth":
            if kind == "transfer":
                return _eth(build_eth_tx(key, eth_chain_id, nonce, to, 1, max_fee=DEFAULT_MAX_FEE,
                                         priority_fee=DEFAULT_PRIORITY_FEE))
            return _eth(build_eth_tx(key, eth_chain_id, nonce, s.c["tusd"], 0, erc20_transfer_data(to, 1),
                                     gas=GAS["token"], max_fee=DEFAULT_MAX_FEE, priority_fee=DEFAULT_PRIORITY_FEE))
        if kind == "transfer":
            return _native(build_transfer(key, chain_id, nonce, to, 1))
        if kind == "token":
            return _native(build_call(key, chain_id, nonce, s.c["tusd"], "transfer", [to, 1], gas_limit=GAS["token"]))
        if kind == "swap":
            return _native(build_call(key, chain_id, nonce, s.c["swap"], "swap_exact_tokens_for_tokens",
                                      [SWAP_IN, 0, [s.c["tusd"], s.c["wgld"]], me, FAR], gas_limit=GAS["swap"]))
        if kind == "payment":  # FUSD sent, FEUR delivered through the genesis FX pool (docs/finance.md)
            return _native(build_call(key, chain_id, nonce, s.c["payments"], "pay",
                                      [to, s.c["fusd"], s.c["feur"], PAY_IN, 1, 0, [], FAR, b"", b""],
                                      gas_limit=GAS["payment"]))
        return _native(build_call(key, chain_id, nonce, s.c["lending"], "borrow", [s.c["tusd"], BORROW],
                                  gas_limit=GAS["lending"]))

    return Prepared(senders, s.next, build)
