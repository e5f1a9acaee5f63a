"""The language subset: limits before parsing, then a whitelist walk of the syntax tree.

`check(source)` returns the contract's interface (its public methods and their declared
types) or raises CheckError with the line and the reason. Everything not listed here is
refused: the walk visits every node and accepts only the node types, names, methods and
forms below, so a new Python feature is rejected until someone decides to allow it.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

from vm.errors import CheckError
from vm.values import MAX_INT, is_text

MAX_SOURCE_BYTES = 64 * 1024
MAX_NESTING = 32
MAX_BLOCKS = 12  # indented blocks inside a function: Python refuses 20 statically nested blocks
MAX_AST_DEPTH = 120
MAX_AST_NODES = 50_000
MAX_PARAMS = 16
MAX_CONSTANTS = 64
MAX_CONSTANT_NODES = 32
MAX_STATEMENT_TOKENS = 1_000  # the parser recurses on long operator chains (3,000 terms crash it)

BUILTINS = frozenset({
    "len", "abs", "min", "max", "sum", "range", "list", "dict", "str", "int", "bool", "sorted", "reversed",
    "enumerate", "zip", "all", "any", "isqrt", "require", "revert", "emit", "call", "send_coin", "coin_balance",
    "settled",
    "sha256", "address", "storage", "ctx", "ZERO_ADDRESS", "MAX_UINT", "True", "False", "None",
})
METHODS = frozenset({
    "append", "pop", "insert", "extend", "index", "count", "remove", "reverse", "copy",
    "get", "keys", "values", "items", "setdefault",
    "startswith", "endswith", "lower", "upper", "strip", "split", "join", "encode", "replace", "find",
    "hex", "decode",
})
CTX_FIELDS = frozenset({"sender", "origin", "value", "this", "height", "time"})
DECORATORS = frozenset({"constructor", "public", "view", "payable", "nonreentrant"})
ABI_SCALARS = frozenset({"int", "bool", "str", "bytes", "address", "list", "dict"})

_EXPRESSIONS = (
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.List, ast.Tuple, ast.ListComp, ast.DictComp,
    ast.Compare, ast.Call, ast.Constant, ast.Subscript, ast.Name, ast.Attribute, ast.Slice,
)
_STATEMENTS = (
    ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.For, ast.While, ast.Break, ast.Continue,
    ast.Pass, ast.Delete, ast.Expr,
)
_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr,
    ast.BitXor, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.Load, ast.Store, ast.Del, ast.comprehension, ast.keyword,
)
_REFUSED = {
    ast.Import: "import is not allowed", ast.ImportFrom: "import is not allowed",
    ast.Lambda: "lambda is not allowed", ast.Set: "sets are not allowed", ast.SetComp: "sets are not allowed",
    ast.GeneratorExp: "generators are not allowed", ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed", ast.Await: "async is not allowed",
    ast.AsyncFunctionDef: "async is not allowed", ast.AsyncFor: "async is not allowed",
    ast.AsyncWith: "async is not allowed", ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed", ast.ClassDef: "classes are not allowed",
    ast.Try: "try is not allowed: faults cannot be caught", ast.Raise: "raise is not allowed: use revert(reason)",
    ast.With: "with is not allowed", ast.Assert: "assert is not allowed: use require(cond, reason)",
    ast.JoinedStr: "f-strings are not allowed", ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred expressions are not allowed", ast.NamedExpr: ":= is not allowed",
    ast.Div: "/ makes floats: use //", ast.MatMult: "@ is not allowed",
}


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    params: tuple[tuple[str, object], ...]  # (name, ABI type); a type is a name or ("list", T) / ("dict", K, V)
    returns: object
    kind: str  # "constructor", "public" or "view"
    payable: bool
    nonreentrant: bool
    required: int  # parameters without a default

    def arity_error(self, n: int) -> str | None:
        """Why `n` arguments do not fit, or None."""
        if self.required <= n <= len(self.params):
            return None
        want = str(self.required) if self.required == len(self.params) else f"{self.required} to {len(self.params)}"
        return f"{self.name} takes {want} argument{'' if want == '1' else 's'}, got {n}"


@dataclass(frozen=True, slots=True)
class Interface:
    methods: dict[str, Method]
    constructor: Method | None

    def to_json(self) -> list[dict[str, object]]:
        items = list(self.methods.values()) + ([self.constructor] if self.constructor else [])
        return [
            {
                "name": m.name, "kind": m.kind, "payable": m.payable, "nonreentrant": m.nonreentrant,
                "params": [{"name": n, "type": abi_name(t), "optional": i >= m.required}
                           for i, (n, t) in enumerate(m.params)],
                "returns": abi_name(m.returns),
            }
            for m in items
        ]


def abi_name(t: object) -> str:
    if isinstance(t, tuple):
        return f"{t[0]}[{', '.join(abi_name(x) for x in t[1:])}]"
    return str(t)


def check_limits(source: str) -> None:
    """Refuse huge or deeply nested sources before the parser (which recurses) sees them."""
    try:
        size = len(source.encode())
    except UnicodeEncodeError as exc:
        raise CheckError(f"source is not valid Unicode text (a lone surrogate at offset {exc.start})") from None
    if size > MAX_SOURCE_BYTES:
        raise CheckError(f"source is over {MAX_SOURCE_BYTES} bytes")
    depth = indent = tokens = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            tokens = 0 if tok.type == tokenize.NEWLINE else tokens + 1
            if tokens > MAX_STATEMENT_TOKENS:
                raise CheckError(f"statement longer than {MAX_STATEMENT_TOKENS} tokens", tok.start[0])
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
            elif tok.type == tokenize.INDENT:
                indent += 1
            elif tok.type == tokenize.DEDENT:
                indent -= 1
            if depth + indent > MAX_NESTING:
                raise CheckError(f"nested deeper than {MAX_NESTING} levels", tok.start[0])
            if indent > MAX_BLOCKS:
                raise CheckError(f"blocks nested deeper than {MAX_BLOCKS} levels", tok.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        line = exc.args[1][0] if len(exc.args) > 1 and isinstance(exc.args[1], tuple) else 0
        raise CheckError(f"syntax error: {exc.args[0]}", line) from None


def parse(source: str) -> ast.Module:
    return parse_counted(source)[0]


def parse_counted(source: str) -> tuple[ast.Module, int]:
    """The syntax tree within the limits, and how many nodes it has (what compiling it costs)."""
    check_limits(source)
    try:
        tree = ast.parse(source, "<contract>")
    except SyntaxError as exc:
        raise CheckError(f"syntax error: {exc.msg}", exc.lineno or 0) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise CheckError(f"source cannot be parsed: {type(exc).__name__}") from None
    # Iterative depth count: chains like 1+1+...+1 nest without brackets, and every later
    # walk (ours and the compiler's) recurses.
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_AST_DEPTH or count > MAX_AST_NODES:
            raise CheckError("expression nested too deeply or source too large", getattr(node, "lineno", 0))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree, count


def check(source: str) -> tuple[ast.Module, Interface]:
    tree = parse(source)
    return tree, check_tree(tree)


def check_tree(tree: ast.Module) -> Interface:
    """The whitelist walk of a tree `parse` returned: the contract's interface, or CheckError."""
    return _Checker(tree).run()


def _fail(node: ast.AST, reason: str) -> CheckError:
    return CheckError(reason, getattr(node, "lineno", 0))


def _abi_type(node: ast.expr | None, fn: str) -> object:
    if node is None:
        raise _fail_missing(fn)
    if isinstance(node, ast.Name) and node.id in ABI_SCALARS:
        return node.id
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if node.value.id == "list" and len(args) == 1:
            return ("list", _abi_type(args[0], fn))
        if node.value.id == "dict" and len(args) == 2:
            key = _abi_type(args[0], fn)
            if key not in ("int", "bool", "str", "bytes", "address"):
                raise _fail(node, "dict keys must be int, bool, str, bytes or address")
            return ("dict", key, _abi_type(args[1], fn))
    raise _fail(node, "a type is int, bool, str, bytes, address, list, dict, list[T] or dict[K, V]")


def _fail_missing(fn: str) -> CheckError:
    return CheckError(f"every parameter of the public function {fn} needs a type annotation")


def _is_constant_expr(node: ast.expr, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants or node.id in ("ZERO_ADDRESS", "MAX_UINT")
    if isinstance(node, ast.UnaryOp):
        return _is_constant_expr(node.operand, constants)
    if isinstance(node, ast.BinOp):
        return _is_constant_expr(node.left, constants) and _is_constant_expr(node.right, constants)
    return False


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.module_names: set[str] = set()
        self.functions: set[str] = set()

    def run(self) -> Interface:
        methods: dict[str, Method] = {}
        constructor: Method | None = None
        constants: set[str] = set()
        body = self.tree.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.FunctionDef):
                if stmt.name in self.module_names:
                    raise _fail(stmt, f"{stmt.name} is defined twice")
                self.functions.add(stmt.name)
                self.module_names.add(stmt.name)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
                    raise _fail(stmt, "at top level, only NAME = constant assignments are allowed")
                name = targets[0].id
                self._check_binding(stmt, name)
                if name in self.module_names:
                    raise _fail(stmt, f"{name} is defined twice")
                if not _is_constant_expr(stmt.value, constants):
                    raise _fail(stmt, f"{name}: a top-level value is an expression of literals and constants")
                # Constants run again each time a VM loads the contract, and every use pays for them: keep them small.
                if sum(1 for _ in ast.walk(stmt.value)) > MAX_CONSTANT_NODES:
                    raise _fail(stmt, f"{name}: a top-level value has at most {MAX_CONSTANT_NODES} parts")
                if len(constants) >= MAX_CONSTANTS:
                    raise _fail(stmt, f"at most {MAX_CONSTANTS} top-level constants")
                self._expr(stmt.value, set())
                constants.add(name)
                self.module_names.add(name)
            elif i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue
            else:
                raise _fail(stmt, self._refusal(stmt) or "at top level, only constants and functions are allowed")
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef):
                m = self._function(stmt)
                if m is None:
                    continue
                if m.kind == "constructor":
                    if constructor is not None:
                        raise _fail(stmt, "only one @constructor is allowed")
                    constructor = m
                else:
                    methods[m.name] = m
        return Interface(methods, constructor)

    def _refusal(self, node: ast.AST) -> str | None:
        return _REFUSED.get(type(node))

    def _check_binding(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            raise _fail(node, f"names starting with _ are not allowed: {name}")
        if name in BUILTINS or name in DECORATORS:
            raise _fail(node, f"{name} is a builtin and cannot be assigned")

    def _function(self, fn: ast.FunctionDef) -> Method | None:
        self._check_binding(fn, fn.name)
        a = fn.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            raise _fail(fn, "only plain positional parameters are allowed (no *args, **kwargs, / or *)")
        if len(a.args) > MAX_PARAMS:
            raise _fail(fn, f"more than {MAX_PARAMS} parameters")
        for d in a.defaults:
            if not _is_constant_expr(d, self.module_names - self.functions):
                raise _fail(d, "a default value must be a literal or a constant")
            self._expr(d, set())  # the literal rules too: no floats, big ints or lone surrogates
        deco = []
        for d in fn.decorator_list:
            if not isinstance(d, ast.Name) or d.id not in DECORATORS:
                raise _fail(d, "decorators are @constructor, @public, @view, @payable and @nonreentrant")
            if d.id in deco:
                raise _fail(d, f"@{d.id} given twice")
            deco.append(d.id)
        kinds = [d for d in deco if d in ("constructor", "public", "view")]
        if len(kinds) > 1:
            raise _fail(fn, "a function is at most one of @constructor, @public and @view")
        if ("payable" in deco or "nonreentrant" in deco) and kinds not in (["public"], ["constructor"]):
            raise _fail(fn, "@payable and @nonreentrant go with @public (or @payable with @constructor)")
        local: set[str] = set()
        for arg in a.args:
            self._check_binding(arg, arg.arg)
            if arg.arg in local:
                raise _fail(arg, f"parameter {arg.arg} given twice")
            local.add(arg.arg)
            if arg.annotation is not None and not kinds:
                _abi_type(arg.annotation, fn.name)
        self._collect_stores(fn.body, local)
        self._body(fn.body, local, loop=False)
        if not kinds:
            if fn.returns is not None:
                _abi_type(fn.returns, fn.name)
            return None
        params = tuple((arg.arg, _abi_type(arg.annotation, fn.name)) for arg in a.args)
        returns = "any" if fn.returns is None else _abi_type(fn.returns, fn.name)
        if "nonreentrant" in deco and kinds == ["constructor"]:
            raise _fail(fn, "@nonreentrant does not apply to a constructor")
        return Method(fn.name, params, returns, kinds[0], "payable" in deco, "nonreentrant" in deco,
                      len(a.args) - len(a.defaults))

    def _collect_stores(self, body: list[ast.stmt], local: set[str]) -> None:
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self._check_binding(node, node.id)
                    local.add(node.id)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                    raise _fail(node, self._refusal(node) or "nested functions are not allowed")

    def _body(self, body: list[ast.stmt], local: set[str], loop: bool) -> None:
        for stmt in body:
            self._stmt(stmt, local, loop)

    def _stmt(self, s: ast.stmt, local: set[str], loop: bool) -> None:
        if not isinstance(s, _STATEMENTS):
            raise _fail(s, self._refusal(s) or f"{type(s).__name__} statements are not allowed")
        if isinstance(s, ast.If):
            self._expr(s.test, local)
            self._body(s.body, local, loop)
            self._body(s.orelse, local, loop)
        elif isinstance(s, ast.For | ast.While):
            if s.orelse:
                raise _fail(s, "loops with else are not allowed")
            if isinstance(s, ast.For):
                self._name_target(s.target)
                self._expr(s.iter, local)
            else:
                self._expr(s.test, local)
            self._body(s.body, local, True)
        elif isinstance(s, ast.Break | ast.Continue):
            if not loop:
                raise _fail(s, "break and continue belong in a loop")
        elif isinstance(s, ast.Return):
            if s.value is not None:
                self._expr(s.value, local)
        elif isinstance(s, ast.Assign):
            if len(s.targets) > 1 and any(isinstance(t, ast.Subscript) for t in s.targets):
                raise _fail(s, "a subscript is assigned on its own: x[k] = value")
            for t in s.targets:
                if isinstance(t, ast.Subscript):
                    self._target(t, local)
                else:
                    self._name_target(t)
            self._expr(s.value, local)
        elif isinstance(s, ast.AugAssign):
            if not isinstance(s.target, ast.Name | ast.Subscript):
                raise _fail(s, "augmented assignment targets a name or a subscript")
            self._operator(s.op)
            self._target(s.target, local)
            self._expr(s.value, local)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None or not isinstance(s.target, ast.Name):
                raise _fail(s, "an annotated assignment gives a name a value")
            self._expr(s.value, local)
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                if not isinstance(t, ast.Subscript) or isinstance(t.slice, ast.Slice):
                    raise _fail(t, "del removes a key: del d[key] or del storage[key]")
                self._expr(t.value, local)
                self._expr(t.slice, local)
        elif isinstance(s, ast.Expr):
            self._expr(s.value, local)

    def _name_target(self, t: ast.expr) -> None:
        """A name, or a tuple or list of names (unpacking)."""
        if isinstance(t, ast.Name):
            return
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._name_target(e)
            return
        if isinstance(t, ast.Attribute):
            raise _fail(t, "attributes cannot be assigned")
        if isinstance(t, ast.Subscript):
            raise _fail(t, "a subscript is assigned on its own: x[k] = value")
        raise _fail(t, self._refusal(t) or "cannot assign to this")

    def _target(self, t: ast.expr, local: set[str]) -> None:
        if isinstance(t, ast.Name):
            return
        if isinstance(t, ast.Subscript):
            if isinstance(t.slice, ast.Slice):
                raise _fail(t, "slice assignment is not allowed")
            self._expr(t.value, local)
            self._expr(t.slice, local)
            return
        if isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._target(e, local)
            return
        if isinstance(t, ast.Attribute):
            raise _fail(t, "attributes cannot be assigned")
        raise _fail(t, self._refusal(t) or "cannot assign to this")

    def _operator(self, op: ast.AST) -> None:
        if not isinstance(op, _OPERATORS):
            raise _fail(op, self._refusal(op) or f"operator {type(op).__name__} is not allowed")

    def _expr(self, e: ast.expr, local: set[str]) -> None:
        if not isinstance(e, _EXPRESSIONS):
            raise _fail(e, self._refusal(e) or f"{type(e).__name__} expressions are not allowed")
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, str) and not is_text(v):
                raise _fail(e, "string literal with a lone surrogate (\\ud800-\\udfff)")
            if isinstance(v, bool) or v is None or isinstance(v, str | bytes):
                return
            if isinstance(v, int):
                if abs(v) > MAX_INT:
                    raise _fail(e, "integer literal over 256 bits")
                return
            raise _fail(e, f"{type(v).__name__} literals are not allowed" if not isinstance(v, float)
                        else "floats are not allowed")
        if isinstance(e, ast.Name):
            if e.id.startswith("_"):
                raise _fail(e, f"names starting with _ are not allowed: {e.id}")
            if e.id not in local and e.id not in self.module_names and e.id not in BUILTINS:
                raise _fail(e, f"name {e.id!r} is not defined")
            return
        if isinstance(e, ast.Attribute):
            if e.attr.startswith("_"):
                raise _fail(e, f"attributes starting with _ are not allowed: {e.attr}")
            if not (isinstance(e.value, ast.Name) and e.value.id == "ctx" and e.attr in CTX_FIELDS):
                raise _fail(e, f"attribute {e.attr!r} is not allowed: use ctx.<field> or call a listed method")
            return
        if isinstance(e, ast.Call):
            f = e.func
            if isinstance(f, ast.Attribute):
                if f.attr.startswith("_"):
                    raise _fail(f, f"attributes starting with _ are not allowed: {f.attr}")
                if f.attr not in METHODS:
                    raise _fail(f, f"method {f.attr!r} is not allowed")
                self._expr(f.value, local)
            elif isinstance(f, ast.Name):
                self._expr(f, local)
            else:
                raise _fail(e, "only functions and methods by name can be called")
            for a in e.args:
                self._expr(a, local)
            for k in e.keywords:
                if k.arg is None:
                    raise _fail(k, "**kwargs is not allowed")
                if k.arg.startswith("_"):
                    raise _fail(k, f"names starting with _ are not allowed: {k.arg}")
                self._expr(k.value, local)
            return
        if isinstance(e, ast.Compare):
            ops = e.ops
            for op in ops:
                self._operator(op)
            if len(ops) > 1 and any(isinstance(op, ast.In | ast.NotIn | ast.Is | ast.IsNot) for op in ops):
                raise _fail(e, "chained comparisons cannot use in or is")
            if isinstance(ops[0], ast.Is | ast.IsNot) and not (
                    isinstance(e.comparators[0], ast.Constant) and e.comparators[0].value is None):
                raise _fail(e, "is compares with None only: use == for values")
        elif isinstance(e, ast.BinOp | ast.UnaryOp | ast.BoolOp):
            self._operator(e.op)
        elif isinstance(e, ast.Dict) and any(k is None for k in e.keys):
            raise _fail(e, "dict unpacking ** is not allowed")
        elif isinstance(e, ast.ListComp | ast.DictComp):
            for g in e.generators:
                if g.is_async:
                    raise _fail(e, "async is not allowed")
                self._name_target(g.target)
        elif isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Slice) and not isinstance(e.ctx, ast.Load):
            raise _fail(e, "slice assignment is not allowed")
        for child in ast.iter_child_nodes(e):
            if isinstance(child, ast.expr):
                self._expr(child, local)
            elif isinstance(child, ast.comprehension):
                for c in [child.iter, *child.ifs]:
                    self._expr(c, local)
            elif not isinstance(child, _OPERATORS):
                raise _fail(child, self._refusal(child) or f"{type(child).__name__} is not allowed")
