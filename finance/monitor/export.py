"""Audit exports: alerts and traces as JSON and CSV, and a case report per alert.

A case report gathers what an investigator needs in one document: the alert (rule, why, the
evidence), each party with its KYC status from the identity registry (verified or the reason it
is not; never personal data, which the chain does not hold), and the transactions as the node
has them.
"""

from __future__ import annotations

import csv
import io
from typing import Any

ALERT_COLUMNS = ("id", "height", "rule", "severity", "subject", "asset", "amount", "addresses", "txs", "explanation")
EDGE_COLUMNS = ("from", "to", "amount", "tainted", "tx_hash", "height")


def alerts_csv(alerts: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ALERT_COLUMNS)
    for a in alerts:
        writer.writerow([a["id"], a["height"], a["rule"], a["severity"], a.get("subject", ""), a["asset"], a["amount"],
                         ";".join(a["addresses"]), ";".join(a["txs"]), a["explanation"]])
    return out.getvalue()


def trace_csv(graph: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EDGE_COLUMNS)
    for e in graph["edges"]:
        writer.writerow([e[c] for c in EDGE_COLUMNS])
    return out.getvalue()


def case_report(alert: dict[str, Any], kyc: dict[str, str], txs: list[dict[str, Any]]) -> dict[str, Any]:
    """`kyc`: address -> "verified" or the registry's reason code; `txs`: the node's tx_get answers."""
    return {
        "alert": {k: alert[k] for k in ("id", "rule", "severity", "height", "asset", "amount", "explanation")},
        "why": alert["explanation"],
        "evidence": alert["evidence"],
        "parties": [{"address": a, "kyc": kyc.get(a, "unknown"), "subject": a == alert.get("subject")}
                    for a in alert["addresses"]],
        "transactions": [{"hash": t.get("hash"), "status": t.get("status"), "height": t.get("height"),
                          "from": (t.get("tx") or {}).get("from"), "to": (t.get("tx") or {}).get("to"),
                          "type": (t.get("tx") or {}).get("type"), "amount": (t.get("tx") or {}).get("amount"),
                          "method": (t.get("tx") or {}).get("method"),
                          "result": (t.get("receipt") or {}).get("status")} for t in txs],
    }


def case_text(report: dict[str, Any]) -> str:
    a = report["alert"]
    lines = [f"Case {a['id']}: {a['rule']} ({a['severity']}) at height {a['height']}", "", report["why"], "",
             "Parties:"]
    lines += [f"  {p['address']}  KYC: {p['kyc']}{'  (subject)' if p['subject'] else ''}" for p in report["parties"]]
    lines += ["", "Transactions:"]
    lines += [f"  {t['hash']}  height {t['height']}  {t['type']} {t['from']} -> {t['to']}  {t['result']}"
              for t in report["transactions"]]
    return "\n".join(lines) + "\n"
