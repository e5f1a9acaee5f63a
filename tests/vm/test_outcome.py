"""How a call ends: the outcome the VM reports, and which errors it must not report at all."""

import pytest

from vm import VM, BlockInfo, Outcome
from vm.testing import Chain, MemoryHost

SOURCE = '''
@public
def fine() -> int:
    return 7


@public
def refuse(n: int):
    require(n > 0, "n must be positive")


@public
def give_up():
    revert("no")


@public
def spin():
    while True:
        pass


@public
def missing() -> int:
    return storage["nothing here"]


@public
def divide(n: int) -> int:
    return 10 // n


@public
def pick(i: int) -> int:
    items = [1, 2]
    return items[i]


@payable
@public
def take() -> int:
    return ctx.value


@public
def read() -> int:
    return storage.get("x", 1)


@public
def read_index() -> int:
    return storage["x"]


@public
def has() -> bool:
    return "x" in storage
'''


@pytest.fixture
def deployed():
    chain = Chain()
    alice = chain.account(10**6)
    res = chain.deploy(alice, SOURCE)
    assert res.outcome is Outcome.OK, res.error
    return chain, alice, res.address


@pytest.mark.parametrize(
    ("method", "args", "outcome", "error"),
    [
        ("fine", [], Outcome.OK, ""),
        ("refuse", [0], Outcome.REVERT, "n must be positive"),
        ("give_up", [], Outcome.REVERT, "no"),
        ("spin", [], Outcome.OUT_OF_GAS, "out of gas"),
        ("missing", [], Outcome.FAULT, "storage key 'nothing here' is not set: use storage.get(key, default)"),
        ("divide", [0], Outcome.FAULT, "ZeroDivisionError at line 30"),  # raised by the contract's line
        ("pick", [5], Outcome.FAULT, "IndexError at line 36"),  # raised in the VM's subscript helper
        ("nothing", [], Outcome.FAULT, "the contract has no public method 'nothing'"),
    ],
)
def test_each_outcome_comes_from_how_the_call_stopped(deployed, method, args, outcome, error):
    chain, alice, address = deployed
    res = chain.call(alice, address, method, args, gas=200_000)
    assert (res.outcome, res.error, res.ok) == (outcome, error, outcome is Outcome.OK)
    if outcome is Outcome.OUT_OF_GAS:
        assert res.gas_used == 200_000


def test_a_query_keeps_the_outcome(deployed):
    chain, _, address = deployed
    res = chain.vm.query(address, "refuse", [0], 100_000)
    assert (res.outcome, res.error) == (Outcome.REVERT, "n must be positive")


def test_a_rejected_deploy_is_a_fault():
    chain = Chain()
    res = chain.deploy(chain.account(10**6), "import os\n")
    assert (res.outcome, res.error) == (Outcome.FAULT, "contract rejected: line 1: import is not allowed")


def wrap(body: str) -> str:
    return "@public\ndef f():\n" + "".join(f"    {line}\n" for line in body.splitlines())


# Python errors raised inside the VM's helpers by what the contract asked of them: each is the
# contract's fault, reported by the error's class and the contract's line.
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("return [1][5]", "IndexError at line 3"),
        ("x = 1\nreturn {}['k']", "KeyError at line 4"),
        ("return 'a' - 1", "TypeError at line 3"),
        ("return ~'a'", "TypeError at line 3"),
        ("return [] * 10**30", "OverflowError at line 3"),
        ("return 1 % 0", "ZeroDivisionError at line 3"),
        ("x = {}\nx[[1]] = 1", "TypeError at line 4"),
        ("x = [1]\ndel x[3]", "IndexError at line 4"),
        ("return [].pop()", "IndexError at line 3"),
        ("return [1].index(2)", "ValueError at line 3"),
        ("return {}.pop('k')", "KeyError at line 3"),
        ("return [].append()", "TypeError at line 3"),  # arguments that do not fit the method
        ("return storage.get()", "TypeError at line 3"),
        ("return 1 in 'abc'", "TypeError at line 3"),
        ("return b'a' in 'abc'", "TypeError at line 3"),
        ("return [x for x in 5]", "TypeError at line 3"),
        ("return 'abc'[::0]", "ValueError at line 3"),
        ("return 'a'.split('')", "ValueError at line 3"),
        ("return 'a'.replace('a', 'b', 10**30)", "OverflowError at line 3"),
        ("return b'\\xff'.decode()", "UnicodeDecodeError at line 3"),
        ("return min([1, 'a'])", "TypeError at line 3"),
        ("return sorted([1, 'a'])", "TypeError at line 3"),
        ("return range(1, 2, 0)", "ValueError at line 3"),
        ("return len(range(10**30))", "OverflowError at line 3"),
        ("return len(1, 2)", "TypeError at line 3"),  # raised by the contract's own line
    ],
)
def test_python_errors_caused_by_contract_code_are_faults(body, error):
    chain = Chain()
    alice = chain.account(10**6)
    address = chain.deploy(alice, wrap(body)).address
    res = chain.call(alice, address, "f", gas=1_000_000)
    assert (res.outcome, res.error) == (Outcome.FAULT, error)


def test_a_fault_in_a_top_level_constant_fails_the_deploy():
    chain = Chain()
    res = chain.deploy(chain.account(10**6), "X = 1\nY = 'a' - X\n")
    assert (res.outcome, res.error) == (Outcome.FAULT, "TypeError at line 2")


# -- errors of the VM or the node: raised, never a receipt ----------------------------------------


class WrongTypes(MemoryHost):
    """A host that answers with values of the wrong type: whatever fails on them is not the contract's doing."""

    def __init__(self, code: dict[bytes, bytes], storage: object = None, balance: object = 0) -> None:
        super().__init__()
        self.code.update(code)
        self._storage = storage
        self._balance = balance

    def get_storage(self, contract: bytes, key: bytes) -> bytes | None:
        return self._storage  # type: ignore[return-value]

    def get_balance(self, address: bytes) -> int:
        return self._balance  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("method", "host_storage", "host_balance", "value", "error"),
    [
        ("read", 5, 0, 0, TypeError),  # through the method dispatch: storage.get
        ("read_index", 5, 0, 0, TypeError),  # through the subscript helper: storage[key]
        ("has", 5, 0, 0, TypeError),  # through the `in` helper
        ("take", None, "lots", 1, TypeError),  # a balance compared in the VM's own code
    ],
)
def test_an_error_of_the_vm_itself_is_raised_instead_of_failing_the_call(deployed, method, host_storage,
                                                                         host_balance, value, error):
    chain, alice, address = deployed
    host = WrongTypes(chain.host.code, host_storage, host_balance)
    with pytest.raises(error):
        VM(host, BlockInfo(1, 1)).call(alice, address, method, [], value, 1_000_000)


def test_code_the_host_cannot_give_as_bytes_is_an_error_of_the_node(deployed):
    _, alice, address = deployed
    host = WrongTypes({address: "not bytes"})  # type: ignore[dict-item]
    with pytest.raises(AttributeError):
        VM(host, BlockInfo(1, 1)).call(alice, address, "fine", [], 0, 1_000_000)


def test_the_same_host_with_the_right_types_runs_the_calls(deployed):
    # The positive control of the two tests above: only the wrong types made them raise.
    chain, alice, address = deployed
    host = WrongTypes(chain.host.code, None, 10)
    vm = VM(host, BlockInfo(1, 1))
    assert [vm.call(alice, address, m, [], v, 1_000_000).output for m, v in
            (("read", 0), ("has", 0), ("take", 1))] == [1, False, 1]
    stored = VM(WrongTypes(chain.host.code, b"\x05"), BlockInfo(1, 1))
    assert stored.call(alice, address, "read_index", [], 0, 1_000_000).output == 5
