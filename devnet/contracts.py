"""The standard contracts a devnet starts with, deployed in its genesis by the first account."""

from __future__ import annotations

from node.types.crypto import to_checksum_address
from node.types.genesis import GenesisContract, genesis_contract
from vm import contract_address
from vm.contracts import source as load_contract

COIN = 10**18
TOKEN_SUPPLY = 1_000_000_000 * COIN
ORACLE_MAX_AGE_S = 3600
CLOSE_FACTOR = 5 * 10**17  # 50%
LIQUIDATION_INCENTIVE = 108 * 10**16  # 8% bonus


KYC_TOPICS = ["kyc.basic", "kyc.full", "accredited", "country"]


def standard_contracts(deployer: bytes, kyc_issuers: tuple[bytes, ...] = ()
                       ) -> tuple[tuple[GenesisContract, ...], dict[str, str]]:
    """Two tokens, an oracle reported by the deployer, the swap, the lending market and the identity registry.

    Returns the genesis entries and their addresses by name. The deployer holds every token,
    is the oracle's reporter, the lending admin and the registry's admin: listing markets and
    reporting prices are transactions it sends (devnet/README.md shows them). `kyc_issuers`
    start registered in the identity registry for every devnet claim topic.
    """
    addr = [to_checksum_address(contract_address(deployer, i)) for i in range(6)]
    names = ["fusd", "wgld", "oracle", "swap", "lending", "identity"]
    me = to_checksum_address(deployer)
    specs = [
        ("token", ["Finchain USD", "FUSD", 18, str(TOKEN_SUPPLY)]),
        ("token", ["Wrapped Gold", "WGLD", 18, str(TOKEN_SUPPLY)]),
        ("oracle", [[me], ORACLE_MAX_AGE_S]),
        ("swap", []),
        ("lending", [addr[2], str(CLOSE_FACTOR), str(LIQUIDATION_INCENTIVE)]),
        ("identity", [[to_checksum_address(a) for a in kyc_issuers], KYC_TOPICS]),
    ]
    contracts = tuple(genesis_contract(name, deployer, load_contract(kind), args)
                      for name, (kind, args) in zip(names, specs, strict=True))
    return contracts, dict(zip(names, addr, strict=True))
