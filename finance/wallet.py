"""The wallet side of registration: apply to an issuer, read claims, disclose and verify one field.

The wallet salts the identity document itself and keeps the salted copy in its identity
folder (default ~/.finchain/identity, one file per application, 0600), written before the
application is sent: the salts never need to come back from the issuer, which keeps only
ciphertext. A disclosure is made from the kept copy whose root is the on-chain commitment.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from finance.errors import BadDocument, ClaimInvalid
from finance.identity.commitment import SaltedDocument
from finance.identity.disclosure import Disclosure, Predicate, Verified, create_disclosure, verify_disclosure
from finance.kyc.envelope import build_application, compute_withdraw_digest
from finance.registry import Registry
from node.client.sdk import Client, RpcCallError
from node.types.crypto import PrivateKey, parse_address, to_checksum_address

DEFAULT_WALLET_DIR = Path(os.environ.get("FINCHAIN_IDENTITY_DIR", Path.home() / ".finchain" / "identity"))
DEFAULT_TOPIC = "kyc.basic"


class IssuerClient(Client):
    """JSON-RPC to a KYC issuer service; `token` (the service's admin_token) opens the operator methods."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        super().__init__(url, timeout, {"Authorization": f"Bearer {token}"} if token else None)

    def info(self) -> dict[str, Any]:
        return self.call("kyc_info")

    def application(self, app_id: str) -> dict[str, Any]:
        return self.call("kyc_status", app_id)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def apply(issuer_url: str, document: dict[str, Any], key: PrivateKey, *, topics: list[str] | None = None,
          wallet_dir: Path = DEFAULT_WALLET_DIR, now_ms: int | None = None) -> dict[str, Any]:
    """Salt `document`, keep the salted copy, send it encrypted to the issuer; the issuer's summary.

    A resend of the same application (after a lost answer) is answered with its status.
    """
    issuer = IssuerClient(issuer_url)
    info = issuer.info()
    salted = SaltedDocument.create(document)
    topics = topics or [DEFAULT_TOPIC]
    app = build_application(key, parse_address(info["issuer"]), bytes.fromhex(info["public_key"][2:]),
                            tuple(topics), salted.to_json(), now_ms if now_ms is not None else int(time.time() * 1000))
    record = {"subject": to_checksum_address(key.address), "issuer": info["issuer"], "issuer_url": issuer_url,
              "identity": info["identity"], "application_id": app.id, "topics": topics,
              "commitment": "0x" + salted.root().hex(), "document": salted.to_json()}
    _write_private(document_path(wallet_dir, key.address, app.id), json.dumps(record, indent=2) + "\n")
    try:
        return issuer.call("kyc_submit", app.to_json())
    except RpcCallError as exc:
        if exc.reason == "application_replay":
            return issuer.application(app.id)
        raise


def withdraw(issuer_url: str, key: PrivateKey, app_id: str) -> dict[str, Any]:
    signature = key.sign(compute_withdraw_digest(bytes.fromhex(app_id.removeprefix("0x"))))
    return IssuerClient(issuer_url).call("kyc_withdraw", app_id, "0x" + signature.hex())


def document_path(wallet_dir: Path, subject: bytes, app_id: str) -> Path:
    return wallet_dir / f"{to_checksum_address(subject).lower()}-{app_id[2:18]}.json"


def kept_documents(wallet_dir: Path, subject: bytes) -> list[dict[str, Any]]:
    prefix = to_checksum_address(subject).lower() + "-"
    out = []
    for path in sorted(wallet_dir.glob(prefix + "*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def claims(client: Client, identity: str, address: str, topics: list[str]) -> dict[str, Any]:
    """The claims of `address` for `topics`, and the registry's verdict on all of them."""
    registry = Registry(client, identity)
    subject = to_checksum_address(parse_address(address))
    found = {t: registry.get_claim(subject, t) for t in topics}
    verdict = registry.check(subject, topics)
    return {"address": subject, "verified": verdict == "", "reason": verdict or None, "claims": found}


def disclose(key: PrivateKey, field: str, *, client: Client, identity: str, topic: str = DEFAULT_TOPIC,
             challenge: str = "", predicate: Predicate | None = None, wallet_dir: Path = DEFAULT_WALLET_DIR,
             document: SaltedDocument | None = None) -> Disclosure:
    """A signed disclosure of `field`, made from the kept document the on-chain claim commits to."""
    if document is None:
        claim = Registry(client, identity).get_claim(to_checksum_address(key.address), topic)
        if claim.get("status") != "ok":
            raise ClaimInvalid(str(claim.get("status", "not_verified")),
                               f"no valid {topic} claim for {to_checksum_address(key.address)}: "
                               f"{claim.get('status', 'not_verified')}")
        matching = [d for d in kept_documents(wallet_dir, key.address)
                    if str(d.get("commitment", "")).lower() == str(claim.get("commitment", "")).lower()]
        if not matching:
            raise BadDocument(f"no document kept in {wallet_dir} matches the commitment of the {topic} claim")
        document = SaltedDocument.from_json(matching[-1]["document"])
    return create_disclosure(document, field, key, topic, challenge, predicate)


def verify(client: Client, identity: str, proof: Any, challenge: str | None = None) -> Verified:
    """Check a disclosure (its JSON) against the subject's claim on chain; raises the refusal's error."""
    d = Disclosure.from_json(proof)
    claim = Registry(client, identity).get_claim(to_checksum_address(d.subject), d.topic)
    return verify_disclosure(d, claim, challenge)
