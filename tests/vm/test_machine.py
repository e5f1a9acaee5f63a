"""The VM's semantics: interface, calls between contracts, value, re-entrancy, gas, rollback."""

import pytest

from vm import Address, CheckError
from vm.checker import check
from vm.testing import Chain

BANK = '''
@constructor
@payable
def init(name: str, limit: int = 100):
    storage["name"] = name
    storage["limit"] = limit


@public
@payable
def deposit() -> int:
    storage["total", ctx.sender] = storage.get(["total", ctx.sender], 0) + ctx.value
    return coin_balance(ctx.this)


@public
@nonreentrant
def withdraw(amount: int):
    have = storage.get(["total", ctx.sender], 0)
    require(have >= amount, "not enough")
    call(ctx.sender, "on_payment", [amount])
    storage["total", ctx.sender] = have - amount
    send_coin(ctx.sender, amount)


@public
def echo(x: list[int], who: address, opts: dict[str, int]) -> list:
    return [x, who, opts, ctx.sender, ctx.origin]


@view
def total(who: address) -> int:
    return storage.get(["total", who], 0)


@view
def bad_view():
    call(ctx.this, "deposit", [])
'''

ATTACKER = '''
@constructor
def init(bank: address):
    storage["bank"] = bank
    storage["depth"] = 0


@public
@payable
def attack(amount: int):
    call(storage["bank"], "deposit", [], value=ctx.value)
    call(storage["bank"], "withdraw", [amount])


@public
def on_payment(amount: int):
    d = storage["depth"] + 1
    storage["depth"] = d
    if d < 3:
        call(storage["bank"], "withdraw", [amount])


@public
def spend_all(target: address, gas: int) -> int:
    return call(target, "burn", [], gas=gas)


@public
def burn() -> int:
    while True:
        pass
'''


@pytest.fixture
def chain():
    return Chain()


def test_interface_is_read_from_decorators_and_annotations():
    _, iface = check(BANK)
    assert iface.constructor.params == (("name", "str"), ("limit", "int"))
    assert iface.constructor.payable and iface.constructor.required == 1
    echo = iface.methods["echo"]
    assert echo.params == (("x", ("list", "int")), ("who", "address"), ("opts", ("dict", "str", "int")))
    assert iface.methods["withdraw"].nonreentrant and iface.methods["total"].kind == "view"
    assert {m["name"] for m in iface.to_json()} == {"init", "deposit", "withdraw", "echo", "total", "bad_view"}
    with pytest.raises(CheckError, match="needs a type annotation"):
        check("@public\ndef f(x):\n    pass\n")
    with pytest.raises(CheckError, match="a type is"):
        check("@public\ndef f(x: float):\n    pass\n")


def test_arguments_are_checked_against_the_interface(chain):
    alice = chain.account(10**20)
    bank = chain.deploy(alice, BANK, ["b"]).address
    ok = chain.call(alice, bank, "echo", [[1, 2], alice, {"a": 1}])
    assert ok.output == [[1, 2], alice, {"a": 1}, alice, alice]
    bad = chain.call(alice, bank, "echo", [[1, "2"], alice, {"a": 1}])
    assert (bad.ok, bad.error) == (False, "argument x of echo must be list[int]")
    assert chain.call(alice, bank, "echo", [[1]]).error == "echo takes 3 arguments, got 1"
    assert chain.deploy(alice, BANK, []).error == "init takes 1 to 2 arguments, got 0"


def test_value_moves_only_to_payable_methods_and_with_the_call(chain):
    alice = chain.account(1000)
    bank = chain.deploy(alice, BANK, ["b"], value=10).address
    assert chain.balance(bank) == 10
    assert chain.must(alice, bank, "deposit", value=90) == 100
    assert chain.balance(alice) == 900
    res = chain.call(alice, bank, "echo", [[], alice, {}], value=1)
    assert (res.ok, res.error) == (False, "echo is not payable: it cannot receive value")
    assert chain.balance(alice) == 900
    assert chain.call(alice, bank, "deposit", value=10**6).error == "insufficient balance: 900 < 1000000"


def test_reentrancy_guard_reverts_the_whole_transaction(chain):
    alice = chain.account(10**6)
    bank = chain.deploy(alice, BANK, ["b"]).address
    attacker = chain.deploy(alice, ATTACKER, [bank]).address
    res = chain.call(alice, attacker, "attack", [50], value=100)
    assert (res.ok, res.error) == (False, "reentrant call to withdraw")
    # Nothing of the attack stayed: no deposit, no depth counter, no coin moved.
    assert chain.query(bank, "total", [attacker]) == 0
    assert chain.balance(attacker) == 0 and chain.balance(bank) == 0
    assert chain.balance(alice) == 10**6


def test_forwarded_gas_bounds_the_callee_and_its_failure_reverts_the_caller(chain):
    alice = chain.account(10**6)
    a = chain.deploy(alice, ATTACKER, [alice]).address
    res = chain.call(alice, a, "spend_all", [a, 50_000], gas=1_000_000)
    assert (res.ok, res.error) == (False, "out of gas")
    assert 50_000 < res.gas_used < 60_000  # the callee stopped at its own limit, not the caller's


def test_a_view_stays_read_only_through_calls(chain):
    alice = chain.account(10**6)
    bank = chain.deploy(alice, BANK, ["b"]).address
    res = chain.vm.query(bank, "bad_view", [], 1_000_000)
    assert (res.ok, res.error) == (False, "a view cannot change storage")


def test_query_runs_public_methods_without_keeping_anything(chain):
    alice = chain.account(10**6)
    bank = chain.deploy(alice, BANK, ["b"]).address
    res = chain.vm.query(bank, "echo", [[7], alice, {}], 1_000_000)
    assert res.ok and res.output[0] == [7]
    dry = chain.vm.query(bank, "deposit", [], 1_000_000, sender=alice)
    assert dry.ok and dry.writes.storage == {}


def test_gas_is_the_same_whether_or_not_a_contract_is_already_loaded():
    source = "X = 2**200 * 3\n@public\ndef f() -> int:\n    return X + 1\n"
    used = []
    for warm in (False, True):
        c = Chain()
        alice = c.account(10**6)
        t = c.deploy(alice, source).address
        if warm:
            c.call(alice, t, "f")
        used.append(c.call(alice, t, "f").gas_used)
    assert used[0] == used[1]


def test_storage_values_are_copies(chain):
    alice = chain.account(10**6)
    src = '''
@public
def f() -> list:
    storage["l"] = [1, 2]
    x = storage["l"]
    x.append(3)
    return [x, storage["l"], "l" in storage, "m" in storage]
'''
    t = chain.deploy(alice, src).address
    assert chain.must(alice, t, "f") == [[1, 2, 3], [1, 2], True, False]


def test_every_step_costs_gas_and_loops_cost_per_iteration(chain):
    alice = chain.account(10**6)
    src = "@public\ndef loop(n: int) -> int:\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    t = chain.deploy(alice, src).address
    g10 = chain.call(alice, t, "loop", [10]).gas_used
    g20 = chain.call(alice, t, "loop", [20]).gas_used
    g30 = chain.call(alice, t, "loop", [30]).gas_used
    assert g30 - g20 == g20 - g10 > 0


def test_address_builtin_and_checksum(chain):
    alice = chain.account(10**6)
    src = '''
@public
def f(h: str) -> list:
    a = address(h)
    return [a, a.hex(), a == ZERO_ADDRESS, sha256(b"abc").hex()]
'''
    t = chain.deploy(alice, src).address
    out = chain.must(alice, t, "f", ["0x52908400098527886E0F7030069857D2E4169EE7"])
    assert out[0] == Address(bytes.fromhex("52908400098527886E0F7030069857D2E4169EE7"))
    assert out[1] == "0x52908400098527886E0F7030069857D2E4169EE7"
    assert out[2] is False
    assert out[3] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    bad = chain.call(alice, t, "f", ["0x52908400098527886e0F7030069857D2E4169EE7"])
    assert "bad checksum" in bad.error


def test_sixty_four_nested_contract_calls_fit_the_depth_cap(chain):
    alice = chain.account(10**6)
    src = '''
@public
def down(n: int) -> int:
    if n == 0:
        return 0
    return call(ctx.this, "down", [n - 1]) + 1
'''
    t = chain.deploy(alice, src).address
    assert chain.must(alice, t, "down", [63], gas=5_000_000) == 63
    assert chain.call(alice, t, "down", [64], gas=5_000_000).error == "call depth over 64"


def test_storage_get_takes_its_default_by_keyword(chain):
    alice = chain.account(10**6)
    t = chain.deploy(alice, "@view\ndef f() -> int:\n    return storage.get('x', default=7)\n").address
    assert chain.query(t, "f") == 7


def test_a_failing_host_read_stops_the_node_instead_of_writing_a_receipt():
    from vm import VM, BlockInfo
    from vm.testing import MemoryHost

    class Broken(MemoryHost):
        def get_storage(self, contract, key):
            raise OSError("disk gone")

    host = Broken()
    ok = Chain()
    alice = ok.account(10**6)
    t = ok.deploy(alice, "@view\ndef f() -> int:\n    return storage.get('x', 1)\n").address
    host.code.update(ok.host.code)
    with pytest.raises(OSError, match="disk gone"):
        VM(host, BlockInfo(1, 1)).query(t, "f", [], 100_000)
