"""A one-validator node with an identity registry and a funded, registered KYC issuer service home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.kyc import IssuerProcess
from devnet.process import NodeProcess, free_port
from finance.kyc.home import init_issuer_home
from node.client.sdk import Client
from node.types.crypto import PrivateKey, to_checksum_address
from tests.node.helpers import COIN, key
from tests.node.nodes import make_node_home
from vm.contracts import source

ADMIN = key(0)
TOPICS = ["kyc.basic", "country"]


@dataclass
class KycWorld:
    node: NodeProcess
    client: Client
    identity: str
    issuer_home: Path
    issuer_key: PrivateKey
    tmp: Path

    def service(self) -> IssuerProcess:
        return IssuerProcess(self.issuer_home)


def start_world(tmp: Path) -> KycWorld:
    node = make_node_home(tmp, funded=10)
    node.start()
    node.wait_ready()
    client = Client(node.rpc_url)
    identity = client.deploy(ADMIN, source("identity"), [[], []])["contract_address"]
    issuer_key = PrivateKey((424242).to_bytes(32, "big"))
    home = tmp / "issuer"
    init_issuer_home(home, node_rpc=node.rpc_url, identity=identity, port=free_port(), key=issuer_key,
                     topics=tuple(TOPICS))
    client.transfer(ADMIN, to_checksum_address(issuer_key.address), 10 * COIN, wait=True)
    answer = client.call_contract(ADMIN, identity, "add_issuer",
                                  [to_checksum_address(issuer_key.address), "Test KYC", TOPICS])
    assert answer["receipt"]["status"] == "success", answer
    return KycWorld(node, client, identity, home, issuer_key, tmp)


def attestations(client: Client, issuer: str) -> list[dict[str, Any]]:
    """Every ClaimAttested event the issuer's committed transactions emitted, read from its history."""
    found, cursor = [], None
    for _ in range(100):
        page = client.call("account_txs", issuer, 100, cursor)
        for item in page["txs"]:
            if item["receipt"]["status"] == "success":
                found += [e for e in item["receipt"]["events"] if e["name"] == "ClaimAttested"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return found
