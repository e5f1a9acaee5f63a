"""A custodian's side of a regulated stablecoin (vm/contracts/stablecoin.py): mint against a
deposit, list the redemptions waiting for a payout, and record each payout once made.

A deposit or payout reference is the custodian's own text (its bank's id for the movement);
on chain it is `SHA-256("FINCHAIN_MONEY_REF_V1" || utf8(text))`, so the chain holds no bank
detail and the same text always gives the same reference, which the coin refuses to reuse.
Every check the contract makes is tried first (a dry run), so a refusal costs nothing and comes
with the contract's reason code.
"""

from __future__ import annotations

import hashlib
from typing import Any

from finance.errors import ContractRefused
from node.client.contracts import EstimateFailed
from node.client.sdk import Client
from node.types.crypto import PrivateKey, to_checksum_address

REF_TAG = b"FINCHAIN_MONEY_REF_V1"
MAX_PAGE = 500


def money_ref(text: str) -> bytes:
    """The 32-byte on-chain reference of a deposit or payout id."""
    if not text or len(text.encode()) > 256:
        raise ContractRefused("bad_ref", "a reference is 1 to 256 bytes of text")
    return hashlib.sha256(REF_TAG + text.encode()).digest()


def _send(client: Client, key: PrivateKey, coin: str, method: str, args: list[Any]) -> dict[str, Any]:
    try:
        answer = client.call_contract(key, coin, method, args)
    except EstimateFailed as exc:
        raise ContractRefused(exc.reason, f"{method} refused by the coin: {exc.reason}") from None
    receipt = answer["receipt"]
    if receipt["status"] != "success":
        reason = receipt.get("error") or "failed"
        raise ContractRefused(reason, f"{method} failed on chain: {reason}")
    return answer


def mint(client: Client, key: PrivateKey, coin: str, to: str, amount: int, deposit: str) -> dict[str, Any]:
    """Mint `amount` (smallest units) to `to` against the deposit `deposit`; the committed answer."""
    ref = money_ref(deposit)
    minter = to_checksum_address(key.address)
    if client.contract_call(coin, "deposit_used", [minter, "0x" + ref.hex()])["output"]:
        raise ContractRefused("deposit_ref_used", f"deposit {deposit!r} was already minted against")
    answer = _send(client, key, coin, "mint", [to, str(amount), "0x" + ref.hex()])
    return {"hash": answer["hash"], "height": answer["height"], "to": to, "amount": str(amount),
            "deposit_ref": "0x" + ref.hex()}


def pending_redemptions(client: Client, coin: str, start: int = 0, limit: int = 100) -> dict[str, Any]:
    """Unsettled redemptions with ids from `start`, at most `limit` looked at; `next` resumes after them."""
    if start < 0 or not 0 < limit <= MAX_PAGE:
        raise ContractRefused("bad_params", f"start must be at least 0 and limit 1 to {MAX_PAGE}")
    count = int(client.contract_call(coin, "redemption_count")["output"])
    end = min(count, start + limit)
    pending = []
    for rid in range(start, end):
        record = client.contract_call(coin, "redemption", [rid])["output"]
        if record and not record["settled"]:
            pending.append({"id": rid, "holder": record["holder"], "amount": str(record["amount"]),
                            "payout_ref": record["payout_ref"], "height": record["height"]})
    return {"redemptions": pending, "next": end if end < count else None, "count": count}


def settle(client: Client, key: PrivateKey, coin: str, redemption: int, bank_ref: str) -> dict[str, Any]:
    """Record that redemption `redemption` was paid out, with the bank's reference text."""
    record = client.contract_call(coin, "redemption", [redemption])["output"]
    if not record:
        raise ContractRefused("unknown_redemption", f"no redemption {redemption}")
    if record["settled"]:
        raise ContractRefused("already_settled", f"redemption {redemption} is settled already")
    ref = money_ref(bank_ref)
    answer = _send(client, key, coin, "settle", [redemption, "0x" + ref.hex()])
    return {"hash": answer["hash"], "height": answer["height"], "id": redemption, "bank_ref": "0x" + ref.hex()}
