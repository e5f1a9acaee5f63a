"""What every `finchain` command shares: the error type, output, passwords and signing keys."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from node.client.keystore import Keystore
from node.config import load_key
from node.types.crypto import PrivateKey

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
