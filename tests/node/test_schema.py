"""The key schema (node/storage/schema.py): prefixes declared once, distinct, and the on-disk bytes unchanged."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from node.storage import schema
from node.storage.kv import MemoryKV
from node.storage.store import Store
from node.types import codec
from node.types.errors import StoreCorrupted
from tests.node.helpers import key, make_chain
from tests.node.test_chain import T0, VALIDATOR, advance, commit_for, tx
from tests.node.test_evidence import equivocation

NODE = Path(__file__).resolve().parents[2] / "node"


def test_prefixes_are_distinct_single_bytes() -> None:
    for prefixes in (schema.DATABASE_PREFIXES, schema.STATE_PREFIXES):
        values = list(prefixes.values())
        assert all(len(p) == 1 for p in values)
        assert len(set(values)) == len(values)
    metas = schema.META_KEYS
    assert len(set(metas)) == len(metas)
    assert all(m.startswith(schema.META) and len(m) > 1 for m in metas)
    assert not [(a, b) for a in metas for b in metas if a != b and b.startswith(a)]


def _key_literals(path: Path, prefixes: set[int]) -> list[str]:
    found = []
    for n in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(n, ast.Constant) and isinstance(n.value, bytes) and n.value and n.value[0] in prefixes:
            found.append(f"{path.name}:{n.lineno} {n.value[:12]!r}")
    return found


def test_no_module_but_the_schema_spells_a_key() -> None:
    prefixes = {p[0] for p in (*schema.DATABASE_PREFIXES.values(), *schema.STATE_PREFIXES.values())}
    modules = [p for p in sorted(NODE.rglob("*.py")) if p.name != "schema.py"]
    assert len(modules) > 20
    bad = [hit for path in modules for hit in _key_literals(path, prefixes)]
    assert not bad, "keys built outside node/storage/schema.py:\n" + "\n".join(bad)
    # The check sees what it looks for.
    assert _key_literals(NODE / "storage" / "schema.py", prefixes)


def test_prefix_ranges() -> None:
    assert schema.prefix_end(b"E") == b"F"
    assert schema.prefix_end(b"X\x01\xff\xff") == b"X\x02"
    assert schema.prefix_end(b"\xff") is None
    assert schema.history_range(b"\x01" * 20, (3, 1)) == (b"X" + b"\x01" * 20,
                                                         b"X" + b"\x01" * 20 + (3).to_bytes(8, "big") + b"\0\0\0\1")


def test_the_bytes_on_disk_are_the_layout_existing_data_directories_hold(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path)
    ev = equivocation()
    executed = chain.build_block(VALIDATOR.address, [tx(sender=0, nonce=0, to=1)], None, T0 + 1000, [ev])
    chain.commit_block(executed, commit_for(executed))
    h0, h1 = (0).to_bytes(8, "big"), (1).to_bytes(8, "big")
    tx_hash = executed.txs[0].hash
    on_disk = dict(chain.store.kv.scan())
    expected = {
        b"Mheight": h1,
        b"Mgenesis": chain.genesis_hash,
        b"Mvalset": codec.encode([2, list(chain.next_validators.priorities)]),
        b"B" + h1: executed.raw,
        b"H" + executed.hash: h1,
        b"C" + h1: commit_for(executed).encode(),
        b"R" + h0: chain.store.state_root(0),
        b"R" + h1: executed.block.header.state_root,
        b"T" + tx_hash: codec.encode([1, 0, executed.receipts[0].to_list()]),
        b"t" + tx_hash: codec.encode([1, 1, 0, key(0).address, key(1).address]),  # height, status, transfer
        b"X" + key(0).address + h1 + b"\0\0\0\0": tx_hash,
        b"X" + key(1).address + h1 + b"\0\0\0\0": tx_hash,
        b"e" + ev.hash(): h1,
        b"E" + h1 + b"\0\0": ev.encode(),
    }
    for address in (key(i).address for i in range(4)):
        expected[b"S" + b"a" + address] = chain.store.get_state(b"a" + address)
    expected[b"S" + b"f"] = chain.store.get_state(b"f")  # the fee record (node/state/fees.py)
    assert {k: v for k, v in on_disk.items() if k[:1] not in b"NK"} == expected
    nodes = {k[1:]: v for k, v in on_disk.items() if k[:1] == b"N"}
    assert nodes and all(chain.store.get_node(h) == v for h, v in nodes.items())
    chain.store.close()


def test_address_history_pages_newest_first() -> None:
    kv = MemoryKV()
    store = Store(kv)
    a, b = b"\x01" * 20, b"\x02" * 20
    with kv.batch() as wb:
        for address, height, index in [(a, 1, 0), (a, 1, 2), (a, 3, 1), (b, 2, 0), (b"\x01" * 19 + b"\x02", 9, 0)]:
            wb.put(schema.history_key(address, height, index), bytes([height, index]))
    assert store.address_history(a, 10) == [(3, 1, b"\3\1"), (1, 2, b"\1\2"), (1, 0, b"\1\0")]
    assert store.address_history(a, 1, before=(3, 1)) == [(1, 2, b"\1\2")]
    assert store.address_history(a, 10, before=(1, 0)) == []


@pytest.mark.parametrize("raw", [b"\xc1", codec.encode([1]), codec.encode([-1, [1]]), codec.encode([2, [b"x"]])])
def test_unreadable_proposer_priorities_are_a_corrupt_store(raw: bytes) -> None:
    kv = MemoryKV()
    with kv.batch() as wb:
        wb.put(schema.META_VALSET, raw)
    with pytest.raises(StoreCorrupted, match="proposer priorities"):
        Store(kv).proposer_priorities()


def test_proposer_priorities_round_trip(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path)
    assert chain.store.proposer_priorities() is None  # genesis writes none: height 1 derives from genesis
    advance(chain, [], T0 + 1000)
    stored = chain.store.proposer_priorities()
    assert stored is not None and (stored.height, stored.priorities) == (2, chain.next_validators.priorities)
    chain.store.close()
