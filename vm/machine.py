"""The VM: deploys and calls contracts against a host's state, all-or-nothing per call.

The VM reads state through a `Host` and never writes it: a call returns its writes
(storage, code, balances) and the caller applies them when the call succeeded. One VM
serves one block (its height and time); calls run one at a time.
"""

from __future__ import annotations

import gc
import hashlib
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vm import gas
from vm.checker import Interface, Method, abi_name
from vm.compiler import CodeStore, Compiled, compile_contract
from vm.errors import CheckError, ContractError, Fault, OutOfGas, VMError
from vm.meter import Meter
from vm.outcome import Failure, Outcome, describe, failure_of
from vm.runtime import make_helpers
from vm.values import (
    ZERO_ADDRESS,
    Address,
    copy_value,
    decode_stored,
    encode_value,
    is_text,
    matches,
    measure,
    pack_measured,
    storage_key,
    to_checksum,
)

# Contract frames (at most MAX_CALL_DEPTH, each with comprehensions nested at most as deep
# as the source allows) must end in the VM's depth fault, never in a RecursionError whose
# point depends on how deep the caller's own stack was. Set once, when the VM is imported.
RECURSION_LIMIT = 20_000
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)


class Host(Protocol):
    def get_storage(self, contract: bytes, key: bytes) -> bytes | None: ...

    def get_code(self, contract: bytes) -> bytes | None: ...

    def get_balance(self, address: bytes) -> int: ...

    def get_settled(self, tx_hash: bytes) -> SettledTx | None:
        """The committed transaction `tx_hash` at any height, None if none is committed."""
        ...


@dataclass(frozen=True, slots=True)
class SettledTx:
    """What `settled()` tells a contract of a committed transaction (docs/contracts.md)."""

    height: int
    ok: bool  # its receipt's status is success
    kind: str  # "transfer", "deploy" or "call"
    sender: bytes
    to: bytes  # the recipient, the contract called, or the contract a deploy made


SETTLED_KINDS = ("transfer", "deploy", "call")


@dataclass(frozen=True, slots=True)
class BlockInfo:
    height: int
    time: int  # seconds


@dataclass(frozen=True, slots=True)
class Event:
    address: Address
    name: str
    data: list[Any]
    raw: bytes = b""  # `data` in the value encoding, as receipts store it


@dataclass(frozen=True, slots=True)
class Writes:
    storage: dict[tuple[bytes, bytes], bytes | None]
    code: dict[bytes, bytes]
    balances: dict[bytes, int]


NO_WRITES = Writes({}, {}, {})


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: Outcome
    gas_used: int
    output: Any
    events: tuple[Event, ...]
    error: str  # empty on success; receipts store it as it is
    address: Address | None = None
    writes: Writes = NO_WRITES
    raw_output: bytes | None = None  # `output` encoded (encode_value), on success

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def contract_address(sender: bytes, nonce: int) -> Address:
    """SHA-256(0x0a || sender || nonce as 8 bytes big-endian), last 20 bytes."""
    return Address(hashlib.sha256(b"\x0a" + bytes(sender) + nonce.to_bytes(8, "big")).digest()[-20:])


@dataclass(slots=True)
class _Frame:
    contract: Address
    sender: Address
    value: int
    readonly: bool


class _Tx:
    __slots__ = ("balances", "code", "event_bytes", "events", "locks", "modules", "origin", "storage")

    def __init__(self, origin: Address) -> None:
        self.origin = origin
        self.storage: dict[tuple[bytes, bytes], bytes | None] = {}
        self.code: dict[bytes, bytes] = {}
        self.balances: dict[bytes, int] = {}
        self.events: list[Event] = []
        self.event_bytes = 0  # what the events add to the receipt (gas.MAX_TX_EVENT_BYTES)
        self.locks: set[tuple[bytes, str]] = set()
        # Every contract this transaction has used (and paid to load), held until it ends.
        self.modules: dict[bytes, _Module] = {}


@dataclass(frozen=True, slots=True)
class _Module:
    compiled: Compiled
    module: dict[str, Any]
    cost: int  # gas its top-level constants took to evaluate, charged on each use


class Storage:
    """`storage` in contract code: the storage of the contract whose code is running."""

    __slots__ = ("_vm",)

    def __init__(self, vm: VM) -> None:
        self._vm = vm

    def __getitem__(self, key: Any) -> Any:
        raw = self._vm._read(key)
        if raw is None:
            raise Fault(f"storage key {key!r:.80} is not set: use storage.get(key, default)")
        return self._vm._decode(raw)

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self._vm._read(key)
        return default if raw is None else self._vm._decode(raw)

    def has(self, key: Any) -> bool:
        return self._vm._read(key) is not None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._vm._write(key, value)

    def __delitem__(self, key: Any) -> None:
        self._vm._write(key, None)

    def __iter__(self) -> Any:
        raise Fault("storage cannot be iterated: keep an explicit list of keys")


class Ctx:
    """`ctx` in contract code."""

    __slots__ = ("_vm",)

    def __init__(self, vm: VM) -> None:
        self._vm = vm

    @property
    def sender(self) -> Address:
        return self._vm._frames[-1].sender

    @property
    def value(self) -> int:
        return self._vm._frames[-1].value

    @property
    def this(self) -> Address:
        return self._vm._frames[-1].contract

    @property
    def origin(self) -> Address:
        return self._vm._tx.origin

    @property
    def height(self) -> int:
        return self._vm.block.height

    @property
    def time(self) -> int:
        return self._vm.block.time


class VM:
    def __init__(self, host: Host, block: BlockInfo, code_store: CodeStore | None = None) -> None:
        self.host = host
        self.block = block
        self.code_store = code_store

        self.meter = Meter()
        self._frames: list[_Frame] = []
        self._tx = _Tx(ZERO_ADDRESS)
        # Committed code only, and a bounded number: what a block can make a node hold stays small.
        self._loaded: OrderedDict[bytes, _Module] = OrderedDict()
        self._base = make_helpers(self.meter, Storage)
        self._base.update({
            "storage": Storage(self), "ctx": Ctx(self), "emit": self._emit, "call": self._call,
            "send_coin": self._send_coin, "coin_balance": self._coin_balance, "settled": self._settled,
            "__builtins__": {},
        })

    # -- entry points -------------------------------------------------------------------

    def deploy(self, sender: bytes, nonce: int, source: str | bytes, args: list[Any], value: int,
               gas_limit: int) -> CallResult:
        sender_a = Address(sender)
        address = contract_address(sender_a, nonce)

        def run() -> Any:
            code = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else bytes(source)
            self.meter.charge(gas.DEPLOY + gas.CODE_BYTE * len(code))
            try:
                compiled = compile_contract(code.decode("utf-8"), self.code_store, self.meter.charge)
            except CheckError as exc:
                raise Fault(f"contract rejected: {exc}") from None
            except UnicodeDecodeError:
                raise Fault("contract rejected: source is not UTF-8") from None
            if self._code(address) is not None:
                raise Fault("a contract already exists at this address")
            self._tx.code[address] = code
            self._move(sender_a, address, value)
            ctor = compiled.interface.constructor
            loaded = self._module(compiled, address)  # top-level constants fail here, not later; bytes paid above
            self._tx.modules[address] = loaded
            self.meter.charge(loaded.cost)
            module = loaded.module
            if ctor is None:
                if args:
                    raise Fault("the contract has no constructor: deploy it without arguments")
                if value:
                    raise Fault("the contract has no @payable constructor: it cannot receive value")
                return None
            return self._run_method(address, compiled, module, ctor, list(args), sender_a, value, False)

        return self._transaction(sender_a, gas_limit, run, address)

    def call(self, sender: bytes, contract: bytes, method: str, args: list[Any], value: int,
             gas_limit: int) -> CallResult:
        sender_a = Address(sender)

        def run() -> Any:
            self._move(sender_a, Address(contract), value)
            return self._invoke(Address(contract), method, list(args), sender_a, value, False)

        return self._transaction(sender_a, gas_limit, run)

    def query(self, contract: bytes, method: str, args: list[Any], gas_limit: int,
              sender: bytes = ZERO_ADDRESS, value: int = 0) -> CallResult:
        """Run a method without keeping anything: a view, or a dry run of a public method (with value)."""
        sender_a = Address(sender)
        target = Address(contract)

        def run() -> Any:
            if value:
                # A dry run may send value the sender does not have: credit it first.
                self._tx.balances[sender_a] = self._balance(sender_a) + value
                self._move(sender_a, target, value)
            return self._invoke(target, method, list(args), sender_a, value, False)

        result = self._transaction(sender_a, gas_limit, run)
        return CallResult(result.outcome, result.gas_used, result.output, result.events, result.error)

    def interface(self, contract: bytes) -> Interface | None:
        code = self._code(Address(contract))
        return None if code is None else compile_contract(code.decode(), self.code_store).interface

    # -- the transaction frame ----------------------------------------------------------

    def _transaction(self, origin: Address, gas_limit: int, run: Callable[[], Any],
                     address: Address | None = None) -> CallResult:
        # CPython's cycle collector walks every live container each time it runs, so a call
        # holding millions of small lists spent most of its time there, at a cost no gas can
        # see (it depends on the whole heap). It is paused while a transaction runs: what the
        # transaction allocates, cycles included, is bounded by its gas, and the collector
        # finds the cycles once it runs again after the transaction. Results do not depend on it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._execute(origin, gas_limit, run, address)
        finally:
            if collecting:
                gc.enable()

    def _execute(self, origin: Address, gas_limit: int, run: Callable[[], Any], address: Address | None) -> CallResult:
        meter = self.meter
        meter.used, meter.limit, meter.depth = 0, gas_limit, 0
        self._tx = tx = _Tx(origin)
        self._frames = []
        try:
            output = run()
        except HostError as exc:
            # The node's own state could not be read: never a receipt, the node must stop.
            raise exc.__cause__ or exc from None
        except Exception as exc:
            failure = failure_of(exc)
            if failure is None:
                # Not caused by the contract (a bug of the VM, memory running out): the node must stop.
                if isinstance(exc, ContractError):
                    raise exc.error from None
                raise
            return self._failed(failure, address)
        finally:
            self._frames = []
        try:
            # Encoded here so that a value without an encoding fails this call, never the node's receipt.
            raw = encode_value(output)
        except VMError as exc:
            reason = f"the result cannot be encoded: {describe(exc, exc.__traceback__)}"
            return self._failed(Failure(Outcome.FAULT, reason), address)
        if len(raw) > gas.MAX_OUTPUT_BYTES:
            # The receipt stores it: a result it could not be read back with must not commit.
            reason = f"the result is over {gas.MAX_OUTPUT_BYTES} bytes encoded"
            return self._failed(Failure(Outcome.FAULT, reason), address)
        return CallResult(Outcome.OK, meter.used, output, tuple(tx.events), "", address,
                          Writes(tx.storage, tx.code, tx.balances), raw)

    def _failed(self, failure: Failure, address: Address | None) -> CallResult:
        # A receipt's error is UTF-8 text whatever a contract put in it.
        reason = failure.reason.encode("utf-8", "replace").decode()[:gas.MAX_ERROR_CHARS]
        return CallResult(failure.outcome, self.meter.used, None, (), reason, address)

    def _code(self, address: Address) -> bytes | None:
        code = self._tx.code.get(address)
        return code if code is not None else _host_read(self.host.get_code, address)

    def _module(self, compiled: Compiled, address: Address) -> _Module:
        module = dict(self._base)
        # @nonreentrant functions take their lock on entry (compiler), internal calls included.
        module["_lock"] = lambda name: self._lock(address, name)
        module["_unlock"] = lambda name: self._tx.locks.discard((bytes(address), name))
        # Top-level constants run on their own meter, within a fixed budget checked at deploy.
        # What they cost is charged on every use of the contract, loaded now or earlier: a
        # cached module must not make a call cheaper on one node than on another.
        meter = self.meter
        saved = meter.used, meter.limit
        meter.used, meter.limit = 0, gas.MODULE_BUDGET
        try:
            exec(compiled.code, module)
            cost = meter.used
        except OutOfGas:
            raise Fault(f"top-level constants cost over {gas.MODULE_BUDGET} gas") from None
        finally:
            meter.used, meter.limit = saved
        return _Module(compiled, module, cost)

    def _lock(self, address: Address, name: str) -> None:
        lock = (bytes(address), name)
        if lock in self._tx.locks:
            raise Fault(f"reentrant call to {name}")
        self._tx.locks.add(lock)

    def _load(self, address: Address) -> _Module:
        tx = self._tx
        entry = tx.modules.get(address)
        if entry is None:
            code = self._code(address)
            if code is None:
                raise Fault(f"no contract at {to_checksum(address)}")
            # A transaction's first use pays for the bytes before they are loaded, whether or not this
            # node had them in memory: every node charges the same.
            if len(tx.modules) >= gas.MAX_CONTRACTS_PER_TX:
                raise Fault(f"a transaction uses at most {gas.MAX_CONTRACTS_PER_TX} contracts")
            self.meter.charge(len(code) // gas.LOAD_BYTES)
            # Committed code only: a deploy puts its own module in tx.modules, and contracts cannot deploy.
            entry = self._loaded.get(address)
            if entry is None:
                entry = self._module(compile_contract(code.decode(), self.code_store), address)
                self._loaded[address] = entry
                if len(self._loaded) > gas.LOADED_MODULES:
                    self._loaded.popitem(last=False)
            else:
                self._loaded.move_to_end(address)
            # Loading compiled code from the store costs by its syntax nodes, which only the compiled
            # form knows; the rest of that price is charged once known (the work before it is bounded
            # by the source size limit), so a node with cold caches does no more than the gas paid.
            self.meter.charge(max(0, entry.compiled.nodes * gas.LOAD_NODE - len(code) // gas.LOAD_BYTES))
            # Held for the rest of the transaction: what the cache evicts meanwhile is never rebuilt
            # for free, and what a transaction holds is bounded by MAX_CONTRACTS_PER_TX.
            tx.modules[address] = entry
        self.meter.charge(entry.cost)
        return entry

    def _invoke(self, contract: Address, method: str, args: list[Any], sender: Address, value: int,
                readonly: bool) -> Any:
        if type(method) is not str:
            raise Fault("a method name is a str")
        loaded = self._load(contract)
        m = loaded.compiled.interface.methods.get(method)
        if m is None:
            raise Fault(f"the contract has no public method {method[:64]!r}")
        return self._run_method(contract, loaded.compiled, loaded.module, m, args, sender, value, readonly)

    def _run_method(self, contract: Address, compiled: Compiled, module: dict[str, Any], m: Method,
                    args: list[Any], sender: Address, value: int, readonly: bool) -> Any:
        if value and not m.payable:
            raise Fault(f"{m.name} is not payable: it cannot receive value")
        wrong = m.arity_error(len(args))
        if wrong:
            raise Fault(wrong)
        for (name, abi), arg in zip(m.params, args, strict=False):
            if not matches(abi, arg):
                raise Fault(f"argument {name} of {m.name} must be {abi_name(abi)}")
        # The function's own entry charges the call, counts the depth and takes a @nonreentrant lock.
        self._frames.append(_Frame(contract, sender, value, readonly or m.kind == "view"))
        result = module[m.name](*args)
        self._frames.pop()
        out, cost = self._copy(result)
        if cost > gas.ITEM + gas.SLOT:  # a plain scalar result is free
            self.meter.charge(cost)
        return out

    # -- values crossing a boundary ---------------------------------------------------------

    def _bounded(self, walk: Callable[[Any, int], Any], v: Any, price: int) -> Any:
        """`copy_value` or `measure`, stopped where the gas left runs out at `price` per item: a value
        that would end in a fault after 100,000 items cannot be walked, or copied, for free."""
        meter = self.meter
        try:
            return walk(v, (meter.limit - meter.used) // price + 1)
        except OutOfGas:
            meter.used = meter.limit
            raise

    def _copy(self, v: Any) -> tuple[Any, int]:
        """A checked deep copy and its price."""
        # A copy is held: each item pays its memory as well as the walk.
        out, items, size = self._bounded(copy_value, v, gas.ITEM + gas.SLOT)
        return out, items * (gas.ITEM + gas.SLOT) + size * gas.BYTE

    # -- state ----------------------------------------------------------------------------

    def _balance(self, address: bytes) -> int:
        b = self._tx.balances.get(address)
        return b if b is not None else _host_read(self.host.get_balance, address)

    def _move(self, frm: Address, to: Address, amount: int) -> None:
        if type(amount) is not int or amount < 0:
            raise Fault("an amount is a non-negative integer")
        if not amount:
            return
        have = self._balance(frm)
        if have < amount:
            raise Fault(f"insufficient balance: {have} < {amount}")
        self._tx.balances[frm] = have - amount
        self._tx.balances[to] = self._balance(to) + amount

    def _read(self, key: Any) -> bytes | None:
        contract = self._frames[-1].contract
        kb = storage_key(key)
        slot = (contract, kb)
        tx = self._tx
        raw = tx.storage[slot] if slot in tx.storage else _host_read(self.host.get_storage, contract, kb)
        self.meter.charge(gas.STORAGE_READ + gas.STORAGE_READ_BYTE * (len(kb) + (len(raw) if raw else 0)))
        return raw

    def _decode(self, raw: bytes) -> Any:
        value, items = decode_stored(raw)
        if items > 1:
            self.meter.charge(items * (gas.ITEM + gas.SLOT))  # what the decoded value holds
        return value

    def _write(self, key: Any, value: Any) -> None:
        frame = self._frames[-1]
        if frame.readonly:
            raise Fault("a view cannot change storage")
        kb = storage_key(key)
        if value is None:
            self.meter.charge(gas.STORAGE_DELETE)
            self._tx.storage[(frame.contract, kb)] = None
            return
        if type(value) in (list, dict):
            items, size = self._bounded(measure, value, gas.ITEM)  # bounds and charges the encoding's work first
            self.meter.charge(items * gas.ITEM + size * gas.BYTE)
            raw = pack_measured(value)
        else:
            raw = encode_value(value)
        self.meter.charge(gas.STORAGE_WRITE + gas.STORAGE_WRITE_BYTE * (len(kb) + len(raw)))
        self._tx.storage[(frame.contract, kb)] = raw

    # -- builtins that reach the chain ----------------------------------------------------

    def _emit(self, name: Any, *values: Any) -> None:
        frame = self._frames[-1]
        if frame.readonly:
            raise Fault("a view cannot emit events")
        if type(name) is not str or not 0 < len(name) <= 64 or not is_text(name):
            raise Fault("an event name is a str of 1 to 64 characters")
        data, cost = self._copy(list(values))  # the copy has checked what encoding needs
        # Charged before encoding for what encoding will write, then for what it wrote.
        self.meter.charge(gas.EMIT + cost)
        raw = pack_measured(data)
        # Bounded here, before the event is kept: receipts must decode within the node's limits.
        if len(raw) > gas.MAX_EVENT_BYTES:
            raise Fault(f"event data over {gas.MAX_EVENT_BYTES} bytes encoded")
        tx = self._tx
        tx.event_bytes += len(raw) + len(name.encode()) + gas.EVENT_OVERHEAD
        if tx.event_bytes > gas.MAX_TX_EVENT_BYTES:
            raise Fault(f"events of a transaction over {gas.MAX_TX_EVENT_BYTES} bytes")
        self.meter.charge(gas.EMIT_BYTE * len(raw))
        tx.events.append(Event(frame.contract, name, data, raw))

    def _call(self, contract: Any, method: Any, args: Any = None, value: Any = 0, gas_limit: Any = None,
              **kwargs: Any) -> Any:
        if kwargs:
            if set(kwargs) != {"gas"}:
                raise Fault(f"call() got unknown arguments {sorted(kwargs)}")
            gas_limit = kwargs["gas"]
        meter = self.meter
        meter.charge(gas.CONTRACT_CALL)
        if type(contract) is not Address:
            raise Fault("call() needs a contract address")
        args = [] if args is None else args
        if type(args) is not list:
            raise Fault("call() takes its arguments as a list")
        args, cost = self._copy(args)
        meter.charge(cost)
        frame = self._frames[-1]
        if value:
            if frame.readonly:
                raise Fault("a view cannot send value")
            self._move(frame.contract, contract, value)
        outer = meter.limit
        if gas_limit is not None:
            if type(gas_limit) is not int or gas_limit < 0:
                raise Fault("call() gas is a non-negative integer")
            meter.limit = min(outer, meter.used + gas_limit)
        try:
            return self._invoke(contract, method, args, frame.contract, value, frame.readonly)
        finally:
            meter.limit = outer

    def _send_coin(self, to: Any, amount: Any) -> None:
        frame = self._frames[-1]
        if frame.readonly:
            raise Fault("a view cannot send value")
        if type(to) is not Address:
            raise Fault("send_coin() needs an address")
        self.meter.charge(gas.NATIVE_TRANSFER)
        self._move(frame.contract, to, amount)

    def _coin_balance(self, address: Any) -> int:
        if type(address) is not Address:
            raise Fault("coin_balance() needs an address")
        self.meter.charge(gas.STORAGE_READ)
        return self._balance(address)

    def _settled(self, tx_hash: Any) -> dict[str, Any] | None:
        if type(tx_hash) is not bytes or len(tx_hash) != 32:
            raise Fault("settled() takes a 32-byte transaction hash")
        self.meter.charge(gas.SETTLED_READ)
        found = _host_read(self.host.get_settled, tx_hash)
        if found is None:
            return None
        if (type(found) is not SettledTx or type(found.height) is not int or type(found.ok) is not bool
                or found.kind not in SETTLED_KINDS or type(found.sender) is not bytes or len(found.sender) != 20
                or type(found.to) is not bytes or len(found.to) != 20):
            raise HostError(f"the host's record of transaction {tx_hash.hex()} is malformed")
        # Only what was committed before this block: the same answer in the block's execution,
        # in a replay or block sync, and in a query or estimate at a snapshot of this height.
        if found.height >= self.block.height:
            return None
        return {"sender": Address(found.sender), "to": Address(found.to), "ok": found.ok, "kind": found.kind,
                "height": found.height}


class HostError(Exception):
    """Reading the host's state failed: a problem of this node, not of the contract."""


def _host_read(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        raise HostError(str(exc)) from exc

