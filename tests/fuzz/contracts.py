"""Fuzz target for the contract checker and compiler, seeded with the standard contracts of vm/contracts/.

Seeds are the standard contracts whole and in slices (their constants, constructor and a few
functions, kept when the slice compiles), so one input costs milliseconds, not the 40 ms of the
largest contract. Mutations work on the syntax tree (a constant changed, a name made private or
a builtin, an operator swapped, a statement deleted, duplicated, wrapped in a loop, or replaced
by a forbidden one, a subtree grafted from another contract) and on the text (lines deleted,
duplicated, swapped or re-indented, characters inserted, the source cut).

Oracle: compiling raises only CheckError; what it accepts holds no forbidden construct by an
independent scan of its syntax tree (no imports, private names, floats, f-strings...); a
deployed accepted contract and calls of its methods end in a CallResult whatever happens
(gas, faults, reverts), never an exception; nothing takes longer than the time bound.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable
from typing import Any

from tests.fuzz.driver import OracleFailure
from tests.fuzz.mutate import INTERESTING_INTS
from vm.checker import CTX_FIELDS, METHODS, Interface
from vm.compiler import Compiled, compile_contract
from vm.contracts import source
from vm.errors import CheckError
from vm.testing import Chain

CONTRACTS = ("token", "oracle", "identity", "stablecoin", "swap", "lending", "asset_token")
SLICES_PER_CONTRACT = 8
SMALL_SOURCE = 2_000
FORBIDDEN_TYPES = (ast.Import, ast.ImportFrom, ast.Lambda, ast.Set, ast.SetComp, ast.GeneratorExp, ast.Yield,
                   ast.YieldFrom, ast.Await, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith, ast.Global,
                   ast.Nonlocal, ast.ClassDef, ast.Try, ast.Raise, ast.With, ast.Assert, ast.JoinedStr,
                   ast.Starred, ast.NamedExpr, ast.Div, ast.MatMult)
FORBIDDEN_STATEMENTS = (
    "import os", "from os import path", "global x", "nonlocal x", "class C:\n    pass",
    "try:\n    pass\nexcept:\n    pass",
    "raise ValueError()", "with x:\n    pass", "assert x", "x = lambda: 1", "x = {1, 2}", "x = (i for i in y)",
    "x = f'{y}'", "x = y / 2", "x = 1.5", "x = __import__('os')", "x = ().__class__", "x = ctx.__dict__",
    "x = storage._data", "_x = 1", "x = [*y]", "x = (y := 2)", "while True:\n    pass", "del ctx",
    "x = 'a'.format(1)", "x = type(y)", "x = getattr(y, 'z')", "yield 1", "x = 10 ** 10 ** 10",
    "x = 'a' * 10 ** 9", "x = [0] * 10 ** 8", "for i in range(10 ** 12):\n    pass", "x = 1j", "x = b'\\xff'.decode()",
    "x = int('9' * 5000)", "storage['k'] = [[[[[[[[[[[]]]]]]]]]]]", "return ctx", "return storage",
    "x = len", "len = 1", "emit('E', ctx)", "x = [y for y in range(10 ** 9)]", "x = y[::-1]", "x = -(2 ** 256)",
)
NAMES = ("_x", "__class__", "__import__", "len", "storage", "ctx", "eval", "exec", "open", "print", "type",
         "getattr", "self", "require", "ZERO_ADDRESS", "MAX_UINT", "True", "x" * 300)
CONSTANTS: tuple[Any, ...] = (*INTERESTING_INTS, 2**256, 2**256 - 1, -(2**255), 10**77, "", "\ud800", "a" * 5000,
                              b"", b"\x00" * 64, True, None, 1.5)


def slice_source(tree: ast.Module, rng: random.Random, most: int = 3) -> str:
    """The constants, the constructor and a few functions with every function they call: a small contract."""
    head = [st for st in tree.body if not isinstance(st, ast.FunctionDef)]
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    ctor = [f for f in funcs.values() if any(isinstance(d, ast.Name) and d.id == "constructor"
                                               for d in f.decorator_list)]
    todo = [f.name for f in ctor] + rng.sample(sorted(funcs), min(len(funcs), rng.randrange(1, most + 1)))
    keep: set[str] = set()
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        todo += [n.id for n in ast.walk(funcs[name]) if isinstance(n, ast.Name) and n.id in funcs]
    body = head + [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in keep]
    return ast.unparse(ast.Module(body=body, type_ignores=[]))


def _slices(name: str, rng: random.Random) -> list[str]:
    tree = ast.parse(source(name))
    out: set[str] = set()
    for _ in range(SLICES_PER_CONTRACT * 3):
        text = slice_source(tree, rng)
        try:
            compile_contract(text)
        except CheckError:
            continue
        out.add(text)
        if len(out) == SLICES_PER_CONTRACT:
            break
    return sorted(out)


def forbidden_construct(tree: ast.AST) -> str | None:
    """An independent scan: the first construct the contract language refuses, or None."""
    for node in ast.walk(tree):
        if isinstance(node, FORBIDDEN_TYPES):
            return type(node).__name__
        name = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                else node.arg if isinstance(node, ast.arg) else node.name if isinstance(node, ast.FunctionDef)
                else None)
        if name is not None and name.startswith("_"):
            return f"private name {name}"
        if isinstance(node, ast.Attribute) and node.attr not in METHODS | CTX_FIELDS:
            return f"attribute {node.attr}"
        if isinstance(node, ast.Constant) and isinstance(node.value, (float, complex)):
            return "float literal"
    return None


def _arg_for(t: object, rng: random.Random, chain: Chain) -> Any:
    if isinstance(t, tuple):
        return [] if t[0] == "list" else {}
    return {"int": rng.choice((0, 1, 10**18, 2**255)), "bool": True, "str": "x", "bytes": b"\x01",
            "address": chain.account(), "list": [], "dict": {}}.get(str(t), 0)


class ContractTarget:
    name = "contracts"
    time_bound = 10.0
    rss_bound_mb = 300.0
    deploy_share = 0.3  # of accepted sources, the share also deployed and called

    def __init__(self, compile_fn: Callable[[str], Compiled] = compile_contract) -> None:
        self.compile = compile_fn
        self.rng = random.Random(7)
        self._seeds: list[str] = []
        for name in CONTRACTS:
            self._seeds.append(source(name))
            self._seeds += _slices(name, self.rng)
        self._stmts: list[ast.stmt] = [s for src in self._seeds[:40] for s in ast.walk(ast.parse(src))
                                       if isinstance(s, ast.stmt) and not isinstance(s, ast.FunctionDef)][:3000]

    def seeds(self) -> list[str]:
        return list(self._seeds)

    def render(self, item: str) -> str:
        return item[:600]

    def mutate(self, rng: random.Random, item: str, corpus: list[str]) -> str:
        if rng.random() < 0.3:
            return _mutate_text(rng, item)
        try:
            tree = ast.parse(item)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return _mutate_text(rng, item)
        if len(item) > SMALL_SOURCE and rng.random() < 0.7:
            return slice_source(tree, rng, most=2)  # keep inputs small: a big contract costs 40 ms a compile
        self._mutate_tree(rng, tree)
        try:
            return ast.unparse(tree)  # unparse needs no line numbers
        except (ValueError, TypeError, RecursionError, AttributeError):
            return _mutate_text(rng, item)

    def _mutate_tree(self, rng: random.Random, tree: ast.Module) -> None:
        nodes = list(ast.walk(tree))
        op = rng.randrange(8)
        if op == 0:
            consts = [n for n in nodes if isinstance(n, ast.Constant)]
            if consts:
                rng.choice(consts).value = rng.choice(CONSTANTS)
                return
        if op == 1:
            names = [n for n in nodes if isinstance(n, (ast.Name, ast.arg, ast.Attribute))]
            if names:
                n = rng.choice(names)
                new = rng.choice(NAMES) if not isinstance(n, ast.Attribute) else rng.choice(
                    (*METHODS, "_x", "__class__", "__dict__", "sender", "format", "mro"))
                setattr(n, "attr" if isinstance(n, ast.Attribute) else "arg" if isinstance(n, ast.arg) else "id",
                        new)
                return
        if op == 2:
            ops = [n for n in nodes if isinstance(n, (ast.BinOp, ast.Compare, ast.AugAssign, ast.BoolOp))]
            if ops:
                n = rng.choice(ops)
                if isinstance(n, (ast.BinOp, ast.AugAssign)):
                    n.op = rng.choice((ast.Add(), ast.Sub(), ast.Mult(), ast.FloorDiv(), ast.Mod(), ast.Pow(),
                                       ast.LShift(), ast.RShift(), ast.BitXor(), ast.Div(), ast.MatMult()))
                elif isinstance(n, ast.Compare):
                    n.ops = [rng.choice((ast.Eq(), ast.Lt(), ast.In(), ast.Is(), ast.NotIn())) for _ in n.ops]
                else:
                    n.op = rng.choice((ast.And(), ast.Or()))
                return
        bodies = [n.body for n in nodes if isinstance(getattr(n, "body", None), list) and n.body]
        if not bodies:
            return
        body = rng.choice(bodies)
        k = rng.randrange(len(body))
        if op == 3 and len(body) > 1:
            del body[k]
        elif op == 4:
            body.insert(k, body[k])
        elif op == 5:
            wrap = rng.choice(("for i in range(100):\n    pass", "while x:\n    pass", "if x:\n    pass"))
            loop = ast.parse(wrap).body[0]
            loop.body = [body[k]]  # type: ignore[attr-defined]
            body[k] = loop
        elif op == 6:
            body.insert(k, ast.parse(rng.choice(FORBIDDEN_STATEMENTS)).body[0])
        elif self._stmts:
            body.insert(k, rng.choice(self._stmts))

    def run(self, item: str) -> str:
        try:
            compiled = self.compile(item)
        except CheckError:
            return "rejected:check"
        why = forbidden_construct(ast.parse(item))
        if why is not None:
            raise OracleFailure(f"the checker accepted a forbidden construct: {why}")
        if self.rng.random() >= self.deploy_share:
            return "accepted:compiled"
        return self._deploy_and_call(item, compiled.interface)

    def _deploy_and_call(self, item: str, interface: Interface) -> str:
        chain = Chain()
        sender = chain.account(10**24)
        ctor = interface.constructor
        args = [_arg_for(t, self.rng, chain) for _n, t in (ctor.params if ctor else ())]
        res = chain.deploy(sender, item, args, gas=3_000_000)
        if not res.ok or res.address is None:
            return f"accepted:deploy-{res.outcome.value}"
        outcomes = []
        for m in list(interface.methods.values())[:4]:
            call_args = [_arg_for(t, self.rng, chain) for _n, t in m.params[:m.required]]
            call = chain.call(sender, res.address, m.name, call_args, gas=1_000_000)
            outcomes.append(call.outcome.value)
        return "accepted:called-" + ("ok" if "ok" in outcomes else "none-ok")


def _mutate_text(rng: random.Random, item: str) -> str:
    lines = item.split("\n")
    op = rng.randrange(7)
    k = rng.randrange(len(lines))
    if op == 0 and len(lines) > 1:
        del lines[k]
    elif op == 1:
        lines.insert(k, lines[rng.randrange(len(lines))])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[k], lines[j] = lines[j], lines[k]
    elif op == 3:
        lines[k] = rng.choice(("", " ", "\t", "    " * 13)) + lines[k]
    elif op == 4:
        pos = rng.randrange(len(item) + 1)
        return item[:pos] + rng.choice(("(", ")", "[", ":", "\\", "'", '"""', "\x00", "\ufeff", "#", "\n", "é",
                                        "_", "0" * 400, "(" * 100, "+1" * 600)) + item[pos:]
    elif op == 5:
        return item[:rng.randrange(len(item) + 1)]
    else:
        line = lines[k]
        if line:
            pos = rng.randrange(len(line))
            lines[k] = line[:pos] + line[pos + 1:]
    return "\n".join(lines)


def planted_compile(text: str) -> Compiled:
    """A planted fault for the positive control: a checker that lets private names through, as if
    its rule were missing (it compiles the source with those names renamed, and reports success)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise CheckError(f"syntax error: {exc}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            node.id = "planted" + node.id.lstrip("_")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            node.attr = "get"
    return compile_contract(ast.unparse(tree))
