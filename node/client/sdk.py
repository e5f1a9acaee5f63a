"""The Python SDK: JSON-RPC calls, transaction building, waiting for finality.

`Client` is synchronous (stdlib HTTP, usable from any script); `AsyncClient` uses aiohttp.
Both share the request and answer handling, and raise `RpcCallError` with the node's
code, message and reason. Contract methods (deploy, call, query, code, gas estimates) take
JSON-style arguments and convert them by the contract's declared types
(node/client/contracts.py); problems found before sending raise `ContractError`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp

from node.client.contracts import (
    call_estimate,
    call_params,
    constructor_values,
    deploy_estimate,
    deployed_address,
    method_values,
    suggested_gas,
    with_contract_address,
)
from node.client.statements import join_pages
from node.types.crypto import PrivateKey, parse_address, to_checksum_address
from node.types.tx import TRANSFER_GAS, Call, Deploy, SignedTx, Transfer, TxBody
from vm.values import encode_value

STATEMENT_PAGE = 1_000  # movements per account_statement call (the node allows up to 10,000)
RECEIPTS_PAGE = 500  # transactions per chain_getBlockReceipts page (the node allows up to 20,000)
RECEIPTS_BATCH = 20  # heights per batch of first pages: at most 10,000 receipts in one answer


class RpcCallError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    @property
    def reason(self) -> str | None:
        return self.data.get("reason") if isinstance(self.data, dict) else None


class TransportError(Exception):
    """The node could not be reached or answered something that is not JSON-RPC."""


_ids = itertools.count(1)


def _request(method: str, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}


def _result(answer: Any) -> Any:
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
        raise TransportError(f"not a JSON-RPC answer: {answer!r:.200}")
    if "error" in answer:
        err = answer["error"]
        raise RpcCallError(err.get("code", 0), err.get("message", ""), err.get("data"))
    return answer.get("result")


# Builders do not ask the node: their default is a cap well above the default floor (1 gwei), of
# which only base fee + tip is paid. Client methods ask `chain_feeInfo` instead (pick_fees).
DEFAULT_MAX_FEE = 100 * 10**9
DEFAULT_PRIORITY_FEE = 10**8


def pick_fees(info: dict[str, Any], max_fee: int | None, priority_fee: int | None) -> tuple[int, int]:
    """(max fee, priority fee) per gas: the caller's, else the node's suggestion (chain_feeInfo).

    The suggested max fee is twice the next base fee plus the tip, so a transaction stays
    includable through six full blocks of base fee rises.
    """
    priority = int(info["suggested_priority_fee"]) if priority_fee is None else priority_fee
    if max_fee is None:
        max_fee = max(int(info["suggested_max_fee"]), 2 * int(info["base_fee_per_gas"]) + priority)
    return max_fee, min(priority, max_fee)


def build_transfer(
    key: PrivateKey,
    chain_id: str,
    nonce: int,
    to: str | bytes,
    amount: int,
    *,
    max_fee: int = DEFAULT_MAX_FEE,
    priority_fee: int = DEFAULT_PRIORITY_FEE,
    gas_limit: int = TRANSFER_GAS,
    expiry_height: int = 0,
) -> SignedTx:
    to_bytes = parse_address(to) if isinstance(to, str) else to
    body = TxBody(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry_height, Transfer(to_bytes, amount))
    return body.sign(key)


def build_deploy(
    key: PrivateKey,
    chain_id: str,
    nonce: int,
    source: str,
    args: list[Any] | None = None,
    *,
    value: int = 0,
    gas_limit: int = 5_000_000,
    max_fee: int = DEFAULT_MAX_FEE,
    priority_fee: int = DEFAULT_PRIORITY_FEE,
    expiry_height: int = 0,
) -> SignedTx:
    """A deploy transaction; `args` are contract values (int, str, bytes, vm.Address, list, dict)."""
    payload = Deploy(source, encode_value(list(args or [])), value)
    return TxBody(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry_height, payload).sign(key)


def build_call(
    key: PrivateKey,
    chain_id: str,
    nonce: int,
    contract: str | bytes,
    method: str,
    args: list[Any] | None = None,
    *,
    value: int = 0,
    gas_limit: int = 1_000_000,
    max_fee: int = DEFAULT_MAX_FEE,
    priority_fee: int = DEFAULT_PRIORITY_FEE,
    expiry_height: int = 0,
) -> SignedTx:
    """A contract call transaction; `args` are contract values (see build_deploy)."""
    to = parse_address(contract) if isinstance(contract, str) else contract
    payload = Call(to, method, encode_value(list(args or [])), value)
    return TxBody(chain_id, nonce, gas_limit, max_fee, priority_fee, expiry_height, payload).sign(key)


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8545", timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._chain_id: str | None = None
        self._interfaces: dict[str, list[dict[str, Any]]] = {}

    def call(self, method: str, *params: Any) -> Any:
        return self._send(_request(method, list(params)))

    def call_named(self, method: str, params: dict[str, Any]) -> Any:
        """A call with its parameters by name (JSON-RPC 2.0's params object)."""
        return self._send(_request(method, params))

    def _send(self, request: dict[str, Any]) -> Any:
        body = json.dumps(request).encode()
        req = urllib.request.Request(self.url, body, self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return _result(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            try:
                return _result(json.loads(exc.read()))
            except (json.JSONDecodeError, TransportError):
                raise TransportError(f"HTTP {exc.code} from {self.url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc

    def status(self) -> dict[str, Any]:
        return self.call("node_status")

    def consensus_state(self) -> dict[str, Any]:
        return self.call("consensus_state")

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.status()["chain_id"]
        return self._chain_id

    def account(self, address: str, block: int | str = "latest") -> dict[str, Any]:
        return self.call("account_get", address, block)

    def balance(self, address: str) -> int:
        return int(self.account(address)["balance"])

    def account_statement(self, address: str, from_height: int, to_height: int, *, limit: int = STATEMENT_PAGE,
                          cursor: str | None = None, all_pages: bool = True) -> dict[str, Any]:
        """The statement of `address` over [from_height, to_height] (docs/finance.md): every page
        joined and reconciled, or with all_pages=False the one answer at `cursor`."""
        page = self.call("account_statement", address, from_height, to_height, limit, cursor)
        if not all_pages:
            return page  # type: ignore[no-any-return]
        pages = [page]
        while pages[-1]["next_cursor"] is not None:
            pages.append(self.call("account_statement", address, from_height, to_height, limit,
                                   pages[-1]["next_cursor"]))
        return join_pages(pages)

    def next_nonce(self, address: str) -> int:
        return int(self.account(address)["pending_nonce"])

    def fee_info(self) -> dict[str, Any]:
        return self.call("chain_feeInfo")

    def fees(self, max_fee: int | None = None, priority_fee: int | None = None) -> tuple[int, int]:
        """(max fee, priority fee) per gas for a new transaction: the given ones, else the node's suggestion."""
        if max_fee is not None and priority_fee is not None:
            return max_fee, priority_fee
        return pick_fees(self.fee_info(), max_fee, priority_fee)

    def send_raw(self, raw: bytes) -> str:
        return self.call("tx_send", "0x" + raw.hex())

    def get_tx(self, tx_hash: str) -> dict[str, Any]:
        return self.call("tx_get", tx_hash)

    def get_block(self, block: int | str = "latest", full: bool = False) -> dict[str, Any]:
        return self.call("chain_getBlock", block, full)

    def wait_for_tx(self, tx_hash: str, timeout: float = 30.0, poll: float = 0.2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get_tx(tx_hash)
            if answer["status"] == "committed":
                return answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {tx_hash} not committed after {timeout}s (status {answer['status']})")
            time.sleep(poll)

    def transfer(self, key: PrivateKey, to: str, amount: int, *, max_fee: int | None = None,
                 priority_fee: int | None = None,
                 nonce: int | None = None, wait: bool = False, timeout: float = 30.0) -> str:
        if nonce is None:
            nonce = self.next_nonce(to_checksum_address(key.address))
        fees = self.fees(max_fee, priority_fee)
        tx = build_transfer(key, self.chain_id, nonce, to, amount, max_fee=fees[0], priority_fee=fees[1])
        tx_hash = self.send_raw(tx.raw)
        if wait:
            self.wait_for_tx(tx_hash, timeout)
        return tx_hash

    # -- contracts (helpers in node/client/contracts.py) ------------------------------------

    def contract_call(self, address: str, method: str, args: list[Any] | None = None,
                      block: int | str = "latest", sender: str | None = None) -> dict[str, Any]:
        """Run a view (or dry-run a public method) on the node; `status` says whether it failed."""
        return self.call("contract_call", *call_params(address, method, args, block, sender))

    def contracts(self) -> dict[str, str]:
        """The genesis contracts' addresses by name (fusd, swap, lending, ...)."""
        return self.call("chain_getContracts")

    def swap_quote(self, path: list[str], amount_in: int | None = None, amount_out: int | None = None,
                   **where: str) -> dict[str, Any]:
        """Amounts along a swap path with the risk block; exactly one of amount_in, amount_out."""
        params: dict[str, Any] = {"path": path, **where}
        if amount_in is not None:
            params["amount_in"] = str(amount_in)
        if amount_out is not None:
            params["amount_out"] = str(amount_out)
        return self.call_named("swap_quote", params)

    def find_paths(self, send_token: str, deliver_token: str, amount: int | None = None,
                   deliver_amount: int | None = None, **options: Any) -> dict[str, Any]:
        """The best payment paths with amounts, rate and risk; exactly one of amount, deliver_amount."""
        params: dict[str, Any] = {"send_token": send_token, "deliver_token": deliver_token, **options}
        if amount is not None:
            params["amount"] = str(amount)
        if deliver_amount is not None:
            params["deliver_amount"] = str(deliver_amount)
        return self.call_named("payment_findPaths", params)

    def payment_preview(self, sender: str, to: str, send_token: str, deliver_token: str, send_max: int,
                        **options: Any) -> dict[str, Any]:
        """A payment run as `sender` on a copy of the latest state: its outcome and reason code."""
        params = {"sender": sender, "to": to, "send_token": send_token, "deliver_token": deliver_token,
                  "send_max": str(send_max), **options}
        return self.call_named("payment_preview", params)

    def lending_preview(self, action: str, token: str, amount: int, account: str, **where: str) -> dict[str, Any]:
        """A lending action run on a copy of the latest state: outcome, rates and the risk block."""
        return self.call_named("lending_preview", {"action": action, "token": token, "amount": str(amount),
                                                   "account": account, **where})

    def vault_preview(self, action: str, amount: int, account: str, **where: str) -> dict[str, Any]:
        """A vault action (deposit, mint, withdraw, redeem) previewed and dry-run as `account`, with
        the risk block; `where` may name the vault, the receiver and the owner."""
        return self.call_named("vault_preview", {"action": action, "amount": str(amount), "account": account,
                                                 **where})

    def get_code(self, address: str, block: int | str = "latest") -> dict[str, Any]:
        return self.call("contract_getCode", address, block)

    def estimate_gas(self, tx: dict[str, Any]) -> dict[str, Any]:
        return self.call("tx_estimateGas", tx)

    def interface(self, address: str) -> list[dict[str, Any]]:
        """A contract's interface, cached: deployed code never changes."""
        if address.lower() not in self._interfaces:
            self._interfaces[address.lower()] = self.get_code(address)["interface"]
        return self._interfaces[address.lower()]

    def deploy(self, key: PrivateKey, source: str, args: list[Any] | None = None, *, value: int = 0,
               gas_limit: int | None = None, max_fee: int | None = None,
               priority_fee: int | None = None, nonce: int | None = None,
               wait: bool = True, timeout: float = 30.0) -> Any:
        """Deploy `source`; the tx_get answer with `contract_address` on top when `wait`, else the tx hash.

        The source is checked locally and the args converted by the constructor's types
        (ContractError); without `gas_limit` the node's estimate is used (EstimateFailed if
        the deploy would fail).
        """
        values = constructor_values(source, args)
        sender = to_checksum_address(key.address)
        if gas_limit is None:
            gas_limit = suggested_gas(self.estimate_gas(deploy_estimate(sender, source, values, value)),
                                         "the deploy")
        if nonce is None:
            nonce = self.next_nonce(sender)
        fees = self.fees(max_fee, priority_fee)
        tx = build_deploy(key, self.chain_id, nonce, source, values, value=value, gas_limit=gas_limit,
                          max_fee=fees[0], priority_fee=fees[1])
        tx_hash = self.send_raw(tx.raw)
        if not wait:
            return tx_hash
        return with_contract_address(self.wait_for_tx(tx_hash, timeout), deployed_address(key.address, nonce))

    def call_contract(self, key: PrivateKey, address: str, method: str, args: list[Any] | None = None, *,
                      value: int = 0, gas_limit: int | None = None, max_fee: int | None = None,
                      priority_fee: int | None = None,
                      nonce: int | None = None, wait: bool = True, timeout: float = 30.0) -> Any:
        """Send a call transaction; the tx_get answer when `wait` (see its receipt's status), else the hash."""
        values = method_values(self.interface(address), method, args)
        sender = to_checksum_address(key.address)
        if gas_limit is None:
            estimate = self.estimate_gas(call_estimate(sender, address, method, values, value))
            gas_limit = suggested_gas(estimate, f"the call of {method}")
        if nonce is None:
            nonce = self.next_nonce(sender)
        fees = self.fees(max_fee, priority_fee)
        tx = build_call(key, self.chain_id, nonce, address, method, values, value=value, gas_limit=gas_limit,
                        max_fee=fees[0], priority_fee=fees[1])
        tx_hash = self.send_raw(tx.raw)
        return self.wait_for_tx(tx_hash, timeout) if wait else tx_hash


class AsyncClient:
    def __init__(self, url: str = "http://127.0.0.1:8545", timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._chain_id: str | None = None
        self._interfaces: dict[str, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _post(self, payload: Any) -> Any:
        try:
            async with self._sess().post(self.url, json=payload) as resp:
                if resp.status == 204:
                    return None
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc

    async def call(self, method: str, *params: Any) -> Any:
        return _result(await self._post(_request(method, list(params))))

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Send calls in one JSON-RPC batch; each item is a result or an RpcCallError."""
        reqs = [_request(m, p) for m, p in calls]
        answers = await self._post(reqs)
        if not isinstance(answers, list):
            _result(answers)
            raise TransportError("batch answered with a single object")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out: list[Any] = []
        for r in reqs:
            try:
                out.append(_result(by_id.get(r["id"])))
            except RpcCallError as exc:
                out.append(exc)
        return out

    async def blocks_receipts(self, heights: list[int], page: int = RECEIPTS_PAGE,
                              per_batch: int = RECEIPTS_BATCH) -> list[dict[str, Any]]:
        """chain_getBlockReceipts of each height, in order, with every page of a large block joined.

        First pages go `per_batch` heights to a batch, so a run of small blocks costs few round trips
        and a batch's answer stays far below the node's response limit; raises the first RpcCallError."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(heights), per_batch):
            answers = await self.batch([("chain_getBlockReceipts", [h, 0, page]) for h in heights[i : i + per_batch]])
            for answer in answers:
                if isinstance(answer, RpcCallError):
                    raise answer
                while (offset := answer.get("next")) is not None:
                    if not isinstance(offset, int) or offset != len(answer["txs"]):
                        raise TransportError(f"block {answer.get('height')}: a page that does not follow on")
                    more = await self.call("chain_getBlockReceipts", answer["height"], offset, page)
                    if more.get("hash") != answer["hash"]:
                        raise TransportError(f"block {answer['height']} changed between pages")
                    answer = {**more, "txs": answer["txs"] + more["txs"]}
                out.append(answer)
        return out

    async def status(self) -> dict[str, Any]:
        return await self.call("node_status")

    async def consensus_state(self) -> dict[str, Any]:
        return await self.call("consensus_state")

    async def send_raw(self, raw: bytes) -> str:
        return await self.call("tx_send", "0x" + raw.hex())

    async def get_tx(self, tx_hash: str) -> dict[str, Any]:
        return await self.call("tx_get", tx_hash)

    async def account(self, address: str, block: int | str = "latest") -> dict[str, Any]:
        return await self.call("account_get", address, block)

    async def account_statement(self, address: str, from_height: int, to_height: int, *,
                                limit: int = STATEMENT_PAGE, cursor: str | None = None,
                                all_pages: bool = True) -> dict[str, Any]:
        """As Client.account_statement."""
        page = await self.call("account_statement", address, from_height, to_height, limit, cursor)
        if not all_pages:
            return page  # type: ignore[no-any-return]
        pages = [page]
        while pages[-1]["next_cursor"] is not None:
            pages.append(await self.call("account_statement", address, from_height, to_height, limit,
                                         pages[-1]["next_cursor"]))
        return join_pages(pages)

    async def wait_for_tx(self, tx_hash: str, timeout: float = 30.0, poll: float = 0.2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = await self.get_tx(tx_hash)
            if answer["status"] == "committed":
                return answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {tx_hash} not committed after {timeout}s")
            await asyncio.sleep(poll)

    async def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = (await self.status())["chain_id"]
        return self._chain_id

    async def next_nonce(self, address: str) -> int:
        return int((await self.account(address))["pending_nonce"])

    async def fee_info(self) -> dict[str, Any]:
        return await self.call("chain_feeInfo")

    async def fees(self, max_fee: int | None = None, priority_fee: int | None = None) -> tuple[int, int]:
        if max_fee is not None and priority_fee is not None:
            return max_fee, priority_fee
        return pick_fees(await self.fee_info(), max_fee, priority_fee)

    # -- contracts: as in Client ------------------------------------------------------------

    async def contract_call(self, address: str, method: str, args: list[Any] | None = None,
                            block: int | str = "latest", sender: str | None = None) -> dict[str, Any]:
        return await self.call("contract_call", *call_params(address, method, args, block, sender))

    async def get_code(self, address: str, block: int | str = "latest") -> dict[str, Any]:
        return await self.call("contract_getCode", address, block)

    async def estimate_gas(self, tx: dict[str, Any]) -> dict[str, Any]:
        return await self.call("tx_estimateGas", tx)

    async def interface(self, address: str) -> list[dict[str, Any]]:
        if address.lower() not in self._interfaces:
            self._interfaces[address.lower()] = (await self.get_code(address))["interface"]
        return self._interfaces[address.lower()]

    async def deploy(self, key: PrivateKey, source: str, args: list[Any] | None = None, *, value: int = 0,
                     gas_limit: int | None = None, max_fee: int | None = None,
                     priority_fee: int | None = None, nonce: int | None = None,
                     wait: bool = True, timeout: float = 30.0) -> Any:
        values = constructor_values(source, args)
        sender = to_checksum_address(key.address)
        if gas_limit is None:
            estimate = await self.estimate_gas(deploy_estimate(sender, source, values, value))
            gas_limit = suggested_gas(estimate, "the deploy")
        if nonce is None:
            nonce = await self.next_nonce(sender)
        fees = await self.fees(max_fee, priority_fee)
        tx = build_deploy(key, await self.chain_id(), nonce, source, values, value=value, gas_limit=gas_limit,
                          max_fee=fees[0], priority_fee=fees[1])
        tx_hash = await self.send_raw(tx.raw)
        if not wait:
            return tx_hash
        answer = await self.wait_for_tx(tx_hash, timeout)
        return with_contract_address(answer, deployed_address(key.address, nonce))

    async def call_contract(self, key: PrivateKey, address: str, method: str, args: list[Any] | None = None, *,
                            value: int = 0, gas_limit: int | None = None, max_fee: int | None = None,
                            priority_fee: int | None = None,
                            nonce: int | None = None, wait: bool = True, timeout: float = 30.0) -> Any:
        values = method_values(await self.interface(address), method, args)
        sender = to_checksum_address(key.address)
        if gas_limit is None:
            estimate = await self.estimate_gas(call_estimate(sender, address, method, values, value))
            gas_limit = suggested_gas(estimate, f"the call of {method}")
        if nonce is None:
            nonce = await self.next_nonce(sender)
        fees = await self.fees(max_fee, priority_fee)
        tx = build_call(key, await self.chain_id(), nonce, address, method, values, value=value,
                        gas_limit=gas_limit, max_fee=fees[0], priority_fee=fees[1])
        tx_hash = await self.send_raw(tx.raw)
        return await self.wait_for_tx(tx_hash, timeout) if wait else tx_hash
