"""`finchain kyc-issuer serve`: the KYC issuer service as a process (aiohttp, JSON-RPC 2.0, LevelDB).

JSON-RPC conventions are the node's (docs/protocol.md): errors carry `data.reason`, a
stable code from docs/finance.md. Wallet methods are open; operator methods (kyc_list,
kyc_get, kyc_approve, kyc_reject, kyc_erase) need `Authorization: Bearer <HOME/admin_token>`.
An application is written (synced) before it is acknowledged, so an acknowledged one
survives any crash; a resent one is refused as a replay with its id.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from finance.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ApplicationNotFound,
    ApplicationStale,
    ApplicationTooLarge,
    BadApplication,
    BadApplicationSignature,
    BadTravelData,
    FinanceError,
    TravelForbidden,
    TravelNotFound,
    Unauthorized,
    WrongIssuer,
)
from finance.kyc.attest import Attester, failpoint, open_document
from finance.kyc.envelope import MAX_CIPHERTEXT_BYTES, Application, compute_withdraw_digest
from finance.kyc.home import IssuerConfig
from finance.kyc.store import FAILED, PENDING, REJECTED, WITHDRAWN, ApplicationStore
from finance.travel import MAX_TRAVEL_BYTES, compute_get_digest, compute_travel_ref, parse_header
from node.client.sdk import AsyncClient, RpcCallError, TransportError
from node.types.crypto import SignatureError, recover_address, recover_pubkey, to_checksum_address

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
NODE_UNREACHABLE = -32122


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of an application: no ciphertext, no signature."""
    return {"id": rec["id"], "applicant": rec["applicant"], "state": rec["state"], "topics": rec["topics"],
            "created_ms": rec["created_ms"], "received_ms": rec["received_ms"], "reason": rec["reason"],
            "commitment": rec["commitment"],
            "attest": [{k: e.get(k) for k in ("topic", "value", "ref", "expiry_height", "hash", "status", "height",
                                              "error")} for e in rec["attest"]]}


class RpcFault(Exception):
    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class IssuerService:
    def __init__(self, config: IssuerConfig, store: ApplicationStore, client: AsyncClient,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.key = config.key()
        self.issuer = to_checksum_address(self.key.address)
        self.token = config.admin_token()
        self.store = store
        self.client = client
        self.clock = clock
        self.attester = Attester(store, self.key, client, config.identity, config.claim_blocks)
        self.public: dict[str, Callable[..., Awaitable[Any]]] = {
            "kyc_info": self.kyc_info, "kyc_submit": self.kyc_submit, "kyc_status": self.kyc_status,
            "kyc_withdraw": self.kyc_withdraw, "travel_submit": self.travel_submit, "travel_get": self.travel_get}
        self.admin: dict[str, Callable[..., Awaitable[Any]]] = {
            "kyc_list": self.kyc_list, "kyc_get": self.kyc_get, "kyc_approve": self.kyc_approve,
            "kyc_reject": self.kyc_reject, "kyc_erase": self.kyc_erase}

    # -- wallet methods ------------------------------------------------------------------------

    async def kyc_info(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "public_key": "0x" + self.key.public_key.hex(), "name": self.config.name,
                "topics": list(self.config.topics), "identity": self.config.identity,
                "max_ciphertext_bytes": MAX_CIPHERTEXT_BYTES, "max_age_s": self.config.max_age_s}

    async def kyc_submit(self, application: Any) -> dict[str, Any]:
        app = Application.from_json(application)
        if app.issuer != self.key.address:
            raise WrongIssuer(f"this service is issuer {self.issuer}, not {to_checksum_address(app.issuer)}")
        if len(app.ciphertext) > MAX_CIPHERTEXT_BYTES:
            raise ApplicationTooLarge(f"the ciphertext is {len(app.ciphertext)} bytes, at most {MAX_CIPHERTEXT_BYTES}")
        unknown = [t for t in app.topics if t not in self.config.topics]
        if unknown:
            raise BadApplication(f"this issuer does not attest {unknown}; it attests {list(self.config.topics)}")
        app.validate_signature()
        now_ms = int(self.clock() * 1000)
        if abs(now_ms - app.created_ms) > self.config.max_age_s * 1000:
            raise ApplicationStale(f"created_ms is more than {self.config.max_age_s} s from the issuer's clock")
        # Opening it proves the envelope and the document are sound before it is accepted; the
        # plaintext is dropped at once.
        open_document(self.key, app.to_json())
        rec = self.store.add(app, now_ms)
        failpoint("after_submit")
        return summary(rec)

    async def kyc_status(self, id: Any) -> dict[str, Any]:
        return summary(self.store.get(_id(id)))

    async def kyc_withdraw(self, id: Any, signature: Any) -> dict[str, Any]:
        app_id = _id(id)
        rec = self.store.get(app_id)
        try:
            signer = recover_address(compute_withdraw_digest(bytes.fromhex(app_id[2:])), _hex(signature, "signature"))
        except SignatureError:
            signer = b""
        if not signer or to_checksum_address(signer) != rec["applicant"]:
            raise BadApplicationSignature("the withdrawal is not signed by the applicant's key")
        async with self.attester.lock:
            return summary(self.store.transition(app_id, (PENDING,), WITHDRAWN))

    # -- travel-rule data of payments (finance/travel.py) -------------------------------------

    async def travel_submit(self, ciphertext: Any) -> dict[str, Any]:
        raw = _travel_hex(ciphertext, "ciphertext")
        if len(raw) > MAX_TRAVEL_BYTES:
            raise ApplicationTooLarge(f"travel data is at most {MAX_TRAVEL_BYTES} bytes")
        parse_header(raw)
        ref = compute_travel_ref(raw)
        self.store.put_travel(ref, raw)
        return {"ref": "0x" + ref.hex()}

    async def travel_get(self, ref: Any, created_ms: Any, signature: Any) -> dict[str, Any]:
        """The ciphertext, only for a signature by the originator's or the beneficiary's key."""
        raw_ref = _travel_hex(ref, "ref")
        if len(raw_ref) != 32 or type(created_ms) is not int or not 0 <= created_ms < 2**63:
            raise BadTravelData("ref: 32 bytes of 0x hex; created_ms: milliseconds since the epoch")
        if abs(int(self.clock() * 1000) - created_ms) > self.config.max_age_s * 1000:
            raise TravelForbidden(f"created_ms is more than {self.config.max_age_s} s from the service's clock")
        try:
            signer = recover_pubkey(compute_get_digest(raw_ref, created_ms), _travel_hex(signature, "signature"))
        except SignatureError:
            raise TravelForbidden("the request's signature is malformed") from None
        ciphertext = self.store.get_travel(raw_ref)
        if ciphertext is None:
            raise TravelNotFound(f"no travel data with ref 0x{raw_ref.hex()}")
        o_pub, b_pub, _, _ = parse_header(ciphertext)
        if signer.format(compressed=True) not in (o_pub, b_pub):
            raise TravelForbidden("only the originator's or the beneficiary's key may read this travel data")
        return {"ref": "0x" + raw_ref.hex(), "ciphertext": "0x" + ciphertext.hex()}

    # -- operator methods ----------------------------------------------------------------------

    async def kyc_list(self, state: Any = None, after: Any = 0, limit: Any = 100) -> list[dict[str, Any]]:
        if (state is not None and not isinstance(state, str)) or type(after) is not int or type(limit) is not int:
            raise RpcFault(INVALID_PARAMS, "state: a string or null; after, limit: integers", "invalid_params")
        return [summary(r) for r in self.store.list(state, after, max(1, min(limit, 1000)))]

    async def kyc_get(self, id: Any) -> dict[str, Any]:
        rec = self.store.get(_id(id))
        return {**summary(rec), "ciphertext": rec["ciphertext"], "signature": rec["signature"]}

    async def kyc_approve(self, id: Any, topics: Any = None) -> dict[str, Any]:
        if topics is not None and (not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)):
            raise RpcFault(INVALID_PARAMS, "topics: a list of strings or null", "invalid_params")
        return summary(await self.attester.approve(_id(id), topics))

    async def kyc_reject(self, id: Any, reason: Any = "") -> dict[str, Any]:
        if not isinstance(reason, str) or len(reason) > 500:
            raise RpcFault(INVALID_PARAMS, "reason: a string of at most 500 characters", "invalid_params")
        async with self.attester.lock:
            return summary(self.store.transition(_id(id), (PENDING, FAILED), REJECTED, reason=reason or None))

    async def kyc_erase(self, id: Any) -> dict[str, Any]:
        async with self.attester.lock:
            return summary(self.store.erase(_id(id)))

    # -- JSON-RPC over HTTP --------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            err = ApplicationTooLarge(f"a request is at most {MAX_BODY_BYTES} bytes")
            return _reply(_error(None, err.code, err.message, err.reason))
        admin = hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.token}")
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _reply(_error(None, PARSE_ERROR, "Parse error", "parse_error"))
        if isinstance(doc, list):
            if not doc or len(doc) > 20:
                return _reply(_error(None, INVALID_REQUEST, "a batch has 1 to 20 calls", "invalid_request"))
            answers = [a for a in [await self._one(r, admin) for r in doc] if a is not None]
            return _reply(answers) if answers else web.Response(status=204)
        answer = await self._one(doc, admin)
        return _reply(answer) if answer is not None else web.Response(status=204)

    async def _one(self, req: Any, admin: bool) -> dict[str, Any] | None:
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            return _error(req.get("id") if isinstance(req, dict) else None, INVALID_REQUEST, "Invalid Request",
                          "invalid_request")
        rid, method, params = req.get("id"), req["method"], req.get("params", [])
        try:
            handler = self.public.get(method) or self.admin.get(method)
            if handler is None:
                raise RpcFault(METHOD_NOT_FOUND, "Method not found", "method_not_found")
            if method in self.admin and not admin:
                raise Unauthorized(f"{method} is an operator method: send the admin token")
            if isinstance(params, list):
                result = await handler(*params)
            elif isinstance(params, dict):
                result = await handler(**params)
            else:
                raise RpcFault(INVALID_PARAMS, "params: an array or an object", "invalid_params")
        except TypeError as exc:
            if not _is_binding_error(exc):
                log.exception("%s failed", method)
                answer = _error(rid, INTERNAL_ERROR, "Internal error", "internal_error")
            else:
                answer = _error(rid, INVALID_PARAMS, f"Invalid params for {method}", "invalid_params")
        except FinanceError as exc:
            answer = _error(rid, exc.code, exc.message, exc.to_data()["reason"], exc.to_data())
        except RpcFault as exc:
            answer = _error(rid, exc.code, exc.message, exc.reason)
        except (TransportError, RpcCallError, TimeoutError) as exc:
            answer = _error(rid, NODE_UNREACHABLE, f"the node did not answer: {exc}", "node_unreachable")
        except Exception:
            log.exception("%s failed", method)
            answer = _error(rid, INTERNAL_ERROR, "Internal error", "internal_error")
        else:
            answer = {"jsonrpc": "2.0", "id": rid, "result": result}
        return None if "id" not in req else answer


def _is_binding_error(exc: TypeError) -> bool:
    # A call with the wrong arguments fails before the handler's body runs: its frame is the caller's.
    tb = exc.__traceback__
    return tb is not None and tb.tb_next is None


def _error(rid: Any, code: int, message: str, reason: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message,
                                                   "data": {**(data or {}), "reason": reason}}}


def _reply(obj: Any) -> web.Response:
    return web.json_response(obj)


def _id(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ApplicationNotFound(f"an application id is 0x and 64 hex digits, not {value!r:.80}")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise ApplicationNotFound(f"an application id is 0x and 64 hex digits, not {value!r:.80}") from None
    return value.lower()


def _travel_hex(value: Any, what: str) -> bytes:
    try:
        return _hex(value, what)
    except BadApplication as exc:
        raise BadTravelData(exc.message) from None


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BadApplication(f"{what}: 0x-prefixed hex expected")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BadApplication(f"{what}: not hex") from None


async def serve(config: IssuerConfig) -> None:
    """Run until SIGTERM or SIGINT: settle attestations left by a crash, then answer requests."""
    store = ApplicationStore(config.data_dir)
    client = AsyncClient(config.node_rpc)
    service = IssuerService(config, store, client)
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app.router.add_post("/", service.handle_http)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        log.info("kyc issuer %s serving on %s (node %s)", service.issuer, config.url, config.node_rpc)
        print(f"kyc issuer {service.issuer} serving on {config.url}", flush=True)
        await service.attester.run(stop)
    finally:
        await runner.cleanup()
        await client.close()
        store.close()

