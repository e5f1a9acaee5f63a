"""A fixed sequence of deploys and calls; prints a digest of every result and of the final state.

Run by tests/vm/test_determinism.py in processes with different PYTHONHASHSEED values.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vm.testing import Chain, load_contract

BOOK = '''
@public
def record(names: list[str]) -> list:
    seen = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    storage["seen", len(names)] = seen
    emit("Seen", seen, sorted(seen.keys()), [k for k in seen])
    return [[k, v] for k, v in seen.items()]
'''


def main() -> None:
    chain = Chain()
    a, b = chain.account(10**30), chain.account(10**30)
    out = hashlib.sha256()

    def note(res) -> None:
        if not res.ok:
            raise SystemExit(f"step failed: {res.error}")
        out.update(repr((res.ok, res.gas_used, res.output, res.events, res.error)).encode())

    book = chain.deploy(a, BOOK)
    note(book)
    note(chain.call(a, book.address, "record", [["zeta", "alpha", "mu", "alpha", "beta", "zeta", "z" * 40]]))
    toks = []
    for sym in ("AAA", "BBB"):
        res = chain.deploy(a, load_contract("token"), [sym, sym, 18, 10**27])
        note(res)
        toks.append(res.address)
    oracle = chain.deploy(a, load_contract("oracle"), [[a], 3600])
    swap = chain.deploy(a, load_contract("swap"), [])
    lending = chain.deploy(a, load_contract("lending"), [oracle.address, 5 * 10**17, 108 * 10**16])
    for res in (oracle, swap, lending):
        note(res)
    for t in toks:
        for spender in (swap.address, lending.address):
            note(chain.call(a, t, "approve", [spender, 10**30]))
        note(chain.call(a, oracle.address, "report", [t, 10**18]))
        note(chain.call(a, lending.address, "list_market",
                        [t, 75 * 10**16, 10**17, 10**12, 10**13, 10**14, 8 * 10**17, 10**18, 10**18]))
        note(chain.call(a, t, "transfer", [b, 10**24]))
        for spender in (swap.address, lending.address):
            note(chain.call(b, t, "approve", [spender, 10**30]))
    note(chain.call(a, swap.address, "add_liquidity", [toks[0], toks[1], 10**24, 2 * 10**24, 0, 0, a, 10**12]))
    for i in range(20):
        path = [toks[i % 2], toks[1 - i % 2]]
        note(chain.call(b, swap.address, "swap_exact_tokens_for_tokens", [10**20 + i, 0, path, b, 10**12]))
    note(chain.call(a, lending.address, "supply", [toks[0], 10**24]))
    note(chain.call(b, lending.address, "supply", [toks[1], 10**23]))
    note(chain.call(b, lending.address, "borrow", [toks[0], 5 * 10**22]))
    chain.advance(blocks=50, seconds=250)
    note(chain.call(b, lending.address, "repay", [toks[0], 10**21]))
    note(chain.call(a, oracle.address, "report", [toks[1], 10**17]))
    note(chain.call(a, lending.address, "liquidate", [b, toks[0], 10**21, toks[1]]))
    out.update(chain.host.state_digest())
    print(out.hexdigest())


if __name__ == "__main__":
    main()
