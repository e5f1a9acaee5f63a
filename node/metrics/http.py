"""`GET /metrics` in Prometheus' text format: a handler for the RPC server's app, or a server of its own
when config.toml gives `[metrics] listen`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

log = logging.getLogger(__name__)

# The classic text format, which every Prometheus version reads; our names need none of the newer
# format's escaping, and the header does not change with the client library's version.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Collected:
    """Families already collected, for generate_latest to format."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def metrics_handler(registry: CollectorRegistry) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        # Values are read on the event loop, which owns them (nothing is read mid-update); the
        # text, most of a scrape's cost (20 ms for 60 RPC methods here), is formatted in a thread.
        families = list(registry.collect())
        body = await asyncio.to_thread(generate_latest, _Collected(families))  # type: ignore[arg-type]
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return handle


class MetricsServer:
    """A port that serves only `GET /metrics` (for a scraper kept apart from the JSON-RPC port)."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the metrics server is not started")
        return self._port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        log.info("metrics on http://%s:%d/metrics", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None
