"""Generate the homes of a local devnet: keys from a printed seed, one genesis, distinct ports."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devnet.contracts import standard_calls, standard_contracts
from devnet.errors import DevnetError
from devnet.ports import PortPlan, plan_from_base, port_is_free
from node.config import init_home
from node.daemon import node_id_of
from node.types.crypto import SECP256K1_N, PrivateKey, sha256, to_checksum_address
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params, TimeoutsMs

__all__ = ["DevnetError", "Manifest", "NodeEntry", "derive_key", "disable_metrics", "generate", "node_urls",
           "port_is_free", "write_node_home", "write_testing_options"]

DEFAULT_SEED = "finchain devnet"
COIN = 10**18
ACCOUNT_BALANCE = 1_000_000 * COIN
ROLES = ("kyc_issuer", "custodian")

# The devnet's EIP-155 chain id: "fin" in ASCII, clear of the ids of public Ethereum networks.
DEVNET_ETH_CHAIN_ID = 0x66696E


def derive_key(seed: str, label: str, index: int) -> PrivateKey:
    """Deterministic keys: anyone with the printed seed gets the same accounts."""
    counter = 0
    while True:
        digest = sha256(f"{seed}/{label}/{index}/{counter}".encode())
        if 0 < int.from_bytes(digest, "big") < SECP256K1_N:
            return PrivateKey(digest)
        counter += 1


def node_urls(rpc: str) -> dict[str, str]:
    """A devnet node's metrics and explorer pages, both on its RPC port (docs/operations.md, section 10)."""
    return {"metrics": f"{rpc}/metrics", "explorer": f"{rpc}/explorer/"}


@dataclass(frozen=True, slots=True)
class NodeEntry:
    name: str
    role: str
    rpc: str
    p2p: str
    node_id: str
    home: str
    pid: int | None = None
    metrics: str = ""  # URL of GET /metrics
    explorer: str = ""  # URL of the explorer page the node serves


@dataclass(frozen=True, slots=True)
class Manifest:
    """devnet.json; the format is documented in devnet/README.md."""

    chain_id: str
    seed: str
    nodes: tuple[NodeEntry, ...]
    accounts: tuple[dict[str, str], ...]
    # {"pid", "control", "links": [{"from", "to", "listen", "target"}]}; None: nodes dial each other directly.
    proxy: dict[str, Any] | None = None
    contracts: dict[str, str] | None = None  # name -> address of the genesis contracts
    # role -> {"address", "private_key"}: funded accounts with a part in the financial flow ("kyc_issuer")
    roles: dict[str, dict[str, str]] | None = None
    monitor: dict[str, Any] | None = None  # {"url", "home", "pid"} of the AML monitor `devnet up` starts

    def to_json(self) -> dict:
        out = {
            "chain_id": self.chain_id,
            "seed": self.seed,
            "nodes": [asdict(n) for n in self.nodes],
            "accounts": list(self.accounts),
        }
        if self.proxy is not None:
            out["proxy"] = self.proxy
        if self.contracts:
            out["contracts"] = self.contracts
        if self.roles:
            out["roles"] = self.roles
        if self.monitor:
            out["monitor"] = self.monitor
        return out

    def save(self, home: Path) -> None:
        # Write then rename: a reader in another shell never sees half a manifest.
        tmp = home / "devnet.json.tmp"
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(home / "devnet.json")

    @staticmethod
    def load(home: Path) -> Manifest:
        path = home / "devnet.json"
        try:
            d = json.loads(path.read_text())
            # A manifest written before the URLs were recorded gets them from the RPC URL.
            nodes = tuple(NodeEntry(**{**node_urls(n["rpc"]), **n}) for n in d["nodes"])
            return Manifest(d["chain_id"], d.get("seed", ""), nodes,
                            tuple(d["accounts"]), d.get("proxy"), d.get("contracts"), d.get("roles"),
                            d.get("monitor"))
        except FileNotFoundError as exc:
            raise DevnetError(f"no devnet at {home} (no devnet.json): run `finchain devnet up --home {home}`") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DevnetError(f"{path} is not a devnet manifest: {exc}") from exc

    def with_pids(self, pids: dict[str, int | None]) -> Manifest:
        nodes = tuple(NodeEntry(**{**asdict(n), "pid": pids.get(n.name, n.pid)}) for n in self.nodes)
        return replace(self, nodes=nodes)

    def with_proxy_pid(self, pid: int | None) -> Manifest:
        if self.proxy is None:
            return self
        return replace(self, proxy={**self.proxy, "pid": pid})

    def all_ports(self) -> list[int]:
        ports = [int(n.rpc.rsplit(":", 1)[1]) for n in self.nodes] + [int(n.p2p.rsplit(":", 1)[1]) for n in self.nodes]
        if self.proxy is not None:
            ports += [int(link["listen"]) for link in self.proxy["links"]]
            if self.proxy.get("control"):
                ports.append(int(self.proxy["control"].rsplit(":", 1)[1]))
        return ports


def write_node_home(node_home: Path, name: str, genesis: Genesis, vkey: PrivateKey, nkey: PrivateKey,
                    rpc: int, p2p: int, peers: str, cors_origins: tuple[str, ...] = (),
                    recovery_workers: int = 0) -> None:
    init_home(node_home, moniker=name, rpc_port=rpc, p2p_port=p2p, genesis=genesis, validator_key=vkey,
              node_key=nkey, peers=peers, overwrite=True)
    # Peer exchange would hand out the real P2P addresses and let nodes bypass the fault proxy.
    cfg = node_home / "config" / "config.toml"
    text = cfg.read_text()
    if "pex = true" not in text:
        raise DevnetError(f"{cfg}: cannot find `pex = true` to turn peer exchange off (config format changed?)")
    text = text.replace("pex = true", "pex = false", 1)
    # The explorer page of one node shows the others (docs/explorer.md): they must answer its origin.
    if cors_origins:
        if 'cors_origins = ""' not in text:
            raise DevnetError(f"{cfg}: cannot find `cors_origins = \"\"` to set the devnet's origins")
        text = text.replace('cors_origins = ""', f'cors_origins = "{", ".join(cors_origins)}"', 1)
    if recovery_workers:
        if "\nrecovery_workers = 0\n" not in text:
            raise DevnetError(f"{cfg}: cannot find `recovery_workers = 0` (config format changed?)")
        text = text.replace("\nrecovery_workers = 0\n", f"\nrecovery_workers = {recovery_workers}\n", 1)
    cfg.write_text(text)


def disable_metrics(node_home: Path) -> None:
    """Turn `[metrics] enabled` off in a node's config.toml (to measure what metrics cost)."""
    cfg = node_home / "config" / "config.toml"
    head, table, tail = cfg.read_text().partition("\n[metrics]\n")
    if not table or "\nenabled = true\n" not in tail.split("\n[", 1)[0]:
        raise DevnetError(f"{cfg}: cannot find `[metrics] enabled = true` (config format changed?)")
    cfg.write_text(head + table + tail.replace("\nenabled = true\n", "\nenabled = false\n", 1))


def write_testing_options(node_home: Path, options: Mapping[str, bool | int]) -> None:
    """Append a `[testing]` table (test-only misbehaviour, docs/operations.md) to a node's config.toml."""
    lines = ["", "# Test-only misbehaviour (docs/operations.md): never in a real network.", "[testing]"]
    for key, value in options.items():
        if not key.isidentifier():
            raise DevnetError(f"testing option {key!r} is not a plain TOML key")
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            raise DevnetError(f"testing option {key}: only booleans and integers, got {value!r}")
    cfg = node_home / "config" / "config.toml"
    text = cfg.read_text()
    if "\n[testing]" in text:
        raise DevnetError(f"{cfg} already has a [testing] table")
    cfg.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def generate(
    home: Path,
    validators: int,
    non_validators: int = 0,
    *,
    seed: str = DEFAULT_SEED,
    chain_id: str = "finchain-devnet",
    base_port: int = 26600,
    ports: PortPlan | None = None,
    proxy: bool = True,
    block_time_ms: int = 1000,
    timeouts: TimeoutsMs | None = None,
    accounts: int = 10,
    contracts: bool = True,
    recovery_workers: int = 0,
) -> Manifest:
    """Write every node's home and devnet.json. With `proxy`, each node dials its peers at proxy ports.
    `recovery_workers`: each node's `[mempool] recovery_workers` (docs/operations.md)."""
    if validators < 1:
        raise DevnetError("a devnet needs at least one validator")
    total = validators + non_validators
    if ports is None:
        ports = plan_from_base(base_port, total, proxy)
    link_port = {(i, j): port for i, j, port in ports.links}
    vkeys = [derive_key(seed, "validator", i) for i in range(total)]
    nkeys = [derive_key(seed, "node", i) for i in range(total)]
    funded = [derive_key(seed, "account", i) for i in range(accounts)]
    # Accounts with a part in the financial flow, apart from the plain accounts so loads never use them.
    roles = {name: derive_key(seed, name, 0) for name in ROLES} if contracts and funded else {}
    deployed, addresses = (standard_contracts(funded[0].address, (roles["kyc_issuer"].address,),
                                              roles["custodian"].address)
                           if contracts and funded else ((), {}))
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=int(time.time() * 1000),
        params=Params(timeouts=timeouts or TimeoutsMs(commit=block_time_ms)),
        validators=tuple(GenesisValidator(vkeys[i].address, vkeys[i].public_key, 10, f"node{i}")
                         for i in range(validators)),
        accounts=tuple(GenesisAccount(k.address, ACCOUNT_BALANCE) for k in [*funded, *roles.values()]),
        contracts=deployed,
        eth_chain_id=DEVNET_ETH_CHAIN_ID,
        calls=standard_calls(funded[0].address, deployed, addresses) if deployed else (),
    )
    node_ids = [node_id_of(k.public_key) for k in nkeys]
    origins = tuple(f"http://{host}:{ports.rpc[i]}" for i in range(total) for host in ("127.0.0.1", "localhost"))
    entries = []
    for i in range(total):
        peers = ",".join(f"{node_ids[j]}@127.0.0.1:{link_port.get((i, j), ports.p2p[j])}"
                         for j in range(total) if j != i)
        node_home = home / f"node{i}"
        write_node_home(node_home, f"node{i}", genesis, vkeys[i], nkeys[i], ports.rpc[i], ports.p2p[i], peers,
                        origins, recovery_workers)
        rpc_url = f"http://127.0.0.1:{ports.rpc[i]}"
        entries.append(NodeEntry(f"node{i}", "validator" if i < validators else "full", rpc_url,
                                 f"{node_ids[i]}@127.0.0.1:{ports.p2p[i]}", node_ids[i], str(node_home),
                                 **node_urls(rpc_url)))
    proxy_json = None
    if ports.links:
        proxy_json = {
            "pid": None,
            "control": f"http://127.0.0.1:{ports.control}" if ports.control else None,
            "links": [{"from": i, "to": j, "listen": port, "target": ports.p2p[j]} for i, j, port in ports.links],
        }
    manifest = Manifest(chain_id, seed, tuple(entries),
                        tuple({"address": to_checksum_address(k.address), "private_key": "0x" + k.secret.hex()}
                              for k in funded), proxy_json, addresses or None,
                        {name: {"address": to_checksum_address(k.address), "private_key": "0x" + k.secret.hex()}
                         for name, k in roles.items()} or None)
    manifest.save(home)
    return manifest
