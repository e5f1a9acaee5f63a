"""Quotes and previews with their risk block: `swap_quote`, `lending_preview`, and the reader the
product methods share (payments, the vault).

A quote reads every number at one height through the contracts' own views, in a read-pool
thread; a preview runs the action itself on a throwaway overlay of that height, as the next block
would, so its result and the health factor after it are the chain's, not a model's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.rpc.contracts import ADDRESS, QUERY_GAS_CAP, _amount
from node.rpc.contracts import _address as _raw_address
from node.rpc.registry import ErrorSpec, Method, Param, RpcError, invalid_params
from node.state.accounts import StateOverlay
from node.state.contracts import StateHost, apply_writes, block_info
from node.types import errors
from node.types.genesis import genesis_contract_addresses
from node.types.risk import (
    EXP,
    LiquidationPrice,
    OracleReading,
    PoolDepth,
    compute_liquidation_price,
    compute_price_impact_bps,
    risk_block,
)
from vm import VM, CallResult
from vm.values import MAX_INT, Address, to_checksum, to_json

if TYPE_CHECKING:
    from node.rpc.api import NodeApi

LENDING_ACTIONS = {"supply": "supply", "redeem": "redeem_underlying", "borrow": "borrow", "repay": "repay"}


QUOTE_FAILED = -32060


def quote_failed(method: str, reason: str) -> RpcError:
    """A view a quote needs reverted (no such pair, no such market, ...): the contract's reason in data."""
    return RpcError(QUOTE_FAILED, f"quote failed: {method}: {reason}", {"reason": reason})


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str
    output: Any
    gas_used: int

    def to_json(self) -> dict[str, Any]:
        return {"status": "success" if self.ok else "failed", "error": self.error or None,
                "output": to_json(self.output) if self.ok else None, "gas_used": self.gas_used}


class QuoteReader:
    """Contract views over one height's state, as the next block would see it (its height, the
    tip's time), on an overlay that `simulate` may change without touching the chain."""

    def __init__(self, api: NodeApi, height: int, tip_time_ms: int) -> None:
        self.api = api
        self.height = height
        read = api.chain.state_snapshot(height)
        if read is None:
            raise errors.NotFound(f"no state at height {height}")
        self.state = StateOverlay(read)
        self.state.code_store = api.chain.code_cache
        self.state.settled = api.chain.settled
        params = api.chain.exec_params(height + 1, tip_time_ms)
        self.now_s = tip_time_ms // 1000
        self.vm = VM(StateHost(self.state.get, self.state.get_account, api.chain.settled), block_info(params),
                     api.chain.code_cache)
        self.named = {n: Address(a) for n, a in genesis_contract_addresses(api.chain.genesis.contracts).items()}

    def contract(self, given: str | None, name: str) -> bytes:
        """The address given, or the genesis contract of that name."""
        if given is not None:
            return _address(given, name)
        found = self.named.get(name)
        if found is None:
            raise invalid_params(f"{name}: no genesis contract named {name!r}; pass its address")
        return found

    def try_view(self, contract: bytes, method: str, args: list[Any]) -> CallResult:
        return self.vm.query(contract, method, args, QUERY_GAS_CAP)

    def view(self, contract: bytes, method: str, args: list[Any]) -> Any:
        res = self.try_view(contract, method, args)
        if not res.ok:
            raise quote_failed(method, res.error)
        return res.output

    def simulate(self, sender: bytes, contract: bytes, method: str, args: list[Any]) -> Outcome:
        """Run a public method as `sender`; on success its writes stay in this reader's overlay."""
        res = self.vm.call(sender, contract, method, args, 0, QUERY_GAS_CAP)
        if res.ok:
            apply_writes(self.state, res.writes)
        return Outcome(res.ok, res.error, res.output, res.gas_used)

    def oracle(self, oracle: bytes, asset: bytes) -> OracleReading:
        """The median price the oracle gives now (0 when stale) and the age of the newest report."""
        max_age = int(self.view(oracle, "max_age", []))
        newest = 0
        for reporter in self.view(oracle, "reporters", []):
            newest = max(newest, int(self.view(oracle, "latest", [asset, reporter])["time"]))
        res = self.try_view(oracle, "price", [asset])
        price = int(res.output) if res.ok else 0
        return OracleReading(asset, price, newest, self.now_s, max_age)

    def depth(self, swap: bytes, path: list[bytes]) -> list[PoolDepth]:
        out = []
        for a, b in itertools.pairwise(path):
            reserve_in, reserve_out = self.view(swap, "get_reserves", [a, b])
            out.append(PoolDepth(a, b, int(reserve_in), int(reserve_out)))
        return out


def _address(text: Any, name: str) -> Address:
    """An address parameter as the VM takes it."""
    return Address(_raw_address(text, name))


def _path(tokens: Any) -> list[bytes]:
    if not isinstance(tokens, list) or len(tokens) < 2:
        raise invalid_params("path: expected at least two token addresses")
    if len(tokens) > 5:
        raise invalid_params("path: at most 4 hops")
    return [_address(t, f"path[{i}]") for i, t in enumerate(tokens)]


class QuoteApi:
    def __init__(self, api: NodeApi) -> None:
        self.api = api

    async def swap_quote(self, path: list[str], amount_in: int | str | None = None,
                         amount_out: int | str | None = None, swap: str | None = None,
                         oracle: str | None = None) -> dict[str, Any]:
        tokens = _path(path)
        if (amount_in is None) == (amount_out is None):
            raise invalid_params("give exactly one of amount_in and amount_out")
        exact_in = amount_in is not None
        amount = _amount(amount_in if exact_in else amount_out)
        if amount == 0:
            raise invalid_params("amount: must be positive")
        chain = self.api.chain
        height, tip_time_ms = chain.height, chain.tip_time_ms

        def run() -> dict[str, Any]:
            r = QuoteReader(self.api, height, tip_time_ms)
            swap_at = r.contract(swap, "swap")
            depth = r.depth(swap_at, tokens)
            method = "get_amounts_out" if exact_in else "get_amounts_in"
            amounts = [int(a) for a in r.view(swap_at, method, [amount, tokens])]
            return self._swap_answer(r, swap_at, oracle, tokens, amounts, depth)

        return await self.api.pool.run(run)

    def _swap_answer(self, r: QuoteReader, swap_at: bytes, oracle: str | None, tokens: list[bytes],
                     amounts: list[int], depth: list[PoolDepth]) -> dict[str, Any]:
        impact = compute_price_impact_bps(amounts, depth)
        oracles = _oracles(r, oracle, (tokens[0], tokens[-1]))
        return {
            "height": r.height,
            "swap": to_checksum(swap_at),
            "path": [to_checksum(t) for t in tokens],
            "amounts": [str(a) for a in amounts],
            "amount_in": str(amounts[0]),
            "amount_out": str(amounts[-1]),
            # delivered per spent, 18 decimals
            "rate": str(amounts[-1] * EXP // amounts[0]) if amounts[0] else "0",
            "risk": risk_block(self.api.risk_policy, impact_bps=impact, oracles=oracles, depth=depth),
        }

    async def lending_preview(self, action: str, token: str, amount: int | str, account: str,
                              lending: str | None = None) -> dict[str, Any]:
        if not isinstance(action, str) or action not in LENDING_ACTIONS:
            raise invalid_params(f"action: one of {sorted(LENDING_ACTIONS)}")
        asset = _address(token, "token")
        who = _address(account, "account")
        value = _amount(amount)
        if value == 0:
            raise invalid_params("amount: must be positive")
        chain = self.api.chain
        height, tip_time_ms = chain.height, chain.tip_time_ms

        def run() -> dict[str, Any]:
            r = QuoteReader(self.api, height, tip_time_ms)
            market_at = r.contract(lending, "lending")
            r.view(market_at, "market", [asset])  # an unlisted token: the market's own reason
            before = _health(r, market_at, who)
            outcome = r.simulate(who, market_at, LENDING_ACTIONS[action], [asset, value])
            after = _health(r, market_at, who)
            oracle_at = r.view(market_at, "oracle", [])
            held = list(r.view(market_at, "assets_of", [who]))
            assets = held if asset in held else [*held, asset]
            oracles = [r.oracle(oracle_at, a) for a in assets]
            liquidation = _liquidation_prices(r, market_at, who, oracles) if after is not None else []
            market = r.view(market_at, "market", [asset])
            block = risk_block(self.api.risk_policy, oracles=oracles, health_before=before, health_after=after,
                               liquidation=liquidation, owes_after=after is not None)
            if not outcome.ok:
                block = {**block, "tier": "blocked", "warnings": [*block["warnings"], "would_revert"]}
            return {
                "height": r.height,
                "lending": to_checksum(market_at),
                "action": action,
                "token": to_checksum(asset),
                "amount": str(value),
                "outcome": outcome.to_json(),
                "market": {"utilization": str(market["utilization"]), "borrow_rate": str(market["borrow_rate"]),
                           "supply_rate": str(market["supply_rate"]), "cash": str(market["cash"])},
                "risk": block,
            }

        return await self.api.pool.run(run)


def _oracles(r: QuoteReader, given: str | None, assets: tuple[bytes, ...]) -> list[OracleReading]:
    """Readings for the assets the oracle knows; none when there is no oracle to ask."""
    if given is None and "oracle" not in r.named:
        return []
    oracle_at = r.contract(given, "oracle")
    readings = [r.oracle(oracle_at, a) for a in dict.fromkeys(assets)]
    return [o for o in readings if o.updated_s or o.price]


def _health(r: QuoteReader, market: bytes, who: bytes) -> int | None:
    """The account's health factor, None when it owes nothing (or a price it needs is stale)."""
    res = r.try_view(market, "health_factor", [who])
    if not res.ok or int(res.output) == MAX_INT:
        return None
    return int(res.output)


def _liquidation_prices(r: QuoteReader, market: bytes, who: bytes,
                        oracles: list[OracleReading]) -> list[LiquidationPrice]:
    prices = {o.asset: o.price for o in oracles}
    rows = []
    for token in r.view(market, "assets_of", [who]):
        m = r.view(market, "market", [token])
        supplied = int(r.view(market, "supply_balance", [token, who]))
        owed = int(r.view(market, "borrow_balance", [token, who]))
        p = prices.get(token, 0)
        rows.append((token, int(m["collateral_factor"]) * supplied // EXP * p // EXP, -(-owed * p // EXP), p))
    total_c = sum(c for _, c, _, _ in rows)
    total_d = sum(d for _, _, d, _ in rows)
    out = []
    for token, c, d, p in rows:
        found = compute_liquidation_price(token, c, d, total_c - c, total_d - d, p)
        if found is not None:
            out.append(found)
    return out


def quote_methods(api: NodeApi) -> list[Method]:
    q = QuoteApi(api)
    amount = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    failed = (ErrorSpec(QUOTE_FAILED, "quote_failed"), ErrorSpec(errors.NotFound.code, errors.NotFound.reason))
    return [
        Method("swap_quote", q.swap_quote,
               (Param("path", {"type": "array", "items": ADDRESS}, True, "tokens from the one sold to the one bought"),
                Param("amount_in", amount, False, "sell exactly this much (or give amount_out)"),
                Param("amount_out", amount, False, "buy exactly this much"),
                Param("swap", ADDRESS, False, "default: the genesis contract named swap"),
                Param("oracle", ADDRESS, False, "default: the genesis contract named oracle")),
               {"name": "quote", "type": "object"},
               "Amounts along a swap path at the latest height, the rate, and the risk block (price impact "
               "and its tier, oracle age, pool depth).", failed, expensive=True),
        Method("lending_preview", q.lending_preview,
               (Param("action", {"enum": sorted(LENDING_ACTIONS)}), Param("token", ADDRESS), Param("amount", amount),
                Param("account", ADDRESS),
                Param("lending", ADDRESS, False, "default: the genesis contract named lending")),
               {"name": "preview", "type": "object"},
               "Run a lending action as the account on a copy of the latest state: its outcome, the market's "
               "rates, and the risk block (health factor before and after, liquidation prices, oracle age).",
               failed, expensive=True),
        Method("chain_getContracts", lambda: _named(api), (), {"name": "contracts", "type": "object"},
               "The genesis contracts' addresses by name (e.g. fusd, swap, lending)."),
    ]


async def _named(api: NodeApi) -> dict[str, str]:
    return {name: to_checksum(a) for name, a in genesis_contract_addresses(api.chain.genesis.contracts).items()}
