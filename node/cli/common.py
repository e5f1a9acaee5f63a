"""What every `finchain` command shares: the error type, output, passwords and signing keys."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from node.client.contracts import ContractError, EstimateFailed
from node.client.keystore import Keystore
from node.client.sdk import Client
from node.config import load_key
from node.types.crypto import PrivateKey, to_checksum_address

DEFAULT_RPC = os.environ.get("FINCHAIN_RPC", "http://127.0.0.1:8545")
DEFAULT_KEYSTORE = Path(os.environ.get("FINCHAIN_KEYSTORE", Path.home() / ".finchain" / "keystore"))


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2) if not isinstance(obj, str) else obj)


def password(args: argparse.Namespace, confirm: bool = False) -> str:
    if getattr(args, "password_file", None):
        return Path(args.password_file).read_text().rstrip("\n")
    env = os.environ.get("FINCHAIN_PASSWORD")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise CliError("no password: use --password-file or FINCHAIN_PASSWORD")
    pw = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != pw:
        raise CliError("passwords do not match")
    return pw


def signing_key(args: argparse.Namespace) -> PrivateKey:
    if args.key_file:
        return load_key(Path(args.key_file))
    if not args.sender:
        raise CliError("say who pays: --from NAME|ADDRESS (keystore) or --key-file FILE")
    secret = Keystore(Path(args.keystore)).export_key(args.sender, password(args))
    return PrivateKey(secret)


def check_risk(risk: dict[str, Any], accept_risk: bool) -> None:
    """The CLI's rule for the risk block of a quote: blocked is refused, high needs --accept-risk."""
    tier = risk.get("tier")
    warnings = ", ".join(risk.get("warnings", [])) or "none"
    if tier == "blocked":
        raise CliError(f"refused: the risk tier is blocked ({warnings}); nothing was sent")
    if tier == "high" and not accept_risk:
        raise CliError(f"the risk tier is high ({warnings}): pass --accept-risk to send it anyway; nothing was sent")


def show_risk(risk: dict[str, Any]) -> str:
    """One line for people: the tier, the price impact, the health factor and the warnings."""
    parts = [f"risk: {risk.get('tier')}"]
    if "price_impact_pct" in risk:
        parts.append(f"price impact {risk['price_impact_pct']}%")
    if risk.get("health_factor_after"):
        parts.append(f"health factor after {int(risk['health_factor_after']) / 10**18:.3f}")
    for o in risk.get("oracle", []):
        if o["stale"]:
            parts.append(f"oracle price of {o['asset']} stale (age {o['age_s']} s)")
    if risk.get("warnings"):
        parts.append("warnings: " + ", ".join(risk["warnings"]))
    return "; ".join(parts)


def resolve_contract(names: dict[str, str], text: str, what: str) -> str:
    """An address, or the name of a genesis contract (case does not matter: FUSD is fusd)."""
    if text.startswith("0x"):
        return text
    found = names.get(text.lower())
    if found is None:
        raise CliError(f"{what}: {text!r} is neither an address nor a genesis contract ({', '.join(sorted(names))})")
    return found


def send_call(client: Client, args: argparse.Namespace, contract: str, method: str, call_args: list[Any]) -> Any:
    """Sign with the command's key, send after the node's estimate, wait; a refusal or failure is a CliError."""
    try:
        answer = client.call_contract(signing_key(args), contract, method, call_args, timeout=args.timeout)
    except EstimateFailed as exc:
        raise CliError(f"{exc.what} would fail: {exc.reason} (nothing was sent)") from None
    except ContractError as exc:
        raise CliError(str(exc)) from None
    receipt = answer["receipt"]
    if receipt["status"] != "success":
        raise CliError(f"transaction {answer['hash']} failed: {receipt['error'] or 'unknown error'}")
    return answer


def ensure_allowance(client: Client, args: argparse.Namespace, token: str, spender: str, amount: int) -> None:
    """Approve `spender` for `amount` of `token` when the sender's allowance is short (a transaction)."""
    owner = to_checksum_address(signing_key(args).address)
    current = client.contract_call(token, "allowance", [owner, spender])
    if current["status"] != "success" or int(current["output"]) < amount:
        send_call(client, args, token, "approve", [spender, str(amount)])
