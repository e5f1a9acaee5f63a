"""A one-validator node in a temporary home, run as a real process."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from devnet.process import NodeProcess, free_port
from node.config import init_home, save_key
from node.types.genesis import GenesisAccount, Params, TimeoutsMs
from tests.node.helpers import CHAIN_ID, COIN, key

FUNDED = 10
BALANCE = 1000 * COIN


def make_node_home(tmp: Path, commit_ms: int = 200, funded: int = FUNDED,
                   max_block_gas: int | None = None) -> NodeProcess:
    home = tmp / "home"
    rpc_port = free_port()
    params = Params(timeouts=TimeoutsMs(commit=commit_ms))
    if max_block_gas is not None:
        params = dataclasses.replace(params, max_block_gas=max_block_gas)
    accounts = tuple(GenesisAccount(key(i).address, BALANCE) for i in range(funded))
    init_home(
        home,
        chain_id=CHAIN_ID,
        rpc_port=rpc_port,
        p2p_port=free_port(),
        accounts=accounts,
        params=params,
        validator_key=key(100),
    )
    for i in range(funded):
        save_key(tmp / f"key{i}.json", key(i))
    return NodeProcess(home, rpc_port)
