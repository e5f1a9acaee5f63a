"""The verdict of a chaos run: what the healed cluster's chains and the workload's history must satisfy.

Each check returns a list of problems (empty: it holds). `verdict` runs them all on every node:

- agreement: the same block hash and state root at every height on every node;
- commits: every block's last commit names the previous block and holds more than 2/3 of the genesis power,
  of validators only, each with its own precommit signature;
- ledger: no transaction twice, every sender's nonces gap-free from its genesis nonce, and conservation: the
  balances of every account (the bank's, the roles', the genesis contracts', the proposers' who got the tips)
  plus the fees burned equal the genesis supply, with the burned total the blocks add up to equal to what the
  chain reports (its fee record, `chain_feeInfo`);
- history: every acknowledged transaction (seen committed by a node) is committed exactly once, at the height
  it was seen at; every admitted one that is not committed was superseded (another transaction took its
  nonce) or never reached (its nonce is at or past the sender's final nonce); no transaction of the bank's
  senders is committed that the bank never sent;
- double signs: no two precommits of one validator for different blocks at one (height, round) in the stored
  commits of any node, and no evidence except against the validators run as byzantine (whose evidence, when
  they equivocated, must be committed);
- proposers: each block was proposed by the proposer of its height and commit round by the rule of
  docs/consensus.md, and every node sampled during the run named the same proposers for every round of a height.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consensus.types import Validator, ValidatorSet
from devnet.checks import audit_ledger, blocks, disagreements, last_commit_problems, rpc_batch
from node.types.crypto import parse_address, to_checksum_address

MAX_SHOWN = 8


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What the checker must know of the network: from the genesis and the manifest."""

    chain_id: str
    powers: Mapping[bytes, int]  # validator address -> power, of the genesis
    ledger_addresses: tuple[str, ...]  # every account the genesis funds or creates, and the bank's
    genesis_total: int
    byzantine: frozenset[bytes] = frozenset()  # validators run as byzantine processes in this run


@dataclass(slots=True)
class Verdict:
    height: int = 0
    checks: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def failed(self) -> list[str]:
        return [name for name, problems in self.checks.items() if problems]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "height": self.height, "failed": self.failed(),
                "checks": {k: v[:MAX_SHOWN] + ([f"... {len(v) - MAX_SHOWN} more"] if len(v) > MAX_SHOWN else [])
                           for k, v in self.checks.items()}, "stats": self.stats}


def verdict(urls: Mapping[str, str], facts: ChainFacts, history: Sequence[dict[str, Any]],
            proposer_samples: Mapping[int, Mapping[str, Sequence[str]]]) -> Verdict:
    """Every check at the highest height all `urls` (node name -> RPC URL) have committed."""
    out = Verdict()
    common, problems = disagreements(dict(urls))
    out.height = common
    out.checks["agreement"] = problems
    if common < 2:
        out.checks["agreement"].append(f"the nodes share only {common} blocks")
        return out
    first_url = next(iter(urls.values()))
    chain = blocks(first_url, range(1, common + 1), full=True)
    out.checks["commits"] = last_commit_problems(chain, facts.chain_id, facts.powers)
    # One node's ledger is every node's: their state roots agree at every height (checked above).
    first = next(iter(urls))
    ledger, found = audit_ledger(first_url, common, list(facts.ledger_addresses), facts.genesis_total)
    ledger_problems = [f"{first}: {p}" for p in found]
    for name, url in urls.items():
        fee_info = rpc_batch(url, [("chain_feeInfo", [])])[0]
        reported = int(fee_info["burned_total"])
        if fee_info["last_block"]["height"] == common and reported != ledger.burned:
            ledger_problems.append(f"{name}: chain_feeInfo reports {reported} burned, blocks add up to {ledger.burned}")
    out.checks["ledger"] = ledger_problems
    out.checks["history"], out.stats["history"] = history_problems(history, ledger.txs, ledger.by_sender, chain)
    out.checks["double_signs"], out.stats["evidence"] = double_sign_problems(urls, common, facts)
    out.checks["proposers"] = proposer_problems(chain, facts.powers) + sample_problems(proposer_samples)
    out.stats["blocks"] = common
    out.stats["txs_committed"] = len(ledger.txs)
    out.stats["rounds_above_0"] = sum(1 for b in chain if b["last_commit"] and b["last_commit"]["round"] > 0)
    return out


def history_problems(history: Sequence[dict[str, Any]], committed: Mapping[str, tuple[int, int]],
                     by_sender: Mapping[str, list[int]], chain: Sequence[dict[str, Any]],
                     ) -> tuple[list[str], dict[str, int]]:
    problems: list[str] = []
    sent = [r for r in history if r.get("hash")]
    admitted = [r for r in sent if r["result"] == "ok"]
    acked = [r for r in admitted if "committed_s" in r]
    final_nonce: dict[str, int] = {}
    start_nonce: dict[str, int] = {}
    for block in chain:
        for tx in block["txs"]:
            s = to_checksum_address(parse_address(tx["from"]))
            start_nonce.setdefault(s, tx["nonce"])
            final_nonce[s] = tx["nonce"] + 1
    committed_by_slot: dict[tuple[str, int], str] = {}
    for block in chain:
        for tx in block["txs"]:
            committed_by_slot[(to_checksum_address(parse_address(tx["from"])), tx["nonce"])] = tx["hash"].lower()
    hashes = {h.lower(): where for h, where in committed.items()}
    for r in acked:
        where = hashes.get(r["hash"].lower())
        if where is None:
            problems.append(f"acknowledged tx {r['hash']} ({r['sender']} nonce {r['nonce']}, seen committed at "
                            f"height {r['height']} by node {r['ack_node']}) is not in the final chain: lost")
        elif where[0] != r["height"]:
            problems.append(f"acknowledged tx {r['hash']} was seen at height {r['height']}, is at {where[0]}")
    superseded = never_reached = late = 0
    seen_hashes = defaultdict(int)
    for r in sent:
        seen_hashes[r["hash"].lower()] += 1
    for r in admitted:
        if r["hash"].lower() in hashes:
            if "committed_s" not in r:
                late += 1  # committed, but no poll saw it before the run ended
            continue
        slot = committed_by_slot.get((r["sender"], r["nonce"]))
        if slot is not None:
            superseded += 1
        elif r["nonce"] >= final_nonce.get(r["sender"], start_nonce.get(r["sender"], 0)):
            never_reached += 1
        else:
            problems.append(f"admitted tx {r['hash']} ({r['sender']} nonce {r['nonce']}) is not committed, and "
                            f"neither is any other at its nonce, below the sender's final nonce")
    bank_senders = {r["sender"] for r in sent}
    for (sender, nonce), tx_hash in committed_by_slot.items():
        if sender in bank_senders and tx_hash not in seen_hashes:
            problems.append(f"committed tx {tx_hash} of {sender} nonce {nonce} was never sent by the workload")
    stats = {"sent": len(sent), "errors": len(sent) - len(admitted) + sum(1 for r in history if not r.get("hash")),
             "admitted": len(admitted), "acknowledged": len(acked), "committed_late": late,
             "superseded": superseded, "never_reached": never_reached}
    return problems, stats


def double_sign_problems(urls: Mapping[str, str], height: int, facts: ChainFacts) -> tuple[list[str], dict[str, Any]]:
    signed: dict[tuple[int, int, str], set[str]] = defaultdict(set)
    problems: list[str] = []
    evidence: dict[str, dict[str, Any]] = {}
    for name, url in urls.items():
        for block in blocks(url, range(2, height + 1), full=False):
            commit = block["last_commit"]
            if commit is None:
                continue  # last_commit_problems reports it
            for sig in commit["signatures"]:
                signed[(commit["height"], commit["round"], sig["validator"])].add(commit["block_hash"])
        got = rpc_batch(url, [("chain_getEvidence", [1, 1000])])[0]
        for ev in got["committed"] + got["pending"]:
            evidence.setdefault(ev["hash"], {**ev, "seen_by": []})["seen_by"].append(name)
    for (h, r, validator), hashes in signed.items():
        if len(hashes) > 1:
            problems.append(f"{validator} precommitted {sorted(hashes)} at height {h} round {r}")
    byzantine = {to_checksum_address(a) for a in facts.byzantine}
    for ev in evidence.values():
        if ev["validator"] not in byzantine:
            problems.append(f"evidence against honest {ev['validator']}: {ev['vote_type']} equivocation at "
                            f"{ev['height']}/{ev['round']} (seen by {', '.join(ev['seen_by'])})")
    committed = [ev for ev in evidence.values() if ev["committed_height"] is not None]
    stats = {"records": len(evidence), "committed": len(committed),
             "against": sorted({ev["validator"] for ev in evidence.values()})}
    return problems, stats


def validator_sets(powers: Mapping[bytes, int], last_height: int) -> dict[int, ValidatorSet]:
    """Height -> its validator set by docs/consensus.md section 2 (set(h+1) = set(h).increment(1))."""
    vset = ValidatorSet.new(Validator(a, p) for a, p in powers.items())
    out = {}
    for h in range(1, last_height + 1):
        out[h] = vset
        vset = vset.increment(1)
    return out


def proposer_problems(chain: Sequence[dict[str, Any]], powers: Mapping[bytes, int]) -> list[str]:
    """Block h's proposer is the proposer of its commit round (read from block h+1's last commit)."""
    if not chain:
        return []
    sets = validator_sets(powers, chain[-1]["height"])
    problems = []
    for block, nxt in itertools.pairwise(chain):
        commit = nxt["last_commit"]
        if commit is None or commit["height"] != block["height"]:
            continue
        expected = sets[block["height"]].proposer_for_round(commit["round"]).address
        if parse_address(block["header"]["proposer"]) != expected:
            problems.append(f"block {block['height']} (committed in round {commit['round']}) was proposed by "
                            f"{block['header']['proposer']}, not the round's proposer {to_checksum_address(expected)}")
    return problems


def sample_problems(samples: Mapping[int, Mapping[str, Sequence[str]]]) -> list[str]:
    """height -> node -> the proposers it named for rounds 0..7: every node names the same ones."""
    return [f"height {h}: nodes name different proposers: {dict(named)}" for h, named in sorted(samples.items())
            if len({tuple(v) for v in named.values()}) > 1]
