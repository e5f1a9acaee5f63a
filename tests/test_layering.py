"""The layering rules of DESIGN.md, checked by walking every import of our packages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"consensus", "vm", "p2p", "node", "devnet"}
FORBIDDEN = {
    "consensus": OURS - {"consensus"},
    "vm": OURS - {"vm"},
    "p2p": {"node", "consensus", "vm", "devnet"},
    "node": {"devnet"},
    "devnet": set(),
}


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
    readers = {"rpc_methods.py", "rpc_contracts.py", "rpc_consensus.py", "blocksync.py"}
    bad = []
    for path in sorted([*(ROOT / "node").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "store" and path.name != "chain.py"
                    and ast.unparse(node.value).split(".")[-1] in {"chain", "_chain"}):
                bad.append(f"{where}:{node.lineno} {ast.unparse(node)}")
            if (path.name in readers and isinstance(node, ast.ImportFrom)
                    and node.module in {"node.chain", "node.store"}):
                bad.append(f"{where} imports {node.module}")
    assert not bad, "\n".join(bad)
