"""A wallet's side of the feedback contract (vm/contracts/feedback.py): rate the service a settled
call used, and read a service's reputation and ratings.

Rating runs every check of the contract first as a dry run (a gas estimate against the next
block, which sees every committed transaction), so a refusal (`not_settled`, `not_a_party`,
`tx_failed`, `not_a_service`, `already_rated`, ...) costs nothing and comes with the contract's
reason code.
"""

from __future__ import annotations

from typing import Any

from finance.errors import ContractRefused
from node.client.contracts import EstimateFailed
from node.client.sdk import Client

MAX_COMMENT = 280  # bytes of UTF-8 text, as the contract allows
MAX_PAGE = 100


def _hash32(text: str, reason: str, what: str) -> str:
    body = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise ContractRefused(reason, f"{what} is not hex: {text!r}") from None
    if len(raw) != 32:
        raise ContractRefused(reason, f"{what} is {len(raw)} bytes, not 32")
    return "0x" + raw.hex()


def give(client: Client, key: Any, feedback: str, tx_hash: str, score: int, comment: str = "",
         comment_hash: str | None = None) -> dict[str, Any]:
    """Rate the service called by `tx_hash` (a transaction `key` sent, which succeeded): the rating
    as committed, with the rating transaction's hash and height."""
    if not 1 <= score <= 5:
        raise ContractRefused("bad_score", f"a score is 1 to 5, not {score}")
    if len(comment.encode()) > MAX_COMMENT:
        raise ContractRefused("bad_comment", f"a comment is at most {MAX_COMMENT} bytes of UTF-8")
    if comment and comment_hash:
        raise ContractRefused("bad_comment", "give a comment or its hash, not both")
    digest = "0x" if comment_hash is None else _hash32(comment_hash, "bad_comment", "the comment hash")
    tx = _hash32(tx_hash, "not_settled", "the transaction hash")
    try:
        answer = client.call_contract(key, feedback, "rate", [tx, score, comment, digest])
    except EstimateFailed as exc:
        raise ContractRefused(exc.reason, f"the rating is refused: {exc.reason}") from None
    receipt = answer["receipt"]
    if receipt["status"] != "success":
        reason = receipt.get("error") or "failed"
        raise ContractRefused(reason, f"the rating failed on chain: {reason}")
    return {"hash": answer["hash"], "height": answer["height"], "rating": receipt["output"]}


def show(client: Client, feedback: str, service: str, ratings: bool = False, start: int = 0,
         limit: int = 20) -> dict[str, Any]:
    """The reputation of `service`; with `ratings`, a page of its ratings (`next` resumes after it)."""
    out: dict[str, Any] = {"reputation": client.contract_call(feedback, "reputation", [service])["output"]}
    if ratings:
        if start < 0 or not 0 < limit <= MAX_PAGE:
            raise ContractRefused("bad_page", f"start must be at least 0 and limit 1 to {MAX_PAGE}")
        out.update(client.contract_call(feedback, "ratings", [service, start, limit])["output"])
    return out
