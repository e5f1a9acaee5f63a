"""JSON-RPC 2.0 protocol logic: parsing, validation, parameter binding, dispatch, OpenRPC.

No IO here (the h11 pattern from DESIGN.md): `Registry.handle` takes the request bytes and
returns the response bytes, and the transports in `node.rpc.server` only move them.

Conventions beyond the JSON-RPC 2.0 specification (https://www.jsonrpc.org/specification):
- Parameters are declared with `Param` and bound by name or by position to keyword
  arguments of the handler. Only the simple JSON Schema keywords `type` (a name or a list),
  `oneOf` and `anyOf` are enforced; deeper checks belong to the handler.
- For an optional parameter, `null` means "not given" (so a positional call can skip it)
  unless its schema itself admits null.
- JSON nested deeper than `max_depth` is refused before any dispatch: -32700 from `handle`,
  -32600 from `handle_obj` (its input is already parsed).
- A batch over `max_batch` members is answered with one -32600 error object, like `[]`.
- An answer is bounded by `max_response_bytes`: a single result over it is answered with
  -32050, and in a batch the members are counted as they complete; a member that no
  longer fits is answered with -32050 instead of its result.
- A method marked `expensive` runs inside `guard(context)`, which bounds how many run at
  once (per client and in total); a handler may return `RawJson` it encoded itself (off
  the event loop), which is sent as is.
- `on_call(name, seconds)`, when given, is told of every call that names a method (None for a
  name no method has, so callers cannot mint metric labels), with the handler's time.
- A handler may raise the application's own errors instead of RpcError: the registry's
  `map_error` turns them into error objects (None for an error it does not know, which
  is answered as an internal error).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Final

log = logging.getLogger(__name__)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Implementation-defined server error (-32000..-32099); -32001..-32049 are transaction and chain errors.
LIMIT_EXCEEDED: Final = -32050

DEFAULT_MAX_BATCH: Final = 100
DEFAULT_MAX_DEPTH: Final = 64
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 << 20
OPENRPC_VERSION: Final = "1.2.6"
DISCOVER: Final = "rpc.discover"
RESERVED_PREFIX: Final = "rpc."

JSON_TYPES: Final = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})


class RpcError(Exception):
    """An error to send to the caller as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


# The application's own errors to JSON-RPC errors (None: not one it knows).
ErrorMapper = Callable[[Exception], RpcError | None]
# What an expensive call runs inside, given the transport's context.
CallGuard = Callable[[Any], AbstractAsyncContextManager[None]]
# Told of every call that names a method: its name (None when no such method exists) and its seconds.
CallObserver = Callable[[str | None, float], None]


def parse_error(message: str = "Parse error") -> RpcError:
    return RpcError(PARSE_ERROR, message)


def invalid_request(message: str = "Invalid Request") -> RpcError:
    return RpcError(INVALID_REQUEST, message)


def method_not_found() -> RpcError:
    return RpcError(METHOD_NOT_FOUND, "Method not found")


def invalid_params(message: str, data: Any = None) -> RpcError:
    return RpcError(INVALID_PARAMS, message, data)


def response_too_large(size: int, limit: int) -> RpcError:
    return RpcError(LIMIT_EXCEEDED, f"response too large: {size} bytes, over what is left of the limit of {limit}",
                    {"limit": limit})


def internal_error() -> RpcError:
    # Deliberately generic: the details go to the log, never to the caller.
    return RpcError(INTERNAL_ERROR, "Internal error")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    required: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    handler: Callable[..., Awaitable[Any]]
    params: tuple[Param, ...] = ()
    # A JSON Schema with an optional "name" (or a whole ContentDescriptor with "name" and "schema").
    result: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    errors: tuple[ErrorSpec, ...] = ()
    # When true the handler also receives the transport's context as the `context` keyword
    # (the WebSocket subscribe methods need their connection).
    takes_context: bool = False
    # Runs inside the registry's guard (a bounded number at once, per client and in total).
    expensive: bool = False


@dataclass(frozen=True, slots=True)
class RawJson:
    """A result already encoded as compact JSON text (by `encode_json`), inserted as is."""

    text: str


# --- JSON values and the simple schema subset -------------------------------------------------


def json_type(value: Any) -> str:
    """The JSON type name of a parsed JSON value (bool before int: bool is an int in Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    actual = json_type(value)
    return actual == name or (name == "number" and actual == "integer")


def schema_accepts(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether `value` satisfies the `type`/`oneOf`/`anyOf` part of `schema`."""
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else declared
        if not any(_is_type(value, n) for n in names):
            return False
    if "oneOf" in schema and sum(schema_accepts(s, value) for s in schema["oneOf"]) != 1:
        return False
    return not ("anyOf" in schema and not any(schema_accepts(s, value) for s in schema["anyOf"]))


def describe_schema(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if declared is not None:
        return " or ".join([declared] if isinstance(declared, str) else declared)
    subs = schema.get("oneOf", schema.get("anyOf"))
    if subs:
        return " or ".join(describe_schema(s) for s in subs)
    return "a valid value"


def validate_schema(schema: Any, where: str) -> None:
    """Refuse, at registration, schemas that `schema_accepts` would misread."""
    if not isinstance(schema, Mapping):
        raise TypeError(f"{where}: schema must be a dict")
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else declared
        if not isinstance(names, list) or not names or any(n not in JSON_TYPES for n in names):
            raise ValueError(f"{where}: unsupported schema type {declared!r}")
    for key in ("oneOf", "anyOf"):
        if key in schema:
            subs = schema[key]
            if not isinstance(subs, list) or not subs:
                raise ValueError(f"{where}: {key} must be a non-empty list")
            for sub in subs:
                validate_schema(sub, where)


def _too_deep(value: Any, limit: int) -> bool:
    # Iterative on purpose: a recursive walk would be the very crash this check prevents.
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not valid JSON")


def _dumps(obj: Any) -> str:
    # ensure_ascii keeps lone surrogates (legal in parsed JSON strings) encodable as UTF-8.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def encode_json(value: Any) -> RawJson:
    """Encode a result the way the registry would, for a handler that encodes off the loop."""
    return RawJson(_dumps(value))


def _is_valid_id(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


# --- binding -------------------------------------------------------------------------------------


def bind_params(method: Method, params: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    """Map the request's params onto the handler's keyword arguments, or raise -32602."""
    specs = method.params
    given: Mapping[str, Any]
    if params is None:
        given = {}
    elif isinstance(params, list):
        if len(params) > len(specs):
            raise invalid_params(
                f"too many positional parameters: {method.name} takes at most {len(specs)}, got {len(params)}"
            )
        given = {spec.name: value for spec, value in zip(specs, params, strict=False)}
    else:
        known = {spec.name for spec in specs}
        unknown = sorted(name for name in params if name not in known)
        if unknown:
            raise invalid_params(f"unknown parameter '{unknown[0]}'", {"param": unknown[0]})
        given = params
    kwargs: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in given:
            if spec.required:
                raise invalid_params(f"missing required parameter '{spec.name}'", {"param": spec.name})
            continue
        value = given[spec.name]
        if value is None and not spec.required and not schema_accepts(spec.schema, None):
            continue
        if not schema_accepts(spec.schema, value):
            raise invalid_params(
                f"parameter '{spec.name}' must be {describe_schema(spec.schema)}, got {json_type(value)}",
                {"param": spec.name},
            )
        kwargs[spec.name] = value
    return kwargs


# --- OpenRPC -------------------------------------------------------------------------------------


def _result_descriptor(result: Mapping[str, Any]) -> dict[str, Any]:
    if "schema" in result:
        return {"name": "result", **result}
    schema = {k: v for k, v in result.items() if k != "name"}
    return {"name": result.get("name", "result"), "schema": schema}


def method_doc(method: Method) -> dict[str, Any]:
    """The OpenRPC Method Object for `method`."""
    doc: dict[str, Any] = {"name": method.name}
    if method.summary:
        doc["summary"] = method.summary
    params = []
    for p in method.params:
        descriptor: dict[str, Any] = {"name": p.name, "schema": p.schema, "required": p.required}
        if p.description:
            descriptor["description"] = p.description
        params.append(descriptor)
    doc["params"] = params
    doc["result"] = _result_descriptor(method.result)
    if method.errors:
        doc["errors"] = [{"code": e.code, "message": e.message} for e in method.errors]
    doc["paramStructure"] = "either"
    return doc


# --- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    params: list[Any] | dict[str, Any] | None
    id: Any
    notification: bool


class _BadRequest(Exception):
    """A request that is not a valid Request object; `reply_id` is its id when that was readable."""

    def __init__(self, reply_id: Any, message: str) -> None:
        super().__init__(message)
        self.reply_id = reply_id
        self.message = message


def _read_call(req: Any) -> _Call:
    if not isinstance(req, dict):
        raise _BadRequest(None, "Invalid Request")
    notification = "id" not in req
    rid = req.get("id")
    if not _is_valid_id(rid):
        raise _BadRequest(None, "Invalid Request: id must be a string, a number or null")
    if req.get("jsonrpc") != "2.0":
        raise _BadRequest(rid, 'Invalid Request: jsonrpc must be exactly "2.0"')
    method = req.get("method")
    if not isinstance(method, str):
        raise _BadRequest(rid, "Invalid Request: method must be a string")
    params = req.get("params")
    if "params" in req and not isinstance(params, (list, dict)):
        raise _BadRequest(rid, "Invalid Request: params must be an array or an object")
    return _Call(method=method, params=params, id=rid, notification=notification)


def _error_text(reply_id: Any, err: RpcError) -> str:
    try:
        return _dumps({"jsonrpc": "2.0", "error": err.to_dict(), "id": reply_id})
    except (TypeError, ValueError, RecursionError):
        log.exception("RPC error %d has data that is not JSON serializable", err.code)
        return _dumps({"jsonrpc": "2.0", "error": internal_error().to_dict(), "id": reply_id})


class Registry:
    """A set of methods and the dispatcher that serves them.

    `with_methods` makes a child registry that adds methods on top of this one (the WebSocket
    transport adds subscribe/unsubscribe); methods added to the parent later stay visible.
    """

    def __init__(
        self,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_depth: int = DEFAULT_MAX_DEPTH,
        title: str = "finchain",
        version: str = "0.0.0",
        parent: Registry | None = None,
        map_error: ErrorMapper | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        guard: CallGuard | None = None,
        on_call: CallObserver | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if max_batch < 1 or max_depth < 2 or max_response_bytes < 1024:
            raise ValueError("max_batch must be >= 1, max_depth >= 2 and max_response_bytes >= 1024")
        self.max_response_bytes = max_response_bytes
        self.guard = guard
        self.on_call = on_call  # metrics (node/metrics/instruments.py); None costs nothing per call
        self.clock = clock
        self.max_batch = max_batch
        self.max_depth = max_depth
        self.title = title
        self.version = version
        self._parent = parent
        self._map_error = map_error
        self._methods: dict[str, Method] = {}
        self._install(
            Method(
                name=DISCOVER,
                handler=self._discover,
                result={
                    "name": "OpenRPC Schema",
                    "schema": {"$ref": "https://meta.open-rpc.org/"},
                },
                summary="Returns the OpenRPC document describing this API.",
            )
        )

    def with_methods(self, methods: Iterable[Method]) -> Registry:
        child = Registry(
            max_batch=self.max_batch,
            max_depth=self.max_depth,
            title=self.title,
            version=self.version,
            parent=self,
            map_error=self._map_error,
            max_response_bytes=self.max_response_bytes,
            guard=self.guard,
            on_call=self.on_call,
            clock=self.clock,
        )
        for method in methods:
            child.add(method)
        return child

    def add(self, method: Method) -> None:
        if method.name.startswith(RESERVED_PREFIX):
            raise ValueError(f"method names starting with {RESERVED_PREFIX!r} are reserved: {method.name!r}")
        if self.find(method.name) is not None:
            raise ValueError(f"method {method.name!r} is already registered")
        self._install(method)

    def _install(self, method: Method) -> None:
        if not method.name:
            raise ValueError("method name must not be empty")
        names = [p.name for p in method.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{method.name}: duplicate parameter names")
        seen_optional = False
        for p in method.params:
            validate_schema(p.schema, f"{method.name}({p.name})")
            # OpenRPC requires it, and positional calls would be ambiguous otherwise.
            if p.required and seen_optional:
                raise ValueError(f"{method.name}: required parameter {p.name!r} follows an optional one")
            seen_optional = seen_optional or not p.required
        if method.takes_context and "context" in names:
            raise ValueError(f"{method.name}: a parameter named 'context' clashes with takes_context")
        self._check_signature(method, names)
        self._methods[method.name] = method

    @staticmethod
    def _check_signature(method: Method, names: list[str]) -> None:
        # Catch a Param list that does not match the handler at startup, not at the first call.
        try:
            signature = inspect.signature(method.handler)
        except (TypeError, ValueError):
            return
        keywords = {name: None for name in names}
        if method.takes_context:
            keywords["context"] = None
        try:
            signature.bind_partial(**keywords)
        except TypeError as exc:
            raise TypeError(f"{method.name}: handler does not accept its params: {exc}") from exc

    def find(self, name: str) -> Method | None:
        method = self._methods.get(name)
        if method is None and self._parent is not None:
            return self._parent.find(name)
        return method

    def methods(self) -> list[Method]:
        merged: dict[str, Method] = {}
        if self._parent is not None:
            merged.update((m.name, m) for m in self._parent.methods())
        merged.update(self._methods)
        return list(merged.values())

    def openrpc(self, title: str, version: str) -> dict[str, Any]:
        return {
            "openrpc": OPENRPC_VERSION,
            "info": {"title": title, "version": version},
            "methods": [method_doc(m) for m in self.methods()],
        }

    async def _discover(self) -> dict[str, Any]:
        return self.openrpc(self.title, self.version)

    # --- dispatch ------------------------------------------------------------------------------

    async def handle(self, payload: bytes | str, context: Any = None) -> bytes | None:
        """Serve one HTTP body or WebSocket message; None when nothing is to be sent."""
        try:
            doc = json.loads(payload, parse_constant=_reject_constant)
        except RecursionError:
            return _error_text(None, parse_error("Parse error: JSON nested too deeply")).encode()
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            return _error_text(None, parse_error()).encode()
        if _too_deep(doc, self.max_depth):
            return _error_text(
                None, parse_error(f"Parse error: JSON nested deeper than {self.max_depth} levels")
            ).encode()
        return await self._dispatch(doc, context)

    async def handle_obj(self, request: Any, context: Any = None) -> Any | None:
        """Serve an already parsed JSON value; returns the parsed response or None."""
        if _too_deep(request, self.max_depth):
            return json.loads(
                _error_text(None, invalid_request(f"Invalid Request: nested deeper than {self.max_depth}"))
            )
        text = await self._dispatch(request, context)
        # Round-trip through text so the caller gets exactly what would have been sent.
        return None if text is None else json.loads(text)

    async def _dispatch(self, doc: Any, context: Any) -> bytes | None:
        if not isinstance(doc, list):
            one = await self._handle_one(doc, context, [self.max_response_bytes])
            return None if one is None else one.encode()
        if not doc:
            return _error_text(None, invalid_request("Invalid Request: empty batch")).encode()
        if len(doc) > self.max_batch:
            return _error_text(
                None,
                invalid_request(f"Invalid Request: batch of {len(doc)} requests exceeds the limit of {self.max_batch}"),
            ).encode()
        # The brackets and commas count too; members take what is left as they complete.
        budget = [self.max_response_bytes - 1 - len(doc)]

        async def member(req: Any) -> bytes | None:
            # Encoded at once so that only the bytes of finished members are held.
            text = await self._handle_one(req, context, budget)
            return None if text is None else text.encode()

        if len(doc) == 1:
            replies = [await member(doc[0])]
        else:
            # Members run concurrently; collecting from the task list keeps the request order.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(member(req)) for req in doc]
            replies = [t.result() for t in tasks]
            del tasks
        parts = [r for r in replies if r is not None]
        del replies
        return b"[" + b",".join(parts) + b"]" if parts else None

    async def _handle_one(self, req: Any, context: Any, budget: list[int]) -> str | None:
        text = await self._answer_one(req, context)
        if text is None:
            return None
        if len(text) > budget[0]:
            # Answered with an error that fits, so the ids of a batch stay matched.
            rid = req.get("id") if isinstance(req, dict) and _is_valid_id(req.get("id")) else None
            text = _error_text(rid, response_too_large(len(text), self.max_response_bytes))
        budget[0] -= len(text)
        return text

    async def _answer_one(self, req: Any, context: Any) -> str | None:
        try:
            call = _read_call(req)
        except _BadRequest as bad:
            # An invalid request is answered even without an id: it is not a valid notification.
            return _error_text(bad.reply_id, invalid_request(bad.message))
        try:
            result = await self._invoke(call, context)
        except RpcError as err:
            return None if call.notification else _error_text(call.id, err)
        if call.notification:
            return None
        if isinstance(result, RawJson):
            return f'{{"jsonrpc":"2.0","result":{result.text},"id":{_dumps(call.id)}}}'
        try:
            return _dumps({"jsonrpc": "2.0", "result": result, "id": call.id})
        except (TypeError, ValueError, RecursionError):
            log.exception("RPC method %s returned a result that is not JSON serializable", call.method)
            return _error_text(call.id, internal_error())

    async def _invoke(self, call: _Call, context: Any) -> Any:
        method = self.find(call.method)
        observe = self.on_call
        if method is None:
            if observe is not None:
                observe(None, 0.0)
            raise method_not_found()
        if observe is None:
            return await self._run(method, call, context)
        started = self.clock()
        try:
            return await self._run(method, call, context)
        finally:
            observe(method.name, self.clock() - started)

    async def _run(self, method: Method, call: _Call, context: Any) -> Any:
        kwargs = bind_params(method, call.params)
        if method.takes_context:
            kwargs["context"] = context
        try:
            if method.expensive and self.guard is not None:
                async with self.guard(context):
                    return await self._call(method, kwargs)
            return await self._call(method, kwargs)
        except RpcError:
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # Cancelled from inside the handler (e.g. an awaited future was cancelled), not us.
            log.exception("RPC method %s was cancelled internally", call.method)
            raise internal_error() from None
        except Exception as exc:
            mapped = self._map_error(exc) if self._map_error is not None else None
            if mapped is not None:
                raise mapped from None
            log.exception("RPC method %s failed", call.method)
            raise internal_error() from None

    @staticmethod
    async def _call(method: Method, kwargs: dict[str, Any]) -> Any:
        result = method.handler(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result
