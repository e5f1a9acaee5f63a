"""The explorer's table of reason codes (node/rpc/explorer/reasons.js) says what docs/finance.md says."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ON_CHAIN = ("registry", "stablecoin", "asset")  # the contracts a transaction's receipt can name


def doc_reasons() -> dict[str, set[str]]:
    doc = (ROOT / "docs" / "finance.md").read_text()
    section = doc[doc.index("## Reason codes"):]
    found: dict[str, set[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        codes, where, meaning = (c.strip() for c in line.strip().strip("|").split("|"))
        if any(w in where for w in ON_CHAIN):
            for code in re.findall(r"`([a-z_]+)`", codes):
                found.setdefault(code, set()).add(meaning)
    return found


def page_reasons() -> dict[str, str]:
    text = (ROOT / "node" / "rpc" / "explorer" / "reasons.js").read_text()
    return {m[1]: json.loads(m[2]) for m in re.finditer(r'^  ([a-z_]+): (".*"),$', text, re.M)}


def test_every_on_chain_reason_code_is_explained_as_the_doc_does():
    doc, page = doc_reasons(), page_reasons()
    assert len(doc) > 30
    assert sorted(page) == sorted(doc)
    for code, meaning in page.items():
        assert meaning in doc[code], code
