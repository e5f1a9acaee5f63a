"""Known escapes and bombs: each is refused at deploy time or stopped at run time."""

import sys
import tracemalloc

import pytest

from vm import CheckError, contract_address, gas
from vm.checker import MAX_SOURCE_BYTES, check
from vm.compiler import compile_contract
from vm.meter import Meter
from vm.runtime import make_helpers
from vm.testing import Chain


def rejected(source: str) -> str:
    with pytest.raises(CheckError) as info:
        check(source)
    return str(info.value)


def wrap(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"@public\ndef attack():\n{lines}\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return ().__class__.__bases__[0].__subclasses__()", "starting with _"),
        ("x = []\nreturn x.__class__", "starting with _"),
        ("return '{0.__class__}'.format(1)", "method 'format' is not allowed"),
        ("return '{x}'.format_map({})", "method 'format_map' is not allowed"),
        ("return f'{ctx}'", "f-strings"),
        ("g = (x for x in [1])\nreturn g.gi_frame", "generators"),
        ("return getattr([], 'append')", "'getattr' is not defined"),
        ("return type(1)", "'type' is not defined"),
        ("return vars()", "'vars' is not defined"),
        ("return dir()", "'dir' is not defined"),
        ("return eval('1')", "'eval' is not defined"),
        ("return exec('1')", "'exec' is not defined"),
        ("return open('/etc/passwd')", "'open' is not defined"),
        ("return __import__('os')", "starting with _"),
        ("return globals()", "'globals' is not defined"),
        ("return 1.5", "floats"),
        ("return 3 / 2", "use //"),
        ("return {1, 2}", "sets"),
        ("return 1j", "complex literals"),
        ("return lambda: 1", "lambda"),
        ("yield 1", "yield"),
        ("try:\n    pass\nexcept:\n    pass", "try is not allowed"),
        ("raise 1", "raise is not allowed"),
        ("assert False", "assert is not allowed"),
        ("with x:\n    pass", "with is not allowed"),
        ("global y", "global"),
        ("def inner():\n    pass", "nested functions"),
        ("ctx.sender = 1", "attributes cannot be assigned"),
        ("return ctx._vm", "starting with _"),
        ("return ctx.gi_frame", "not allowed"),
        ("return storage.get.__self__", "starting with _"),
        ("x = [1]\nreturn x.sort", "not allowed"),
        ("len = 1", "builtin"),
        ("return [*[1]]", "starred"),
        ("return (y := 1)", ":= is not allowed"),
        ("return 1 is 1", "is compares with None"),
        ("return '%s' 'x'.zfill(3)", "method 'zfill'"),
        ("return 115792089237316195423570985008687907853269984665640564039457584007913129639936", "over 256 bits"),
    ],
)
def test_refused_at_check_time(body, reason):
    assert reason in rejected(wrap(body))


def test_imports_are_refused_with_the_line():
    message = rejected('"""doc"""\nimport os\n')
    assert message == "line 2: import is not allowed"
    assert "import" in rejected("from os import path\n")


def test_huge_source_is_refused_before_parsing():
    source = "X = 1\n" * (MAX_SOURCE_BYTES // 6 + 10)
    assert "over" in rejected(source)


def test_deeply_nested_source_is_refused_before_parsing():
    assert "nested deeper" in rejected("X = " + "(" * 30_000 + "1" + ")" * 30_000 + "\n")
    assert "nested deeper" in rejected("X = " + "[" * 40 + "]" * 40 + "\n")
    deep_blocks = "".join("    " * i + "if True:\n" for i in range(40)) + "    " * 40 + "pass\n"
    body = "".join("    " + line + "\n" for line in deep_blocks.splitlines())
    assert "nested deeper" in rejected("@public\ndef f():\n" + body)


def test_long_operator_chains_are_refused_without_recursing():
    assert "longer than 1000 tokens" in rejected("X = " + "+".join(["1"] * 5000) + "\n")
    assert "longer than 1000 tokens" in rejected("X = " + "not " * 5000 + "1\n")
    assert "too deeply" in rejected("X = " + "+".join(["1"] * 400) + "\n")


@pytest.fixture
def chain():
    return Chain()


def run(chain: Chain, body: str, gas: int = 2_000_000):
    owner = chain.account(balance=10**20)
    deployed = chain.deploy(owner, wrap(body) + "\n@public\ndef poke():\n    storage['x'] = 1\n")
    assert deployed.ok, deployed.error
    return chain.call(owner, deployed.address, "attack", [], gas=gas), deployed.address, owner


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("return 10**10**10", "integer overflow"),
        ("return 1 << 10**9", "integer overflow"),
        ("return 'a' * 10**10", "over 1048576 bytes"),
        ("return [0] * 10**10", "over 100000 items"),
        ("x = 'ab'\nwhile True:\n    x = x + x\nreturn x", "over 1048576 bytes"),
        ("return 2**255 * 2", "integer overflow"),
        ("return -(2**256 - 1) - 1", "integer overflow"),
        ("return 2**-1", "negative exponent"),
        ("return '%s' % 'x'", "string formatting is not allowed"),
        ("return 1 // 0", "ZeroDivisionError at line 3"),
        ("return [1] == [1]", "cannot be compared"),
        ("x = [1]\nx = [x, x]\nreturn x < x", "cannot be compared"),
        ("return str(b'x')", "use .hex()"),
        ("return storage['missing']", "is not set"),
        ("for k in storage:\n    pass", "cannot be iterated"),
        ("return len(storage)", "has no length"),
        ("return attack", "function is not a contract value"),
        ("return storage", "Storage is not a contract value"),
        ("return ctx", "Ctx is not a contract value"),
        ("x = {}\nx[[1]] = 1", "TypeError at line 4"),
        ("return range(10**30)[0] + len(list(range(10**6)))", "over 100000 items"),
    ],
)
def test_stopped_at_run_time(chain, body, error):
    res, _, _ = run(chain, body, gas=10_000_000)
    assert not res.ok
    assert error in res.error


def test_infinite_loop_runs_out_of_gas_charges_the_gas_and_rolls_back(chain):
    owner = chain.account(balance=10**20)
    source = "@public\ndef spin():\n    storage['x'] = 1\n    emit('Start')\n    while True:\n        pass\n"
    address = chain.deploy(owner, source).address
    res = chain.call(owner, address, "spin", [], gas=500_000)
    assert (res.ok, res.error, res.gas_used, res.events) == (False, "out of gas", 500_000, ())
    assert res.writes.storage == {}
    assert chain.host.get_storage(address, b"\xa1x") is None


def test_deep_recursion_is_stopped_by_the_depth_cap(chain):
    res, _, _ = run(chain, "return attack()")
    assert (res.ok, res.error) == (False, "call depth over 64")


def test_a_dag_of_shared_lists_cannot_make_storage_writes_exponential(chain):
    res, _, _ = run(chain, "x = [1]\nfor i in range(60):\n    x = [x, x]\nstorage['x'] = x")
    assert not res.ok
    assert "nested deeper" in res.error or "items" in res.error


def test_a_view_cannot_write(chain):
    owner = chain.account(balance=10**20)
    src = "@view\ndef sneaky() -> int:\n    storage['x'] = 1\n    return 1\n"
    address = chain.deploy(owner, src).address
    res = chain.call(owner, address, "sneaky", [])
    assert (res.ok, res.error) == (False, "a view cannot change storage")


def test_private_functions_cannot_be_called(chain):
    owner = chain.account(balance=10**20)
    address = chain.deploy(owner, "def secret():\n    return 1\n").address
    res = chain.call(owner, address, "secret", [])
    assert (res.ok, res.error) == (False, "the contract has no public method 'secret'")


def test_a_rejected_deploy_charges_gas_and_stores_nothing(chain):
    owner = chain.account(balance=10**20)
    res = chain.deploy(owner, "import os\n")
    assert not res.ok and res.error == "contract rejected: line 1: import is not allowed"
    assert res.gas_used > 0
    assert chain.host.get_code(contract_address(owner, 0)) is None


# -- work that must be paid for (each found by trying to run without paying) ----------------------


def gas_of(chain: Chain, body: str, gas: int = 10_000_000):
    res, _, _ = run(chain, body, gas=gas)
    return res


def test_comprehension_items_pay_even_when_nothing_is_built(chain):
    res = gas_of(chain, "return [0 for a in range(10**70) for b in []]", gas=1_000_000)
    assert (res.ok, res.error) == (False, "out of gas")


def test_a_while_condition_pays_on_every_pass(chain):
    short = gas_of(chain, "a = 0\nwhile a < 100:\n    a += 1")
    long = gas_of(chain, "a = 0\nwhile a < 100 and a < 100 and a < 100 and a < 100:\n    a += 1")
    assert long.ok and short.ok
    assert long.gas_used - short.gas_used >= 100 * 9 * 4  # nine more nodes on each of 100 passes


def test_a_method_name_that_is_not_a_str_is_refused_without_a_repr(chain):
    res = gas_of(chain, "return call(ctx.this, attack)")
    assert (res.ok, res.error) == (False, "a method name is a str")


def test_shared_big_strings_cannot_make_encoding_explode(chain):
    for sink in ("storage['x'] = L", "emit('E', L)", "return L"):
        res = gas_of(chain, f"s = 'a' * 1048576\nL = [s] * 1000\n{sink}", gas=50_000_000)
        assert not res.ok and "more than 4194304 bytes" in res.error, (sink, res.error)


def test_comparing_long_strings_costs_by_length(chain):
    short = gas_of(chain, "s = 'a' * 64\nt = 'a' * 64\nfor i in range(100):\n    x = s == t")
    long = gas_of(chain, "s = 'a' * 100000\nt = 'a' * 100000\nfor i in range(100):\n    x = s == t")
    assert long.gas_used - short.gas_used > 100 * 100000 // 32 - 200_000
    scan = gas_of(chain, "s = 'a' * 100000\nL = [s] * 1000\nreturn s + 'b' in L")
    assert scan.gas_used > 1000 * 100000 // 32


def test_int_dict_keys_are_limited_so_hashes_cannot_be_made_to_collide(chain):
    res = gas_of(chain, "d = {}\nfor i in range(10):\n    d[i * (2**61 - 1)] = 1")
    assert not res.ok and "61 bits" in res.error
    assert "61 bits" in gas_of(chain, "return {2**62: 1}").error
    assert gas_of(chain, "d = {}\nd[2**61 - 2] = 1\nd[-5] = 2\nreturn d").ok


def test_address_text_is_charged(chain):
    cheap = gas_of(chain, "for i in range(10):\n    x = str(5)")
    dear = gas_of(chain, "for i in range(10):\n    x = str(ctx.this)")
    assert dear.gas_used - cheap.gas_used >= 10 * 1000


def test_top_level_constants_have_a_budget_checked_at_deploy(chain):
    owner = chain.account(balance=10**20)
    source = "".join(f"A{i} = 'a' * 1048576\n" for i in range(5)) + "@public\ndef f():\n    pass\n"
    res = chain.deploy(owner, source, gas=50_000_000)
    assert (res.ok, res.error) == (False, f"top-level constants cost over {gas.MODULE_BUDGET} gas")


def test_every_use_of_a_contract_pays_for_its_top_level_constants(chain):
    # Loading is cached per block, so constants must be charged on each use, not on the first only:
    # otherwise calls to many contracts with big constants would cost 700 gas each.
    owner = chain.account(balance=10**20)
    big = chain.deploy(owner, "A = 'x' * 60000\n@public\ndef f():\n    pass\n", gas=50_000_000).address
    small = chain.deploy(owner, "A = 'x'\n@public\ndef f():\n    pass\n", gas=50_000_000).address
    caller = chain.deploy(owner, wrap("call(target, 'f')").replace("attack():", "attack(target: address):"),
                          gas=50_000_000).address
    dear = [chain.call(owner, caller, "attack", [big]).gas_used for _ in range(2)]
    cheap = chain.call(owner, caller, "attack", [small]).gas_used
    assert dear[0] == dear[1]  # the second call finds the module loaded and pays the same
    assert dear[0] - cheap >= 60000


def test_recursion_through_comprehensions_ends_in_the_depth_fault(chain):
    nest = "f(n - 1)"
    for _ in range(25):
        nest = f"[{nest} for a in [0]][0]"
    owner = chain.account(balance=10**20)
    source = f"@public\ndef f(n: int) -> int:\n    if n == 0:\n        return 0\n    return {nest}\n"
    address = chain.deploy(owner, source).address
    assert chain.call(owner, address, "f", [30], gas=50_000_000).ok
    res = chain.call(owner, address, "f", [80], gas=50_000_000)
    assert (res.ok, res.error) == (False, "call depth over 64")


def test_twenty_nested_loops_are_refused_at_check_time():
    body = "".join("    " * (i + 1) + "for a in []:\n" for i in range(20)) + "    " * 21 + "pass\n"
    assert "blocks nested deeper" in rejected("@public\ndef f():\n" + body)


def test_compiled_code_comes_back_from_a_code_store():
    from vm.compiler import _CACHE, compile_contract

    class Store(dict):
        def put(self, key, value):
            self[key] = value

    store = Store()
    source = "@public\ndef f(a: int) -> int:\n    return a * 2\n# store test\n"
    first = compile_contract(source, store)
    assert len(store) == 1
    _CACHE.clear()
    again = compile_contract(source, store)
    assert again is not first and again.interface == first.interface
    chain = Chain()
    chain.vm.code_store = store
    owner = chain.account(balance=10**20)
    address = chain.deploy(owner, source).address
    assert chain.must(owner, address, "f", [21]) == 42


def test_second_review_findings_are_paid_for_or_refused(chain):
    # Deleting from the front of a long list pays for the shift.
    small = gas_of(chain, "L = [0] * 10\nfor i in range(10):\n    del L[0]\n    L.append(0)")
    big = gas_of(chain, "L = [0] * 50000\nfor i in range(10):\n    del L[0]\n    L.append(0)")
    assert big.gas_used - small.gas_used > 10 * 50000 // 16
    # strip() looks each character up among the ones given: at most 64 of them.
    assert "at most 64 characters" in gas_of(chain, "return 'abc'.strip('x' * 65)").error
    # A power pays for its squarings even when the result stays small.
    assert gas_of(chain, "return 1 ** MAX_UINT").gas_used > 256
    # A storage key too long is refused before it is encoded.
    assert "over 256 bytes" in gas_of(chain, "return storage.get(['x' * 300, 1])").error


def test_top_level_constants_are_few_and_small():
    many = "".join(f"A{i} = {i}\n" for i in range(65))
    assert "at most 64 top-level constants" in rejected(many)
    assert "at most 32 parts" in rejected("A = " + " + ".join(["1"] * 20) + "\n")


def test_strings_without_a_utf8_form_never_reach_a_contract():
    # A lone surrogate cannot be encoded: returned, stored or emitted, it would fail the node
    # outside the VM (receipt encoding), so it is refused where it could enter.
    assert "lone surrogate" in rejected(wrap('return "\\ud800"'))
    assert "lone surrogate" in rejected(wrap('x = ["a", {"k": "\\udfff"}]'))
    assert "lone surrogate" in rejected(wrap('return "ok"') + "# \ud800\n")
    check(wrap('return "\\U0001F600 ok"'))  # astral characters are fine


def test_third_review_findings_are_paid_for_or_refused(chain):
    # A default value obeys the literal rules: no lone surrogates, floats or over-wide ints.
    for default in ('"\\ud800"', "1.5", "2j", str(2**256)):
        assert rejected(f"@public\ndef f(x: int = {default}):\n    return x\n")
    # join walks its list: every item pays, even an empty string.
    res = gas_of(chain, "L = [''] * 100000\nfor i in range(1000):\n    x = ''.join(L)", gas=10_000_000)
    assert res.error == "out of gas"
    assert gas_of(chain, "L = [''] * 1000\nx = ''.join(L)").gas_used >= 1000 * 10
    # A value that would fault after 100,000 items is walked only as far as the gas left pays for.
    res = gas_of(chain, "x = [[0] * 1000] * 101\nstorage['k'] = x", gas=60_000)
    assert (res.ok, res.error, res.gas_used) == (False, "out of gas", 60_000)


def test_reading_storage_pays_per_item_decoded(chain):
    owner = chain.account(balance=10**20)
    source = ("@public\ndef put(n: int):\n    storage['x'] = [{} for i in range(n)]\n"
              "@public\ndef get():\n    y = storage['x']\n")
    c = chain.deploy(owner, source).address
    used = []
    for n in (10, 10_000):
        assert chain.call(owner, c, "put", [n], gas=50_000_000).ok
        used.append(chain.call(owner, c, "get", []).gas_used)
    # 1 encoded byte per empty dict, some 60 bytes of memory each: the items are what pays.
    assert used[1] - used[0] >= (10_000 - 10) * 16


# -- fourth review -------------------------------------------------------------------------------


def test_a_dict_emptied_by_deletes_is_rebuilt_in_order():
    # CPython never shrinks a dict on delete and walks its dead slots: 87,000 deletes made each
    # later walk of a one-item dict cost 87,000 steps for the gas of one.
    meter = Meter()
    meter.limit = 10**9
    h = make_helpers(meter, object)
    d = {i: i for i in range(20_000)}
    full = sys.getsizeof(d)
    for i in range(0, 19_990, 2):
        h["_del"](d, i)
    for i in range(1, 19_990, 2):
        h["_m_pop"](d, i)
    assert list(d.items()) == [(i, i) for i in range(19_990, 20_000)]  # the order is kept
    assert sys.getsizeof(d) < full // 100
    # The gas is the same whether or not a rebuild happened: DICT_DELETE per delete.
    assert meter.used == 19_990 * gas.DICT_DELETE + 9_995 * gas.STEP


def test_deleting_most_of_a_dict_keeps_its_meaning(chain):
    res = gas_of(chain, "d = {}\nfor i in range(5000):\n    d[i] = i * 2\nfor i in range(4990):\n"
                        "    del d[i]\nd[1] = 7\nx = d.pop(4995)\nreturn [list(d.keys()), sum(d.values()), x]")
    assert res.ok, res.error
    keys = [*range(4990, 4995), *range(4996, 5000), 1]
    assert res.output == [keys, sum(k * 2 for k in keys if k != 1) + 7, 9990]


def test_split_stops_at_the_list_limit_before_building_the_pieces(chain):
    tracemalloc.start()
    res = gas_of(chain, "s = 'ab ' * 349000\nreturn len(s.split())", gas=10_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (res.ok, res.error) == (False, f"a list of over {gas.MAX_LIST} items")
    assert peak < 14_000_000  # 349,000 pieces would be about 25 MB; the cap builds 100,001
    assert gas_of(chain, "return 'a b c'.split(' ', 1)").output == ["a", "b c"]
    assert "split takes a str separator" in gas_of(chain, "return 'a'.split(5)").error


def test_searching_text_pays_for_the_needle_length(chain):
    # CPython compares up to the whole needle at each position of a haystack: O(n*m).
    short = gas_of(chain, "h = 'a' * 29999\nn = 'a' * 8 + 'b'\nx = h.find(n)").gas_used
    long_ = gas_of(chain, "h = 'a' * 29999\nn = 'a' * 90 + 'b' + 'a' * 8\nx = h.find(n)").gas_used
    assert long_ - short >= 29999 * (99 - 9) // 64
    inside = gas_of(chain, "h = 'a' * 29999\nn = 'a' * 90 + 'b' + 'a' * 8\nx = n in h").gas_used
    assert inside - short >= 29999 * (99 - 9) // 64


BANK = '''
@constructor
@payable
def init():
    pass

@public
@nonreentrant
def withdraw(to: address):
    require(not storage.get("paid", False), "already paid")
    call(to, "hook")
    send_coin(to, 100)
    storage["paid"] = True

@public
def withdraw_for(to: address):
    withdraw(to)
'''

THIEF = '''
@public
def hook():
    if not storage.get("again", False):
        storage["again"] = True
        call(storage["bank"], "withdraw", [ctx.this])

@public
def aim(bank: address):
    storage["bank"] = bank
'''


def test_nonreentrant_holds_when_the_method_is_called_from_its_own_contract(chain):
    owner = chain.account(balance=10**20)
    bank = chain.deploy(owner, BANK, value=1000).address
    thief = chain.deploy(owner, THIEF).address
    chain.must(owner, thief, "aim", [bank])
    for method in ("withdraw", "withdraw_for"):
        res = chain.call(owner, bank, method, [thief])
        assert (res.ok, res.error) == (False, "reentrant call to withdraw"), method
    assert chain.balance(thief) == 0 and chain.balance(bank) == 1000
    quiet = chain.deploy(owner, "@public\ndef hook():\n    pass\n").address
    chain.must(owner, bank, "withdraw_for", [quiet])  # a hook that does not call back: paid once
    assert (chain.balance(bank), chain.balance(quiet)) == (900, 100)


def test_a_transaction_pays_once_for_loading_each_contract_it_uses(chain):
    owner = chain.account(balance=10**20)
    body = "@public\ndef f():\n    return 1\n"
    small = chain.deploy(owner, body).address
    padded = '"""' + "padding " * 5000 + '"""\n' + body
    big = chain.deploy(owner, padded, gas=50_000_000).address
    calls = "@public\ndef g(a: address, n: int):\n    for i in range(n):\n        call(a, 'f')\n"
    caller = chain.deploy(owner, calls).address
    runs = {(a, n): chain.call(owner, caller, "g", [a, n]) for a in (small, big) for n in (1, 2)}
    assert all(r.ok for r in runs.values()), [r.error for r in runs.values()]
    used = {k: r.gas_used for k, r in runs.items()}
    def load(source: str) -> int:  # by its bytes, and at least by its syntax nodes
        return max(len(source) // gas.LOAD_BYTES, compile_contract(source).nodes * gas.LOAD_NODE)

    padding = load(padded) - load(body)
    assert padding > 39_000
    assert used[big, 1] - used[small, 1] == padding  # paid by the first use
    assert used[big, 2] - used[small, 2] == padding  # and only by the first
    # A source dense in syntax nodes pays for them, not for its bytes: loading it costs by its nodes.
    dense = body + "".join(f"@public\ndef h{i}(a: int) -> int:\n    return [[a for a in [a]] for a in [a]][0][0]\n"
                           for i in range(200))
    assert compile_contract(dense).nodes * gas.LOAD_NODE > len(dense)
    packed = chain.deploy(owner, dense, gas=50_000_000).address
    run = chain.call(owner, caller, "g", [packed, 1])
    assert run.ok and run.gas_used - used[small, 1] == load(dense) - load(body)
    # A VM keeps a bounded number of loaded contracts between transactions.
    many = [chain.deploy(owner, body + f"# {i}\n").address for i in range(gas.LOADED_MODULES + 6)]
    for a in many:
        chain.must(owner, caller, "g", [a, 1])
    assert len(chain.vm._loaded) <= gas.LOADED_MODULES


def test_a_transaction_builds_each_contract_once_and_uses_at_most_64(chain):
    owner = chain.account(balance=10**20)
    n = gas.MAX_CONTRACTS_PER_TX
    many = [chain.deploy(owner, f"@public\ndef f():\n    return {i}\n").address for i in range(n)]
    driver = chain.deploy(owner, "@public\ndef g(cs: list[address], rounds: int):\n    for r in range(rounds):\n"
                                 "        for c in cs:\n            call(c, 'f')\n").address
    built = []
    module = chain.vm._module
    chain.vm._module = lambda *a: built.append(a[1]) or module(*a)
    chain.vm._loaded.clear()
    # Three rounds over 63 contracts plus the driver: 64 in all, each built once however the cache turns.
    chain.must(owner, driver, "g", [many[:-1], 3], gas=50_000_000)
    assert len(built) == len(set(built)) == n
    res = chain.call(owner, driver, "g", [many, 1], gas=50_000_000)
    assert (res.ok, res.error) == (False, f"a transaction uses at most {n} contracts")


def test_a_for_loop_walks_the_dict_as_it_was_when_the_loop_began(chain):
    res = gas_of(chain, "d = {1: 1, 2: 2, 3: 3}\nfor k in d:\n    del d[k]\n    d[k + 10] = 1\n"
                        "e = {1: 1, 2: 2}\nout = [e.pop(k) for k in e]\nreturn [list(d), out, len(e)]")
    assert res.ok, res.error
    assert res.output == [[11, 12, 13], [1, 2], 0]


def test_searching_a_short_text_pays_for_the_whole_needle(chain):
    base = gas_of(chain, "h = 'a' * 2499\nn = 'a' * 9 + 'b'\nx = h.find(n)").gas_used
    long_ = gas_of(chain, "h = 'a' * 2499\nn = 'a' * 1240 + 'b' + 'a' * 9\nx = h.find(n)").gas_used
    assert long_ - base >= 2499 * (1250 - 10) // 64


def test_split_never_builds_more_pieces_than_the_gas_left_pays_for(chain):
    res = gas_of(chain, "s = 'a ' * 50000\nreturn len(s.split())", gas=200_000)
    assert (res.ok, res.error) == (False, "out of gas")
    assert gas_of(chain, "return 'a b c'.split(' ', True)").output == ["a", "b c"]
    assert gas_of(chain, "return 'a  b '.split()").output == ["a", "b"]


def test_a_needle_nearly_as_long_as_the_text_pays_for_all_of_it(chain):
    # CPython keeps its O(n*m) search while the text is at most 2,000 characters longer than the needle.
    res = gas_of(chain, "h = 'a' * 102000\nn = 'a' * 99998 + 'ba'\nx = h.find(n)", gas=100_000_000)
    assert (res.ok, res.error) == (False, "out of gas")  # 102,000 * 100,000 / 64 is about 159M gas


def test_a_for_loop_over_a_dict_pays_for_the_copy_of_its_keys(chain):
    empty = gas_of(chain, "d = {i: 0 for i in range(10000)}\nfor k in []:\n    pass").gas_used
    walked = gas_of(chain, "d = {i: 0 for i in range(10000)}\nfor k in d:\n    break").gas_used
    assert walked - empty >= 10000 * gas.KEY_COPY - gas.CONTAINER  # the empty list display pays for its list
