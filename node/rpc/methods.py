"""The node's JSON-RPC registry: every method group on the machinery of node.rpc.registry."""

from __future__ import annotations

from node.rpc.api import NodeApi
from node.rpc.consensus import consensus_methods
from node.rpc.contracts import contract_methods
from node.rpc.eth_methods import eth_methods
from node.rpc.params import ADDRESS, BLOCK_ID, HASH, HEX, NOT_FOUND, TX_ERROR_SPECS, VERSION, map_node_error
from node.rpc.payments import payment_methods
from node.rpc.quotes import quote_methods
from node.rpc.registry import DEFAULT_MAX_RESPONSE_BYTES, CallGuard, CallObserver, Method, Param, Registry
from node.rpc.statement import statement_methods
from node.rpc.summaries import summary_methods
from node.rpc.vault import vault_methods


def build_registry(api: NodeApi, max_batch: int = 100, *, guard: CallGuard | None = None,
                   max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                   on_call: CallObserver | None = None) -> Registry:
    """The node's methods; those marked expensive (they read blocks, receipts or run the VM)
    run inside `guard`, which bounds them per client and in total (node.rpc.limits). `on_call`
    is told of each call's method and time (metrics)."""
    reg = Registry(max_batch=max_batch, title="finchain JSON-RPC", version=VERSION, map_error=map_node_error,
                   guard=guard, max_response_bytes=max_response_bytes, on_call=on_call)
    block_param = Param("block", BLOCK_ID, required=False, description="default \"latest\"")
    reg.add(Method("node_status", api.node_status, (), {"name": "status", "type": "object"},
                   "Chain id, node id, latest height, block hash and time, state root, sync state, peers."))
    reg.add(Method("chain_getBlock", api.chain_getBlock,
                   (block_param, Param("full", {"type": "boolean"}, False, "full transactions, not hashes")),
                   {"name": "block", "type": "object"}, "A committed block with its last commit.", (NOT_FOUND,),
                   expensive=True))
    reg.add(Method("chain_getBlockReceipts", api.chain_getBlockReceipts,
                   (block_param, Param("offset", {"type": "integer"}, False, "first transaction, default 0"),
                    Param("limit", {"type": "integer"}, False, "transactions per answer, default all")),
                   {"name": "block", "type": "object"},
                   "A committed block's height, hash, time and tx_count, and its transactions with their receipts, "
                   "in order, from `offset`; `next` is the offset of the next page, null after the last.",
                   (NOT_FOUND,), expensive=True))
    reg.add(Method("chain_getHeader", api.chain_getHeader, (block_param,), {"name": "header", "type": "object"},
                   "A committed block header.", (NOT_FOUND,), expensive=True))
    reg.add(Method("tx_send", api.tx_send, (Param("raw", HEX, description="signed transaction bytes"),),
                   {"name": "hash", **HASH}, "Admit a signed transaction to the mempool; returns its hash.",
                   TX_ERROR_SPECS))
    reg.add(Method("tx_get", api.tx_get, (Param("hash", HASH),), {"name": "tx", "type": "object"},
                   "A transaction's status (pending, committed, unknown), position and receipt.", expensive=True))
    reg.add(Method("account_get", api.account_get, (Param("address", ADDRESS), block_param),
                   {"name": "account", "type": "object"}, "Balance (decimal string of base units) and nonce.",
                   (NOT_FOUND,)))
    reg.add(Method("account_txs", api.account_txs,
                   (Param("address", ADDRESS), Param("limit", {"type": "integer"}, False, "1..1000, default 20"),
                    Param("cursor", {"type": "string"}, False, "next_cursor of the previous page")),
                   {"name": "history", "type": "object"}, "Committed transactions of an address, newest first.",
                   expensive=True))
    reg.add(Method("chain_getEvidence", api.chain_getEvidence,
                   (Param("from_height", {"type": "integer"}, False, "default 1"),
                    Param("limit", {"type": "integer"}, False, "1..1000, default 100")),
                   {"name": "evidence", "type": "object"},
                   "Equivocation evidence: committed (with the height of the block holding it) and pending.",
                   expensive=True))
    for method in (contract_methods(api) + consensus_methods(api) + quote_methods(api) + payment_methods(api)
                   + vault_methods(api) + summary_methods(api) + statement_methods(api)):
        reg.add(method)
    reg.add(Method("chain_feeInfo", api.chain_feeInfo, (), {"name": "fees", "type": "object"},
                   "The next block's base fee per gas, a suggested priority fee and max fee (twice the base "
                   "fee plus the tip), the floor, the last block's base fee and gas, and the total burned."))
    reg.add(Method("net_peers", api.net_peers, (), {"name": "peers", "type": "object"},
                   "The connected peers (node id, moniker, address, direction, misbehaviour score) and the peers "
                   "banned now, with the seconds left of each ban."))
    reg.add(Method("mempool_status", api.mempool_status, (), {"name": "mempool", "type": "object"},
                   "Pending transaction count and bytes, with the limits."))
    if api.chain.genesis.eth_chain_id:
        for method in eth_methods(api):
            reg.add(method)
    return reg
