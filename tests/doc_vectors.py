"""Reading `vector <name>: <hex>` lines out of the fenced blocks of a docs/ page."""

from __future__ import annotations

import re


def read_vectors(doc: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for body in re.findall(r"^```\w*\n(.*?)^```$", doc, re.M | re.S):
        for line in body.splitlines():
            m = re.fullmatch(r"vector ([\w.]+): (\S+)", line.strip())
            if m:
                if m.group(1) in found:
                    raise ValueError(f"vector {m.group(1)} appears twice")
                found[m.group(1)] = m.group(2)
    return found
