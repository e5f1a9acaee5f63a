"""`finchain kyc-issuer ...` (the issuer's operator), `finchain kyc ...` (the wallet), `finchain custodian ...`
and `finchain feedback ...`, docs/finance.md.

Operator commands talk to the running service with the admin token of its home folder;
`show` fetches the ciphertext and decrypts it here, with the key in the home folder.
Refusals print one line with their reason code and exit with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from finance import custodian, feedback, wallet
from finance.errors import FinanceError
from finance.identity.commitment import SaltedDocument
from finance.identity.disclosure import Predicate
from finance.kyc.envelope import decrypt_with
from finance.kyc.home import (
    DEFAULT_CLAIM_BLOCKS,
    DEFAULT_PORT,
    DEFAULT_TOPICS,
    IssuerConfig,
    IssuerHomeError,
    init_issuer_home,
    load_issuer_home,
)
from finance.monitor.cli import add_monitor_commands
from node.cli.common import DEFAULT_KEYSTORE, DEFAULT_RPC, CliError, print_json, signing_key
from node.client.sdk import Client
from node.types.crypto import PrivateKey, to_checksum_address

TERMINAL = ("attested", "failed")


def _operator(cfg: IssuerConfig) -> wallet.IssuerClient:
    host = "127.0.0.1" if cfg.host in ("0.0.0.0", "") else cfg.host
    return wallet.IssuerClient(f"http://{host}:{cfg.port}", cfg.admin_token())


def _import_key(path: str | None) -> PrivateKey | None:
    """An existing key (a devnet's KYC issuer account) instead of a fresh one."""
    if path is None:
        return None
    try:
        return PrivateKey.from_hex(json.loads(Path(path).read_text())["private_key"])
    except OSError as exc:
        raise CliError(f"cannot read --key-file {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"--key-file {path}: not a key file ({exc})") from None


def _topics(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def cmd_issuer(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if args.issuer_cmd == "init":
        cfg = init_issuer_home(home, node_rpc=args.node, identity=args.identity, name=args.name, host=args.host,
                               port=args.port, topics=tuple(_topics(args.topics) or DEFAULT_TOPICS),
                               claim_blocks=args.claim_blocks, key=_import_key(args.key_file),
                               overwrite=args.force)
        key = cfg.key()
        print_json({"home": str(home), "issuer": to_checksum_address(key.address),
                    "public_key": "0x" + key.public_key.hex(), "url": cfg.url, "topics": list(cfg.topics)})
        return
    cfg = load_issuer_home(home)
    if args.issuer_cmd == "serve":
        from finance.kyc.service import serve

        try:
            asyncio.run(serve(cfg))
        except KeyboardInterrupt:
            pass
        return
    op = _operator(cfg)
    if args.issuer_cmd == "list":
        print_json(op.call("kyc_list", args.state, 0, args.limit))
    elif args.issuer_cmd == "show":
        rec = op.call("kyc_get", args.id)
        out = {k: v for k, v in rec.items() if k not in ("ciphertext", "signature")}
        if rec["ciphertext"] is not None:
            plain = decrypt_with(cfg.key(), bytes.fromhex(rec["applicant"][2:]), bytes.fromhex(rec["ciphertext"][2:]))
            doc = SaltedDocument.from_json(json.loads(plain))
            out["document"] = doc.plain()
            out["document_commitment"] = "0x" + doc.root().hex()
        print_json(out)
    elif args.issuer_cmd == "approve":
        rec = op.call("kyc_approve", args.id, _topics(args.topics))
        deadline = time.monotonic() + args.timeout
        while args.wait and rec["state"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            rec = op.call("kyc_status", args.id)
        print_json(rec)
        if rec["state"] == "failed":
            raise CliError(f"attestation failed: {rec['reason']}")
        if args.wait and rec["state"] not in TERMINAL:
            raise CliError(f"not attested after {args.timeout}s (state {rec['state']}); the service keeps trying")
    elif args.issuer_cmd == "reject":
        print_json(op.call("kyc_reject", args.id, args.reason))
    elif args.issuer_cmd == "erase":
        print_json(op.call("kyc_erase", args.id))


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{what} {path}: not JSON ({exc})") from None


def _predicate(text: str | None) -> Predicate | None:
    if text is None:
        return None
    op, sep, value = text.partition(":")
    if not sep:
        raise CliError("--predicate: OP:VALUE, e.g. before:2008-01-01")
    return Predicate(op, value)


def cmd_kyc(args: argparse.Namespace) -> None:
    wallet_dir = Path(getattr(args, "wallet", wallet.DEFAULT_WALLET_DIR))
    if args.kyc_cmd == "apply":
        document = _read_json(args.document, "document")
        print_json(wallet.apply(args.issuer, document, signing_key(args), topics=_topics(args.topics),
                                wallet_dir=wallet_dir))
    elif args.kyc_cmd == "withdraw":
        print_json(wallet.withdraw(args.issuer, signing_key(args), args.id))
    elif args.kyc_cmd == "status":
        out = wallet.claims(Client(args.rpc), _identity(args), args.address, _topics(args.topics) or ["kyc.basic"])
        if args.issuer and args.id:
            out["application"] = wallet.IssuerClient(args.issuer).application(args.id)
        print_json(out)
    elif args.kyc_cmd == "disclose":
        doc = None
        if args.document:
            kept = _read_json(args.document, "salted document")
            doc = SaltedDocument.from_json(kept.get("document", kept) if isinstance(kept, dict) else kept)
        d = wallet.disclose(signing_key(args), args.field, client=Client(args.rpc), identity=_identity(args),
                            topic=args.topic, challenge=args.challenge, predicate=_predicate(args.predicate),
                            wallet_dir=wallet_dir, document=doc)
        print_json(d.to_json())
    elif args.kyc_cmd == "verify-disclosure":
        result = wallet.verify(Client(args.rpc), _identity(args), _read_json(args.proof, "proof"), args.challenge)
        print_json(result.to_json())


def cmd_custodian(args: argparse.Namespace) -> None:
    client = Client(args.rpc)
    if args.custodian_cmd == "pending-redemptions":
        print_json(custodian.pending_redemptions(client, args.coin, args.start, args.limit))
        return
    key = signing_key(args)
    if args.custodian_cmd == "mint":
        try:
            amount = int(args.amount)
        except ValueError:
            raise CliError(f"--amount: expected an integer of smallest units, got {args.amount!r}") from None
        if amount <= 0:
            raise CliError("--amount must be positive")
        print_json(custodian.mint(client, key, args.coin, args.to, amount, args.deposit_ref))
    else:
        print_json(custodian.settle(client, key, args.coin, args.id, args.bank_ref))


def cmd_feedback(args: argparse.Namespace) -> None:
    if not args.feedback:
        raise CliError("say which feedback contract: --feedback ADDRESS (or env FINCHAIN_FEEDBACK)")
    client = Client(args.rpc)
    if args.feedback_cmd == "give":
        print_json(feedback.give(client, signing_key(args), args.feedback, args.tx_hash, args.score, args.comment,
                                 args.comment_hash))
    else:
        print_json(feedback.show(client, args.feedback, args.service, args.ratings, args.start, args.limit))


def _identity(args: argparse.Namespace) -> str:
    if not args.identity:
        raise CliError("say which identity registry: --identity ADDRESS (or env FINCHAIN_IDENTITY)")
    return str(args.identity)


def add_finance_commands(sub: Any) -> None:
    rpc = argparse.ArgumentParser(add_help=False)
    rpc.add_argument("--rpc", default=DEFAULT_RPC, help="node JSON-RPC URL (env FINCHAIN_RPC)")
    rpc.add_argument("--identity", default=os.environ.get("FINCHAIN_IDENTITY"),
                     help="the identity registry's address (env FINCHAIN_IDENTITY)")
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--keystore", default=str(DEFAULT_KEYSTORE), help="keystore folder (env FINCHAIN_KEYSTORE)")
    signer.add_argument("--password-file", help="read the password from this file (or env FINCHAIN_PASSWORD)")
    signer.add_argument("--from", dest="sender", help="keystore name or address")
    signer.add_argument("--key-file", help="a plain key file (node key format; for devnets)")
    keys = argparse.ArgumentParser(add_help=False, parents=[signer])
    keys.add_argument("--wallet", default=str(wallet.DEFAULT_WALLET_DIR),
                      help="folder of kept salted documents (env FINCHAIN_IDENTITY_DIR)")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", required=True, help="the issuer service's home folder")

    p = sub.add_parser("kyc-issuer", help="run and operate a KYC issuer service")
    isub = p.add_subparsers(dest="issuer_cmd", required=True)
    c = isub.add_parser("init", parents=[home], help="create the service's home, key and admin token")
    c.add_argument("--node", default=DEFAULT_RPC, help="the node RPC URL the service sends attestations to")
    c.add_argument("--identity", required=True, help="the identity registry's address")
    c.add_argument("--name", default="KYC issuer")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=DEFAULT_PORT)
    c.add_argument("--topics", help=f"claim topics it attests, comma-separated (default {','.join(DEFAULT_TOPICS)})")
    c.add_argument("--claim-blocks", type=int, default=DEFAULT_CLAIM_BLOCKS, help="claims expire after this many")
    c.add_argument("--key-file", help="use this key file's key (node key format) instead of a new one")
    c.add_argument("--force", action="store_true")
    isub.add_parser("serve", parents=[home], help="run the service in the foreground")
    c = isub.add_parser("list", parents=[home], help="list applications")
    c.add_argument("--state", choices=("pending", "approving", "attested", "failed", "rejected", "withdrawn",
                                       "erased"))
    c.add_argument("--limit", type=int, default=100)
    for name, what in (("show", "decrypt and print one application"), ("approve", "attest one application"),
                       ("reject", "reject one application"), ("erase", "erase a rejected or withdrawn one")):
        c = isub.add_parser(name, parents=[home], help=what)
        c.add_argument("id")
        if name == "approve":
            c.add_argument("--topics", help="attest only these of the requested topics")
            c.add_argument("--no-wait", dest="wait", action="store_false", help="return once it is sent")
            c.add_argument("--timeout", type=float, default=30.0)
        if name == "reject":
            c.add_argument("--reason", default="")
    p.set_defaults(func=partial(run_guarded, cmd_issuer))

    p = sub.add_parser("kyc", help="register an identity, read claims, disclose one field")
    ksub = p.add_subparsers(dest="kyc_cmd", required=True)
    c = ksub.add_parser("apply", parents=[keys], help="send the identity document, encrypted, to an issuer")
    c.add_argument("--issuer", required=True, help="the issuer service's URL")
    c.add_argument("--document", required=True, help="identity document JSON (an object of string fields)")
    c.add_argument("--topics", help="claim topics asked for, comma-separated (default kyc.basic)")
    c = ksub.add_parser("withdraw", parents=[keys], help="withdraw a pending application")
    c.add_argument("id")
    c.add_argument("--issuer", required=True)
    c = ksub.add_parser("status", parents=[rpc], help="the claims of an address")
    c.add_argument("address")
    c.add_argument("--topics", help="comma-separated (default kyc.basic)")
    c.add_argument("--issuer", help="also show an application's state at this issuer (with --id)")
    c.add_argument("--id", help="the application id")
    c = ksub.add_parser("disclose", parents=[rpc, keys], help="print a disclosure proof of one field")
    c.add_argument("--field", required=True)
    c.add_argument("--topic", default="kyc.basic", help="the claim whose commitment it proves against")
    c.add_argument("--challenge", default="", help="the verifier's challenge, signed into the proof")
    c.add_argument("--predicate", help="OP:VALUE the verifier evaluates (before|after|equals|in), "
                                       "e.g. before:2008-01-01")
    c.add_argument("--document", help="a kept document file (default: the one the claim commits to)")
    c = ksub.add_parser("verify-disclosure", parents=[rpc], help="check a disclosure proof against the chain")
    c.add_argument("proof", help="the proof JSON file, or - for stdin")
    c.add_argument("--challenge", help="the challenge the proof must answer")
    p.set_defaults(func=partial(run_guarded, cmd_kyc))

    money = argparse.ArgumentParser(add_help=False, parents=[rpc])
    money.add_argument("--coin", required=True, help="the stablecoin's address (a devnet's fusd or feur)")
    p = sub.add_parser("custodian", help="mint against deposits and settle redemptions of a stablecoin")
    csub = p.add_subparsers(dest="custodian_cmd", required=True)
    c = csub.add_parser("mint", parents=[money, keys], help="mint to a verified holder against a deposit")
    c.add_argument("--to", required=True, help="the holder's address")
    c.add_argument("--amount", required=True, help="smallest units (10^18 per coin)")
    c.add_argument("--deposit-ref", required=True, help="the deposit's id in the custodian's books (used once)")
    c = csub.add_parser("pending-redemptions", parents=[money], help="redemptions waiting for a payout")
    c.add_argument("--start", type=int, default=0, help="first redemption id to look at")
    c.add_argument("--limit", type=int, default=100, help="ids to look at (at most 500)")
    c = csub.add_parser("settle", parents=[money, keys], help="record that a redemption was paid out")
    c.add_argument("id", type=int, help="the redemption id")
    c.add_argument("--bank-ref", required=True, help="the payout's id at the bank")
    p.set_defaults(func=partial(run_guarded, cmd_custodian))

    rated = argparse.ArgumentParser(add_help=False)
    rated.add_argument("--rpc", default=DEFAULT_RPC, help="node JSON-RPC URL (env FINCHAIN_RPC)")
    rated.add_argument("--feedback", default=os.environ.get("FINCHAIN_FEEDBACK"),
                       help="the feedback contract's address (a devnet's feedback; env FINCHAIN_FEEDBACK)")
    p = sub.add_parser("feedback", help="rate a service after a settled call, read a service's reputation")
    fsub = p.add_subparsers(dest="feedback_cmd", required=True)
    c = fsub.add_parser("give", parents=[rated, signer], help="rate the service a successful call of yours used")
    c.add_argument("tx_hash", help="the call's transaction hash (committed, sent by --from)")
    c.add_argument("--score", type=int, required=True, help="1 to 5")
    c.add_argument("--comment", default="", help="at most 280 bytes of text")
    c.add_argument("--comment-hash", help="instead of a comment, the 32-byte hash of one kept elsewhere")
    c = fsub.add_parser("show", parents=[rated], help="a service's reputation (count, sum, average, distribution)")
    c.add_argument("service", help="the service's (contract's) address")
    c.add_argument("--ratings", action="store_true", help="also list its ratings, in the order given")
    c.add_argument("--start", type=int, default=0, help="first rating to list")
    c.add_argument("--limit", type=int, default=20, help="ratings to list (at most 100)")
    p.set_defaults(func=partial(run_guarded, cmd_feedback))
    add_monitor_commands(sub)


def run_guarded(func: Any, args: argparse.Namespace) -> None:
    """Turn the financial layer's own errors into one-line CLI errors with their reason code."""
    try:
        func(args)
    except FinanceError as exc:
        reason = exc.to_data()["reason"]
        raise CliError(f"{exc.message} [{reason}]") from None
    except IssuerHomeError as exc:
        raise CliError(str(exc)) from None

