"""`[rpc] cors_origins` in config.toml decides which browser origins a real node answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.node.nodes import make_node_home

pytestmark = pytest.mark.slow


def post(url: str, origin: str | None) -> tuple[int, dict[str, str]]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "node_status", "params": []}).encode()
    headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_configured_origins_are_allowed_and_others_refused(tmp_path):
    node = make_node_home(tmp_path)
    config = node.home / "config" / "config.toml"
    text = config.read_text()
    assert 'cors_origins = ""' in text  # written by init, with its comment
    config.write_text(text.replace('cors_origins = ""', 'cors_origins = "http://localhost:3000, http://wallet.test"'))
    node.start()
    try:
        node.wait_ready()
        url = node.rpc_url + "/"
        assert post(url, None)[0] == 200  # not a browser: no Origin header
        status, headers = post(url, "http://wallet.test")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://wallet.test"
        assert post(url, "http://localhost:3000")[0] == 200
        assert post(url, "http://evil.test")[0] == 403
    finally:
        node.stop()
