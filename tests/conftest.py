"""What every test process shares.

web3.py and eth-account pull in py_ecc, which raises the interpreter's recursion limit to 100,000
on import; at that limit the C JSON decoder overflows the C stack on deeply nested input (the RPC
nesting tests) and kills the whole run. They are imported here once, and the limit put back, so
no test's import order can bring the crash back. The node itself never imports them.
"""

from __future__ import annotations

import sys

_LIMIT = sys.getrecursionlimit()
import eth_account  # noqa: E402, F401
import web3  # noqa: E402, F401

sys.setrecursionlimit(_LIMIT)
