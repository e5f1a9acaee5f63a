"""Ethereum JSON shapes of the chain's blocks, transactions, receipts and logs (docs/ethereum.md).

Quantities are 0x hex without leading zeros, data is 0x hex, as the Ethereum JSON-RPC
specification writes them. Native transactions are shown in the same shapes, so a wallet sees
its whole history: a native transfer is a value transfer, a native call of an ERC-20 method
carries that method's ABI calldata, any other call `keccak256(method)[:4] || VM-encoded args`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError

from node.types.block import Block, Event, Receipt
from node.types.crypto import keccak256, to_checksum_address
from node.types.erc20 import FUNCTIONS, encode_approval_log, encode_transfer_log
from node.types.eth_tx import TYPE_EIP1559
from node.types.tx import Call, Deploy, SignedTx, Transfer
from vm import contract_address
from vm.values import Address, decode_value

ZERO32 = b"\0" * 32
# Keccak-256 of the RLP of an empty list: the uncle hash of a block without uncles.
EMPTY_UNCLES = keccak256(b"\xc0")
BLOOM_BYTES = 256
# A native transaction's EIP-1559-style fee fields make it look like a type-2 one to tools.
NATIVE_TYPE = TYPE_EIP1559
_BY_METHOD = {f.method: f for f in FUNCTIONS}


def qty(n: int) -> str:
    return hex(n)


def data(raw: bytes) -> str:
    return "0x" + raw.hex()


def eth_tx_type(raw: bytes) -> int:
    """0 for a legacy Ethereum envelope, its type byte for a typed one, NATIVE_TYPE for a native one."""
    if raw and raw[0] >= 0xC0:
        return 0
    if raw and raw[0] == TYPE_EIP1559:
        return TYPE_EIP1559
    return NATIVE_TYPE


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


def _event_values(event: Event) -> Any:
    raw = event.data
    if isinstance(raw, bytes | bytearray):
        try:
            return decode_value(bytes(raw))
        except ValueError:
            return None
    return raw


def _is_pair_amount(values: Any) -> bool:
    return (isinstance(values, list) and len(values) == 3 and isinstance(values[0], Address)
            and isinstance(values[1], Address) and type(values[2]) is int and values[2] >= 0)


def event_log(event: Event) -> Log:
    """The Ethereum log of a contract event: Transfer and Approval with the ERC-20 topics, any
    other event with topic keccak256(name) and its VM-encoded data."""
    values = _event_values(event)
    if event.name in ("Transfer", "Approval") and _is_pair_amount(values):
        encode = encode_transfer_log if event.name == "Transfer" else encode_approval_log
        topics, body = encode(bytes(values[0]), bytes(values[1]), values[2])
        return Log(bytes(event.address), tuple(topics), body)
    raw = event.data if isinstance(event.data, bytes) else b""
    return Log(bytes(event.address), (keccak256(event.name.encode()),), raw)


def bloom(logs: Iterable[Log]) -> bytes:
    """The 2048-bit log bloom of the Yellow Paper (section 4.3.1) over addresses and topics."""
    bits = 0
    for log in logs:
        for item in (log.address, *log.topics):
            h = keccak256(item)
            for i in (0, 2, 4):
                bits |= 1 << (int.from_bytes(h[i:i + 2], "big") & 2047)
    return bits.to_bytes(BLOOM_BYTES, "big")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a committed transaction sits, for the block fields of its views."""

    block_hash: bytes
    height: int
    index: int
    base_fee: int


def tx_input(tx: SignedTx) -> bytes:
    payload = tx.body.payload
    match payload:
        case Transfer():
            return b""
        case Deploy(source=source):
            return source.encode("utf-8", "surrogatepass")
        case Call(method=method, args=args):
            function = _BY_METHOD.get(method)
            if function is not None:
                try:
                    values = decode_value(args)
                    if isinstance(values, list) and len(values) == len(function.arg_types):
                        plain = [("0x" + bytes(v).hex()) if t == "address" else v
                                 for t, v in zip(function.arg_types, values, strict=True)]
                        return function.selector + abi_encode(list(function.arg_types), plain)
                except (ValueError, TypeError, EncodingError):
                    pass  # arguments of another shape than the ERC-20 function's: the generic form
            return keccak256(method.encode())[:4] + args
    return b""


def _to(tx: SignedTx) -> str | None:
    payload = tx.body.payload
    return None if isinstance(payload, Deploy) else to_checksum_address(payload.to)


def tx_view(tx: SignedTx, chain_id: int, where: Position | None) -> dict[str, Any]:
    """eth_getTransactionByHash's shape; `where` is None for a pending transaction."""
    body = tx.body
    kind = eth_tx_type(tx.raw)
    r, s, parity = tx.signature[:32], tx.signature[32:64], tx.signature[64]
    v = chain_id * 2 + 35 + parity if kind == 0 else parity
    price = body.effective_gas_price(where.base_fee) if where else body.max_fee_per_gas
    out: dict[str, Any] = {
        "hash": data(tx.hash),
        "nonce": qty(body.nonce),
        "blockHash": data(where.block_hash) if where else None,
        "blockNumber": qty(where.height) if where else None,
        "transactionIndex": qty(where.index) if where else None,
        "from": to_checksum_address(tx.sender),
        "to": _to(tx),
        "value": qty(body.value),
        "gas": qty(body.gas_limit),
        "gasPrice": qty(price),
        "input": data(tx_input(tx)),
        "type": qty(kind),
        "chainId": qty(chain_id),
        "v": qty(v),
        "r": qty(int.from_bytes(r, "big")),
        "s": qty(int.from_bytes(s, "big")),
    }
    if kind != 0:
        out.update(maxFeePerGas=qty(body.max_fee_per_gas), maxPriorityFeePerGas=qty(body.max_priority_fee_per_gas),
                   accessList=[], yParity=qty(parity))
    return out


def receipt_view(tx: SignedTx, receipt: Receipt, where: Position, cumulative_gas: int,
                 first_log_index: int) -> dict[str, Any]:
    logs = [event_log(e) for e in receipt.events]
    deploy = isinstance(tx.body.payload, Deploy)
    return {
        "transactionHash": data(tx.hash),
        "transactionIndex": qty(where.index),
        "blockHash": data(where.block_hash),
        "blockNumber": qty(where.height),
        "from": to_checksum_address(tx.sender),
        "to": _to(tx),
        "cumulativeGasUsed": qty(cumulative_gas),
        "gasUsed": qty(receipt.gas_used),
        "effectiveGasPrice": qty(tx.body.effective_gas_price(where.base_fee)),
        "contractAddress": to_checksum_address(contract_address(tx.sender, tx.body.nonce)) if deploy else None,
        "logs": [log_view(log, tx.hash, where, first_log_index + i) for i, log in enumerate(logs)],
        "logsBloom": data(bloom(logs)),
        "type": qty(eth_tx_type(tx.raw)),
        "status": qty(1 if receipt.status else 0),
    }


def log_view(log: Log, tx_hash: bytes, where: Position, log_index: int) -> dict[str, Any]:
    return {
        "address": to_checksum_address(log.address),
        "topics": [data(t) for t in log.topics],
        "data": data(log.data),
        "blockNumber": qty(where.height),
        "blockHash": data(where.block_hash),
        "transactionHash": data(tx_hash),
        "transactionIndex": qty(where.index),
        "logIndex": qty(log_index),
        "removed": False,
    }


@dataclass(frozen=True, slots=True)
class BlockFacts:
    """What a block view needs besides the block: its fee record and its receipts' logs."""

    base_fee: int
    gas_used: int
    gas_limit: int
    logs: Sequence[Log]


def block_view(block: Block, facts: BlockFacts, txs: list[dict[str, Any]] | list[str]) -> dict[str, Any]:
    h = block.header
    return _block_shape(
        hash_=block.hash(), height=h.height, parent=h.prev_hash, time_ms=h.time_ms, tx_root=h.tx_root,
        state_root=h.state_root, receipts_root=h.results_root, miner=h.proposer, facts=facts,
        size=len(block.encode()), txs=txs)


def genesis_view(genesis_hash: bytes, time_ms: int, state_root: bytes, facts: BlockFacts) -> dict[str, Any]:
    """Block 0: the genesis, which the chain has as a hash and a state but not as a stored block."""
    return _block_shape(hash_=genesis_hash, height=0, parent=ZERO32, time_ms=time_ms, tx_root=ZERO32,
                        state_root=state_root, receipts_root=ZERO32, miner=b"\0" * 20, facts=facts, size=0,
                        txs=[])


def _block_shape(*, hash_: bytes, height: int, parent: bytes, time_ms: int, tx_root: bytes, state_root: bytes,
                 receipts_root: bytes, miner: bytes, facts: BlockFacts, size: int,
                 txs: list[dict[str, Any]] | list[str]) -> dict[str, Any]:
    return {
        "number": qty(height),
        "hash": data(hash_),
        "parentHash": data(parent),
        "nonce": "0x0000000000000000",
        "sha3Uncles": data(EMPTY_UNCLES),
        "logsBloom": data(bloom(facts.logs)),
        "transactionsRoot": data(tx_root),
        "stateRoot": data(state_root),
        "receiptsRoot": data(receipts_root),
        "miner": to_checksum_address(miner),
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "size": qty(size),
        "gasLimit": qty(facts.gas_limit),
        "gasUsed": qty(facts.gas_used),
        "timestamp": qty(time_ms // 1000),
        "mixHash": data(ZERO32),
        "baseFeePerGas": qty(facts.base_fee),
        "transactions": txs,
        "uncles": [],
    }
