"""Driving the fault proxy: requests, its HTTP control endpoint, a client for it, and a thread to host it.

The same `apply_request` serves the HTTP endpoint (`finchain devnet partition ...` from any shell) and the
in-process `Cluster` (through `ProxyThread.request`), so both speak one language:
  GET  /state                                          -> {"pid", "faults", "nodes", "links"}
  POST /partition {"groups": [[0, 1], [2, 3]]}
  POST /cut       {"pairs": [[0, 3], [1, 3]]}               (single links, both directions; a bridge)
  POST /heal      {}                                   (clears every fault: partition, cuts, delays, drops)
  POST /delay     {"node": 0, "ms": 200, "jitter_ms": 50}   (ms 0 clears it)
  POST /drop      {"node": 0, "percent": 5}                 (0 clears it)
Every POST answers the new state; a bad request answers 400 {"error": "..."}.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from aiohttp import web

from devnet.errors import DevnetError
from devnet.faults import FaultError, Faults, with_cuts, with_delay, with_drop, with_partition
from devnet.proxy import FaultProxy, serve_forever

ACTIONS = ("partition", "cut", "heal", "delay", "drop")


def apply_request(proxy: FaultProxy, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply one control request; raises FaultError on a bad one. Runs on the proxy's event loop."""
    f, n = proxy.faults, proxy.nodes
    try:
        match action:
            case "partition":
                groups = body["groups"]
                if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
                    raise FaultError("groups: a list of lists of node indexes")
                proxy.set_faults(with_partition(f, [[int(x) for x in g] for g in groups], n))
            case "cut":
                pairs = body["pairs"]
                if not isinstance(pairs, list) or not all(isinstance(p, list) for p in pairs):
                    raise FaultError("pairs: a list of [node, node] pairs")
                proxy.set_faults(with_cuts(f, [[int(x) for x in p] for p in pairs], n))
            case "heal":
                proxy.set_faults(Faults())
            case "delay":
                proxy.set_faults(with_delay(f, int(body["node"]), int(body["ms"]), int(body.get("jitter_ms", 0)), n))
            case "drop":
                proxy.set_faults(with_drop(f, int(body["node"]), float(body["percent"]), n))
            case _:
                raise FaultError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, FaultError):
            raise
        raise FaultError(f"bad {action} request {body!r}: {exc!r}") from exc
    return {"pid": os.getpid(), **proxy.state()}


def control_app(proxy: FaultProxy) -> web.Application:
    async def state(request: web.Request) -> web.Response:
        # Read-only and about a local devnet: any page may read it (the explorer's network view);
        # the POSTs that change faults get no such header.
        return web.json_response({"pid": os.getpid(), **proxy.state()}, headers={"Access-Control-Allow-Origin": "*"})

    async def act(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            if not isinstance(body, dict):
                raise FaultError("the body must be a JSON object")
            return web.json_response(apply_request(proxy, request.match_info["action"], body))
        except (FaultError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/state", state)
    app.router.add_post("/{action}", act)
    return app


async def serve_proxy(proxy: FaultProxy, control_port: int | None, stop: asyncio.Event,
                      on_ready: Callable[[], None] = lambda: None) -> None:
    """Run the proxy and, if a port is given, its control endpoint on 127.0.0.1, until `stop` is set."""
    runner = None
    try:
        if control_port is not None:
            runner = web.AppRunner(control_app(proxy), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", control_port).start()
        task = asyncio.ensure_future(serve_forever(proxy, stop))
        ready = asyncio.ensure_future(proxy.wait_ready())
        await asyncio.wait((task, ready), return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            on_ready()
        else:
            ready.cancel()
        await task
    finally:
        if runner is not None:
            await runner.cleanup()


class ProxyThread:
    """The proxy on its own event loop in a background thread: for `Cluster` and the foreground `devnet up`."""

    def __init__(self, proxy: FaultProxy, control_port: int | None = None) -> None:
        self.proxy = proxy
        self.control_port = control_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="devnet-proxy", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve_proxy(self.proxy, self.control_port, self._stop, self._ready.set)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the starting thread, which raises it
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise DevnetError(f"the fault proxy did not start within {timeout}s")
        if self._error is not None:
            raise DevnetError(f"the fault proxy did not start: {self._error}") from self._error

    def request(self, action: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        return self._run(lambda: apply_request(self.proxy, action, body), timeout)

    def state(self, timeout: float = 5.0) -> dict[str, Any]:
        return self._run(lambda: {"pid": os.getpid(), **self.proxy.state()}, timeout)

    def add_links(self, links: list[Any], nodes: int, timeout: float = 10.0) -> None:
        if self._loop is None:
            raise DevnetError("the fault proxy is not running")
        fut = asyncio.run_coroutine_threadsafe(self.proxy.add_links(links, nodes), self._loop)
        fut.result(timeout)

    def _run(self, fn: Callable[[], Any], timeout: float) -> Any:
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            raise DevnetError("the fault proxy is not running")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return fut.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


class ProxyClient:
    """The control endpoint of a detached devnet's proxy, from any shell."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", f"HTTP {exc.code}")
            except (ValueError, AttributeError):
                message = f"HTTP {exc.code}"
            raise DevnetError(message) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DevnetError(f"the devnet's fault proxy at {self.url} does not answer: {exc}") from exc

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def request(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/{action}", body)
