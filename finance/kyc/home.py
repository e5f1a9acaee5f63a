"""The issuer service's home folder: config.json, its secp256k1 key, the operator token, its LevelDB.

    HOME/config.json      listen address, node RPC URL, registry address, topics, claim lifetime
    HOME/issuer_key.json  the issuer's key (0600): signs attest transactions, decrypts applications
    HOME/admin_token      the operator's bearer token (0600) for list/show/approve/reject/erase
    HOME/data/            LevelDB of applications (ciphertext only)
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.types.crypto import AddressError, PrivateKey, parse_address, to_checksum_address

DEFAULT_PORT = 8650
DEFAULT_CLAIM_BLOCKS = 1_000_000
DEFAULT_MAX_AGE_S = 600
DEFAULT_TOPICS = ("kyc.basic", "country")


class IssuerHomeError(Exception):
    """The home folder is missing, incomplete or holds bad settings."""


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    home: Path
    name: str
    host: str
    port: int
    node_rpc: str
    identity: str
    topics: tuple[str, ...]
    claim_blocks: int
    max_age_s: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def key(self) -> PrivateKey:
        try:
            return PrivateKey.from_hex(json.loads((self.home / "issuer_key.json").read_text())["private_key"])
        except FileNotFoundError:
            raise IssuerHomeError(f"{self.home}/issuer_key.json not found: `finchain kyc-issuer init` first") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise IssuerHomeError(f"{self.home}/issuer_key.json: not a key file ({exc})") from None

    def admin_token(self) -> str:
        try:
            return (self.home / "admin_token").read_text().strip()
        except FileNotFoundError:
            raise IssuerHomeError(f"{self.home}/admin_token not found") from None


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def init_issuer_home(home: Path, *, node_rpc: str, identity: str, name: str = "KYC issuer",
                     host: str = "127.0.0.1", port: int = DEFAULT_PORT, topics: tuple[str, ...] = DEFAULT_TOPICS,
                     claim_blocks: int = DEFAULT_CLAIM_BLOCKS, max_age_s: int = DEFAULT_MAX_AGE_S,
                     key: PrivateKey | None = None, overwrite: bool = False) -> IssuerConfig:
    if (home / "config.json").exists() and not overwrite:
        raise IssuerHomeError(f"{home} already holds an issuer service; pass --force to overwrite it")
    try:
        identity = to_checksum_address(parse_address(identity))
    except AddressError as exc:
        raise IssuerHomeError(f"--identity: {exc}") from None
    if not topics or claim_blocks < 1 or max_age_s < 1 or not 0 < port < 65536:
        raise IssuerHomeError("need at least one topic, claim blocks >= 1, max age >= 1 s and a port in 1..65535")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = key or PrivateKey.generate()
    _write_private(home / "issuer_key.json", json.dumps({
        "address": to_checksum_address(key.address), "pub_key": "0x" + key.public_key.hex(),
        "private_key": "0x" + key.secret.hex()}, indent=2) + "\n")
    _write_private(home / "admin_token", secrets.token_hex(32) + "\n")
    cfg = {"name": name, "host": host, "port": port, "node_rpc": node_rpc, "identity": identity,
           "topics": list(topics), "claim_blocks": claim_blocks, "max_age_s": max_age_s}
    _write_private(home / "config.json", json.dumps(cfg, indent=2) + "\n")
    return load_issuer_home(home)


def load_issuer_home(home: Path) -> IssuerConfig:
    try:
        raw: Any = json.loads((home / "config.json").read_text())
    except FileNotFoundError:
        raise IssuerHomeError(f"{home}/config.json not found: `finchain kyc-issuer init --home {home}` first") from None
    except json.JSONDecodeError as exc:
        raise IssuerHomeError(f"{home}/config.json: not JSON ({exc})") from None
    try:
        return IssuerConfig(home, str(raw["name"]), str(raw["host"]), int(raw["port"]), str(raw["node_rpc"]),
                            str(raw["identity"]), tuple(str(t) for t in raw["topics"]), int(raw["claim_blocks"]),
                            int(raw["max_age_s"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise IssuerHomeError(f"{home}/config.json: missing or bad setting ({exc})") from None
