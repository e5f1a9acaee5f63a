"""The explorer's files (node/rpc/explorer/, shipped as package data) served under `GET /explorer/`,
and the same-origin rule that lets the page the node serves call that node.

Only the files present at start are served, by exact name: no path from the request ever
reaches the file system. Each answer carries a Content-Security-Policy that forbids inline
scripts and any script or style from elsewhere, so even a chain string that slipped past the
page's escaping could not run; `connect-src` stays open because the page may be pointed at any
node (`?rpc=`), monitor (`?monitor=`) or devnet fault proxy.
"""

from __future__ import annotations

import ipaddress
from importlib import resources
from typing import Final

from aiohttp import web
from yarl import URL

EXPLORER_PREFIX: Final = "/explorer/"
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src http: https: ws: wss:; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files; a new node version must not be shadowed by a cached page.
    "Cache-Control": "no-cache",
}


def load_explorer_files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, content type) of every servable file of node/rpc/explorer/."""
    root = resources.files("node.rpc") / "explorer"
    files: dict[str, tuple[bytes, str]] = {}
    if not root.is_dir():
        return files
    for entry in root.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return files


def add_explorer_routes(app: web.Application, files: dict[str, tuple[bytes, str]]) -> None:
    if "index.html" not in files:
        raise FileNotFoundError("node/rpc/explorer/index.html is missing from the installed package")

    async def index(request: web.Request) -> web.StreamResponse:
        body, kind = files["index.html"]
        return web.Response(body=body, headers={"Content-Type": kind, **SECURITY_HEADERS})

    async def asset(request: web.Request) -> web.StreamResponse:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, headers={"Content-Type": kind, **SECURITY_HEADERS})

    async def bare(request: web.Request) -> web.StreamResponse:
        # Relative asset paths in index.html resolve against /explorer/, not /.
        raise web.HTTPPermanentRedirect(EXPLORER_PREFIX + (f"?{request.query_string}" if request.query_string else ""))

    app.router.add_get("/explorer", bare)
    app.router.add_get(EXPLORER_PREFIX, index)
    app.router.add_get(EXPLORER_PREFIX + "{name}", asset)


def is_same_origin(origin: str, scheme: str, host: str | None) -> bool:
    """Whether `origin` is the origin this request was sent to, and that origin names the server
    by an IP address or `localhost`.

    A page on a DNS name could be DNS-rebound to 127.0.0.1 by whoever owns the name, so that its
    origin equals the Host it sends: such a name is allowed only through `cors_origins`. An IP
    literal, or localhost, cannot be rebound: a page with that origin came from this server.
    """
    if not host or origin != f"{scheme}://{host}":
        return False
    try:
        name = URL(origin).host
    except ValueError:
        return False
    if name is None:
        return False
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


__all__ = ["EXPLORER_PREFIX", "add_explorer_routes", "is_same_origin", "load_explorer_files"]
