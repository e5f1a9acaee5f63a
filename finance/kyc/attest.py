"""Approval: from an application to its attest transactions on chain, exactly once, across crashes.

The order that makes it crash-safe:
1. before signing, ask the registry whether the ref of each topic was already used
   (`claim_by_ref`): if so that topic is done, nothing is signed for it;
2. sign every attest transaction and write the signed bytes with the record (state
   approving) in one synced batch, before anything is sent;
3. send the stored bytes; `settle` (run again after every restart) resends the same
   bytes until each is committed, and marks the record attested or failed.
A new transaction for the same topic is signed only when the stored one can provably never
commit (its expiry height passed, or its nonce was taken) and the ref is still unused. The
registry refuses a ref used twice (`ref_used`), so even a bug here could not attest twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from typing import Any

from finance.errors import AttestFailed, BadDocument, BadTransition
from finance.identity.commitment import SaltedDocument
from finance.kyc.envelope import compute_ref, decrypt_with
from finance.kyc.store import APPROVING, ATTESTED, FAILED, PENDING, ApplicationStore
from finance.registry import AsyncRegistry
from node.client.contracts import EstimateFailed, call_estimate, method_values, suggested_gas
from node.client.sdk import AsyncClient, RpcCallError, TransportError, build_call
from node.types.crypto import PrivateKey, to_checksum_address

log = logging.getLogger(__name__)

TX_WINDOW_BLOCKS = 100  # an attest transaction not committed this many blocks after signing can never be
FAILPOINTS_ENV = "FINCHAIN_KYC_FAILPOINTS"


def failpoint(name: str) -> None:
    """Crash here (SIGKILL, no cleanup) when the kill test names this point in the environment."""
    if name in os.environ.get(FAILPOINTS_ENV, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def claim_value(topic: str, fields: dict[str, str]) -> str:
    """What a claim says: the document's field of the topic's name (country: "DE"), else "verified"."""
    return fields.get(topic, "verified")


def open_document(key: PrivateKey, rec: dict[str, Any]) -> SaltedDocument:
    """Decrypt an application (its JSON record) in memory into its salted document."""
    plain = decrypt_with(key, bytes.fromhex(rec["applicant"][2:]), bytes.fromhex(rec["ciphertext"][2:]))
    try:
        return SaltedDocument.from_json(json.loads(plain))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadDocument("the decrypted application is not a JSON salted document") from None


class Attester:
    def __init__(self, store: ApplicationStore, key: PrivateKey, client: AsyncClient, identity: str,
                 claim_blocks: int) -> None:
        self.store = store
        self.key = key
        self.issuer = to_checksum_address(key.address)
        self.client = client
        self.identity = identity
        self.registry = AsyncRegistry(client, identity)
        self.claim_blocks = claim_blocks
        self.lock = asyncio.Lock()

    async def approve(self, app_id: str, topics: list[str] | None = None) -> dict[str, Any]:
        async with self.lock:
            rec = self.store.get(app_id)
            if rec["state"] not in (PENDING, FAILED):
                raise BadTransition(f"application {app_id} is {rec['state']}; approve needs pending or failed")
            document = open_document(self.key, rec)
            fields = document.plain()
            wanted = rec["topics"] if topics is None else topics
            if not wanted or not set(wanted) <= set(rec["topics"]):
                raise BadTransition(f"approve topics {wanted} must be some of the requested {rec['topics']}")
            commitment = "0x" + document.root().hex()
            height = int((await self.client.status())["height"])
            nonce = max(self.store.next_nonce(), await self.client.next_nonce(self.issuer))
            entries = []
            for topic in wanted:
                ref = compute_ref(bytes.fromhex(app_id[2:]), topic)
                entry: dict[str, Any] = {"topic": topic, "value": claim_value(topic, fields),
                                         "ref": "0x" + ref.hex(), "expiry_height": height + self.claim_blocks}
                if await self.registry.claim_by_ref(self.issuer, ref):
                    entries.append({**entry, "status": "committed", "hash": None, "raw": None, "height": None})
                    continue
                entries.append(await self._sign(entry, commitment, rec["applicant"], nonce, height))
                nonce += 1
            rec.update(state=APPROVING, commitment=commitment, attest=entries, reason=None)
            self.store.update(rec, next_nonce=nonce)
            failpoint("after_store")
            for entry in entries:
                if entry["raw"] is not None:
                    await self._send(entry)
            failpoint("after_send")
            return rec

    async def _sign(self, entry: dict[str, Any], commitment: str, subject: str, nonce: int,
                    height: int) -> dict[str, Any]:
        args = [subject, entry["topic"], entry["value"], commitment, entry["expiry_height"], entry["ref"]]
        values = method_values(await self.client.interface(self.identity), "attest", args)
        try:
            gas = suggested_gas(await self.client.estimate_gas(
                call_estimate(self.issuer, self.identity, "attest", values, 0)), "attest")
        except EstimateFailed as exc:
            raise AttestFailed(f"the registry refuses the attestation of {entry['topic']}: {exc.reason}") from None
        tx = build_call(self.key, await self.client.chain_id(), nonce, self.identity, "attest", values,
                        gas_limit=gas, expiry_height=height + TX_WINDOW_BLOCKS)
        return {**entry, "status": "sent", "raw": "0x" + tx.raw.hex(), "hash": "0x" + tx.hash.hex(),
                "nonce": nonce, "tx_expiry": height + TX_WINDOW_BLOCKS, "height": None, "error": None,
                "commitment": commitment}

    async def _send(self, entry: dict[str, Any]) -> str | None:
        """Send the stored bytes; the node's refusal reason, or None when it took them (or knew them)."""
        try:
            await self.client.send_raw(bytes.fromhex(entry["raw"][2:]))
        except RpcCallError as exc:
            return exc.reason
        return None

    async def settle_all(self) -> None:
        for rec in list(self.store.in_state(APPROVING)):
            async with self.lock:
                rec = self.store.get(rec["id"])
                if rec["state"] == APPROVING:
                    await self._settle(rec)

    async def _settle(self, rec: dict[str, Any]) -> None:
        changed = False
        for entry in rec["attest"]:
            if entry["status"] != "sent":
                continue
            changed |= await self._settle_entry(rec, entry)
        if all(e["status"] != "sent" for e in rec["attest"]):
            failed = [e for e in rec["attest"] if e["status"] == "failed"]
            rec["state"] = FAILED if failed else ATTESTED
            rec["reason"] = "; ".join(f"{e['topic']}: {e['error']}" for e in failed) or None
            changed = True
        if changed:
            failpoint("before_mark")
            self.store.update(rec)

    async def _settle_entry(self, rec: dict[str, Any], entry: dict[str, Any]) -> bool:
        answer = await self.client.get_tx(entry["hash"])
        if answer["status"] == "committed":
            receipt = answer["receipt"]
            entry["height"] = answer["height"]
            if receipt["status"] == "success":
                entry["status"] = "committed"
            elif await self.registry.claim_by_ref(self.issuer, bytes.fromhex(entry["ref"][2:])):
                entry["status"] = "committed"  # an earlier transaction of this ref landed (ref_used)
            else:
                entry["status"], entry["error"] = "failed", receipt["error"] or "reverted"
            return True
        if answer["status"] == "pending":
            return False
        refused = await self._send(entry)
        if refused is None or refused == "already_known":
            return False
        # The stored bytes can no longer commit if they expired or their nonce was used: but first
        # make sure they did not commit in the meantime, and that no other transaction used the ref.
        if (await self.client.get_tx(entry["hash"]))["status"] != "unknown":
            return False
        height = int((await self.client.status())["height"])
        if refused not in ("expired", "nonce_too_low") and height <= entry["tx_expiry"]:
            log.warning("attest %s of %s refused by the node: %s; retrying", entry["topic"], rec["id"], refused)
            return False
        if await self.registry.claim_by_ref(self.issuer, bytes.fromhex(entry["ref"][2:])):
            entry["status"] = "committed"
            return True
        nonce = max(self.store.next_nonce(), await self.client.next_nonce(self.issuer))
        try:
            fresh = await self._sign(entry, entry["commitment"], rec["applicant"], nonce, height)
        except AttestFailed as exc:
            entry["status"], entry["error"] = "failed", exc.message
            return True
        entry.update(fresh)
        self.store.update(rec, next_nonce=nonce + 1)  # stored before it is sent, as in approve
        await self._send(entry)
        return False

    async def run(self, stop: asyncio.Event, poll: float = 0.3) -> None:
        """Settle approving applications until `stop`; a node that cannot be reached is retried."""
        while not stop.is_set():
            try:
                await self.settle_all()
            except (TransportError, RpcCallError) as exc:
                log.warning("settling attestations: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), poll)
            except TimeoutError:
                pass
