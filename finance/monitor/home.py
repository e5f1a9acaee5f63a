"""The monitor's home folder: its database, its admin token, its rules file, and where it serves.

    <home>/db/            LevelDB (finance.monitor.store)
    <home>/admin_token    the bearer token for aml_watchlist_add/remove (0600)
    <home>/rules.toml     the rules' parameters, if given (--config copies it here on first start)
    <home>/monitor.json   {"url", "node", "pid"}: written once serving, so tools can find it
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from finance.monitor.config import MonitorConfig, load_config


def admin_token(home: Path) -> str:
    path = home / "admin_token"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def rules(home: Path, given: Path | None) -> MonitorConfig:
    """The rules in force: `given` if set (and kept in the home), else the home's file, else the defaults."""
    kept = home / "rules.toml"
    if given is not None:
        config = load_config(given)  # refused here, before anything is copied, if it is wrong
        home.mkdir(parents=True, exist_ok=True)
        if given.resolve() != kept.resolve():
            shutil.copyfile(given, kept)
        return config
    return load_config(kept if kept.exists() else None)


def write_endpoint(home: Path, url: str, node: str) -> None:
    tmp = home / "monitor.json.tmp"
    tmp.write_text(json.dumps({"url": url, "node": node, "pid": os.getpid()}))
    tmp.replace(home / "monitor.json")


def read_endpoint(home: Path) -> str:
    path = home / "monitor.json"
    try:
        return json.loads(path.read_text())["url"]
    except (OSError, ValueError, KeyError) as exc:
        raise FileNotFoundError(f"{path}: no running monitor recorded here ({exc})") from None
