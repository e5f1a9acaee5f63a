"""The issuer service's LevelDB: applications as records, every change one synced write batch.

Keys (one prefix each):
    a/<id 32>         the application record (JSON)
    o/<seq u64be>     id, in arrival order (listing)
    p/<applicant 20>  id of the applicant's open (pending or approving) application
    m/seq, m/nonce    next arrival number; next nonce for the issuer's own transactions
    t/<ref 32>        travel-rule ciphertext of a payment (finance/travel.py), by its SHA-256

A record holds the ciphertext, never plaintext; the attest transactions are kept as the
signed bytes, written before they are sent, so a restart resends the same bytes.

States: pending -> approving -> attested | failed;  pending|failed -> rejected;
pending -> withdrawn;  rejected|withdrawn -> erased (ciphertext and signature deleted; the
id stays, so a replay is still refused).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel

from finance.errors import ApplicationNotFound, ApplicationPending, ApplicationReplay, BadTransition
from finance.kyc.envelope import Application

PENDING, APPROVING, ATTESTED, FAILED = "pending", "approving", "attested", "failed"
REJECTED, WITHDRAWN, ERASED = "rejected", "withdrawn", "erased"
STATES = (PENDING, APPROVING, ATTESTED, FAILED, REJECTED, WITHDRAWN, ERASED)
OPEN = (PENDING, APPROVING)


def _app_key(app_id: str) -> bytes:
    return b"a/" + bytes.fromhex(app_id[2:])


class ApplicationStore:
    def __init__(self, path: Path) -> None:
        self.db = plyvel.DB(str(path), create_if_missing=True)

    def close(self) -> None:
        self.db.close()

    # -- reads ---------------------------------------------------------------------------------

    def get(self, app_id: str) -> dict[str, Any]:
        try:
            raw = self.db.get(_app_key(app_id))
        except ValueError:
            raw = None
        if raw is None:
            raise ApplicationNotFound(f"no application {app_id:.80}")
        return json.loads(raw)

    def find(self, app_id: str) -> dict[str, Any] | None:
        try:
            return self.get(app_id)
        except ApplicationNotFound:
            return None

    def open_of(self, applicant: bytes) -> str | None:
        raw = self.db.get(b"p/" + applicant)
        return None if raw is None else "0x" + raw.hex()

    def list(self, state: str | None = None, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        for _, raw_id in self.db.iterator(start=b"o/" + (after + 1).to_bytes(8, "big"), stop=b"o0"):
            rec = self.get("0x" + raw_id.hex())
            if state is None or rec["state"] == state:
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    def in_state(self, state: str) -> Iterator[dict[str, Any]]:
        for _, raw in self.db.iterator(prefix=b"a/"):
            rec = json.loads(raw)
            if rec["state"] == state:
                yield rec

    def next_nonce(self) -> int:
        raw = self.db.get(b"m/nonce")
        return 0 if raw is None else int.from_bytes(raw, "big")

    # -- writes: each one synced batch ---------------------------------------------------------

    def add(self, app: Application, received_ms: int) -> dict[str, Any]:
        app_id = app.id
        if self.find(app_id) is not None:
            raise ApplicationReplay(f"application {app_id} was already received", app_id)
        open_id = self.open_of(app.applicant)
        if open_id is not None:
            raise ApplicationPending(f"the applicant already has an open application {open_id}", open_id)
        raw_seq = self.db.get(b"m/seq")
        seq = 1 if raw_seq is None else int.from_bytes(raw_seq, "big")
        rec = {**app.to_json(), "id": app_id, "seq": seq, "received_ms": received_ms, "state": PENDING,
               "reason": None, "commitment": None, "attest": []}
        with self.db.write_batch(transaction=True, sync=True) as wb:
            wb.put(_app_key(app_id), json.dumps(rec).encode())
            wb.put(b"o/" + seq.to_bytes(8, "big"), app.digest)
            wb.put(b"p/" + app.applicant, app.digest)
            wb.put(b"m/seq", (seq + 1).to_bytes(8, "big"))
        return rec

    def update(self, rec: dict[str, Any], *, next_nonce: int | None = None) -> None:
        """Write a changed record (and the issuer's next nonce) in one synced batch."""
        applicant = bytes.fromhex(rec["applicant"][2:])
        with self.db.write_batch(transaction=True, sync=True) as wb:
            wb.put(_app_key(rec["id"]), json.dumps(rec).encode())
            if rec["state"] in OPEN:
                wb.put(b"p/" + applicant, bytes.fromhex(rec["id"][2:]))
            elif self.open_of(applicant) == rec["id"]:
                wb.delete(b"p/" + applicant)
            if next_nonce is not None:
                wb.put(b"m/nonce", next_nonce.to_bytes(8, "big"))

    def transition(self, app_id: str, allowed: tuple[str, ...], new_state: str,
                   **changes: Any) -> dict[str, Any]:
        rec = self.get(app_id)
        if rec["state"] not in allowed:
            raise BadTransition(f"application {app_id} is {rec['state']}; this needs {' or '.join(allowed)}")
        rec.update(changes, state=new_state)
        self.update(rec)
        return rec

    def erase(self, app_id: str) -> dict[str, Any]:
        """Delete what the applicant sent (ciphertext, signature, topics); keep the id and its history."""
        return self.transition(app_id, (REJECTED, WITHDRAWN), ERASED, ciphertext=None, signature=None)

    # -- travel-rule data: ciphertext only, named by its hash ---------------------------------

    def put_travel(self, ref: bytes, ciphertext: bytes) -> None:
        """Store once (a resend of the same ciphertext is the same record), synced before the answer."""
        if self.db.get(b"t/" + ref) is None:
            self.db.put(b"t/" + ref, ciphertext, sync=True)

    def get_travel(self, ref: bytes) -> bytes | None:
        return self.db.get(b"t/" + ref)
