"""genesis.json: the network-wide starting point and parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.types import codec
from node.types.crypto import TAG_GENESIS, AddressError, parse_address, tagged_hash, to_checksum_address
from vm import AbiError, CheckError, contract_address
from vm.compiler import compile_contract
from vm.values import encode_value, from_json


class GenesisError(ValueError):
    """genesis.json is missing a field or holds a bad value; the message names it."""


@dataclass(frozen=True, slots=True)
class TimeoutsMs:
    propose: int = 1000
    propose_delta: int = 500
    prevote: int = 500
    prevote_delta: int = 250
    precommit: int = 500
    precommit_delta: int = 250
    commit: int = 1000  # pause after a commit before the next height: sets the block time


@dataclass(frozen=True, slots=True)
class Params:
    max_block_bytes: int = 8 * 1024 * 1024
    max_block_gas: int = 21_000 * 20_000
    max_block_txs: int = 20_000
    max_tx_bytes: int = 128 * 1024
    # The base fee's floor per gas: 1 gwei makes a transfer cost 21,000 gwei and a full block
    # 0.42 FIN at the floor, and the base fee compounds by 1/8 a full block from there.
    min_base_fee: int = 10**9
    timeouts: TimeoutsMs = field(default_factory=TimeoutsMs)


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    address: bytes
    pub_key: bytes
    power: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: bytes
    balance: int


@dataclass(frozen=True, slots=True)
class GenesisContract:
    """A contract deployed before block 1, as if `deployer` had sent a deploy transaction."""

    name: str
    deployer: bytes
    source: str
    args_json: tuple[Any, ...]  # constructor arguments as written in genesis.json
    args: bytes  # the same, in the VM value encoding

    @property
    def json(self) -> dict[str, Any]:
        return {"name": self.name, "deployer": to_checksum_address(self.deployer), "source": self.source,
                "args": list(self.args_json)}


def genesis_contract_addresses(contracts: tuple[GenesisContract, ...]) -> dict[str, bytes]:
    """Each genesis contract's address by its name: deploys run in order, each at its deployer's
    next nonce from 0 (node.state.contracts.deploy_genesis_contracts)."""
    nonces: dict[bytes, int] = {}
    out: dict[str, bytes] = {}
    for c in contracts:
        nonce = nonces.get(c.deployer, 0)
        out.setdefault(c.name, bytes(contract_address(c.deployer, nonce)))
        nonces[c.deployer] = nonce + 1
    return out


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    params: Params
    validators: tuple[GenesisValidator, ...]
    accounts: tuple[GenesisAccount, ...]
    contracts: tuple[GenesisContract, ...] = ()
    # The numeric chain id of the Ethereum envelope (EIP-155); 0: Ethereum-signed transactions refused.
    eth_chain_id: int = 0

    def to_list(self) -> list[Any]:
        t = self.params.timeouts
        return [
            self.chain_id,
            self.genesis_time_ms,
            [
                self.params.max_block_bytes,
                self.params.max_block_gas,
                self.params.max_block_txs,
                self.params.max_tx_bytes,
                codec.u256_to_bytes(self.params.min_base_fee),
                [t.propose, t.propose_delta, t.prevote, t.prevote_delta, t.precommit, t.precommit_delta, t.commit],
            ],
            [[v.address, v.pub_key, v.power, v.name] for v in self.validators],
            [[a.address, codec.u256_to_bytes(a.balance)] for a in self.accounts],
            *self._tail(),
        ]

    def _tail(self) -> list[Any]:
        # Optional trailing fields, present only when set so that older genesis files keep their hash;
        # the contracts list is written (possibly empty) whenever a field after it is.
        tail: list[Any] = []
        if self.contracts or self.eth_chain_id:
            tail.append([[c.name, c.deployer, c.source, c.args] for c in self.contracts])
        if self.eth_chain_id:
            tail.append(self.eth_chain_id)
        return tail

    def hash(self) -> bytes:
        return tagged_hash(TAG_GENESIS, codec.encode(self.to_list()))

    def to_json(self) -> dict[str, Any]:
        p = self.params
        return {
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "params": {
                "max_block_bytes": p.max_block_bytes,
                "max_block_gas": p.max_block_gas,
                "max_block_txs": p.max_block_txs,
                "max_tx_bytes": p.max_tx_bytes,
                "min_base_fee": str(p.min_base_fee),
                "timeouts_ms": {
                    "propose": p.timeouts.propose,
                    "propose_delta": p.timeouts.propose_delta,
                    "prevote": p.timeouts.prevote,
                    "prevote_delta": p.timeouts.prevote_delta,
                    "precommit": p.timeouts.precommit,
                    "precommit_delta": p.timeouts.precommit_delta,
                    "commit": p.timeouts.commit,
                },
            },
            "validators": [
                {
                    "name": v.name,
                    "address": to_checksum_address(v.address),
                    "pub_key": "0x" + v.pub_key.hex(),
                    "power": v.power,
                }
                for v in self.validators
            ],
            "accounts": [
                {"address": to_checksum_address(a.address), "balance": str(a.balance)} for a in self.accounts
            ],
        } | ({"contracts": [c.json for c in self.contracts]} if self.contracts else {}) | (
            {"eth_chain_id": self.eth_chain_id} if self.eth_chain_id else {})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @property
    def total_supply(self) -> int:
        return sum(a.balance for a in self.accounts)


def _int(obj: dict[str, Any], key: str, where: str, minimum: int = 0, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GenesisError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _address(text: Any, where: str) -> bytes:
    try:
        return parse_address(text)
    except AddressError as exc:
        raise GenesisError(f"{where}: {exc}") from exc


def genesis_from_json(data: Any) -> Genesis:
    if not isinstance(data, dict):
        raise GenesisError("genesis: expected a JSON object")
    chain_id = data.get("chain_id")
    if not isinstance(chain_id, str) or not 0 < len(chain_id.encode()) <= 64:
        raise GenesisError("genesis.chain_id: expected a string of 1 to 64 bytes (UTF-8)")
    p = data.get("params", {})
    if not isinstance(p, dict):
        raise GenesisError("genesis.params: expected an object")
    t = p.get("timeouts_ms", {})
    if not isinstance(t, dict):
        raise GenesisError("genesis.params.timeouts_ms: expected an object")
    d = TimeoutsMs()
    w = "params.timeouts_ms"
    timeouts = TimeoutsMs(
        propose=_int(t, "propose", w, 1, d.propose),
        propose_delta=_int(t, "propose_delta", w, 0, d.propose_delta),
        prevote=_int(t, "prevote", w, 1, d.prevote),
        prevote_delta=_int(t, "prevote_delta", w, 0, d.prevote_delta),
        precommit=_int(t, "precommit", w, 1, d.precommit),
        precommit_delta=_int(t, "precommit_delta", w, 0, d.precommit_delta),
        commit=_int(t, "commit", w, 0, d.commit),
    )
    dp = Params()
    params = Params(
        max_block_bytes=_int(p, "max_block_bytes", "params", 1024, dp.max_block_bytes),
        max_block_gas=_int(p, "max_block_gas", "params", 21_000, dp.max_block_gas),
        max_block_txs=_int(p, "max_block_txs", "params", 1, dp.max_block_txs),
        max_tx_bytes=_int(p, "max_tx_bytes", "params", 256, dp.max_tx_bytes),
        min_base_fee=_int(p, "min_base_fee", "params", 1, dp.min_base_fee),
        timeouts=timeouts,
    )
    validators = []
    raw_validators = data.get("validators")
    if not isinstance(raw_validators, list) or not raw_validators:
        raise GenesisError("genesis.validators: expected a non-empty array")
    for i, v in enumerate(raw_validators):
        where = f"validators[{i}]"
        if not isinstance(v, dict):
            raise GenesisError(f"{where}: expected an object")
        pub_hex = v.get("pub_key", "")
        try:
            pub_key = bytes.fromhex(str(pub_hex).removeprefix("0x"))
        except ValueError as exc:
            raise GenesisError(f"{where}.pub_key: expected hex") from exc
        if len(pub_key) != 33:
            raise GenesisError(f"{where}.pub_key: expected a 33-byte compressed secp256k1 key")
        name = v.get("name", "")
        validators.append(
            GenesisValidator(_address(v.get("address"), where), pub_key, _int(v, "power", where, 1), str(name))
        )
    if len({v.address for v in validators}) != len(validators):
        raise GenesisError("genesis.validators: duplicate address")
    accounts = []
    for i, a in enumerate(data.get("accounts", [])):
        where = f"accounts[{i}]"
        if not isinstance(a, dict):
            raise GenesisError(f"{where}: expected an object")
        balance = _int(a, "balance", where)
        if balance > codec.UINT256_MAX:
            raise GenesisError(f"{where}.balance: above 2^256-1")
        accounts.append(GenesisAccount(_address(a.get("address"), where), balance))
    if len({a.address for a in accounts}) != len(accounts):
        raise GenesisError("genesis.accounts: duplicate address")
    raw_contracts = data.get("contracts", [])
    if not isinstance(raw_contracts, list):
        raise GenesisError("genesis.contracts: expected an array")
    eth_chain_id = data.get("eth_chain_id", 0)
    if isinstance(eth_chain_id, bool) or not isinstance(eth_chain_id, int) or not 0 <= eth_chain_id < 2**53:
        raise GenesisError("genesis.eth_chain_id: expected an integer from 0 to 2^53-1 (0: Ethereum envelope off)")
    return Genesis(
        eth_chain_id=eth_chain_id,
        chain_id=chain_id,
        genesis_time_ms=_int(data, "genesis_time_ms", "genesis"),
        params=params,
        validators=tuple(validators),
        accounts=tuple(accounts),
        contracts=tuple(_contract(c, f"contracts[{i}]") for i, c in enumerate(raw_contracts)),
    )


def genesis_contract(name: str, deployer: bytes, source: str, args: list[Any]) -> GenesisContract:
    """Check the source and convert the JSON arguments by the constructor's declared types."""
    try:
        interface = compile_contract(source).interface
    except CheckError as exc:
        raise GenesisError(f"contract {name}: {exc}") from None
    ctor = interface.constructor
    params = ctor.params if ctor else ()
    wrong = ctor.arity_error(len(args)) if ctor else ("the contract has no constructor" if args else None)
    if wrong:
        raise GenesisError(f"contract {name}: {wrong}")
    try:
        values = [from_json(abi, v, f"contract {name} argument {pname}") for (pname, abi), v in zip(params, args,
                                                                                                   strict=False)]
    except AbiError as exc:
        raise GenesisError(str(exc)) from None
    return GenesisContract(name, deployer, source, tuple(args), encode_value(values))


def _contract(c: Any, where: str) -> GenesisContract:
    if not isinstance(c, dict):
        raise GenesisError(f"{where}: expected an object")
    name, source, args = c.get("name", ""), c.get("source"), c.get("args", [])
    if not isinstance(name, str) or not isinstance(source, str) or not isinstance(args, list):
        raise GenesisError(f"{where}: expected name (string), source (string) and args (array)")
    return genesis_contract(name, _address(c.get("deployer"), f"{where}.deployer"), source, args)


def load_genesis(path: Path) -> Genesis:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GenesisError(f"{path}: not found (run `finchain init`)") from exc
    except json.JSONDecodeError as exc:
        raise GenesisError(f"{path}: not valid JSON: {exc}") from exc
    return genesis_from_json(data)
