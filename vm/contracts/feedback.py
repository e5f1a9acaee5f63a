"""Feedback bound to a settled receipt: the sender of a successful contract call rates the
contract it called (the service), once per such transaction.

The chain itself vouches for the transaction: `settled(tx_hash)` (docs/contracts.md) answers
for a transaction committed in an earlier block, the same on every node. A rating is a score
from 1 to 5 and, optionally, a comment of at most 280 bytes of text or the 32-byte hash of one
kept elsewhere. Every refusal reverts with a reason code from the table in docs/finance.md,
checked in this order: `bad_score`, `bad_comment`, `not_settled`, `not_a_party`,
`not_a_service`, `tx_failed`, `already_rated`.

A service's reputation is kept as a count, a sum and a distribution of scores, so that the
average is the exact fraction sum / count; `average_x100` is it times 100, rounded down.
"""

MAX_COMMENT = 280  # bytes of UTF-8 text
HASH_BYTES = 32
MAX_PAGE = 100
SCORES = 5


@public
def rate(tx_hash: bytes, score: int, comment: str = "", comment_hash: bytes = b"") -> dict:
    """Rate the service called by transaction `tx_hash`, which the caller sent and which succeeded.
    Give a comment as text or as the hash of one, not both; the event carries the text's SHA-256."""
    require(1 <= score and score <= SCORES, "bad_score")
    text = comment.encode()
    require(len(text) <= MAX_COMMENT, "bad_comment")
    require(len(comment_hash) == 0 or len(comment_hash) == HASH_BYTES, "bad_comment")
    require(len(text) == 0 or len(comment_hash) == 0, "bad_comment")
    require(len(tx_hash) == HASH_BYTES, "not_settled")
    tx = settled(tx_hash)
    require(tx is not None, "not_settled")
    require(tx["sender"] == ctx.sender, "not_a_party")
    # Only a call uses a service; a rating is not one itself (no rating of ratings).
    require(tx["kind"] == "call" and tx["to"] != ctx.this, "not_a_service")
    require(tx["ok"], "tx_failed")
    require(not storage.get(("rating", tx_hash), None), "already_rated")
    service = tx["to"]
    digest = sha256(text) if len(text) else comment_hash
    rep = storage.get(("reputation", service), None)
    if rep is None:
        rep = {"count": 0, "sum": 0, "distribution": [0, 0, 0, 0, 0]}
    index = rep["count"]
    record = {"service": service, "tx_hash": tx_hash, "rater": ctx.sender, "score": score, "comment": comment,
              "comment_hash": digest, "tx_height": tx["height"], "height": ctx.height, "index": index}
    storage["rating", tx_hash] = record
    storage["by_service", service, index] = tx_hash
    rep["count"] = index + 1
    rep["sum"] = rep["sum"] + score
    rep["distribution"][score - 1] = rep["distribution"][score - 1] + 1
    storage["reputation", service] = rep
    emit("Rated", service, tx_hash, ctx.sender, score, digest)
    return record


@view
def reputation(service: address) -> dict:
    """{count, sum, average_x100, distribution: [count of 1s, ..., count of 5s]}."""
    rep = storage.get(("reputation", service), None)
    if rep is None:
        return {"service": service, "count": 0, "sum": 0, "average_x100": 0, "distribution": [0, 0, 0, 0, 0]}
    return {"service": service, "count": rep["count"], "sum": rep["sum"],
            "average_x100": rep["sum"] * 100 // rep["count"], "distribution": rep["distribution"]}


@view
def rating(tx_hash: bytes) -> dict:
    """The rating given for transaction `tx_hash`, {} if none was."""
    return storage.get(("rating", tx_hash), {})


@view
def ratings(service: address, start: int = 0, limit: int = 20) -> dict:
    """The ratings of `service` in the order given, from index `start`, at most `limit` (1 to 100);
    `next` is the index to resume from, None after the last."""
    require(start >= 0 and 1 <= limit and limit <= MAX_PAGE, "bad_page")
    rep = storage.get(("reputation", service), None)
    count = 0 if rep is None else rep["count"]
    end = min(count, start + limit)
    out = []
    for i in range(start, end):
        out.append(storage["rating", storage["by_service", service, i]])
    return {"ratings": out, "next": end if end < count else None, "count": count}
