"""The monitor process: it follows a node's committed blocks and answers aml_* over JSON-RPC.

It runs beside the chain, never in it: it reads blocks over the node's RPC
(`chain_getBlockReceipts`), so it cannot slow block production. A node that is down, restarted
or behind is waited for, with one log line when it goes and one when it is back. The JSON-RPC
(`POST /`) and the alert subscription (`GET /ws`, method `aml_subscribe`) follow the node's
conventions; changing the watchlist needs the admin token of the monitor's home.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import WSMsgType, web

from finance.errors import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR
from finance.monitor.config import SEVERITIES, ConfigError, MonitorConfig, units_of
from finance.monitor.detector import Detector
from finance.monitor.movements import COIN, BadBlock, block_movements
from finance.monitor.store import MonitorStore
from finance.monitor.trace import TraceError, TraceRequest, trace
from node.client.sdk import AsyncClient, RpcCallError, TransportError
from node.types.crypto import AddressError, parse_address, to_checksum_address

log = logging.getLogger("finchain.monitor")

NOT_FOUND: Final = -32140
UNAUTHORIZED: Final = -32141
FETCH_BATCH: Final = 20
MAX_BODY: Final = 1 << 20
MAX_PAGE: Final = 1000
WS_QUEUE: Final = 1000


class WrongChain(RuntimeError):
    """The node follows another chain than the one in the monitor's database: nothing may be mixed."""


class RpcFault(Exception):
    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


def bad(message: str) -> RpcFault:
    return RpcFault(INVALID_PARAMS, message, "invalid_params")


def _address(value: Any, name: str) -> str:
    try:
        return to_checksum_address(parse_address(value))
    except (AddressError, TypeError) as exc:
        raise bad(f"{name}: {exc}") from None


def _int(value: Any, name: str, low: int = 0, high: int = 2**63) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad(f"{name}: an integer from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    node_rpc: str
    home: Path
    host: str = "127.0.0.1"
    port: int = 0
    poll_s: float = 0.5
    admin_token: str = ""
    # Browser origins that may read the monitor (the explorer page, docs/explorer.md); a request
    # from any other origin gets 403, as the node's RPC does. Clients outside a browser send none.
    cors_origins: tuple[str, ...] = ()


class Monitor:
    def __init__(self, settings: MonitorSettings, config: MonitorConfig, store: MonitorStore) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.detector = Detector(config, store, int(time.time() * 1000))
        self.client = AsyncClient(settings.node_rpc, timeout=30)
        self.node_height = 0
        self.node_reachable: bool | None = None
        self.blocks_per_s = 0.0
        self._subs: dict[str, tuple[web.WebSocketResponse, dict[str, Any], asyncio.Queue[str]]] = {}
        self.methods: dict[str, Callable[..., Awaitable[Any]]] = {
            "aml_status": self.aml_status, "aml_alerts": self.aml_alerts, "aml_alert": self.aml_alert,
            "aml_trace": self.aml_trace, "aml_rules": self.aml_rules, "aml_watchlist_list": self.aml_watchlist_list,
            "aml_watchlist_add": self.aml_watchlist_add, "aml_watchlist_remove": self.aml_watchlist_remove,
        }
        self._closing: set[asyncio.Future[Any]] = set()
        self._price_cache: dict[tuple[str, int], int | None] = {}
        self.admin_methods = frozenset({"aml_watchlist_add", "aml_watchlist_remove"})

    # -- following the chain ---------------------------------------------------------------

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._catch_up(stop)
                if self.node_reachable is False:
                    log.info("node %s reachable again at height %d", self.settings.node_rpc, self.node_height)
                self.node_reachable = True
            except (TransportError, RpcCallError, TimeoutError) as exc:
                if self.node_reachable is not False:
                    log.warning("node %s unreachable (%s); waiting for it, the monitor resumes from height %d",
                                self.settings.node_rpc, exc, self.detector.height)
                self.node_reachable = False
            try:
                await asyncio.wait_for(stop.wait(), self.settings.poll_s)
            except TimeoutError:
                pass

    async def _catch_up(self, stop: asyncio.Event) -> None:
        status = await self.client.call("node_status")
        known = self.store.genesis()
        if known is None:
            self.store.set_genesis(status["genesis_hash"])
        elif known != status["genesis_hash"]:
            raise WrongChain(f"the node at {self.settings.node_rpc} is on the chain with genesis "
                             f"{status['genesis_hash']}, and this monitor's database follows {known}: "
                             "point it at a node of that chain, or give it another --home")
        self.node_height = status["height"]
        done = self.detector.height
        started, first = time.monotonic(), done
        while done < self.node_height and not stop.is_set():
            last = min(self.node_height, done + FETCH_BATCH)
            for answer in await self.client.blocks_receipts(list(range(done + 1, last + 1))):
                try:
                    movements = block_movements(answer)
                except BadBlock as exc:
                    raise RpcCallError(INTERNAL_ERROR, f"block {done + 1}: {exc}") from None
                if answer["height"] != done + 1:
                    raise RpcCallError(INTERNAL_ERROR, f"asked for block {done + 1}, got {answer['height']}")
                prices = await self._prices(answer["height"], {m.asset for m in movements})
                alerts = self.detector.process(answer["height"], answer["hash"], movements, prices)
                done += 1
                self._publish(alerts)
            elapsed = time.monotonic() - started
            if elapsed > 0:
                self.blocks_per_s = (done - first) / elapsed
            await asyncio.sleep(0)  # let RPC callers in between batches

    async def _prices(self, height: int, assets: set[str]) -> dict[str, int]:
        """The oracle's prices of these assets at the first height of this block's span (config.fiat)."""
        fiat = self.config.fiat
        if fiat is None or not assets:
            return {}
        at = max(1, height - (height - 1) % fiat.refresh_blocks)
        wanted = {a: (fiat.coin if a == COIN else a) for a in assets}
        missing = sorted({(a, at) for a, priced in wanted.items() if priced and (a, at) not in self._price_cache})
        if missing:
            answers = await self.client.batch([("contract_call", [fiat.oracle, "price", [wanted[a]], at])
                                               for a, _ in missing])
            for key, answer in zip(missing, answers, strict=True):
                ok = isinstance(answer, dict) and answer.get("status") == "success"
                self._price_cache[key] = int(answer["output"]) if ok else None  # stale or unpriced: units only
            if len(self._price_cache) > 10_000:
                self._price_cache = dict(list(self._price_cache.items())[-5_000:])
        return {a: p for a in assets if (p := self._price_cache.get((a, at))) is not None}

    def _publish(self, alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            for sub_id, (ws, wanted, queue) in list(self._subs.items()):
                if not _matches(alert, wanted):
                    continue
                text = json.dumps({"jsonrpc": "2.0", "method": "aml_alert",
                                   "params": {"subscription": sub_id, "result": alert}})
                if queue.full():
                    log.warning("dropping a slow alert subscriber")
                    self._subs.pop(sub_id, None)
                    task = asyncio.ensure_future(ws.close(message=b"subscriber too slow"))
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
                else:
                    queue.put_nowait(text)

    # -- methods ------------------------------------------------------------------------------

    async def aml_status(self) -> dict[str, Any]:
        height = self.detector.height
        return {"height": height, "node": self.settings.node_rpc, "node_height": self.node_height,
                "lag": max(0, self.node_height - height), "node_reachable": self.node_reachable,
                "blocks_per_s": round(self.blocks_per_s, 1), "alerts": self.store.alert_count()}

    async def aml_alerts(self, rule: str | None = None, severity: str | None = None, address: str | None = None,
                         from_height: int = 0, to_height: int | None = None, limit: int = 100,
                         cursor: str | None = None) -> dict[str, Any]:
        if rule is not None and rule not in self.config.rules:
            raise bad(f"rule: one of {', '.join(self.config.rules)}")
        if severity is not None and severity not in SEVERITIES:
            raise bad(f"severity: one of {', '.join(SEVERITIES)}")
        who = None if address is None else _address(address, "address")
        first = _int(from_height, "from_height")
        last = 2**63 if to_height is None else _int(to_height, "to_height")
        size = _int(limit, "limit", 1, MAX_PAGE)
        after = None if cursor is None else _cursor(cursor)
        out: list[dict[str, Any]] = []
        next_cursor = None
        for _, aid in self.store.alert_ids(rule=rule if who is None else None, address=who, first=first,
                                                 last=last, after=after):
            alert = self.store.alert("0x" + aid.hex())
            if alert is None or (rule and alert["rule"] != rule) or (severity and alert["severity"] != severity):
                continue
            if len(out) == size:
                next_cursor = f"{out[-1]['height']}:{out[-1]['id']}"
                break
            out.append(alert)
        return {"alerts": out, "next_cursor": next_cursor}

    async def aml_alert(self, id: str) -> dict[str, Any]:
        if not isinstance(id, str) or len(id) != 34 or not id.startswith("0x"):
            raise bad("id: 0x and 32 hex digits")
        try:
            found = self.store.alert(id.lower())
        except ValueError:
            raise bad("id: 0x and 32 hex digits") from None
        if found is None:
            raise RpcFault(NOT_FOUND, f"no alert {id}", "not_found")
        return found

    async def aml_trace(self, address: str | None = None, tx: str | None = None, asset: str = "FIN",
                        direction: str = "forward", hops: int = 3, method: str = "fifo",
                        from_height: int = 0, min_taint: str | int = 0) -> dict[str, Any]:
        who = None if address is None else _address(address, "address")
        coin = asset if asset == "FIN" else _address(asset, "asset")
        if tx is not None and (not isinstance(tx, str) or len(tx) != 66 or not tx.startswith("0x")):
            raise bad("tx: 0x and 64 hex digits")
        try:
            dust = units_of(min_taint, "min_taint")
        except ConfigError as exc:
            raise bad(str(exc)) from None
        request = TraceRequest(who, None if tx is None else tx.lower(), coin, direction,
                               _int(hops, "hops", 1, 1_000_000), method, _int(from_height, "from_height"), dust)
        try:
            return await asyncio.to_thread(trace, self.store, request)
        except TraceError as exc:
            raise bad(str(exc)) from None

    async def aml_rules(self) -> dict[str, Any]:
        return self.config.to_json()

    async def aml_watchlist_list(self) -> dict[str, Any]:
        return {"watchlist": [{"address": a, **v} for a, v in sorted(self.detector.watchlist.items())]}

    async def aml_watchlist_add(self, address: str, source: str, reason: str) -> bool:
        who = _address(address, "address")
        if not isinstance(source, str) or not isinstance(reason, str) or not source or len(source + reason) > 500:
            raise bad("source and reason: text, 1 to 500 characters in all")
        added = int(time.time() * 1000)
        self.store.watch(who, source, reason, added)
        self.detector.watchlist[who] = {"source": source, "reason": reason, "added_ms": added}
        return True

    async def aml_watchlist_remove(self, address: str) -> bool:
        who = _address(address, "address")
        self.detector.watchlist.pop(who, None)
        return self.store.unwatch(who)

    # -- transport -------------------------------------------------------------------------------

    async def call(self, req: Any, admin: bool) -> dict[str, Any] | None:
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
                raise RpcFault(INVALID_REQUEST, "Invalid Request", "invalid_request")
            handler = self.methods.get(req["method"])
            if handler is None:
                raise RpcFault(METHOD_NOT_FOUND, "Method not found", "method_not_found")
            if req["method"] in self.admin_methods and not admin:
                raise RpcFault(UNAUTHORIZED, f"{req['method']} needs the monitor's admin token", "unauthorized")
            params = req.get("params", [])
            try:
                bound = inspect.signature(handler).bind(*params) if isinstance(params, list) else (
                    inspect.signature(handler).bind(**params) if isinstance(params, dict) else None)
            except TypeError as exc:
                raise bad(f"{req['method']}: {exc}") from None
            if bound is None:
                raise bad("params: an array or an object")
            result = await handler(*bound.args, **bound.kwargs)
        except RpcFault as exc:
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "error": {
                "code": exc.code, "message": exc.message, "data": {"reason": exc.reason}}}
        except Exception:
            log.exception("monitor RPC call failed")
            answer = {"jsonrpc": "2.0", "id": rid, "error": {"code": INTERNAL_ERROR, "message": "Internal error"}}
        else:
            answer = {"jsonrpc": "2.0", "id": rid, "result": result}
        return answer if isinstance(req, dict) and "id" in req else None

    def _admin(self, request: web.Request) -> bool:
        token = self.settings.admin_token
        return bool(token) and hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")

    def _origin_headers(self, request: web.Request) -> dict[str, str] | None:
        """CORS headers for an allowed origin ({} without one), None for a refused origin."""
        origin = request.headers.get("Origin")
        if origin is None:
            return {}
        allowed = self.settings.cors_origins
        if "*" not in allowed and origin not in allowed:
            return None
        return {"Access-Control-Allow-Origin": "*" if "*" in allowed else origin, "Vary": "Origin"}

    async def on_preflight(self, request: web.Request) -> web.Response:
        headers = self._origin_headers(request)
        if not headers:
            return web.Response(status=403)
        # Content-Type only: a page cannot send the Authorization header the watchlist methods need.
        return web.Response(status=204, headers={**headers, "Access-Control-Allow-Methods": "POST",
                                                 "Access-Control-Allow-Headers": "Content-Type",
                                                 "Access-Control-Max-Age": "600"})

    async def on_post(self, request: web.Request) -> web.Response:
        headers = self._origin_headers(request)
        if headers is None:
            return web.json_response(_fault(None, INVALID_REQUEST, "origin not allowed"), status=403)
        response = await self._answer(request)
        response.headers.update(headers)
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response(_fault(None, INVALID_REQUEST, f"a request is at most {MAX_BODY} bytes"))
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return web.json_response(_fault(None, PARSE_ERROR, "Parse error"))
        admin = self._admin(request)
        if isinstance(doc, list):
            if not doc or len(doc) > 100:
                return web.json_response(_fault(None, INVALID_REQUEST, "a batch has 1 to 100 calls"))
            answers = [a for a in [await self.call(r, admin) for r in doc] if a is not None]
            return web.json_response(answers) if answers else web.Response(status=204)
        answer = await self.call(doc, admin)
        return web.json_response(answer) if answer is not None else web.Response(status=204)

    async def on_ws(self, request: web.Request) -> web.StreamResponse:
        if self._origin_headers(request) is None:
            return web.json_response(_fault(None, INVALID_REQUEST, "origin not allowed"), status=403)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(WS_QUEUE)
        mine: list[str] = []
        writer = asyncio.ensure_future(_drain(ws, queue))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                except (json.JSONDecodeError, RecursionError):
                    await queue.put(json.dumps(_fault(None, PARSE_ERROR, "Parse error")))
                    continue
                if isinstance(req, dict) and req.get("method") == "aml_subscribe":
                    await queue.put(json.dumps(self._subscribe(req, ws, queue, mine)))
                else:
                    answer = await self.call(req, False)
                    if answer is not None:
                        await queue.put(json.dumps(answer))
        finally:
            for sub_id in mine:
                self._subs.pop(sub_id, None)
            writer.cancel()
        return ws

    def _subscribe(self, req: dict[str, Any], ws: web.WebSocketResponse, queue: asyncio.Queue[str],
                   mine: list[str]) -> dict[str, Any]:
        params = req.get("params") or {}
        if isinstance(params, list):
            params = params[0] if params else {}
        if not isinstance(params, dict) or set(params) - {"rule", "severity", "address"}:
            return _fault(req.get("id"), INVALID_PARAMS, "aml_subscribe takes {rule?, severity?, address?}")
        try:
            wanted = dict(params)
            if "address" in wanted:
                wanted["address"] = _address(wanted["address"], "address")
        except RpcFault as exc:
            return _fault(req.get("id"), exc.code, exc.message)
        sub_id = "0x" + secrets.token_hex(16)
        self._subs[sub_id] = (ws, wanted, queue)
        mine.append(sub_id)
        return {"jsonrpc": "2.0", "id": req.get("id"), "result": sub_id}


def _matches(alert: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all((alert["rule"] == v) if k == "rule" else (alert["severity"] == v) if k == "severity"
               else (v in alert["addresses"]) for k, v in wanted.items())


def _fault(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _cursor(text: Any) -> tuple[int, bytes]:
    if isinstance(text, str) and text.count(":") == 1:
        height, aid = text.split(":")
        if height.isascii() and height.isdigit() and len(height) < 20 and aid.startswith("0x") and len(aid) == 34:
            try:
                return int(height), bytes.fromhex(aid[2:])
            except ValueError:
                pass
    raise bad("cursor: the next_cursor of a previous page")


async def _drain(ws: web.WebSocketResponse, queue: asyncio.Queue[str]) -> None:
    while True:
        text = await queue.get()
        await ws.send_str(text)


async def serve(monitor: Monitor, stop: asyncio.Event, ready: Callable[[str], None] | None = None) -> None:
    app = web.Application(client_max_size=MAX_BODY + 1)
    app.router.add_post("/", monitor.on_post)
    app.router.add_route("OPTIONS", "/", monitor.on_preflight)
    app.router.add_get("/ws", monitor.on_ws)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, monitor.settings.host, monitor.settings.port)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://{monitor.settings.host}:{port}"
    log.info("AML monitor serving on %s, following %s from height %d", url, monitor.settings.node_rpc,
             monitor.detector.height)
    if ready is not None:
        ready(url)
    try:
        await monitor.follow(stop)
    finally:
        await runner.cleanup()
        await monitor.client.close()
