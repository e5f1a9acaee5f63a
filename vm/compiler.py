"""From checked source to metered Python code.

The checked tree is rewritten so that the Python interpreter runs the contract at full
speed while every rule of the VM still holds:

* each statement list starts with `_g(cost)`: the gas of its straight-line part, charged
  before it runs (loop bodies charge on every iteration, so `while True: pass` ends);
* function bodies are wrapped in `_enter(cost)` / `_leave()` for the call depth;
* operators that can build big values (`+ - * % ** << ~`) go through metered helpers that
  bound integers to 256 bits and charge strings and lists by size;
* comparisons check that they compare scalars (lists compare element by element in C,
  unmetered) and pay for long strings; `in`, slices and subscripts go through helpers
  (`_get`, `_set`, `_del`) that charge for long keys and growing dicts;
* comprehensions charge for every item of every `for` in them (`_gi`), and a `while`
  loop pays for its condition on every pass;
* `x.method(...)` becomes `_m_method(x, ...)`, which dispatches on the exact type;
* tuples become lists, so no hashable container ever exists.

Names starting with `_` are refused in contracts, so none of these helpers can be named,
shadowed or reached from contract code.
"""

from __future__ import annotations

import ast
import hashlib
import marshal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Protocol

from vm import checker, gas
from vm.checker import Interface, Method, check_tree, parse_counted
from vm.errors import CheckError

_BINOPS = {ast.Add: "_add", ast.Sub: "_sub", ast.Mult: "_mul", ast.Mod: "_mod", ast.Pow: "_pow",
           ast.LShift: "_lsh", ast.BitOr: "_or", ast.BitAnd: "_and", ast.BitXor: "_xor"}


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _call(fn: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(fn), args=list(args), keywords=[])


def _gas_stmt(cost: int) -> ast.Expr:
    return ast.Expr(_call("_g", ast.Constant(cost)))


def _own_cost(node: ast.AST) -> int:
    """Gas of one node evaluated once, apart from the nodes below it: a step, and for a list,
    dict or comprehension the container it builds (a tuple becomes a list)."""
    if not isinstance(node, ast.expr | ast.stmt):
        return 0
    if isinstance(node, ast.List | ast.Tuple) and isinstance(node.ctx, ast.Load):
        return gas.STEP + gas.CONTAINER + gas.SLOT * len(node.elts)
    if isinstance(node, ast.Dict):
        return gas.STEP + gas.CONTAINER + gas.ENTRY * len(node.keys)
    if isinstance(node, ast.ListComp | ast.DictComp):
        return gas.STEP + gas.CONTAINER
    if _is_helper(node):
        return gas.STEP + gas.HELPER
    return gas.STEP


def _is_helper(node: ast.AST) -> bool:
    """Whether the node runs as a call of a Python function (a metered helper, a method, a builtin):
    several times the interpreter's work of a plain node."""
    if isinstance(node, ast.BinOp | ast.AugAssign):
        return type(node.op) in _BINOPS
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Invert)
    return isinstance(node, ast.Compare | ast.Subscript | ast.Call | ast.Delete)


class _Costs:
    """The gas of every subtree of the checked tree, summed in one pass.

    Statements and comprehensions ask for the cost of the subtrees they hold, and those nest:
    walking each one again made the rewrite quadratic in how deeply comprehensions nest. Each
    entry keeps its node, so no id can be reused by a node made later.
    """

    def __init__(self, tree: ast.AST) -> None:
        self._total: dict[int, tuple[ast.AST, int]] = {}
        order: list[tuple[ast.AST, list[ast.AST]]] = []
        stack = [tree]
        while stack:
            node = stack.pop()
            children = list(ast.iter_child_nodes(node))
            order.append((node, children))
            stack.extend(children)
        total = self._total
        for node, children in reversed(order):  # children before their parents
            below = sum(total[id(c)][1] for c in children)
            total[id(node)] = (node, _own_cost(node) + below)

    def total(self, node: ast.AST) -> int:
        entry = self._total.get(id(node))
        if entry is None or entry[0] is not node:
            raise CheckError("the compiler asked the cost of a node it made", getattr(node, "lineno", 0))
        return entry[1]

    def cost(self, node: ast.AST) -> int:
        """What this statement evaluates itself, not the bodies it holds."""
        if isinstance(node, ast.If | ast.While):
            roots: list[ast.AST] = [node.test]
        elif isinstance(node, ast.For):
            roots = [node.target, node.iter]
        else:
            roots = [node]
        return gas.STEP + sum(self.total(r) for r in roots)


class _Rewriter(ast.NodeTransformer):
    def __init__(self, costs: _Costs) -> None:
        self.temp = 0
        self._cost = costs.cost

    def _tmp(self) -> str:
        self.temp += 1
        return f"_t{self.temp}"

    def body(self, stmts: list[ast.stmt], extra: int = 0) -> list[ast.stmt]:
        """A statement list that first charges its straight-line cost (plus `extra`)."""
        return [_gas_stmt(sum(self._cost(s) for s in stmts) + extra + gas.BLOCK), *self.statements(stmts)]

    def statements(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            r = self.visit(s)
            out.extend(r if isinstance(r, list) else [r])
        return out

    def visit_FunctionDef(self, fn: ast.FunctionDef) -> ast.FunctionDef:
        guarded = any(isinstance(d, ast.Name) and d.id == "nonreentrant" for d in fn.decorator_list)
        fn.decorator_list = []
        fn.returns = None
        for a in fn.args.args:
            a.annotation = None
        fn.args.defaults = [self.visit(d) for d in fn.args.defaults]
        # Entering charges the call and the first block, and counts the depth.
        first = sum(self._cost(s) for s in fn.body) + gas.CALL + gas.BLOCK
        enter: list[ast.stmt] = [ast.Expr(_call("_enter", ast.Constant(first)))]
        leave: list[ast.stmt] = [ast.Expr(_call("_leave"))]
        if guarded:
            # The lock is the function's own, so a call from the contract's code holds it too.
            name = ast.Constant(fn.name)
            enter.append(ast.Expr(_call("_lock", name)))
            leave.insert(0, ast.Expr(_call("_unlock", name)))
        inner = self.statements(fn.body)
        fn.body = [*enter, ast.Try(body=inner or [ast.Pass()], handlers=[], orelse=[], finalbody=leave)]
        return fn

    def visit_If(self, s: ast.If) -> ast.If:
        s.test = self.visit(s.test)
        s.body = self.body(s.body)
        s.orelse = self.body(s.orelse) if s.orelse else []
        return s

    def visit_For(self, s: ast.For) -> ast.For:
        s.iter = _call("_it", self.visit(s.iter))
        s.target = self.visit(s.target)
        s.body = self.body(s.body)
        return s

    def visit_While(self, s: ast.While) -> ast.While:
        test_cost = self._cost(s.test)
        s.test = self.visit(s.test)
        # The condition runs again before every pass: its gas goes with the body's.
        s.body = self.body(s.body, extra=test_cost)
        return s

    def visit_Assign(self, s: ast.Assign) -> ast.stmt | list[ast.stmt]:
        target = s.targets[0]
        if len(s.targets) == 1 and isinstance(target, ast.Subscript):
            # Python evaluates the value first, then the container and the key.
            tmp = self._tmp()
            out = [
                ast.Assign(targets=[ast.Name(tmp, ast.Store())], value=self.visit(s.value)),
                ast.Expr(_call("_set", self.visit(target.value), self.visit(target.slice), _name(tmp))),
            ]
            return [ast.copy_location(x, s) for x in out]
        s.value = self.visit(s.value)
        s.targets = [self.visit(t) for t in s.targets]
        return s

    def visit_Delete(self, s: ast.Delete) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for t in s.targets:
            if not isinstance(t, ast.Subscript):  # the checker allows subscripts only
                raise CheckError("del removes a key: del d[key]", getattr(t, "lineno", 0))
            out.append(ast.copy_location(ast.Expr(_call("_del", self.visit(t.value), self.visit(t.slice))), s))
        return out

    def visit_AnnAssign(self, s: ast.AnnAssign) -> ast.Assign:
        if s.value is None:  # the checker refuses these; never compile one silently
            raise CheckError("an annotated assignment gives a name a value", s.lineno)
        return ast.copy_location(ast.Assign(targets=[s.target], value=self.visit(s.value)), s)

    def visit_AugAssign(self, s: ast.AugAssign) -> list[ast.stmt]:
        value = self.visit(s.value)
        target = s.target
        if isinstance(target, ast.Name):
            load = _name(target.id)
            new = self._binop(s.op, load, value)
            return [ast.copy_location(ast.Assign(targets=[ast.Name(target.id, ast.Store())], value=new), s)]
        if not isinstance(target, ast.Subscript):  # the checker allows names and subscripts only
            raise CheckError("augmented assignment targets a name or a subscript", s.lineno)
        # Evaluate container and key once, as Python does.
        obj, key = self._tmp(), self._tmp()
        pre = [
            ast.Assign(targets=[ast.Name(obj, ast.Store())], value=self.visit(target.value)),
            ast.Assign(targets=[ast.Name(key, ast.Store())], value=self.visit(target.slice)),
        ]
        cur = _call("_get", _name(obj), _name(key))
        out = [*pre, ast.Expr(_call("_set", _name(obj), _name(key), self._binop(s.op, cur, value)))]
        return [ast.copy_location(x, s) for x in out]

    def _binop(self, op: ast.operator, left: ast.expr, right: ast.expr) -> ast.expr:
        helper = _BINOPS.get(type(op))
        if helper is None:
            return ast.BinOp(left=left, op=op, right=right)
        return _call(helper, left, right)

    def visit_BinOp(self, e: ast.BinOp) -> ast.expr:
        return ast.copy_location(self._binop(e.op, self.visit(e.left), self.visit(e.right)), e)

    def visit_UnaryOp(self, e: ast.UnaryOp) -> ast.expr:
        operand = self.visit(e.operand)
        if isinstance(e.op, ast.Invert):
            return ast.copy_location(_call("_inv", operand), e)
        e.operand = operand
        return e

    def visit_Tuple(self, e: ast.Tuple) -> ast.expr:
        if isinstance(e.ctx, ast.Load):
            return ast.copy_location(ast.List(elts=[self.visit(x) for x in e.elts], ctx=ast.Load()), e)
        e.elts = [self.visit(x) for x in e.elts]
        return e

    def visit_Compare(self, e: ast.Compare) -> ast.expr:
        left = self.visit(e.left)
        comps = [self.visit(c) for c in e.comparators]
        op = e.ops[0]
        if isinstance(op, ast.In | ast.NotIn):
            test: ast.expr = _call("_in", left, comps[0])
            if isinstance(op, ast.NotIn):
                test = ast.UnaryOp(op=ast.Not(), operand=test)
            return ast.copy_location(test, e)
        if isinstance(op, ast.Is | ast.IsNot):
            e.left, e.comparators = left, comps
            return e
        # Every comparison of the chain has a checked scalar on its left; a scalar against a
        # list is decided at once, so no deep element-wise comparison can run unmetered.
        e.left = _call("_s", left)
        e.comparators = [_call("_s", c) for c in comps[:-1]] + [comps[-1]]
        return e

    def visit_Subscript(self, e: ast.Subscript) -> ast.expr:
        value = self.visit(e.value)
        if isinstance(e.slice, ast.Slice):
            sl = e.slice
            parts = [self.visit(p) if p is not None else ast.Constant(None) for p in (sl.lower, sl.upper, sl.step)]
            return ast.copy_location(_call("_slice", value, *parts), e)
        return ast.copy_location(_call("_get", value, self.visit(e.slice)), e)

    def visit_Dict(self, e: ast.Dict) -> ast.expr:
        e.keys = [_call("_key", self.visit(k)) if k is not None else None for k in e.keys]
        e.values = [self.visit(v) for v in e.values]
        return e

    def visit_Call(self, e: ast.Call) -> ast.expr:
        args = [self.visit(a) for a in e.args]
        keywords = [ast.keyword(arg=k.arg, value=self.visit(k.value)) for k in e.keywords]
        if isinstance(e.func, ast.Attribute):
            call = ast.Call(func=_name("_m_" + e.func.attr), args=[self.visit(e.func.value), *args], keywords=keywords)
            return ast.copy_location(call, e)
        e.args, e.keywords = args, keywords
        return e

    def _comprehension(self, e: ast.ListComp | ast.DictComp) -> None:
        for g in e.generators:
            # Every item of every `for` pays, even when no element is built from it.
            g.iter = _call("_gi", ast.Constant(self._cost(g.iter)), self.visit(g.iter))
            g.target = self.visit(g.target)
            g.ifs = [ast.copy_location(_call("_gv", ast.Constant(self._cost(c)), self.visit(c)), c) for c in g.ifs]

    def visit_ListComp(self, e: ast.ListComp) -> ast.expr:
        self._comprehension(e)
        e.elt = _call("_gv", ast.Constant(self._cost(e.elt) + gas.ITEM + gas.SLOT), self.visit(e.elt))
        return e

    def visit_DictComp(self, e: ast.DictComp) -> ast.expr:
        self._comprehension(e)
        per_item = self._cost(e.key) + self._cost(e.value) + gas.ITEM + gas.ENTRY
        e.key = _call("_key", _call("_gv", ast.Constant(per_item), self.visit(e.key)))
        e.value = self.visit(e.value)
        return e


def rewrite(tree: ast.Module) -> ast.Module:
    r = _Rewriter(_Costs(tree))
    body: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            body.append(r.visit_FunctionDef(stmt))
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            body.append(r.visit(stmt))
    tree.body = body
    return ast.fix_missing_locations(tree)


class Compiled:
    __slots__ = ("code", "code_hash", "interface", "nodes")

    def __init__(self, code: CodeType, code_hash: bytes, interface: Interface, nodes: int) -> None:
        self.code = code
        self.code_hash = code_hash
        self.interface = interface
        self.nodes = nodes  # syntax nodes of the source: what compiling it costs (gas.COMPILE_NODE each)


class CodeStore(Protocol):
    """Where a node keeps compiled contracts across restarts and cache evictions (not state)."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...


# Compiled code embeds gas prices and helper names: a stored entry is valid only for this
# compiler, this gas table, this checker and this Python.
_FINGERPRINT = hashlib.sha256(
    b"".join(Path(m).read_bytes() for m in (__file__, checker.__file__, gas.__file__))
    + sys.implementation.cache_tag.encode()
).digest()[:8]

CONTRACT_FILE = "<contract"  # how compiled contract code's file names start: its frames are told by it

_CACHE: OrderedDict[bytes, Compiled] = OrderedDict()
_CACHE_SIZE = 256
# The node compiles on its event loop (blocks) and in RPC reader threads (queries) at once:
# the lookup-then-reorder and insert-then-evict pairs must not interleave.
_CACHE_LOCK = threading.Lock()


def _freeze(c: Compiled) -> bytes:
    methods = [c.interface.constructor, *c.interface.methods.values()]
    return marshal.dumps((c.code, [None if m is None else tuple(getattr(m, f) for f in Method.__slots__)
                                   for m in methods], c.nodes))


def _thaw(raw: bytes, code_hash: bytes) -> Compiled:
    code, methods, nodes = marshal.loads(raw)
    if type(nodes) is not int:
        raise TypeError("not a compiled contract of this build")
    ms = [None if t is None else Method(*t) for t in methods]
    return Compiled(code, code_hash, Interface({m.name: m for m in ms[1:] if m is not None}, ms[0]), nodes)


def compile_contract(source: str, store: CodeStore | None = None,
                     charge: Callable[[int], None] | None = None) -> Compiled:
    """Check and compile, or find it done: in memory, then in `store`. Pure data, cached by the source's hash.

    `charge` is given what compiling costs (gas.COMPILE_NODE per syntax node) before the work,
    and the same when the work was done before: a cache must not make a deploy cheaper on one
    node than on another. A source that does not parse costs nothing here (its bytes paid)."""
    code_hash = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest()
    with _CACHE_LOCK:
        hit = _CACHE.get(code_hash)
        if hit is not None:
            _CACHE.move_to_end(code_hash)
    if hit is not None:
        if charge is not None:
            charge(hit.nodes * gas.COMPILE_NODE)
        return hit
    key = _FINGERPRINT + code_hash
    raw = store.get(key) if store is not None else None
    out = None
    if raw is not None:
        try:
            out = _thaw(raw, code_hash)
        except (ValueError, TypeError, EOFError):
            out = None  # written by another build: compile again
    if out is not None:
        if charge is not None:
            charge(out.nodes * gas.COMPILE_NODE)
    else:
        tree, nodes = parse_counted(source)
        if charge is not None:
            charge(nodes * gas.COMPILE_NODE)  # before the walks, whether or not they accept it
        interface = check_tree(tree)
        try:
            code = compile(rewrite(tree), f"{CONTRACT_FILE} {code_hash[:4].hex()}>", "exec", dont_inherit=True)
        except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
            raise CheckError(f"source cannot be compiled: {type(exc).__name__}") from None
        out = Compiled(code, code_hash, interface, nodes)
        if store is not None:
            store.put(key, _freeze(out))
    with _CACHE_LOCK:
        _CACHE[code_hash] = out
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out
