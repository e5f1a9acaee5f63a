"""Every key the node stores, declared once with the functions that build and read it.

The bytes are the on-disk format: changing one orphans every existing data directory.
Heights are 8 bytes big-endian, so keys of one prefix sort by height.

Database keys (node/storage/store.py writes them; one prefix byte each):
  M<name>                      meta: Mheight (latest height), Mgenesis (genesis hash),
                               Mvalset ([height, proposer priorities] of the next height)
  B<height:8>                  block bytes            H<block hash>    -> height
  C<height:8>                  the commit we saw for that height (block h+1 carries the canonical one)
  R<height:8>                  state root after that height
  T<tx hash>                   [height, index, receipt]
  t<tx hash>                   [height, status, kind, sender, to]: what contracts read with settled()
                               (kind 0 transfer, 1 deploy, 2 call; to: the recipient, the contract called
                               or the one a deploy made). Stores from before it have none: their
                               transactions are read from the block instead.
  X<address><height:8><idx:4>  tx hash: history of an address (sender or recipient), newest last
  S<state key>                 latest state value (fast reads; the trie holds every height)
  N<node hash>                 Merkle trie node
  e<evidence hash>             height it was committed at   E<height:8><idx:2>  the evidence bytes
  K<fingerprint><code hash>    compiled contract code (a cache, not state: safe to delete)

State keys (the keys of the state tree, and of its latest copy under S; docs/protocol.md §8.1):
  a<address>                   account: [balance, nonce]
  c<contract>                  contract source
  s<contract><slot key>        contract storage slot (the slot key in the VM value encoding)
  f                            fee record of the last block: [base_fee, gas_used, burned since genesis]
                               (node/state/fees.py; in the state so the state root commits to it)
"""

from __future__ import annotations

from node.types.errors import StoreCorrupted

# -- database prefixes ---------------------------------------------------------------------

META = b"M"
BLOCK = b"B"
BLOCK_HEIGHT = b"H"
COMMIT = b"C"
STATE_ROOT = b"R"
TX = b"T"
TX_SUMMARY = b"t"
HISTORY = b"X"
STATE = b"S"
TRIE_NODE = b"N"
EVIDENCE_HEIGHT = b"e"
EVIDENCE = b"E"
COMPILED_CODE = b"K"

DATABASE_PREFIXES: dict[str, bytes] = {
    "meta": META, "block": BLOCK, "block_height": BLOCK_HEIGHT, "commit": COMMIT, "state_root": STATE_ROOT,
    "tx": TX, "tx_summary": TX_SUMMARY, "history": HISTORY, "state": STATE, "trie_node": TRIE_NODE,
    "evidence_height": EVIDENCE_HEIGHT, "evidence": EVIDENCE, "compiled_code": COMPILED_CODE,
}

META_HEIGHT = META + b"height"
META_GENESIS = META + b"genesis"
META_VALSET = META + b"valset"
META_KEYS = (META_HEIGHT, META_GENESIS, META_VALSET)

# -- state prefixes ------------------------------------------------------------------------

ACCOUNT = b"a"
CODE = b"c"
SLOT = b"s"
FEE = b"f"
FEE_KEY = FEE  # one record, the key is the prefix alone

STATE_PREFIXES: dict[str, bytes] = {"account": ACCOUNT, "code": CODE, "slot": SLOT, "fee": FEE}

HISTORY_SUFFIX = 12  # height:8, index:4


class MalformedKey(StoreCorrupted):
    """A stored key does not have the shape its prefix declares."""


def encode_height(height: int) -> bytes:
    return height.to_bytes(8, "big")


def decode_height(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def prefix_end(prefix: bytes) -> bytes | None:
    """The first key after every key that starts with `prefix` (None: no such key)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else None


def prefix_range(prefix: bytes) -> tuple[bytes, bytes | None]:
    """(start, stop) of a scan over every key that starts with `prefix`."""
    return prefix, prefix_end(prefix)


# -- database keys -------------------------------------------------------------------------


def block_key(height: int) -> bytes:
    return BLOCK + encode_height(height)


def block_height_key(block_hash: bytes) -> bytes:
    return BLOCK_HEIGHT + block_hash


def commit_key(height: int) -> bytes:
    return COMMIT + encode_height(height)


def state_root_key(height: int) -> bytes:
    return STATE_ROOT + encode_height(height)


def tx_key(tx_hash: bytes) -> bytes:
    return TX + tx_hash


def tx_summary_key(tx_hash: bytes) -> bytes:
    return TX_SUMMARY + tx_hash


def history_key(address: bytes, height: int, index: int) -> bytes:
    return HISTORY + address + encode_height(height) + index.to_bytes(4, "big")


def history_range(address: bytes, before: tuple[int, int] | None = None) -> tuple[bytes, bytes | None]:
    """(start, stop) of the history of `address`, all of it or the part strictly before (height, index)."""
    start, stop = prefix_range(HISTORY + address)
    if before is not None:
        stop = history_key(address, *before)
    return start, stop


def parse_history_key(key: bytes) -> tuple[int, int]:
    """(height, index) of a history key."""
    if len(key) < 1 + HISTORY_SUFFIX or key[:1] != HISTORY:
        raise MalformedKey(f"not a history key: {key.hex()}")
    return decode_height(key[-12:-4]), int.from_bytes(key[-4:], "big")


def state_key(key: bytes) -> bytes:
    return STATE + key


def trie_node_key(node_hash: bytes) -> bytes:
    return TRIE_NODE + node_hash


def evidence_height_key(ev_hash: bytes) -> bytes:
    return EVIDENCE_HEIGHT + ev_hash


def evidence_key(height: int, index: int) -> bytes:
    return EVIDENCE + encode_height(height) + index.to_bytes(2, "big")


def evidence_range(from_height: int) -> tuple[bytes, bytes | None]:
    """(start, stop) of the evidence committed at or above `from_height`."""
    return EVIDENCE + encode_height(from_height), prefix_end(EVIDENCE)


def parse_evidence_key(key: bytes) -> int:
    """The height of an evidence key."""
    if len(key) != 11 or key[:1] != EVIDENCE:
        raise MalformedKey(f"not an evidence key: {key.hex()}")
    return decode_height(key[1:9])


def compiled_code_key(key: bytes) -> bytes:
    return COMPILED_CODE + key


# -- state keys ----------------------------------------------------------------------------


def account_key(address: bytes) -> bytes:
    return ACCOUNT + address


def code_key(address: bytes) -> bytes:
    return CODE + address


def slot_key(contract: bytes, key: bytes) -> bytes:
    """A storage slot's state key: the contract, then the slot key in the VM value encoding."""
    return SLOT + contract + key
