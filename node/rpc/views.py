"""JSON views of blocks, transactions and receipts for RPC and the CLI.

Bytes are 0x hex, addresses EIP-55, token amounts decimal strings of base units
(they exceed 2^53), heights, nonces and gas plain JSON integers.
"""

from __future__ import annotations

import datetime
from typing import Any

from node.state.fees import FeeRecord
from node.types.block import Block, Commit, Event, Header, Receipt
from node.types.crypto import to_checksum_address
from node.types.envelopes import tx_id
from node.types.evidence import DuplicateVoteEvidence, SignedVote
from node.types.tx import Call, Deploy, SignedTx, Transfer
from vm import contract_address
from vm.values import decode_value, to_json


def hx(data: bytes) -> str:
    return "0x" + data.hex()


def iso_ms(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(timespec="milliseconds")


def header_json(h: Header) -> dict[str, Any]:
    return {
        "hash": hx(h.hash()),
        "chain_id": h.chain_id,
        "height": h.height,
        "time_ms": h.time_ms,
        "time": iso_ms(h.time_ms),
        "prev_hash": hx(h.prev_hash),
        "tx_root": hx(h.tx_root),
        "results_root": hx(h.results_root),
        "state_root": hx(h.state_root),
        "validators_hash": hx(h.validators_hash),
        "proposer": to_checksum_address(h.proposer),
        "last_commit_hash": hx(h.last_commit_hash),
        "evidence_root": hx(h.evidence_root),
    }


def commit_json(c: Commit | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "height": c.height,
        "round": c.round,
        "block_hash": hx(c.block_hash),
        "signatures": [{"validator": to_checksum_address(s.validator), "signature": hx(s.signature)}
                       for s in c.signatures],
    }


def tx_json(tx: SignedTx) -> dict[str, Any]:
    b = tx.body
    out: dict[str, Any] = {
        "hash": hx(tx.hash),
        "from": to_checksum_address(tx.sender),
        "chain_id": b.chain_id,
        "nonce": b.nonce,
        "gas_limit": b.gas_limit,
        "max_fee_per_gas": str(b.max_fee_per_gas),
        "max_priority_fee_per_gas": str(b.max_priority_fee_per_gas),
        "expiry_height": b.expiry_height,
        "signature": hx(tx.signature),
    }
    match b.payload:
        case Transfer(to=to, amount=amount):
            out.update(type="transfer", to=to_checksum_address(to), amount=str(amount))
        case Deploy(source=source, args=args, amount=amount):
            out.update(type="deploy", source=source, args=_contract_json(args), amount=str(amount),
                       contract_address=to_checksum_address(contract_address(tx.sender, b.nonce)))
        case Call(to=to, method=method, args=args, amount=amount):
            out.update(type="call", to=to_checksum_address(to), method=method, args=_contract_json(args),
                       amount=str(amount))
    return out


def _contract_json(raw: Any) -> Any:
    """A VM-encoded value as JSON (docs/contracts.md): ints as decimal strings, bytes as 0x hex."""
    if not isinstance(raw, bytes):
        return None
    try:
        return to_json(decode_value(raw))
    except (ValueError, TypeError):
        return hx(raw)


def receipt_json(r: Receipt) -> dict[str, Any]:
    return {
        "tx_hash": hx(r.tx_hash),
        "status": "success" if r.status else "failed",
        "gas_used": r.gas_used,
        "fee": str(r.fee),
        "error": r.error or None,
        "events": [event_json(e) for e in r.events],
        "output": _contract_json(r.output),
    }


def event_json(e: Event) -> dict[str, Any]:
    return {"address": to_checksum_address(e.address), "name": e.name, "data": _contract_json(e.data)}


def block_json(block: Block, txs: list[SignedTx] | None, fees: FeeRecord | None) -> dict[str, Any]:
    """With `txs` (the block's transactions decoded), each one in full; without, their ids, which need no
    signature recovery (a follower reading every block cost the node a second recovery per transaction)."""
    return {
        "hash": hx(block.hash()),
        "height": block.height,
        "header": header_json(block.header),
        "base_fee_per_gas": str(fees.base_fee) if fees else None,
        "gas_used": fees.gas_used if fees else None,
        "burned_total": str(fees.burned) if fees else None,
        "tx_count": len(block.txs),
        "txs": [tx_json(t) for t in txs] if txs is not None else [hx(tx_id(raw)) for raw in block.txs],
        "last_commit": commit_json(block.last_commit),
        "evidence": [hx(raw) for raw in block.evidence],
        "size": len(block.encode()),
    }


def evidence_json(ev: DuplicateVoteEvidence, height: int | None) -> dict[str, Any]:
    def vote(v: SignedVote) -> dict[str, Any]:
        return {"block_hash": hx(v.block_hash) if v.block_hash else None, "signature": hx(v.signature)}

    return {
        "hash": hx(ev.hash()),
        "type": "duplicate_vote",
        "validator": to_checksum_address(ev.validator),
        "height": ev.height,
        "round": ev.first.round,
        "vote_type": "prevote" if ev.first.vote_type == 1 else "precommit",
        "votes": [vote(ev.first), vote(ev.second)],
        "committed_height": height,
    }
