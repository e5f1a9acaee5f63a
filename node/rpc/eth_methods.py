"""The eth_*, net_* and web3_* methods of the node's JSON-RPC (docs/ethereum.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.rpc.eth_api import EthApi
from node.rpc.eth_exec import EthExec
from node.rpc.registry import Method, Param

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

QUANTITY = {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "0x hex quantity"}
BLOCK = {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "object"}],
         "description": "a 0x height, a tag (latest, earliest, pending, safe, finalized) or an EIP-1898 object"}
DATA = {"type": "string", "description": "0x hex data"}
OBJECT = {"type": "object"}


def _m(name: str, handler: Any, params: tuple[Param, ...], summary: str, expensive: bool = False) -> Method:
    return Method(name, handler, params, {"name": "result"}, summary, expensive=expensive)


def eth_methods(api: NodeApi) -> list[Method]:
    """The Ethereum face; registered only for a chain with an eth_chain_id in its genesis."""
    eth = EthApi(api)
    ex = EthExec(eth)
    block = Param("block", BLOCK, False, "default \"latest\"")
    address = Param("address", DATA)
    full = Param("full", {"type": "boolean"}, False, "full transactions, not hashes")
    return [
        _m("eth_chainId", eth.eth_chainId, (), "The genesis's eth_chain_id (EIP-155)."),
        _m("net_version", eth.net_version, (), "The eth_chain_id in decimal."),
        _m("net_listening", eth.net_listening, (), "Always true."),
        _m("web3_clientVersion", eth.web3_clientVersion, (), "finchain/v<version>/python<version>."),
        _m("eth_syncing", eth.eth_syncing, (), "false, or the block sync's progress while catching up."),
        _m("eth_blockNumber", eth.eth_blockNumber, (), "The latest committed height."),
        _m("eth_accounts", eth.eth_accounts, (), "Always empty: the node holds no user keys."),
        _m("eth_getBalance", eth.eth_getBalance, (address, block), "Coin balance in base units at a block."),
        _m("eth_getTransactionCount", eth.eth_getTransactionCount, (address, block),
           "The account nonce; with \"pending\", the next nonce counting the mempool."),
        _m("eth_gasPrice", eth.eth_gasPrice, (), "The next block's base fee plus the suggested tip."),
        _m("eth_maxPriorityFeePerGas", eth.eth_maxPriorityFeePerGas, (), "The suggested tip per gas."),
        _m("eth_feeHistory", eth.eth_feeHistory,
           (Param("blockCount", QUANTITY), Param("newestBlock", BLOCK),
            Param("rewardPercentiles", {"type": "array"}, False, "increasing numbers in 0..100")),
           "Base fees, gas used ratios and tip percentiles of recent blocks.", expensive=True),
        _m("eth_sendRawTransaction", eth.eth_sendRawTransaction, (Param("raw", DATA),),
           "Admit a signed transaction (legacy EIP-155, EIP-1559 or native) to the mempool; its hash."),
        _m("eth_getTransactionByHash", eth.eth_getTransactionByHash, (Param("hash", DATA),),
           "A committed or pending transaction, or null.", expensive=True),
        _m("eth_getTransactionReceipt", eth.eth_getTransactionReceipt, (Param("hash", DATA),),
           "A committed transaction's receipt with its logs, or null.", expensive=True),
        _m("eth_getBlockByNumber", eth.eth_getBlockByNumber, (Param("block", BLOCK), full),
           "A block by height or tag, or null.", expensive=True),
        _m("eth_getBlockByHash", eth.eth_getBlockByHash, (Param("hash", DATA), full), "A block by hash, or null.",
           expensive=True),
        _m("eth_getLogs", eth.eth_getLogs, (Param("filter", OBJECT),),
           "Logs of token events in a block range (at most 10,000 blocks and 10,000 logs).", expensive=True),
        _m("eth_getCode", ex.eth_getCode, (address, block),
           "0x for an account, a marker for a Python contract (0xfe, a tag and the source's Keccak-256).",
           expensive=True),
        _m("eth_call", ex.eth_call, (Param("transaction", OBJECT), block),
           "Run ERC-20 calldata against a token contract; nothing is kept.", expensive=True),
        _m("eth_estimateGas", ex.eth_estimateGas, (Param("transaction", OBJECT), block),
           "Gas for a transfer or an ERC-20 call, with a margin.", expensive=True),
    ]
