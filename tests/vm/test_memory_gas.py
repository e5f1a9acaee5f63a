"""Gas bounds what a call can hold, and compiling a source is priced by its syntax nodes.

Before, nested lists held about 4 bytes per gas (one 420M-gas call grew a node by 1.5 GB) and
a 64 KiB source of nested comprehensions compiled at about 10 times the time its gas paid for.
Memory is measured here with tracemalloc, in the test only: gas never depends on it.
"""

from __future__ import annotations

import ast
import gc
import tracemalloc

import pytest

from bench.vm_worst import PATTERNS, nested_comprehension_source, pattern_source
from vm import Outcome, gas
from vm.testing import Chain

GAS = 20_000_000
MEMORY_PATTERNS = [name for name in PATTERNS if name != "plain_loop"]


@pytest.mark.parametrize("name", MEMORY_PATTERNS)
def test_what_a_call_holds_is_at_most_a_byte_per_gas(name):
    chain = Chain()
    me = chain.account()
    contract = chain.deploy(me, pattern_source(PATTERNS[name])).address
    tracemalloc.start()
    try:
        res = chain.call(me, contract, "run", [], gas=GAS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.outcome is Outcome.OUT_OF_GAS
    assert peak <= GAS, f"{name}: {peak / GAS:.2f} bytes per gas"


def test_the_collector_is_paused_only_while_a_transaction_runs():
    chain = Chain()
    me = chain.account()
    contract = chain.deploy(me, pattern_source(PATTERNS["nested_literals"])).address
    assert gc.isenabled()
    assert not chain.call(me, contract, "run", [], gas=100_000).ok
    assert gc.isenabled()
    gc.disable()
    try:
        chain.call(me, contract, "run", [], gas=100_000)
        assert not gc.isenabled()  # a caller that paused it keeps it paused
    finally:
        gc.enable()


def test_a_deploy_pays_for_every_syntax_node_the_same_whether_or_not_it_was_compiled_before():
    source = nested_comprehension_source(7)
    nodes = sum(1 for _ in ast.walk(ast.parse(source)))
    fresh = Chain().deploy(Chain().account(), source, gas=200_000_000)
    again = Chain().deploy(Chain().account(), source, gas=200_000_000)  # compiled: found in the cache
    assert fresh.ok and again.ok, (fresh.error, again.error)
    assert fresh.gas_used == again.gas_used
    assert fresh.gas_used >= gas.DEPLOY + gas.CODE_BYTE * len(source.encode()) + gas.COMPILE_NODE * nodes
    short = Chain().deploy(Chain().account(), nested_comprehension_source(8), gas=gas.COMPILE_NODE * nodes)
    assert short.outcome is Outcome.OUT_OF_GAS
