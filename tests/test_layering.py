"""The layering rules of DESIGN.md, checked by walking every import of our packages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"consensus", "vm", "p2p", "node", "finance", "devnet"}
FORBIDDEN = {
    "consensus": OURS - {"consensus"},
    "vm": OURS - {"vm"},
    "p2p": {"node", "consensus", "vm", "finance", "devnet"},
    "node": {"finance", "devnet"},
    "finance": {"devnet", "consensus", "p2p"},
    "devnet": set(),
}
# finance reaches the chain only as a client: node's SDK, its types and the CLI's shared helpers.
FINANCE_MAY_USE = ("node.client", "node.types", "node.cli.common")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_layering(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_packages(path) & FORBIDDEN[package]:
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_finance_uses_only_the_client_side_of_node():
    bad = []
    for path in sorted((ROOT / "finance").rglob("*.py")):
        for module in _our_imports(path):
            if module.split(".")[0] == "node" and not module.startswith(FINANCE_MAY_USE):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not bad, "finance may use only " + ", ".join(FINANCE_MAY_USE) + ":\n" + "\n".join(bad)


def test_consensus_has_no_io_or_clock():
    banned = {"asyncio", "socket", "time", "random", "os", "threading", "msgpack"}
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in sorted((ROOT / "consensus").rglob("*.py"))
        for name in imported_packages(p) & banned
    ]
    assert not bad, bad



def test_only_the_chain_reaches_its_store():
    """The RPC and block sync read through Chain.reader (node/reader.py), which cannot write."""
    readers = {"api.py", "methods.py", "contracts.py", "consensus.py", "blocksync.py"}
    bad = []
    for path in sorted([*(ROOT / "node").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "store" and path.name != "chain.py"
                    and ast.unparse(node.value).split(".")[-1] in {"chain", "_chain"}):
                bad.append(f"{where}:{node.lineno} {ast.unparse(node)}")
            if (path.name in readers and path.parent.name in ("rpc", "net") and isinstance(node, ast.ImportFrom)
                    and node.module in {"node.chain", "node.storage.store"}):
                bad.append(f"{where} imports {node.module}")
    assert not bad, "\n".join(bad)


# The rooms of node/ in the order the arrows run (DESIGN.md): a module may import its own
# room and the rooms of lower layers, never a higher one.
NODE_LAYERS = {
    "node.types": 0,
    "node.storage": 1,
    "node.client": 1,
    "node.state": 2,
    "node.chain": 3,
    "node.reader": 3,
    "node.config": 3,
    "node.logs": 3,
    "node.metrics": 3,
    "node.mempool": 4,
    "node.host": 5,
    "node.net": 6,
    "node.rpc": 7,
    "node.daemon": 8,
    "node.cli": 9,
    "node.__main__": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _our_imports(path: Path) -> set[str]:
    """The modules of ours `path` imports, TYPE_CHECKING and function-level imports included;
    `from pkg import mod` names the submodule when there is one."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in OURS)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in OURS:
                continue
            subs = [f"{node.module}.{a.name}" for a in node.names
                    if (ROOT / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                    or (ROOT / f"{node.module}.{a.name}".replace(".", "/") / "__init__.py").exists()]
            found.update(subs or [node.module])
    return found


def _graph() -> dict[str, set[str]]:
    paths = [p for pkg in sorted(OURS) for p in sorted((ROOT / pkg).rglob("*.py"))]
    return {_module_name(p): _our_imports(p) for p in paths}


def _layer(module: str) -> int | None:
    for prefix, layer in NODE_LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def test_node_rooms_respect_their_layers():
    bad = []
    for module, imports in _graph().items():
        mine = _layer(module)
        if mine is None:
            continue
        for imported in imports:
            theirs = _layer(imported)
            if theirs is not None and theirs > mine:
                bad.append(f"{module} (layer {mine}) imports {imported} (layer {theirs})")
    modules = [m for m in _graph() if m.startswith("node.") and m not in ("node.__init__",)]
    unplaced = [m for m in modules if _layer(m) is None and m != "node"]
    assert not unplaced, f"modules of node/ in no room: {unplaced}"
    assert not bad, "layering violations inside node/:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        stack.append(module)
        for nxt in sorted(graph.get(module, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
