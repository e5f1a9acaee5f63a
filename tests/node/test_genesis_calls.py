"""Genesis calls: run after the genesis contracts, as their sender would, part of the genesis hash;
the devnet's FX pools, oracle prices, router trust and travel corridors come from them."""

from __future__ import annotations

import dataclasses

import pytest

from devnet.contracts import FX_PRICES, TRAVEL_THRESHOLD, standard_calls, standard_contracts
from node.state.accounts import StateOverlay
from node.state.contracts import StateHost, deploy_genesis_contracts, nothing_settled
from node.types.genesis import GenesisError, genesis_call, genesis_from_json
from tests.node.helpers import key, make_chain, make_genesis
from vm import VM, Address, BlockInfo


def _devnet_genesis():
    deployer = key(0).address
    contracts, addresses = standard_contracts(deployer, (key(1).address,), key(2).address)
    calls = standard_calls(deployer, contracts, addresses)
    return dataclasses.replace(make_genesis(), contracts=contracts, calls=calls, eth_chain_id=7), addresses


def test_genesis_calls_seed_the_fx_pools_and_survive_the_json_round_trip(tmp_path):
    genesis, a = _devnet_genesis()
    again = genesis_from_json(genesis.to_json())
    assert again == genesis and again.hash() == genesis.hash()
    without = dataclasses.replace(genesis, calls=genesis.calls[:-1])
    assert without.hash() != genesis.hash()
    chain, _ = make_chain(tmp_path, genesis)
    vm = VM(StateHost(chain.store.get_state, chain.get_account, nothing_settled),
            BlockInfo(0, genesis.genesis_time_ms // 1000))

    def view(name, method, args):
        res = vm.query(bytes.fromhex(a[name][2:]), method, args, 10_000_000)
        assert res.ok, res.error
        return res.output

    def addr(name):
        return Address(bytes.fromhex(a[name][2:]))

    fusd_r, feur_r = view("swap", "get_reserves", [addr("fusd"), addr("feur")])
    # the pool's mid price is the oracle's: FEUR per FUSD = price(FUSD) / price(FEUR)
    assert fusd_r * FX_PRICES["fusd"] == feur_r * FX_PRICES["feur"]
    assert view("swap", "get_reserves", [addr("fusd"), addr("tusd")])[0] > 0
    assert view("oracle", "price", [addr("feur")]) == FX_PRICES["feur"]
    assert view("swap", "is_router", [addr("payments")]) is True
    assert view("payments", "corridor", [addr("fusd"), addr("feur")]) == {"threshold": TRAVEL_THRESHOLD,
                                                                          "travel_required": True}
    # a genesis call is not a transaction: the deployer's nonce counts only its deploys
    assert chain.get_account(key(0).address).nonce == len(genesis.contracts)
    chain.store.close()


def test_bad_genesis_calls_are_refused():
    genesis, a = _devnet_genesis()
    swap = bytes.fromhex(a["swap"][2:])
    with pytest.raises(GenesisError, match="not a genesis contract"):
        genesis_call(key(0).address, key(5).address, "pause", [], genesis.contracts)
    with pytest.raises(GenesisError, match="no public method"):
        genesis_call(key(0).address, swap, "get_reserves", [a["fusd"], a["feur"]], genesis.contracts)
    with pytest.raises(GenesisError):
        genesis_call(key(0).address, swap, "set_router", ["not an address", True], genesis.contracts)
    # a call that reverts stops the chain from starting
    bad = dataclasses.replace(genesis, calls=(genesis_call(key(3).address, swap, "set_router", [a["payments"], True],
                                                           genesis.contracts),))
    with pytest.raises(GenesisError, match="not_admin"):
        deploy_genesis_contracts(StateOverlay({}.get), bad.contracts, bad.genesis_time_ms, bad.calls)
