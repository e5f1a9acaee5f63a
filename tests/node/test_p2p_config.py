"""The limits against hostile peers are config.toml settings: written by init, checked on load, honoured by a node."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from node.config import ConfigError, NodeConfig, load_config
from tests.node.nodes import make_node_home

LIMITS = ("handshake_timeout_s", "max_pending_handshakes", "max_pending_handshakes_per_ip", "ban_threshold",
          "ban_seconds", "ban_addresses", "max_msgs_per_s", "max_msgs_burst", "verifier_cache_entries",
          "verifier_cache_bytes", "recovery_workers", "max_queue_per_peer", "max_queue_total")


def _config(home: Path) -> Path:
    return home / "config" / "config.toml"


def _set(home: Path, section: str, key: str, value: str) -> None:
    """Replace `key = ...` inside `[section]` of the config written by init."""
    lines = _config(home).read_text().splitlines()
    current = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.split("=")[0].strip() == key:
            lines[i] = f"{key} = {value}"
            break
    else:
        raise KeyError(f"[{section}] {key} is not in the written config")
    _config(home).write_text("\n".join(lines) + "\n")


def test_init_writes_every_limit_with_the_code_default(tmp_path):
    proc = make_node_home(tmp_path)
    text = _config(proc.home).read_text()
    loaded, default = load_config(proc.home), NodeConfig(home=proc.home)
    for name in LIMITS:
        assert f"\n{name} = " in text, name
        assert getattr(loaded, name) == getattr(default, name), name


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("p2p", "max_pending_handshakes_per_ip", "64", r"p2p\.max_pending_handshakes_per_ip \(64\) must not exceed"),
    ("p2p", "ban_threshold", "0", r"p2p\.ban_threshold must be at least 1"),
    ("p2p", "handshake_timeout_s", "0", r"p2p\.handshake_timeout_s must be at least 0\.1"),
    ("p2p", "ban_addresses", "1", r"p2p\.ban_addresses must be bool"),
    ("p2p", "max_msgs_burst", "10", r"p2p\.max_msgs_per_s \(20000\.0\) must not exceed"),
    ("mempool", "verifier_cache_bytes", "1000", r"mempool\.verifier_cache_bytes must be at least 1048576"),
    ("mempool", "recovery_workers", "-1", r"mempool\.recovery_workers must be at least 0"),
    ("mempool", "recovery_workers", "true", r"mempool\.recovery_workers must be int"),
    ("consensus", "max_queue_per_peer", "20000", r"consensus\.max_queue_per_peer \(20000\) must not exceed"),
    ("consensus", "max_queue_total", '"lots"', r"consensus\.max_queue_total must be int"),
])
def test_a_bad_limit_is_refused_with_its_name(tmp_path, section, key, value, message):
    proc = make_node_home(tmp_path)
    _set(proc.home, section, key, value)
    with pytest.raises(ConfigError, match=message):
        load_config(proc.home)


def _p2p_port(home: Path) -> int:
    return load_config(home).p2p_port


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the node closes the connection (EOF or reset) within `seconds`.

    The node speaks first in a handshake, so bytes may arrive before the close: read past them.
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(4096) == b"":
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


@pytest.mark.slow
def test_a_node_honours_its_handshake_settings(tmp_path):
    proc = make_node_home(tmp_path)
    # Two pending handshakes per IP and a long timeout: a third idle connection evicts the first.
    _set(proc.home, "p2p", "max_pending_handshakes_per_ip", "2")
    _set(proc.home, "p2p", "handshake_timeout_s", "30")
    proc.start()
    try:
        proc.wait_ready()
        port = _p2p_port(proc.home)
        first, second = (socket.create_connection(("127.0.0.1", port)) for _ in range(2))
        time.sleep(0.3)  # the node registers them in order
        third = socket.create_connection(("127.0.0.1", port))
        assert _closed_within(first, 10.0), "the oldest pending handshake was not evicted"
        assert not _closed_within(third, 0.5), "the newest connection should still be pending"
        for s in (first, second, third):
            s.close()
    finally:
        proc.stop()
    # A short handshake timeout: an idle connection is closed well before the default 3 s.
    _set(proc.home, "p2p", "max_pending_handshakes_per_ip", "8")
    _set(proc.home, "p2p", "handshake_timeout_s", "0.5")
    proc.start()
    try:
        proc.wait_ready()
        idle = socket.create_connection(("127.0.0.1", _p2p_port(proc.home)))
        start = time.monotonic()
        assert _closed_within(idle, 2.5), "the idle connection outlived a 0.5 s handshake timeout"
        assert time.monotonic() - start < 2.5
        idle.close()
    finally:
        proc.stop()
