"""A JSON-RPC client of the AML monitor: calls by name, and every alert page by page."""

from __future__ import annotations

from typing import Any

from node.client.sdk import Client


class MonitorClient:
    def __init__(self, url: str, token: str = "", timeout: float = 30.0) -> None:
        # The admin token is sent only when known: the watchlist's changes need it, reads do not.
        self.client = Client(url, timeout=timeout, headers={"Authorization": f"Bearer {token}"} if token else None)

    def call(self, name: str, /, **params: Any) -> Any:
        """One method with its parameters by name (None: not given); the SDK's errors as they come."""
        return self.client.call_named(name, {k: v for k, v in params.items() if v is not None})

    def alerts(self, page: int = 1000, max_pages: int = 100_000, **filters: Any) -> list[dict[str, Any]]:
        """Every alert that matches `filters` (aml_alerts' own), following its cursor to the end."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            result = self.call("aml_alerts", limit=page, cursor=cursor, **filters)
            if not isinstance(result, dict) or not isinstance(result.get("alerts"), list):
                raise ValueError(f"aml_alerts answered {result!r:.300}")
            out.extend(result["alerts"])
            cursor = result.get("next_cursor")
            if cursor is None:
                return out
        raise ValueError(f"aml_alerts still had more after {max_pages} pages")
