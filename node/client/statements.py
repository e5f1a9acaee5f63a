"""Account statements on the client side: joining the pages of `account_statement` and writing CSV.

A node answers at most `limit` movements per call (node/rpc/statement.py); a longer statement
comes in pages linked by `next_cursor`, each with the same opening and closing balances. Joined
here, the whole is checked: for every asset, opening + the sum of its movements = closing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

CSV_COLUMNS = ("row", "height", "tx_index", "tx_hash", "asset", "symbol", "kind", "amount", "counterparty", "fee",
               "balance")


class StatementError(Exception):
    """The pages of a statement do not belong together (another address or range, a changed opening)."""


def reconcile(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement with `movements_total` and `reconciled` of every asset computed from its movements."""
    totals: dict[str, int] = {}
    for m in statement["movements"]:
        totals[m["asset"]] = totals.get(m["asset"], 0) + int(m["amount"])
    assets = []
    for a in statement["assets"]:
        total = totals.get(a["asset"], 0)
        known = a["opening"] is not None and a["closing"] is not None
        assets.append({**a, "movements_total": str(total),
                       "reconciled": known and int(a["opening"]) + total == int(a["closing"])})
    return {**statement, "assets": assets}


def join_pages(pages: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One statement from its pages, in order, reconciled."""
    first: dict[str, Any] | None = None
    movements: list[dict[str, Any]] = []
    assets: dict[str, dict[str, Any]] = {}
    for page in pages:
        if first is None:
            first = page
        elif (page["address"], page["from_height"], page["to_height"]) != (
                first["address"], first["from_height"], first["to_height"]):
            raise StatementError("a page of another statement")
        for a in page["assets"]:
            seen = assets.get(a["asset"])
            if seen is not None and (seen["opening"], seen["closing"]) != (a["opening"], a["closing"]):
                raise StatementError(f"the balances of {a['asset']} differ between pages")
            assets.setdefault(a["asset"], a)
        movements += page["movements"]
    if first is None:
        raise StatementError("no pages")
    return reconcile({**first, "assets": list(assets.values()), "movements": movements, "complete": True,
                      "next_cursor": None})


def statement_csv(statement: dict[str, Any]) -> str:
    """CSV: a header line, an `opening` row per asset, one row per movement (with the asset's
    balance after it), a `closing` row per asset (docs/finance.md lists the columns)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    symbols = {a["asset"]: a["symbol"] or "" for a in statement["assets"]}
    running: dict[str, int | None] = {}
    for a in statement["assets"]:
        running[a["asset"]] = None if a["opening"] is None else int(a["opening"])
        w.writerow(["opening", statement["from_height"] - 1, "", "", a["asset"], symbols[a["asset"]], "", "", "", "",
                    a["opening"] if a["opening"] is not None else ""])
    for m in statement["movements"]:
        balance = running.get(m["asset"])
        balance = None if balance is None else balance + int(m["amount"])
        running[m["asset"]] = balance
        w.writerow(["movement", m["height"], "" if m["tx_index"] is None else m["tx_index"], m["tx_hash"] or "",
                    m["asset"], symbols.get(m["asset"], ""), m["kind"], m["amount"], m["counterparty"] or "",
                    m["fee"], "" if balance is None else balance])
    for a in statement["assets"]:
        w.writerow(["closing", statement["to_height"], "", "", a["asset"], symbols[a["asset"]], "",
                    a["movements_total"], "", "", a["closing"] if a["closing"] is not None else ""])
    return out.getvalue()
