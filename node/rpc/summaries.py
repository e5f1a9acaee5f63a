"""Read methods for the explorer page (docs/explorer.md) where the other methods would make it
read far more than it shows:

* `chain_getBlockSummaries`: a range of blocks as one line each (time, tx count, gas, proposer,
  commit round and signers), for the live list and the block-time / tx-rate chart, without
  decoding or sending every transaction hash; optionally the last few transactions of each
  block in brief.
* `chain_getValidators`: the validator set with each one's power, and, from the commits stored
  for the last `window` blocks, how many of them it proposed and the last height it signed.
* `chain_getGenesisContracts`: the contracts deployed in genesis (name, address, constructor arguments)
  with the standard interfaces each one offers (`chain_getContracts` of node.rpc.quotes gives only
  their addresses by name), so the page finds the tokens, the swap, the
  lending market and the identity registry of any network without a hard-coded list.

Each reads blocks and commits in the read pool's threads, like node.rpc.api.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from node.rpc.registry import Method, Param, RawJson, encode_json, invalid_params
from node.rpc.views import hx
from node.types.crypto import to_checksum_address
from node.types.genesis import genesis_contract_addresses
from node.types.tx import Call, Deploy, Transfer
from vm import contract_address
from vm.checker import Interface
from vm.compiler import compile_contract

if TYPE_CHECKING:
    from node.rpc.api import NodeApi
    from node.types.tx import SignedTx

MAX_SUMMARIES: Final = 200
DEFAULT_SUMMARIES: Final = 50
MAX_BRIEF_TXS: Final = 20
MAX_WINDOW: Final = 1000
DEFAULT_WINDOW: Final = 100

# A contract offers a standard face when it has all these views (vm/contracts/): the page reads
# each face with contract_call. A new kind of contract adds a line here and a view in the page.
STANDARD_FACES: Final = {
    "token": ("name", "symbol", "decimals", "total_supply", "balance_of"),
    "swap": ("pairs", "get_pair"),
    "lending": ("markets", "market"),
    "identity": ("get_claim", "check", "issuer"),
    "oracle": ("price", "reporters"),
}


def faces_of(interface: Interface) -> list[str]:
    views = {name for name, m in interface.methods.items() if m.kind == "view"}
    return [face for face, needed in STANDARD_FACES.items() if views.issuperset(needed)]


def brief_tx(tx: SignedTx) -> dict[str, Any]:
    """One line of a transaction: what a list shows, not what a wallet verifies."""
    out: dict[str, Any] = {"hash": hx(tx.hash), "from": to_checksum_address(tx.sender)}
    match tx.body.payload:
        case Transfer(to=to, amount=amount):
            out.update(type="transfer", to=to_checksum_address(to), amount=str(amount))
        case Deploy(amount=amount):
            out.update(type="deploy", to=to_checksum_address(contract_address(tx.sender, tx.body.nonce)),
                       amount=str(amount))
        case Call(to=to, method=method, amount=amount):
            out.update(type="call", to=to_checksum_address(to), method=method, amount=str(amount))
    return out


class SummaryApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    async def chain_getBlockSummaries(self, to: int | str = "latest", count: int = DEFAULT_SUMMARIES,
                                      txs: int = 0) -> RawJson:
        if not isinstance(count, int) or not 1 <= count <= MAX_SUMMARIES:
            raise invalid_params(f"count: between 1 and {MAX_SUMMARIES}")
        if not isinstance(txs, int) or not 0 <= txs <= MAX_BRIEF_TXS:
            raise invalid_params(f"txs: between 0 and {MAX_BRIEF_TXS}")
        last = self.api._height_of(to)
        return await self.api.pool.run(lambda: encode_json(self._summaries(last, count, txs)))

    def _summaries(self, last: int, count: int, brief: int) -> dict[str, Any]:
        chain = self.api.chain
        blocks = []
        for height in range(last, max(0, last - count), -1):
            block = chain.get_block(height)
            if block is None:
                break
            fees = chain.fee_record(height)
            commit = chain.get_commit(height)
            entry: dict[str, Any] = {
                "height": height,
                "hash": hx(block.hash()),
                "time_ms": block.header.time_ms,
                "proposer": to_checksum_address(block.header.proposer),
                "tx_count": len(block.txs),
                "gas_used": fees.gas_used if fees else None,
                "base_fee_per_gas": str(fees.base_fee) if fees else None,
                "size": len(block.encode()),
                "evidence_count": len(block.evidence),
                # The commit that finalized this block: stored with it, or in the next block.
                "commit_round": commit.round if commit else None,
                "signers": len(commit.signatures) if commit else None,
            }
            if brief:
                entry["txs"] = [brief_tx(self.api._decode_tx(raw)) for raw in block.txs[-brief:]]
            blocks.append(entry)
        return {"latest": chain.height, "blocks": blocks}

    async def chain_getValidators(self, window: int = DEFAULT_WINDOW) -> RawJson:
        if not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
            raise invalid_params(f"window: between 1 and {MAX_WINDOW}")
        snap = self.api.engine.snapshot()
        current = snap.state.validators.validators if snap.state else ()
        powers = {v.address: v.power for v in current}
        proposer = snap.state.round_proposer if snap.state else None
        height, rnd = (snap.state.height, snap.state.round) if snap.state else (None, None)
        return await self.api.pool.run(
            lambda: encode_json(self._validators(window, powers, proposer, height, rnd)))

    def _validators(self, window: int, powers: dict[bytes, int], proposer: bytes | None, height: int | None,
                    rnd: int | None) -> dict[str, Any]:
        chain = self.api.chain
        names = {v.address: v.name for v in chain.genesis.validators}
        if not powers:
            powers = {v.address: v.power for v in chain.genesis.validators}
        tip = chain.height
        first = max(1, tip - window + 1)
        proposed: dict[bytes, int] = {}
        last_proposed: dict[bytes, int] = {}
        signed: dict[bytes, int] = {}
        signed_count: dict[bytes, int] = {}
        for h in range(tip, first - 1, -1):
            block = chain.get_block(h)
            if block is not None:
                p = block.header.proposer
                proposed[p] = proposed.get(p, 0) + 1
                last_proposed.setdefault(p, h)
            commit = chain.get_commit(h)
            if commit is not None:
                for sig in commit.signatures:
                    signed.setdefault(sig.validator, h)
                    signed_count[sig.validator] = signed_count.get(sig.validator, 0) + 1
        total = sum(powers.values())
        rows = [{
            "address": to_checksum_address(addr),
            "name": names.get(addr, ""),
            "power": power,
            "power_share_bps": power * 10_000 // total if total else 0,
            "proposed": proposed.get(addr, 0),
            "last_proposed_height": last_proposed.get(addr),
            "signed": signed_count.get(addr, 0),
            "last_signed_height": signed.get(addr),
        } for addr, power in sorted(powers.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {
            "height": tip,
            "window": {"from_height": first, "to_height": tip, "blocks": max(0, tip - first + 1)},
            "total_power": total,
            "consensus": {"height": height, "round": rnd,
                          "proposer": to_checksum_address(proposer) if proposer else None},
            "validators": rows,
        }

    async def chain_getGenesisContracts(self) -> RawJson:
        return await self.api.pool.run(lambda: encode_json(self._contracts()))

    def _contracts(self) -> dict[str, Any]:
        chain = self.api.chain
        addresses = genesis_contract_addresses(chain.genesis.contracts)
        out = []
        for c in chain.genesis.contracts:
            interface = compile_contract(c.source, chain.code_cache).interface
            out.append({"name": c.name, "address": to_checksum_address(addresses[c.name]),
                        "deployer": to_checksum_address(c.deployer), "args": list(c.args_json),
                        "faces": faces_of(interface)})
        return {"contracts": out}


def summary_methods(api: NodeApi) -> list[Method]:
    s = SummaryApi(api)
    to = Param("to", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, False,
               "the newest block of the range: a height, \"latest\" (the default) or a 0x block hash")
    return [
        Method("chain_getBlockSummaries", s.chain_getBlockSummaries,
               (to, Param("count", {"type": "integer"}, False, f"1..{MAX_SUMMARIES}, default {DEFAULT_SUMMARIES}"),
                Param("txs", {"type": "integer"}, False,
                      f"0..{MAX_BRIEF_TXS}: the last so many transactions of each block in brief, default 0")),
               {"name": "summaries", "type": "object"},
               "`count` blocks down from `to`, newest first, one line each: hash, time, proposer, tx count, gas, "
               "size, the round and signer count of the commit that finalized it.", expensive=True),
        Method("chain_getValidators", s.chain_getValidators,
               (Param("window", {"type": "integer"}, False, f"1..{MAX_WINDOW} blocks, default {DEFAULT_WINDOW}"),),
               {"name": "validators", "type": "object"},
               "The validator set with power, and per validator over the last `window` blocks: blocks proposed, "
               "commits signed, the last heights of each.", expensive=True),
        Method("chain_getGenesisContracts", s.chain_getGenesisContracts, (), {"name": "contracts", "type": "object"},
               "The genesis contracts: name, address, deployer, constructor arguments and the standard faces "
               "(token, swap, lending, identity, oracle) each offers.", expensive=True),
    ]
