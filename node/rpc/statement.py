"""`account_statement`: the clearing and settlement statement of an address over a height range.

A read model over committed blocks (DESIGN.md, the financial layer): the movements come from the
index the chain writes with each block (node/state/movements.py, node/storage/schema.py F and A),
the opening and closing balances from the state after heights `from - 1` and `to` (the coin from
the account record, a token from its `balance_of` view run at that height). Nothing here is on the
consensus path: the whole call runs in the read pool's threads over snapshots fixed by height.

For every asset, opening + the sum of the range's movements = closing, exactly, for the coin and
for every token that emits a Transfer event for each balance change (docs/finance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.reader import ChainReader
from node.rpc.params import ADDRESS, address_param, invalid_params, parse_cursor
from node.rpc.registry import Method, Param, RawJson, encode_json
from node.rpc.views import hx
from node.state.accounts import Account
from node.state.contracts import StateHost, block_info
from node.state.movements import BLOCK_ROW, COIN, MovementRecord
from node.storage.schema import account_key
from node.types.amounts import DECIMALS, UNIT
from node.types.crypto import to_checksum_address
from vm import VM, CheckError, contract_address
from vm.compiler import compile_contract
from vm.values import Address

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000  # movements per answer; a longer statement pages with next_cursor
MAX_TOKENS = 256  # tokens looked at per address besides the genesis ones (each costs up to four views)
# Per balance_of, symbol or decimals view: a standard token's balance_of takes about 8,000. With
# MAX_TOKENS, one call runs at most about 100M gas of views (about a second in a read-pool thread),
# however many junk tokens someone sent the address.
VIEW_GAS = 100_000
COIN_ID = "coin"  # how the native coin is named in `asset`


@dataclass(frozen=True, slots=True)
class StatementRequest:
    address: bytes
    from_height: int
    to_height: int
    limit: int
    after: tuple[int, int] | None  # the cursor: the last (height, index) of the previous page


def _height(value: Any, name: str) -> int:
    if type(value) is not int:
        raise invalid_params(f"{name}: expected an integer height")
    if value < 1:
        raise invalid_params(f"{name}: a height of at least 1 (the opening balance is the state after {name} - 1)")
    return value


def parse_request(address: Any, from_height: Any, to_height: Any, limit: Any, cursor: Any, tip: int,
                  indexed_from: int) -> StatementRequest:
    """The checked parameters of one call; -32602 with the reason for anything out of bounds."""
    addr = address_param(address)
    lo = _height(from_height, "from_height")
    hi = _height(to_height, "to_height")
    if lo > hi:
        raise invalid_params(f"from_height {lo} is above to_height {hi}")
    if hi > tip:
        raise invalid_params(f"to_height {hi} is above the latest height {tip}")
    if lo < indexed_from:
        raise invalid_params(f"from_height: this node indexes movements from height {indexed_from} (its store "
                             "predates the index); sync a new store to read earlier ones",
                             {"indexed_from": indexed_from})
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise invalid_params(f"limit: between 1 and {MAX_LIMIT}")
    after = None
    if cursor is not None:
        if not isinstance(cursor, str):
            raise invalid_params("cursor: use the next_cursor of a previous answer")
        after = parse_cursor(cursor)
        if not lo <= after[0] <= hi:
            raise invalid_params("cursor: not inside this statement's heights")
    return StatementRequest(addr, lo, hi, limit, after)


def genesis_tokens(reader: ChainReader) -> list[bytes]:
    """Addresses of the genesis contracts (each deployed at its deployer's next nonce, in order):
    their constructors' Transfer events are in no receipt, so the index cannot name them."""
    nonces: dict[bytes, int] = {}
    out = []
    for c in reader.genesis.contracts:
        nonce = nonces.get(c.deployer, 0)
        nonces[c.deployer] = nonce + 1
        out.append(bytes(contract_address(c.deployer, nonce)))
    return out


@dataclass(frozen=True, slots=True)
class TokenFacts:
    balance: int | None  # None: no balance_of view that answers an integer
    symbol: str | None = None
    decimals: int | None = None


class SnapshotViews:
    """balance_of (and symbol, decimals) of tokens in the state after one height."""

    def __init__(self, reader: ChainReader, height: int) -> None:
        read = reader.state_snapshot(height)
        if read is None:
            raise invalid_params(f"no state stored for height {height}")
        self._read: Callable[[bytes], bytes | None] = read
        self._reader = reader
        self.host = StateHost(read, self.account, reader.settled)
        block = reader.get_block(height) if height else None
        time_ms = block.header.time_ms if block else reader.genesis.genesis_time_ms
        self.vm = VM(self.host, block_info(reader.exec_params(height, time_ms)), reader.code_cache)

    def account(self, address: bytes) -> Account:
        raw = self._read(account_key(address))
        return Account() if raw is None else Account.decode(raw)

    def _view(self, token: bytes, method: str, args: list[Any]) -> Any:
        res = self.vm.query(token, method, args, VIEW_GAS)
        return res.output if res.ok else None

    def token(self, token: bytes, holder: bytes, details: bool = False) -> TokenFacts:
        code = self.host.get_code(token)
        if code is None:
            return TokenFacts(0)  # not deployed yet at this height: nobody holds any
        try:
            methods = compile_contract(code.decode(), self._reader.code_cache).interface.methods
        except (CheckError, UnicodeDecodeError):
            return TokenFacts(None)
        m = methods.get("balance_of")
        if m is None or m.kind != "view" or len(m.params) != 1:
            return TokenFacts(None)
        value = self._view(token, "balance_of", [Address(holder)])
        balance = value if type(value) is int else None
        if not details:
            return TokenFacts(balance)
        symbol = self._view(token, "symbol", []) if "symbol" in methods else None
        decimals = self._view(token, "decimals", []) if "decimals" in methods else None
        return TokenFacts(balance, symbol if isinstance(symbol, str) else None,
                          decimals if type(decimals) is int else None)


def read_page(reader: ChainReader, req: StatementRequest) -> tuple[list[tuple[int, int, MovementRecord]], bool]:
    """The records of one answer, whole transactions only, stopping once `limit` movements are in;
    and whether more follow."""
    rows = reader.movements(req.address, req.from_height, req.to_height, req.after, req.limit + 1)
    page: list[tuple[int, int, MovementRecord]] = []
    count = 0
    for height, index, raw in rows:
        if count >= req.limit:
            return page, True
        record = MovementRecord.decode(raw)
        page.append((height, index, record))
        count += len(record.movements)
    return page, False


def build_statement(reader: ChainReader, req: StatementRequest) -> dict[str, Any]:
    """The statement's JSON (docs/finance.md "Clearing and settlement statements")."""
    page, more = read_page(reader, req)
    opening = SnapshotViews(reader, req.from_height - 1)
    closing = SnapshotViews(reader, req.to_height)
    addr = req.address
    touched = reader.touched_tokens(addr, MAX_TOKENS)
    tokens = list(dict.fromkeys([*genesis_tokens(reader), *touched]))

    names: dict[bytes, str] = {}  # a checksum costs a Keccak: once per address and call

    def name(raw: bytes) -> str:
        found = names.get(raw)
        if found is None:
            found = names[raw] = to_checksum_address(raw)
        return found

    movements: list[dict[str, Any]] = []
    totals: dict[bytes, int] = {COIN: 0}
    for height, index, record in page:
        block_row = index == BLOCK_ROW
        tx_hash, fee = None if block_row else hx(record.tx_hash), str(record.fee)
        for m in record.movements:
            totals[m.asset] = totals.get(m.asset, 0) + m.amount
            movements.append({
                "height": height,
                "tx_index": None if block_row else index,
                "tx_hash": tx_hash,
                "asset": COIN_ID if m.asset == COIN else name(m.asset),
                "kind": m.kind,
                "direction": "credit" if m.amount > 0 else "debit",
                "amount": str(m.amount),
                "counterparty": name(m.counterparty) if m.counterparty else None,
                "fee": fee,
            })
    for asset in totals:
        if asset != COIN and asset not in tokens:
            tokens.append(asset)

    complete = req.after is None and not more
    assets = [_asset_json(COIN_ID, UNIT, DECIMALS, opening.account(addr).balance, closing.account(addr).balance,
                          totals[COIN], complete)]
    for token in tokens:
        start = opening.token(token, addr)
        end = closing.token(token, addr, details=True)
        moved = token in totals or reader.token_touched(addr, token, req.from_height, req.to_height)
        if not moved and not start.balance and not end.balance:
            continue
        assets.append(_asset_json(to_checksum_address(token), end.symbol, end.decimals, start.balance, end.balance,
                                  totals.get(token, 0), complete))
    last = page[-1] if page else None
    return {
        "address": to_checksum_address(addr),
        "from_height": req.from_height,
        "to_height": req.to_height,
        "assets": assets,
        "movements": movements,
        "complete": complete,
        "next_cursor": f"{last[0]}:{last[1]}" if more and last else None,
    }


def _asset_json(asset: str, symbol: str | None, decimals: int | None, opening: int | None, closing: int | None,
                total: int, complete: bool) -> dict[str, Any]:
    known = opening is not None and closing is not None
    return {
        "asset": asset,
        "symbol": symbol,
        "decimals": decimals,
        "opening": None if opening is None else str(opening),
        "closing": None if closing is None else str(closing),
        "movements_total": str(total),
        # Only a whole statement in one answer can be checked here; a paged one is checked by
        # whoever joins the pages (node/client/statements.py does).
        "reconciled": (known and opening + total == closing) if complete else None,  # type: ignore[operator]
    }


class StatementApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    async def account_statement(self, address: str, from_height: int, to_height: int, limit: int = DEFAULT_LIMIT,
                                cursor: str | None = None) -> RawJson:
        chain = self.api.chain
        # Fixed on the loop: the tip moves with commits, the thread reads what is committed now.
        req = parse_request(address, from_height, to_height, limit, cursor, chain.height, chain.movements_from())
        return await self.api.pool.run(lambda: encode_json(build_statement(chain, req)))


def statement_methods(api: NodeApi) -> list[Method]:
    s = StatementApi(api)
    height = {"type": "integer"}
    return [
        Method("account_statement", s.account_statement,
               (Param("address", ADDRESS),
                Param("from_height", height, True, "first height of the statement (opening: the state after it - 1)"),
                Param("to_height", height, True, "last height, at most the latest (closing: the state after it)"),
                Param("limit", {"type": "integer"}, False, f"movements per answer, 1..{MAX_LIMIT}, default "
                                                           f"{DEFAULT_LIMIT}"),
                Param("cursor", {"type": "string"}, False, "next_cursor of the previous answer")),
               {"name": "statement", "type": "object"},
               "Opening and closing balance of every asset (the coin and each token) of an address over a height "
               "range, and every movement in between: height, transaction, asset, kind, signed amount, "
               "counterparty, fee; opening + movements = closing.", expensive=True),
    ]
