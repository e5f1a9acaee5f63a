"""Recall and precision of a monitor's alerts against a synthetic ledger's labels, per typology.

A planted instance is detected when an alert of its rule names at least one of its addresses at a
height in [from_height, to_height + window], the window being the rule's (0 for the rules without
one). An alert of a rule is a true positive when it matches some planted instance of that rule.
Alerts below the labels' `scored_from_height` (the setup, where the funders pay thousands of
accounts) are counted apart and left out of precision unless `include_setup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from finance.monitor.client import MonitorClient
from finance.monitor.synth.params import TYPOLOGIES, Params
from node.client.sdk import RpcCallError, TransportError


class ScoreError(ValueError):
    """Labels or alerts of the wrong shape, or a monitor that did not answer."""


def _instances(labels: Any) -> list[dict[str, Any]]:
    items = labels.get("instances") if isinstance(labels, dict) else labels
    if not isinstance(items, list):
        raise ScoreError("labels: a list of instances, or an object with 'instances'")
    out = []
    for k, item in enumerate(items):
        try:
            out.append({"typology": str(item["typology"]), "addresses": {str(a).lower() for a in item["addresses"]},
                        "from_height": int(item["from_height"]), "to_height": int(item["to_height"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise ScoreError(f"labels: instance {k} lacks or mistypes {exc}") from None
    return out


def _alert(k: int, alert: Any) -> tuple[str, int, set[str]]:
    try:
        return str(alert["rule"]), int(alert["height"]), {str(a).lower() for a in alert["addresses"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise ScoreError(f"alert {k} lacks or mistypes {exc}") from None


def _matches(inst: dict[str, Any], height: int, addresses: set[str], window: int) -> bool:
    return inst["from_height"] <= height <= inst["to_height"] + window and not inst["addresses"].isdisjoint(addresses)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score(labels: Any, alerts: Iterable[Any], windows: dict[str, int] | None = None, include_setup: bool = False,
          slack: int = 0) -> dict[str, Any]:
    """The per-typology table; `windows` default to the labels' own, then to the design's (params.py)."""
    instances = _instances(labels)
    if windows is None:
        own = labels.get("windows") if isinstance(labels, dict) else None
        windows = {**Params().windows(), **(own if isinstance(own, dict) else {})}
    scored_from = int(labels.get("scored_from_height", 0)) if isinstance(labels, dict) else 0
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for inst in instances:
        by_rule.setdefault(inst["typology"], []).append(inst)
    detected: dict[str, set[int]] = {t: set() for t in by_rule}
    counts: dict[str, dict[str, int]] = {}
    setup: dict[str, int] = {}
    for k, raw in enumerate(alerts):
        rule, height, addresses = _alert(k, raw)
        if height < scored_from and not include_setup:
            setup[rule] = setup.get(rule, 0) + 1
            continue
        c = counts.setdefault(rule, {"alerts": 0, "true": 0})
        c["alerts"] += 1
        window = windows.get(rule, 0) + slack
        hit = False
        for i, inst in enumerate(by_rule.get(rule, [])):
            if _matches(inst, height, addresses, window):
                detected[rule].add(i)
                hit = True
        c["true"] += hit
    table: dict[str, Any] = {}
    seen = set(by_rule) | set(counts)
    for t in [r for r in TYPOLOGIES if r in seen] + sorted(seen - set(TYPOLOGIES)):
        planted = len(by_rule.get(t, []))
        c = counts.get(t, {"alerts": 0, "true": 0})
        found = len(detected.get(t, ()))
        missed = [sorted(inst["addresses"]) for i, inst in enumerate(by_rule.get(t, [])) if i not in detected[t]]
        table[t] = {"planted": planted, "detected": found, "recall": _ratio(found, planted), "alerts": c["alerts"],
                    "true_alerts": c["true"], "precision": _ratio(c["true"], c["alerts"]), "missed": missed[:5]}
    planted = sum(r["planted"] for r in table.values())
    found = sum(r["detected"] for r in table.values())
    n_alerts = sum(r["alerts"] for r in table.values())
    n_true = sum(r["true_alerts"] for r in table.values())
    return {"typologies": table, "scored_from_height": scored_from, "setup_alerts": dict(sorted(setup.items())),
            "total": {"planted": planted, "detected": found, "recall": _ratio(found, planted), "alerts": n_alerts,
                      "precision": _ratio(n_true, n_alerts)}}


def fetch_alerts(url: str, page: int = 1000, timeout: float = 30.0, max_pages: int = 100_000) -> list[dict[str, Any]]:
    """Every alert of a monitor, page by page over its `aml_alerts` cursor."""
    try:
        return MonitorClient(url, timeout=timeout).alerts(page, max_pages)
    except TransportError as exc:
        raise ScoreError(f"cannot reach {url}: {exc}") from exc
    except (RpcCallError, ValueError) as exc:
        raise ScoreError(f"aml_alerts on {url}: {exc}") from exc
