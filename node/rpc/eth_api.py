"""The Ethereum face of the node's JSON-RPC: chain, account, transaction and log reads, and sending.

Every committed block is final, so the tags "latest", "safe" and "finalized" name the same block;
"pending" reads the latest state (with the mempool's next nonce for eth_getTransactionCount).
Block 0 is the genesis. Reads that decode blocks or receipts run in the read pool's threads.
"""

from __future__ import annotations

import platform
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from node.rpc.eth_errors import eth_tx_error, limit_error
from node.rpc.eth_views import (
    BlockFacts,
    Log,
    Position,
    block_view,
    data,
    event_log,
    genesis_view,
    log_view,
    qty,
    receipt_view,
    tx_view,
)
from node.rpc.params import VERSION, address_param, bytes_param
from node.rpc.registry import RawJson, encode_json, invalid_params
from node.types import errors
from node.types.block import Block, Receipt
from node.types.envelopes import tx_id
from node.types.tx import SignedTx

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

MAX_LOG_BLOCKS: Final = 10_000
MAX_LOGS: Final = 10_000
MAX_FEE_HISTORY: Final = 1024
MAX_TOPICS: Final = 4
# A read thread's time for one eth_getLogs or eth_feeHistory: 10,000 blocks of thousands of
# transactions or events each would otherwise hold a thread for minutes.
QUERY_SECONDS: Final = 10.0
TAGS_AT_TIP: Final = frozenset({"latest", "pending", "safe", "finalized"})
_HEX_DIGITS: Final = frozenset(string.hexdigits)


def parse_quantity(value: Any, name: str) -> int:
    """A JSON-RPC quantity: 0x hex (as Ethereum writes it) or, leniently, a JSON integer."""
    if type(value) is int and value >= 0:
        return value
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3 or len(value) > 66:
        raise invalid_params(f"{name}: expected a 0x hex quantity")
    # int() alone would also read "0x1_0" as 16 and "0x 1" as 1: only hex digits are a quantity.
    if not _HEX_DIGITS.issuperset(value[2:]):
        raise invalid_params(f"{name}: not a hex quantity")
    return int(value[2:], 16)


@dataclass(frozen=True, slots=True)
class LogFilter:
    addresses: frozenset[bytes]  # empty: any
    topics: tuple[frozenset[bytes] | None, ...]  # per position: None any, else one of

    def matches(self, log: Log) -> bool:
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(want is None or log.topics[i] in want for i, want in enumerate(self.topics))


def parse_log_filter(obj: dict[str, Any]) -> LogFilter:
    """The address and topics of an eth_getLogs or `logs` subscription filter (geth's rules)."""
    address = obj.get("address")
    if address is None:
        addresses: frozenset[bytes] = frozenset()
    elif isinstance(address, list):
        addresses = frozenset(address_param(a, "address") for a in address)
    else:
        addresses = frozenset({address_param(address, "address")})
    topics = obj.get("topics") or []
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise invalid_params(f"topics: a list of at most {MAX_TOPICS} positions")
    parsed: list[frozenset[bytes] | None] = []
    for i, t in enumerate(topics):
        if t is None or t == []:
            parsed.append(None)
        elif isinstance(t, list):
            # As geth reads it, a null among the alternatives matches any topic.
            parsed.append(None if None in t else frozenset(bytes_param(x, f"topics[{i}]", 32) for x in t))
        else:
            parsed.append(frozenset({bytes_param(t, f"topics[{i}]", 32)}))
    return LogFilter(addresses, tuple(parsed))


class EthApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api
        self.chain_id = api.chain.genesis.eth_chain_id
        self._decode = api._decode_tx
        self.query_seconds = QUERY_SECONDS

    # -- block numbers -----------------------------------------------------------------

    def block_number(self, block: Any, *, default: str = "latest") -> int:
        """A height from a tag, a quantity or an EIP-1898 object; NotFound past the tip."""
        chain = self.api.chain
        if block is None:
            block = default
        if isinstance(block, dict):
            if "blockHash" in block:
                wanted = bytes_param(block["blockHash"], "blockHash", 32)
                h = chain.height_of_block(wanted)
                if h is None:
                    if wanted == chain.genesis_hash:
                        return 0
                    raise errors.NotFound(f"no block with hash {block['blockHash']}")
                return h
            if "blockNumber" in block:
                return self.block_number(block["blockNumber"])
            raise invalid_params("block: an object needs blockHash or blockNumber")
        if isinstance(block, str) and block in TAGS_AT_TIP:
            return chain.height
        if block == "earliest":
            return 0
        height = parse_quantity(block, "block")
        if height > chain.height:
            raise errors.NotFound(f"no block at height {height} (the latest is {chain.height})")
        return height

    # -- plain reads -------------------------------------------------------------------

    async def eth_chainId(self) -> str:
        return qty(self.chain_id)

    async def net_version(self) -> str:
        return str(self.chain_id)

    async def net_listening(self) -> bool:
        return True

    async def web3_clientVersion(self) -> str:
        return f"finchain/v{VERSION}/python{platform.python_version()}"

    async def eth_accounts(self) -> list[str]:
        return []  # the node holds no user keys; wallets sign

    async def eth_syncing(self) -> bool | dict[str, str]:
        info = self.api.info
        if not info.catching_up():
            return False
        best = info.sync_status().get("best_peer_height") or self.api.chain.height
        return {"startingBlock": qty(0), "currentBlock": qty(self.api.chain.height), "highestBlock": qty(best)}

    async def eth_blockNumber(self) -> str:
        return qty(self.api.chain.height)

    async def eth_getBalance(self, address: str, block: Any = None) -> str:
        addr = address_param(address, "address")
        return qty(self.api.chain.get_account(addr, self.block_number(block)).balance)

    async def eth_getTransactionCount(self, address: str, block: Any = None) -> str:
        addr = address_param(address, "address")
        nonce = self.api.chain.get_account(addr, self.block_number(block)).nonce
        if block == "pending" or (isinstance(block, dict) and block.get("blockNumber") == "pending"):
            pending = self.api.mempool.pending_nonce(addr)
            nonce = nonce if pending is None else pending
        return qty(nonce)

    def _next_fees(self) -> tuple[int, int]:
        chain = self.api.chain
        floor = chain.genesis.params.min_base_fee
        return chain.exec_params(chain.height + 1).base_fee, self.api.mempool.suggested_tip(max(1, floor // 10))

    async def eth_gasPrice(self) -> str:
        base, tip = self._next_fees()
        return qty(base + tip)

    async def eth_maxPriorityFeePerGas(self) -> str:
        return qty(self._next_fees()[1])

    # -- sending -----------------------------------------------------------------------

    async def eth_sendRawTransaction(self, raw: str) -> str:
        try:
            tx = await self.api.submit(bytes_param(raw, "raw"))
        except errors.InvalidTransaction as exc:
            raise eth_tx_error(exc) from exc
        return data(tx.hash)

    # -- blocks ------------------------------------------------------------------------

    def _receipts(self, block: Block) -> list[Receipt]:
        out = []
        for raw in block.txs:
            loc = self.api.chain.get_tx(tx_id(raw))
            if loc is None:
                raise errors.StoreCorrupted(f"a transaction of block {block.height} is not indexed")
            out.append(loc.receipt)
        return out

    def fees(self, height: int) -> tuple[int, int]:
        """A block's base fee and gas used (block 0, the genesis: the floor and none)."""
        record = self.api.chain.fee_record(height) if height else None
        if record is None:
            return self.api.chain.genesis.params.min_base_fee, 0
        return record.base_fee, record.gas_used

    def _base_fee(self, height: int) -> int:
        return self.fees(height)[0]

    def facts(self, height: int, logs: list[Log]) -> BlockFacts:
        base_fee, gas_used = self.fees(height)
        return BlockFacts(base_fee, gas_used, self.api.chain.genesis.params.max_block_gas, logs)

    def block_json(self, height: int, full: bool) -> dict[str, Any] | None:
        chain = self.api.chain
        if height == 0:
            root = chain.state_root_at(0) or b"\0" * 32
            return genesis_view(chain.genesis_hash, chain.genesis.genesis_time_ms, root, self.facts(0, []))
        block = chain.get_block(height)
        if block is None:
            return None
        facts = self.facts(height, [event_log(e) for r in self._receipts(block) for e in r.events])
        if full:
            block_hash = block.hash()
            txs: list[Any] = [tx_view(self._decode(raw), self.chain_id, Position(block_hash, height, i, facts.base_fee))
                              for i, raw in enumerate(block.txs)]
        else:
            txs = [data(tx_id(raw)) for raw in block.txs]
        return block_view(block, facts, txs)

    async def eth_getBlockByNumber(self, block: Any, full: bool = False) -> RawJson | None:
        try:
            height = self.block_number(block)
        except errors.NotFound:
            return None
        return await self.api.pool.run(lambda: encode_json(self.block_json(height, full)))

    async def eth_getBlockByHash(self, hash: str, full: bool = False) -> RawJson | None:
        block_hash = bytes_param(hash, "hash", 32)
        height = self.api.chain.height_of_block(block_hash)
        if height is None:
            if block_hash != self.api.chain.genesis_hash:
                return None
            height = 0
        return await self.api.pool.run(lambda: encode_json(self.block_json(height, full)))

    # -- transactions and receipts -------------------------------------------------------

    def _located(self, tx_hash: bytes, receipts: bool = True) -> tuple[SignedTx, Position, list[Receipt]] | None:
        """A committed transaction, where it is, and (if asked) the receipts of its block; None if not committed.

        A block's receipts can hold tens of thousands of events: a transaction's view does not read them."""
        loc = self.api.chain.get_tx(tx_hash)
        if loc is None:
            return None
        block = self.api.chain.get_block(loc.height)
        if block is None:
            raise errors.StoreCorrupted("an indexed block is missing")
        where = Position(block.hash(), block.height, loc.index, self._base_fee(block.height))
        return self._decode(block.txs[loc.index]), where, self._receipts(block) if receipts else []

    async def eth_getTransactionByHash(self, hash: str) -> RawJson | dict[str, Any] | None:
        tx_hash = bytes_param(hash, "hash", 32)

        def read() -> RawJson | None:
            found = self._located(tx_hash, receipts=False)
            return None if found is None else encode_json(tx_view(found[0], self.chain_id, found[1]))

        committed = await self.api.pool.run(read)
        if committed is not None:
            return committed
        pending = self.api.mempool.get(tx_hash)
        return None if pending is None else tx_view(pending, self.chain_id, None)

    async def eth_getTransactionReceipt(self, hash: str) -> RawJson | None:
        tx_hash = bytes_param(hash, "hash", 32)

        def read() -> RawJson | None:
            found = self._located(tx_hash)
            if found is None:
                return None
            tx, where, receipts = found
            cumulative = sum(r.gas_used for r in receipts[:where.index + 1])
            first_log = sum(len(r.events) for r in receipts[:where.index])
            return encode_json(receipt_view(tx, receipts[where.index], where, cumulative, first_log))

        return await self.api.pool.run(read)

    # -- logs --------------------------------------------------------------------------

    async def eth_getLogs(self, filter: dict[str, Any]) -> RawJson:
        if not isinstance(filter, dict):
            raise invalid_params("filter: expected an object")
        unknown = set(filter) - {"fromBlock", "toBlock", "address", "topics", "blockHash"}
        if unknown:
            raise invalid_params(f"filter: unknown fields {sorted(unknown)}")
        wanted = parse_log_filter(filter)
        if "blockHash" in filter:
            if "fromBlock" in filter or "toBlock" in filter:
                raise invalid_params("filter: blockHash excludes fromBlock and toBlock")
            block_hash = bytes_param(filter["blockHash"], "blockHash", 32)
            h = self.api.chain.height_of_block(block_hash)
            if h is None:
                if block_hash != self.api.chain.genesis_hash:
                    raise errors.NotFound(f"no block with hash {filter['blockHash']}")
                h = 0  # the genesis, which has no logs (_logs starts at 1)
            start = end = h
        else:
            tip = self.api.chain.height
            start = min(self._range_end(filter.get("fromBlock"), tip), tip + 1)
            end = self._range_end(filter.get("toBlock"), tip)
            if start > end:
                raise invalid_params("filter: fromBlock is after toBlock")
            if end - start + 1 > MAX_LOG_BLOCKS:
                raise limit_error(f"block range too large: at most {MAX_LOG_BLOCKS} blocks per query")
        return await self.api.pool.run(lambda: encode_json(self._logs(max(start, 1), end, wanted)))

    def _range_end(self, block: Any, tip: int) -> int:
        if block is None or (isinstance(block, str) and block in TAGS_AT_TIP):
            return tip
        if block == "earliest":
            return 0
        return min(parse_quantity(block, "block"), tip)

    def _over_time(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise limit_error(f"query timeout exceeded: {what} took over {self.query_seconds:g} s, "
                              "ask for fewer blocks")

    def _logs(self, start: int, end: int, wanted: LogFilter) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.query_seconds
        for height in range(start, end + 1):
            self._over_time(deadline, "eth_getLogs")
            block = self.api.chain.get_block(height)
            if block is None or not block.txs:
                continue
            where_hash, base_fee, log_index = block.hash(), 0, 0
            for index, receipt in enumerate(self._receipts(block)):
                for event in receipt.events:
                    # The address is the event's own: a log of another contract is skipped before
                    # its topics and data are decoded and ABI-encoded.
                    if wanted.addresses and bytes(event.address) not in wanted.addresses:
                        log_index += 1
                        continue
                    log = event_log(event)
                    if wanted.matches(log):
                        if len(out) >= MAX_LOGS:
                            raise limit_error(f"query returned more than {MAX_LOGS} results")
                        out.append(log_view(log, receipt.tx_hash, Position(where_hash, height, index, base_fee),
                                            log_index))
                    log_index += 1
        return out

    # -- fee history -------------------------------------------------------------------

    async def eth_feeHistory(self, blockCount: Any, newestBlock: Any, rewardPercentiles: list[Any] | None = None
                             ) -> RawJson:
        count = parse_quantity(blockCount, "blockCount")
        if not 1 <= count <= MAX_FEE_HISTORY:
            raise invalid_params(f"blockCount: between 1 and {MAX_FEE_HISTORY}")
        newest = self.block_number(newestBlock)
        percentiles = _percentiles(rewardPercentiles)
        next_base = self.api.chain.exec_params(newest + 1).base_fee
        return await self.api.pool.run(lambda: encode_json(self._fee_history(count, newest, percentiles, next_base)))

    def _fee_history(self, count: int, newest: int, percentiles: list[float] | None, next_base: int
                     ) -> dict[str, Any]:
        oldest = max(0, newest - count + 1)
        limit = self.api.chain.genesis.params.max_block_gas
        bases, ratios, rewards = [], [], []
        deadline = time.monotonic() + self.query_seconds
        for height in range(oldest, newest + 1):
            self._over_time(deadline, "eth_feeHistory")
            base, gas_used = self.fees(height)
            bases.append(qty(base))
            ratios.append(gas_used / limit)
            if percentiles is not None:
                rewards.append([qty(t) for t in self._block_rewards(height, base, percentiles)])
        bases.append(qty(next_base))
        out: dict[str, Any] = {"oldestBlock": qty(oldest), "baseFeePerGas": bases, "gasUsedRatio": ratios}
        if percentiles is not None:
            out["reward"] = rewards
        return out

    def _block_rewards(self, height: int, base_fee: int, percentiles: list[float]) -> list[int]:
        block = self.api.chain.get_block(height) if height else None
        if block is None or not block.txs:
            return [0] * len(percentiles)
        receipts = self._receipts(block)
        # As geth does: tips sorted, each weighted by the gas its transaction used.
        tips = sorted((self._decode(raw).body.tip_per_gas(base_fee), r.gas_used) for raw, r in zip(block.txs,
                                                                                                  receipts,
                                                                                                  strict=True))
        total = sum(g for _, g in tips) or 1
        out, i, acc = [], 0, tips[0][1]
        for p in percentiles:
            threshold = total * p / 100
            while acc < threshold and i < len(tips) - 1:
                i += 1
                acc += tips[i][1]
            out.append(tips[i][0])
        return out


def _percentiles(value: list[Any] | None) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 100:
        raise invalid_params("rewardPercentiles: a list of at most 100 numbers")
    out: list[float] = []
    for p in value:
        if type(p) not in (int, float) or not 0 <= p <= 100 or (out and p < out[-1]):
            raise invalid_params("rewardPercentiles: increasing numbers between 0 and 100")
        out.append(float(p))
    return out

