"""Generate the homes of a local devnet: keys from a printed seed, one genesis, distinct ports."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from node.config import init_home
from node.crypto import SECP256K1_N, PrivateKey, sha256, to_checksum_address
from node.daemon import node_id_of
from node.genesis import Genesis, GenesisAccount, GenesisValidator, Params, TimeoutsMs

DEFAULT_SEED = "finchain devnet"
COIN = 10**18
ACCOUNT_BALANCE = 1_000_000 * COIN


class DevnetError(Exception):
    """A devnet command cannot do what was asked; the message says why and what to do."""


def derive_key(seed: str, label: str, index: int) -> PrivateKey:
    """Deterministic keys: anyone with the printed seed gets the same accounts."""
    counter = 0
    while True:
        digest = sha256(f"{seed}/{label}/{index}/{counter}".encode())
        if 0 < int.from_bytes(digest, "big") < SECP256K1_N:
            return PrivateKey(digest)
        counter += 1


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True, slots=True)
class NodeEntry:
    name: str
    role: str
    rpc: str
    p2p: str
    node_id: str
    home: str
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    chain_id: str
    seed: str
    nodes: tuple[NodeEntry, ...]
    accounts: tuple[dict[str, str], ...]

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id,
            "seed": self.seed,
            "nodes": [asdict(n) for n in self.nodes],
            "accounts": list(self.accounts),
        }

    def save(self, home: Path) -> None:
        (home / "devnet.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @staticmethod
    def load(home: Path) -> Manifest:
        path = home / "devnet.json"
        try:
            d = json.loads(path.read_text())
            return Manifest(d["chain_id"], d.get("seed", ""), tuple(NodeEntry(**n) for n in d["nodes"]),
                            tuple(d["accounts"]))
        except FileNotFoundError as exc:
            raise DevnetError(f"no devnet at {home} (no devnet.json): run `finchain devnet up --home {home}`") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DevnetError(f"{path} is not a devnet manifest: {exc}") from exc

    def with_pids(self, pids: dict[str, int | None]) -> Manifest:
        nodes = tuple(NodeEntry(**{**asdict(n), "pid": pids.get(n.name, n.pid)}) for n in self.nodes)
        return Manifest(self.chain_id, self.seed, nodes, self.accounts)


def generate(
    home: Path,
    validators: int,
    non_validators: int = 0,
    *,
    seed: str = DEFAULT_SEED,
    chain_id: str = "finchain-devnet",
    base_port: int = 26600,
    block_time_ms: int = 1000,
    accounts: int = 10,
) -> Manifest:
    if validators < 1:
        raise DevnetError("a devnet needs at least one validator")
    total = validators + non_validators
    ports = []
    for i in range(total):
        rpc, p2p = base_port + 2 * i, base_port + 2 * i + 1
        for port in (rpc, p2p):
            if not port_is_free(port):
                raise DevnetError(f"port {port} on 127.0.0.1 is taken; choose another range with --base-port")
        ports.append((rpc, p2p))
    vkeys = [derive_key(seed, "validator", i) for i in range(total)]
    nkeys = [derive_key(seed, "node", i) for i in range(total)]
    funded = [derive_key(seed, "account", i) for i in range(accounts)]
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=int(time.time() * 1000),
        params=Params(timeouts=TimeoutsMs(commit=block_time_ms)),
        validators=tuple(GenesisValidator(vkeys[i].address, vkeys[i].public_key, 10, f"node{i}")
                         for i in range(validators)),
        accounts=tuple(GenesisAccount(k.address, ACCOUNT_BALANCE) for k in funded),
    )
    node_ids = [node_id_of(k.public_key) for k in nkeys]
    entries = []
    for i in range(total):
        peers = ",".join(f"{node_ids[j]}@127.0.0.1:{ports[j][1]}" for j in range(total) if j != i)
        node_home = home / f"node{i}"
        init_home(node_home, moniker=f"node{i}", rpc_port=ports[i][0], p2p_port=ports[i][1], genesis=genesis,
                  validator_key=vkeys[i], node_key=nkeys[i], peers=peers, overwrite=True)
        entries.append(NodeEntry(f"node{i}", "validator" if i < validators else "full",
                                 f"http://127.0.0.1:{ports[i][0]}", f"{node_ids[i]}@127.0.0.1:{ports[i][1]}",
                                 node_ids[i], str(node_home)))
    manifest = Manifest(chain_id, seed, tuple(entries),
                        tuple({"address": to_checksum_address(k.address), "private_key": "0x" + k.secret.hex()}
                              for k in funded))
    manifest.save(home)
    return manifest
