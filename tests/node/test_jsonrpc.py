"""Conformance of node.rpc.registry with the JSON-RPC 2.0 specification, plus our binding rules."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.rpc.registry import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorSpec,
    Method,
    Param,
    Registry,
    RpcError,
    invalid_params,
)

INT = {"type": "integer"}


def spec_registry() -> tuple[Registry, list[Any]]:
    """The methods the specification's examples call; `calls` records every invocation."""
    calls: list[Any] = []
    registry = Registry(max_batch=100)

    async def subtract(minuend: int, subtrahend: int) -> int:
        return minuend - subtrahend

    async def total(a: int, b: int, c: int) -> int:
        return a + b + c

    async def update(**values: int) -> None:
        calls.append(("update", values))

    async def notify_hello(value: int) -> None:
        calls.append(("notify_hello", value))

    async def notify_sum(a: int, b: int, c: int) -> None:
        calls.append(("notify_sum", a + b + c))

    async def get_data() -> list[Any]:
        return ["hello", 5]

    registry.add(Method("subtract", subtract, (Param("minuend", INT), Param("subtrahend", INT))))
    registry.add(Method("sum", total, tuple(Param(n, INT) for n in "abc")))
    registry.add(Method("update", update, tuple(Param(f"p{i}", INT, required=False) for i in range(5))))
    registry.add(Method("notify_hello", notify_hello, (Param("value", INT),)))
    registry.add(Method("notify_sum", notify_sum, tuple(Param(n, INT) for n in "abc")))
    registry.add(Method("get_data", get_data))
    return registry, calls


def err(code: int, message: str, id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id}


def ok(result: Any, id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": id}


def conforms(actual: Any, expected: Any) -> bool:
    """Equality, except that an error message may add detail after the spec's wording."""
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(conforms(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict) and "error" in expected:
        if not isinstance(actual, dict) or set(actual) != {"jsonrpc", "error", "id"}:
            return False
        a, e = actual["error"], expected["error"]
        return (
            actual["jsonrpc"] == "2.0"
            and actual["id"] == expected["id"]
            and type(actual["id"]) is type(expected["id"])
            and a["code"] == e["code"]
            and a["message"].startswith(e["message"])
        )
    return actual == expected


# (name, request text, expected response or None) — the examples of section 7 of the specification.
SPEC_EXAMPLES: list[tuple[str, str, Any]] = [
    (
        "positional 1",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        ok(19, 1),
    ),
    (
        "positional 2",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        ok(-19, 2),
    ),
    (
        "named 1",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        ok(19, 3),
    ),
    (
        "named 2",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
        ok(19, 4),
    ),
    ("notification", '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
    ("notification of unknown method", '{"jsonrpc": "2.0", "method": "foobar"}', None),
    (
        "non-existent method",
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        err(METHOD_NOT_FOUND, "Method not found", "1"),
    ),
    (
        "invalid JSON",
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        err(PARSE_ERROR, "Parse error"),
    ),
    (
        "invalid request object",
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        err(INVALID_REQUEST, "Invalid Request"),
    ),
    (
        "batch, invalid JSON",
        '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]',
        err(PARSE_ERROR, "Parse error"),
    ),
    ("empty array", "[]", err(INVALID_REQUEST, "Invalid Request")),
    ("non-empty invalid batch", "[1]", [err(INVALID_REQUEST, "Invalid Request")]),
    ("invalid batch", "[1,2,3]", [err(INVALID_REQUEST, "Invalid Request")] * 3),
    (
        "mixed batch",
        """[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
        [
            ok(7, "1"),
            ok(19, "2"),
            err(INVALID_REQUEST, "Invalid Request"),
            err(METHOD_NOT_FOUND, "Method not found", "5"),
            ok(["hello", 5], "9"),
        ],
    ),
    (
        "all-notification batch",
        """[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]""",
        None,
    ),
]


@pytest.mark.parametrize(("name", "request_text", "expected"), SPEC_EXAMPLES, ids=[e[0] for e in SPEC_EXAMPLES])
async def test_specification_examples(name: str, request_text: str, expected: Any) -> None:
    registry, _ = spec_registry()
    reply = await registry.handle(request_text.encode())
    if expected is None:
        assert reply is None
    else:
        assert reply is not None
        assert conforms(json.loads(reply), expected), reply


async def test_notifications_run_their_handlers() -> None:
    registry, calls = spec_registry()
    await registry.handle(b'{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}')
    await registry.handle(
        b'[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        b'{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]'
    )
    assert ("update", {"p0": 1, "p1": 2, "p2": 3, "p3": 4, "p4": 5}) in calls
    assert ("notify_sum", 7) in calls and ("notify_hello", 7) in calls


INVALID_REQUESTS: list[tuple[str, Any, Any]] = [
    # (name, request, id expected in the error response)
    ("not an object", "hello", None),
    ("null request", None, None),
    ("missing jsonrpc", {"method": "get_data", "id": 1}, 1),
    ("jsonrpc 1.0", {"jsonrpc": "1.0", "method": "get_data", "id": 1}, 1),
    ("jsonrpc as number", {"jsonrpc": 2.0, "method": "get_data", "id": "a"}, "a"),
    ("method missing", {"jsonrpc": "2.0", "id": 1}, 1),
    ("method not a string", {"jsonrpc": "2.0", "method": ["x"], "id": 1}, 1),
    ("params a string", {"jsonrpc": "2.0", "method": "get_data", "params": "x", "id": 1}, 1),
    ("params a number", {"jsonrpc": "2.0", "method": "get_data", "params": 3, "id": 1}, 1),
    ("params null", {"jsonrpc": "2.0", "method": "get_data", "params": None, "id": 1}, 1),
    ("id an object", {"jsonrpc": "2.0", "method": "get_data", "id": {"a": 1}}, None),
    ("id an array", {"jsonrpc": "2.0", "method": "get_data", "id": [1]}, None),
    ("id a boolean", {"jsonrpc": "2.0", "method": "get_data", "id": True}, None),
    ("invalid and no id is still answered", {"jsonrpc": "2.0", "method": 5}, None),
]


@pytest.mark.parametrize(("name", "request_obj", "reply_id"), INVALID_REQUESTS, ids=[r[0] for r in INVALID_REQUESTS])
async def test_invalid_requests(name: str, request_obj: Any, reply_id: Any) -> None:
    registry, _ = spec_registry()
    reply = json.loads(await registry.handle(json.dumps(request_obj).encode()) or b"null")
    assert conforms(reply, err(INVALID_REQUEST, "Invalid Request", reply_id)), reply


@pytest.mark.parametrize("rid", ["abc", "", 0, -7, 2**70, 1.5, None])
async def test_ids_are_echoed_as_given(rid: Any) -> None:
    registry, _ = spec_registry()
    reply = await registry.handle(json.dumps({"jsonrpc": "2.0", "method": "get_data", "id": rid}).encode())
    decoded = json.loads(reply or b"null")
    assert decoded == ok(["hello", 5], rid)
    assert type(decoded["id"]) is type(rid)


@pytest.mark.parametrize(
    "payload",
    [b"", b"   ", b"\xff\xfe\x00garbage", b'{"jsonrpc":"2.0","method":"get_data","id":NaN}', b"[1,2", b"{'a':1}"],
)
async def test_parse_errors(payload: bytes) -> None:
    registry, _ = spec_registry()
    assert conforms(json.loads(await registry.handle(payload) or b"null"), err(PARSE_ERROR, "Parse error"))


async def test_reserved_rpc_names() -> None:
    registry, _ = spec_registry()

    async def f() -> int:
        return 1

    with pytest.raises(ValueError, match="reserved"):
        registry.add(Method("rpc.other", f))
    reply = await registry.handle(b'{"jsonrpc":"2.0","method":"rpc.other","id":1}')
    assert conforms(json.loads(reply or b""), err(METHOD_NOT_FOUND, "Method not found", 1))


# --- parameter binding ----------------------------------------------------------------------------


def binding_registry() -> Registry:
    registry = Registry()

    async def echo(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    registry.add(
        Method(
            "transfer",
            echo,
            (
                Param("to", {"type": "string"}),
                Param("amount", {"type": "integer"}),
                Param("memo", {"type": "string"}, required=False),
                Param("tag", {"oneOf": [{"type": "string"}, {"type": "integer"}]}, required=False),
                Param("note", {"anyOf": [{"type": "string"}, {"type": "null"}]}, required=False),
                Param("flags", {"type": ["array", "object"]}, required=False),
            ),
        )
    )
    return registry


async def call(registry: Registry, method: str, params: Any, context: Any = None) -> dict[str, Any]:
    request = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not ...:
        request["params"] = params
    reply = await registry.handle(json.dumps(request).encode(), context)
    assert reply is not None
    return json.loads(reply)


BINDING_CASES: list[tuple[str, Any, Any]] = [
    # (name, params, expected result, or (error code, substring naming the problem))
    ("positional", ["0xab", 5], {"to": "0xab", "amount": 5}),
    ("named", {"amount": 5, "to": "0xab"}, {"to": "0xab", "amount": 5}),
    ("optional given", {"to": "a", "amount": 1, "memo": "hi"}, {"to": "a", "amount": 1, "memo": "hi"}),
    ("null optional means absent", ["a", 1, None, 7], {"to": "a", "amount": 1, "tag": 7}),
    (
        "null admitted by schema is passed",
        {"to": "a", "amount": 1, "note": None},
        {"to": "a", "amount": 1, "note": None},
    ),
    ("type list", {"to": "a", "amount": 1, "flags": {}}, {"to": "a", "amount": 1, "flags": {}}),
    ("oneOf string", {"to": "a", "amount": 1, "tag": "x"}, {"to": "a", "amount": 1, "tag": "x"}),
    ("missing required", {"to": "a"}, (INVALID_PARAMS, "'amount'")),
    ("no params at all", ..., (INVALID_PARAMS, "'to'")),
    ("unknown named", {"to": "a", "amount": 1, "colour": "red"}, (INVALID_PARAMS, "'colour'")),
    ("too many positional", ["a", 1, "m", 2, "n", [], "extra"], (INVALID_PARAMS, "too many positional")),
    ("wrong type", {"to": 5, "amount": 1}, (INVALID_PARAMS, "'to' must be string, got integer")),
    ("bool is not an integer", {"to": "a", "amount": True}, (INVALID_PARAMS, "'amount'")),
    ("float is not an integer", {"to": "a", "amount": 1.0}, (INVALID_PARAMS, "'amount'")),
    ("required null", {"to": "a", "amount": None}, (INVALID_PARAMS, "'amount'")),
    ("oneOf mismatch", {"to": "a", "amount": 1, "tag": []}, (INVALID_PARAMS, "'tag'")),
    ("anyOf mismatch", {"to": "a", "amount": 1, "note": 3}, (INVALID_PARAMS, "'note'")),
    ("type list mismatch", {"to": "a", "amount": 1, "flags": "x"}, (INVALID_PARAMS, "'flags'")),
]


@pytest.mark.parametrize(("name", "params", "expected"), BINDING_CASES, ids=[c[0] for c in BINDING_CASES])
async def test_param_binding(name: str, params: Any, expected: Any) -> None:
    reply = await call(binding_registry(), "transfer", params)
    if isinstance(expected, tuple):
        code, fragment = expected
        assert reply["error"]["code"] == code
        assert fragment in reply["error"]["message"]
        assert reply["id"] == 1
    else:
        assert reply == ok(expected, 1)


async def test_bad_params_of_a_notification_send_nothing() -> None:
    reply = await binding_registry().handle(b'{"jsonrpc":"2.0","method":"transfer","params":{"to":1}}')
    assert reply is None


# --- handlers --------------------------------------------------------------------------------------


def failing_registry() -> tuple[Registry, list[str]]:
    registry = Registry()
    ran: list[str] = []

    async def app_error() -> None:
        raise RpcError(-32010, "insufficient funds", {"need": "100"})

    async def bug() -> None:
        ran.append("bug")
        raise KeyError("secret-internal-detail")

    async def bad_result() -> Any:
        return {1, 2}

    async def nan_result() -> float:
        return float("nan")

    async def uses_helper(x: int) -> None:
        raise invalid_params("x must be even", {"param": "x"})

    async def with_context(context: Any) -> Any:
        return context

    registry.add(Method("app_error", app_error, errors=(ErrorSpec(-32010, "insufficient funds"),)))
    registry.add(Method("bug", bug))
    registry.add(Method("bad_result", bad_result))
    registry.add(Method("nan_result", nan_result))
    registry.add(Method("uses_helper", uses_helper, (Param("x", INT),)))
    registry.add(Method("with_context", with_context, takes_context=True))
    return registry, ran


async def test_handler_rpc_error_is_sent() -> None:
    registry, _ = failing_registry()
    reply = await call(registry, "app_error", ...)
    assert reply == {
        "jsonrpc": "2.0",
        "error": {"code": -32010, "message": "insufficient funds", "data": {"need": "100"}},
        "id": 1,
    }
    reply = await call(registry, "uses_helper", [3])
    assert reply["error"] == {"code": INVALID_PARAMS, "message": "x must be even", "data": {"param": "x"}}


class _Missing(Exception):
    """An application error that a registry's map_error knows."""


def _map_missing(exc: Exception) -> RpcError | None:
    return RpcError(-32020, str(exc), {"reason": "not_found"}) if isinstance(exc, _Missing) else None


async def test_application_errors_are_answered_by_the_registry_mapping() -> None:
    registry = Registry(map_error=_map_missing)

    async def lookup(kind: str) -> None:
        raise _Missing(f"no {kind}") if kind == "missing" else ValueError("secret-internal-detail")

    registry.add(Method("lookup", lookup, (Param("kind", {"type": "string"}),)))
    expected = {"code": -32020, "message": "no missing", "data": {"reason": "not_found"}}
    assert (await call(registry, "lookup", ["missing"]))["error"] == expected
    assert await call(registry, "lookup", ["other"]) == err(INTERNAL_ERROR, "Internal error", 1)
    # A child registry (the WebSocket one) maps the same way, its own methods and its parent's.
    child = registry.with_methods([Method("child_lookup", lookup, (Param("kind", {"type": "string"}),))])
    assert (await call(child, "lookup", ["missing"]))["error"] == expected
    assert (await call(child, "child_lookup", ["missing"]))["error"] == expected
    # Without a mapping the same error is an internal error.
    plain = Registry()
    plain.add(Method("lookup", lookup, (Param("kind", {"type": "string"}),)))
    assert await call(plain, "lookup", ["missing"]) == err(INTERNAL_ERROR, "Internal error", 1)


async def test_handler_exception_is_generic_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    registry, ran = failing_registry()
    with caplog.at_level(logging.ERROR, logger="node.rpc.registry"):
        reply = await call(registry, "bug", ...)
    assert reply == err(INTERNAL_ERROR, "Internal error", 1)
    assert "secret-internal-detail" not in json.dumps(reply)
    assert "secret-internal-detail" in caplog.text and "Traceback" in caplog.text
    # A failing notification still runs and still sends nothing.
    assert await registry.handle(b'{"jsonrpc":"2.0","method":"bug"}') is None
    assert ran == ["bug", "bug"]


@pytest.mark.parametrize("method", ["bad_result", "nan_result"])
async def test_unserializable_result_is_internal_error(method: str) -> None:
    registry, _ = failing_registry()
    assert await call(registry, method, ...) == err(INTERNAL_ERROR, "Internal error", 1)


async def test_context_is_passed_when_asked() -> None:
    registry, _ = failing_registry()
    assert (await call(registry, "with_context", ..., context="ctx"))["result"] == "ctx"
    # `context` is not a parameter the caller can set.
    reply = await call(registry, "with_context", {"context": "forged"}, context="ctx")
    assert reply["error"]["code"] == INVALID_PARAMS


# --- batches ---------------------------------------------------------------------------------------


async def test_batch_limit() -> None:
    registry = Registry(max_batch=5)

    async def one() -> int:
        return 1

    registry.add(Method("one", one))
    batch = [{"jsonrpc": "2.0", "method": "one", "id": i} for i in range(5)]
    assert len(json.loads(await registry.handle(json.dumps(batch).encode()) or b"")) == 5
    reply = json.loads(await registry.handle(json.dumps([*batch, batch[0]]).encode()) or b"")
    assert isinstance(reply, dict)
    assert reply["error"]["code"] == INVALID_REQUEST and "limit of 5" in reply["error"]["message"]
    assert Registry().max_batch == 100


async def test_batch_runs_concurrently_and_keeps_order() -> None:
    registry = Registry()
    released = asyncio.Event()

    async def wait_for_release(delay: float) -> str:
        await released.wait()
        await asyncio.sleep(delay)
        return f"waited {delay}"

    async def release() -> str:
        released.set()
        return "released"

    registry.add(Method("wait", wait_for_release, (Param("delay", {"type": "number"}),)))
    registry.add(Method("release", release))
    batch = [
        {"jsonrpc": "2.0", "method": "wait", "params": [0.05], "id": 1},
        {"jsonrpc": "2.0", "method": "wait", "params": [0], "id": 2},
        {"jsonrpc": "2.0", "method": "release", "id": 3},
    ]
    # Sequential execution would wait forever on the first member.
    async with asyncio.timeout(5):
        reply = json.loads(await registry.handle(json.dumps(batch).encode()) or b"")
    assert reply == [ok("waited 0.05", 1), ok("waited 0", 2), ok("released", 3)]


async def test_nested_batch_is_an_invalid_member() -> None:
    registry, _ = spec_registry()
    reply = json.loads(await registry.handle(b'[[{"jsonrpc":"2.0","method":"get_data","id":1}]]') or b"")
    assert conforms(reply, [err(INVALID_REQUEST, "Invalid Request")])


# --- nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [70, 5_000, 200_000])
async def test_deep_nesting_is_refused_without_crashing(depth: int) -> None:
    registry, _ = spec_registry()
    params = "[" * depth + "]" * depth
    payload = f'{{"jsonrpc":"2.0","method":"get_data","params":{params},"id":1}}'.encode()
    reply = json.loads(await registry.handle(payload) or b"")
    assert reply["error"]["code"] == PARSE_ERROR and reply["id"] is None
    bare = json.loads(await registry.handle(("[" * depth).encode()) or b"")
    assert bare["error"]["code"] == PARSE_ERROR
    # The registry still works afterwards.
    assert json.loads(await registry.handle(b'{"jsonrpc":"2.0","method":"get_data","id":2}') or b"") == ok(
        ["hello", 5], 2
    )


async def test_handle_obj() -> None:
    registry, _ = spec_registry()
    assert await registry.handle_obj({"jsonrpc": "2.0", "method": "subtract", "params": [3, 1], "id": 7}) == ok(2, 7)
    assert await registry.handle_obj({"jsonrpc": "2.0", "method": "get_data"}) is None
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    reply = await registry.handle_obj({"jsonrpc": "2.0", "method": "get_data", "params": deep, "id": 1})
    assert reply["error"]["code"] == INVALID_REQUEST


# --- registration and OpenRPC ---------------------------------------------------------------------


async def test_registration_is_validated() -> None:
    registry = Registry()

    async def f(a: int, b: int = 0) -> int:
        return a + b

    registry.add(Method("f", f, (Param("a", INT), Param("b", INT, required=False))))
    with pytest.raises(ValueError, match="already registered"):
        registry.add(Method("f", f, (Param("a", INT),)))
    with pytest.raises(ValueError, match="follows an optional"):
        registry.add(Method("g", f, (Param("a", INT, required=False), Param("b", INT))))
    with pytest.raises(ValueError, match="duplicate"):
        registry.add(Method("g", f, (Param("a", INT), Param("a", INT))))
    with pytest.raises(ValueError, match="unsupported schema type"):
        registry.add(Method("g", f, (Param("a", {"type": "int"}),)))
    with pytest.raises(TypeError, match="does not accept"):
        registry.add(Method("g", f, (Param("a", INT), Param("c", INT))))


async def test_openrpc_document() -> None:
    registry, _ = spec_registry()

    async def send(tx: str) -> str:
        return tx

    registry.add(
        Method(
            "tx_send",
            send,
            (Param("tx", {"type": "string"}, description="signed tx as 0x hex"),),
            result={"name": "hash", "type": "string"},
            summary="Submits a transaction.",
            errors=(ErrorSpec(-32010, "invalid transaction"),),
        )
    )
    reply = await call(registry, "rpc.discover", ...)
    doc = reply["result"]
    assert doc == registry.openrpc(registry.title, registry.version)
    assert doc["openrpc"] == "1.2.6" and doc["info"] == {"title": "finchain", "version": "0.0.0"}
    by_name = {m["name"]: m for m in doc["methods"]}
    assert {"rpc.discover", "subtract", "get_data", "tx_send"} <= set(by_name)
    assert by_name["tx_send"] == {
        "name": "tx_send",
        "summary": "Submits a transaction.",
        "params": [
            {"name": "tx", "schema": {"type": "string"}, "required": True, "description": "signed tx as 0x hex"}
        ],
        "result": {"name": "hash", "schema": {"type": "string"}},
        "errors": [{"code": -32010, "message": "invalid transaction"}],
        "paramStructure": "either",
    }
    assert by_name["get_data"]["result"] == {"name": "result", "schema": {}}


async def test_child_registry_adds_methods_and_sees_later_parent_methods() -> None:
    parent, _ = spec_registry()

    async def extra() -> str:
        return "extra"

    child = parent.with_methods([Method("extra", extra)])

    async def late() -> str:
        return "late"

    parent.add(Method("late", late))
    assert (await call(child, "extra", ...))["result"] == "extra"
    assert (await call(child, "late", ...))["result"] == "late"
    assert (await call(parent, "extra", ...))["error"]["code"] == METHOD_NOT_FOUND
    names = {m["name"] for m in (await call(child, "rpc.discover", ...))["result"]["methods"]}
    assert {"extra", "late", "subtract", "rpc.discover"} <= names


# --- robustness --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
requestish = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0, None]),
        "method": st.sampled_from(["subtract", "get_data", "sum", "nope", "rpc.discover"]) | json_values,
        "params": json_values,
        "id": json_values,
    },
)


@pytest.fixture(scope="module")
def loop_runner() -> Iterator[asyncio.Runner]:
    # One loop for all examples: a fresh asyncio.run() per example dominates the run time.
    with asyncio.Runner() as runner:
        yield runner


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(json_values, requestish, st.lists(requestish, max_size=5)))
def test_any_json_gets_a_well_formed_answer(loop_runner: asyncio.Runner, doc: Any) -> None:
    registry, _ = spec_registry()
    reply = loop_runner.run(registry.handle(json.dumps(doc).encode()))
    if reply is None:
        return
    decoded = json.loads(reply)
    for response in decoded if isinstance(decoded, list) else [decoded]:
        assert response["jsonrpc"] == "2.0"
        assert ("result" in response) != ("error" in response)
        assert "id" in response
        if "error" in response:
            assert isinstance(response["error"]["code"], int)
            assert isinstance(response["error"]["message"], str)
