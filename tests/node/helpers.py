"""Shared builders for node tests: keys, genesis, chains over a real LevelDB."""

from __future__ import annotations

from pathlib import Path

from node.chain import Chain
from node.mempool.pool import Mempool, MempoolConfig
from node.mempool.verifier import TxVerifier
from node.storage.kv import LevelDBKV
from node.storage.store import Store
from node.types.crypto import PrivateKey
from node.types.envelopes import TxDecoder
from node.types.genesis import Genesis, GenesisAccount, GenesisValidator, Params

CHAIN_ID = "finchain-test"
COIN = 10**18


def key(n: int) -> PrivateKey:
    return PrivateKey((n + 1).to_bytes(32, "big"))


def make_genesis(funded: int = 4, balance: int = 1000 * COIN, validators: int = 1, min_base_fee: int = 1) -> Genesis:
    """A floor of 1 base unit keeps the fee arithmetic of these tests small; fee tests raise it."""
    vals = tuple(
        GenesisValidator(key(100 + i).address, key(100 + i).public_key, 10, f"v{i}") for i in range(validators)
    )
    return Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_700_000_000_000,
        params=Params(min_base_fee=min_base_fee),
        validators=vals,
        accounts=tuple(GenesisAccount(key(i).address, balance) for i in range(funded)),
    )


def make_chain(
    tmp: Path,
    genesis: Genesis | None = None,
    mempool_config: MempoolConfig | None = None,
    clock: list[float] | None = None,
) -> tuple[Chain, Mempool]:
    genesis = genesis or make_genesis()
    store = Store(LevelDBKV(tmp / "db"))
    now = clock if clock is not None else [0.0]
    # As the daemon builds it: one decoder for both envelopes of this genesis.
    verifier = TxVerifier(genesis.params.max_tx_bytes, decoder=TxDecoder.for_genesis(genesis))
    chain = Chain(store, genesis, verifier.decode)
    mempool = Mempool(
        mempool_config or MempoolConfig(),
        chain.next_view(),
        chain,
        verifier,
        lambda: now[0],
    )
    return chain, mempool
