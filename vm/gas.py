"""The gas table: what each step of a contract costs (docs/contracts.md lists it).

Prices follow wall time on a 2-core machine within a factor of a few, and memory by
the byte, so that a gas limit bounds both how long a call runs and how much it holds.
"""

STEP = 4  # each syntax node evaluated (charged per straight-line block, before it runs)
HELPER = 16  # more for a node that runs as a Python call: an operator, comparison, subscript, call or del
BLOCK = 12  # each straight-line block run: the charge itself is a call
CALL = 40  # entering a function of the contract
BYTE = 1  # each byte of a str or bytes built (concatenation, repetition, slicing, join, str())
ITEM = 16  # each list or dict item built, copied or walked: the work
# Memory, at about 1 gas per byte a value holds (CPython 3.11 sizes, measured): what an
# allocation adds is charged where it is made, so the gas of a call bounds what it can hold.
SLOT = 56  # each list item built or copied: its 8-byte slot and a small object it may hold (a 256-bit int: 60 bytes)
ENTRY = 112  # each dict key added: its entry, its share of the table, and a small key and value
CONTAINER = 96  # each list or dict made (a display, a comprehension, a copy): the object itself
WIDE = 4  # bytes per character charged for a str that is not all ASCII (CPython keeps up to 4)
KEY_COPY = 4  # each key of a dict a for loop walks (a copy of its keys, 8 bytes each, can be held)
DICT_DELETE = 16  # a dict delete, and its share of rebuilding a dict that deletes left sparse
POW = 200  # each **: its range checks cost about 1 us whatever the operands
INT_WORD = 2  # each 64-bit word of a ** result (256-bit * and << are cheap enough for the step price)

STORAGE_READ = 200
STORAGE_READ_BYTE = 3  # per byte of key and value
STORAGE_WRITE = 5_000
STORAGE_WRITE_BYTE = 20  # per byte of key and value
STORAGE_DELETE = 500
# settled(): a read of a small record (about 90 bytes) by its 32-byte key, and the dict of
# five entries it returns: a storage read of that size and the entries' memory.
SETTLED_READ = 1_200
EMIT = 375
EMIT_BYTE = 8
CONTRACT_CALL = 700
LOAD_BYTES = 1  # a transaction's first use of a contract: 1 gas per this many bytes of its source
LOAD_NODE = 7  # and at least this per syntax node: loading compiled code costs by its nodes on a cold cache
LOADED_MODULES = 64  # loaded contracts a VM keeps in memory between transactions (gas does not depend on it)
MAX_CONTRACTS_PER_TX = 64  # distinct contracts one transaction may use: what it holds in memory is bounded
NATIVE_TRANSFER = 2_300
HASH = 60
HASH_BYTE = 1
CODE_BYTE = 200  # per byte of source stored at deploy (and its parse)
COMPILE_NODE = 2_600  # per syntax node of a deployed source: checking, rewriting and compiling it
DEPLOY = 32_000
CHECKSUM = 1_000  # an address's EIP-55 text (a Keccak hash and a loop over 40 characters)
SCAN = 10  # each item a builtin walks in Python (min, max, sum, all, any, sorted)
LONG_KEY = 32  # comparing or hashing a str or bytes: 1 gas per this many bytes
MODULE_BUDGET = 100_000  # what top-level constants may cost; charged again on every use of the contract

MAX_CALL_DEPTH = 64  # contract calls and function calls together
MAX_BYTES = 1 << 20  # the largest str or bytes a contract can build
MAX_LIST = 100_000  # the longest list or dict a contract can build at once

# What a receipt may hold, so that every committed receipt decodes within the node's 4 MiB
# record limit (node/types/codec.py DEFAULT_MAX_BYTES) with room to spare: events at most
# 1 MiB, the output at most 1 MiB, the error at most MAX_ERROR_CHARS characters.
MAX_EVENT_BYTES = 128 << 10  # one event's data, encoded
MAX_TX_EVENT_BYTES = 1 << 20  # a transaction's events: data, name and EVENT_OVERHEAD each
EVENT_OVERHEAD = 64  # what one event adds to a receipt besides its data and name (address, framing)
MAX_OUTPUT_BYTES = 1 << 20  # a call's result, encoded
MAX_ERROR_CHARS = 1024  # a failure's reason (revert reasons stop at 256)
