"""Whole-chain checks over JSON-RPC: do nodes agree, is the ledger consistent, did anyone double-sign.

Each check reads through batched JSON-RPC (a node answers 100 calls per request) so that a chain of
hundreds of blocks is checked in seconds, and returns a list of human-readable problems (empty: fine).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consensus.types import Validator, ValidatorSet
from devnet.errors import DevnetError
from node.types.block import PRECOMMIT, vote_sign_bytes
from node.types.crypto import AddressError, SignatureError, parse_address, recover_address

BATCH = 100  # the node's default rpc.max_batch


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]], timeout: float = 15.0) -> list[Any]:
    """Results of `calls` in order; raises DevnetError on a transport failure or any call's error."""
    out: list[Any] = []
    for start in range(0, len(calls), BATCH):
        chunk = calls[start : start + BATCH]
        reqs = [{"jsonrpc": "2.0", "id": k, "method": m, "params": p} for k, (m, p) in enumerate(chunk)]
        req = urllib.request.Request(url, json.dumps(reqs).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                answers = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DevnetError(f"batch of {len(chunk)} calls to {url} failed: {exc}") from exc
        if not isinstance(answers, list):
            raise DevnetError(f"{url} answered a batch with {answers!r:.300}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        for k, (method, params) in enumerate(chunk):
            answer = by_id.get(k)
            if answer is None or "error" in answer:
                raise DevnetError(f"{method}{params} on {url}: {answer and answer.get('error')}")
            out.append(answer["result"])
    return out


def headers(url: str, heights: range) -> list[dict[str, Any]]:
    return rpc_batch(url, [("chain_getHeader", [h]) for h in heights])


def blocks(url: str, heights: range, full: bool = True) -> list[dict[str, Any]]:
    return rpc_batch(url, [("chain_getBlock", [h, full]) for h in heights])


def disagreements(urls: dict[str, str], max_shown: int = 5) -> tuple[int, list[str]]:
    """Block hash and state root compared at every height all `urls` (name -> RPC URL) have committed.

    Returns the highest height compared and what differs.
    """
    tips = {name: rpc_batch(url, [("node_status", [])])[0]["height"] for name, url in urls.items()}
    common = min(tips.values(), default=0)
    if common < 1:
        return 0, []
    seen = {name: headers(url, range(1, common + 1)) for name, url in urls.items()}
    problems = []
    for h in range(1, common + 1):
        rows = {name: (hs[h - 1]["hash"], hs[h - 1]["state_root"]) for name, hs in seen.items()}
        if len(set(rows.values())) > 1:
            table = "\n".join(f"    {name}: hash {bh} state_root {sr}" for name, (bh, sr) in rows.items())
            problems.append(f"height {h} differs:\n{table}")
    if len(problems) > max_shown:
        problems = [*problems[:max_shown], f"... and {len(problems) - max_shown} more differing heights"]
    if problems:
        problems.insert(0, f"tips {tips}; compared heights 1..{common}")
    return common, problems


@dataclass(slots=True)
class Ledger:
    """What one node's chain says up to `height`: every transaction, where it is, what it paid."""

    height: int
    txs: dict[str, tuple[int, int]] = field(default_factory=dict)  # hash -> (height, index)
    by_sender: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # nonces in chain order
    fees: int = 0  # what the senders paid: burned + tips
    burned: int = 0  # gas used x base fee of each block, summed
    burned_total: int = 0  # what the chain reports as burned through `height` (its fee record)
    proposers: set[str] = field(default_factory=set)  # who received the tips
    problems: list[str] = field(default_factory=list)


def read_ledger(url: str, height: int) -> Ledger:
    ledger = Ledger(height)
    for block in blocks(url, range(1, height + 1)):
        ledger.proposers.add(block["header"]["proposer"])
        ledger.burned += int(block["gas_used"]) * int(block["base_fee_per_gas"])
        ledger.burned_total = int(block["burned_total"])
        for index, tx in enumerate(block["txs"]):
            if tx["hash"] in ledger.txs:
                ledger.problems.append(f"tx {tx['hash']} committed twice: at {ledger.txs[tx['hash']]} and "
                                       f"{(block['height'], index)}")
            ledger.txs[tx["hash"]] = (block["height"], index)
            ledger.by_sender[tx["from"]].append(tx["nonce"])
    hashes = list(ledger.txs)
    for tx_hash, got in zip(hashes, rpc_batch(url, [("tx_get", [h]) for h in hashes]), strict=True):
        where = ledger.txs[tx_hash]
        if got["status"] != "committed" or (got["height"], got["index"]) != where:
            ledger.problems.append(f"tx {tx_hash} is in block {where} but tx_get says {got['status']} at "
                                   f"{(got['height'], got['index'])}")
            continue
        ledger.fees += int(got["receipt"]["fee"])
    return ledger


def audit_ledger(url: str, height: int, addresses: list[str], genesis_total: int,
                 start_nonces: dict[str, int] | None = None) -> tuple[Ledger, list[str]]:
    """Nonces of each sender gapless from its genesis nonce, and `sum(balances) + burned == genesis_total`.

    `addresses` must hold every account that ever had a balance (the funded ones and every recipient);
    the blocks' proposers, who receive the tips, are added.
    """
    ledger = read_ledger(url, height)
    problems = list(ledger.problems)
    if ledger.burned != ledger.burned_total:
        problems.append(f"blocks 1..{height} burned {ledger.burned} (gas used x base fee), "
                        f"the chain reports {ledger.burned_total}")
    known = {a.lower() for a in addresses}
    addresses = list(addresses) + sorted(p for p in ledger.proposers if p.lower() not in known)
    accounts = rpc_batch(url, [("account_get", [a, height]) for a in addresses])
    nonce_of = {a["address"]: a["nonce"] for a in accounts}
    if start_nonces is None:
        # A sender may start above 0: genesis contracts are deployed by an account, at its nonces.
        senders = list(ledger.by_sender)
        start_nonces = {a["address"]: a["nonce"] for a in rpc_batch(url, [("account_get", [s, 0]) for s in senders])}
    for sender, nonces in ledger.by_sender.items():
        first = (start_nonces or {}).get(sender, 0)
        if nonces != list(range(first, first + len(nonces))):
            problems.append(f"{sender}: committed nonces {nonces[:10]}... are not {first}, {first + 1}, ...")
        if sender in nonce_of and nonce_of[sender] != first + len(nonces):
            problems.append(f"{sender}: account nonce {nonce_of[sender]} after {len(nonces)} committed txs")
    missing = set(ledger.by_sender) - set(nonce_of)
    if missing:
        problems.append(f"senders not among the audited addresses: {sorted(missing)}")
    total = sum(int(a["balance"]) for a in accounts)
    if total + ledger.burned != genesis_total:
        problems.append(f"supply not conserved at height {height}: balances {total} + burned {ledger.burned} = "
                        f"{total + ledger.burned}, genesis total {genesis_total} (difference "
                        f"{total + ledger.burned - genesis_total})")
    return ledger, problems


def double_signs(urls: dict[str, str], height: int) -> list[str]:
    """Every precommit found in committed blocks (on every node) and every evidence record: no validator
    signed two different block hashes at one (height, round)."""
    signed: dict[tuple[int, int, str], set[str]] = defaultdict(set)
    problems = []
    for name, url in urls.items():
        for block in blocks(url, range(2, height + 1), full=False):
            commit = block["last_commit"]
            if commit is None:
                problems.append(f"{name}: block {block['height']} has no last commit")
                continue
            for sig in commit["signatures"]:
                signed[(commit["height"], commit["round"], sig["validator"])].add(commit["block_hash"])
        evidence = rpc_batch(url, [("chain_getEvidence", [1, 1000])])[0]
        for ev in evidence["committed"] + evidence["pending"]:
            problems.append(f"{name} holds evidence: {ev['validator']} equivocated at {ev['height']}/{ev['round']}")
    for (h, r, validator), hashes in signed.items():
        if len(hashes) > 1:
            problems.append(f"{validator} precommitted {sorted(hashes)} at height {h} round {r}")
    return problems


def last_commit_problems(chain: list[dict[str, Any]], chain_id: str, powers: Mapping[bytes, int]) -> list[str]:
    """Each block's last commit (`chain_getBlock` JSON, in height order) checked as `Chain.verify_commit` checks a
    commit: it names the previous block, holds only validators of `powers` (address -> power), each once and
    each with its own precommit signature, and more than 2/3 of the power. A commit naming a key that is not a
    validator fails, as it fails on every node that receives a block carrying it."""
    total = sum(powers.values())
    problems: list[str] = []
    previous: dict[str, Any] | None = None
    for block in chain:
        height, commit = block["height"], block["last_commit"]
        prev_hash = previous["hash"] if previous is not None and previous["height"] == height - 1 else None
        previous = block
        if height == 1:
            if commit is not None:
                problems.append("block 1 carries a last commit")
            continue
        if commit is None:
            problems.append(f"block {height} has no last commit")
            continue
        where = f"block {height}'s last commit"
        if commit["height"] != height - 1 or (prev_hash is not None and commit["block_hash"] != prev_hash):
            problems.append(f"{where} is for {commit['height']}/{commit['block_hash']}, not the previous block")
            continue
        digest = vote_sign_bytes(chain_id, PRECOMMIT, commit["height"], commit["round"],
                                 bytes.fromhex(commit["block_hash"].removeprefix("0x")))
        seen: set[bytes] = set()
        power = 0
        for sig in commit["signatures"]:
            try:
                validator = parse_address(sig["validator"])
                signer = recover_address(digest, bytes.fromhex(sig["signature"].removeprefix("0x")))
            except (AddressError, SignatureError, ValueError) as exc:
                problems.append(f"{where}: signature of {sig['validator']} unreadable: {exc}")
                continue
            if validator not in powers:
                problems.append(f"{where}: {sig['validator']} is not a validator")
            elif validator in seen:
                problems.append(f"{where}: {sig['validator']} appears twice")
            elif signer != validator:
                problems.append(f"{where}: the signature of {sig['validator']} is not its precommit")
            else:
                seen.add(validator)
                power += powers[validator]
        if 3 * power <= 2 * total:
            problems.append(f"{where}: its valid signatures hold {power} of {total} power, not more than 2/3")
    return problems


def round0_proposers(powers: Mapping[bytes, int], last_height: int) -> dict[int, bytes]:
    """Height -> the address that leads its round 0, for heights 1..last_height, by the rule of
    docs/consensus.md section 2: set(1) is the genesis set, set(h+1) = set(h).increment(1)."""
    vset = ValidatorSet.new(Validator(a, p) for a, p in powers.items())
    out: dict[int, bytes] = {}
    for height in range(1, last_height + 1):
        out[height] = vset.proposer.address
        vset = vset.increment(1)
    return out
