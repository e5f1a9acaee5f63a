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
STABLECOIN_TOPICS = ["kyc.basic"]  # minting needs a verified holder; transfers are open
MINT_ALLOWANCE = 10**12 * COIN
STABLECOIN_FLOAT = 10**6 * COIN
BOND_TOPICS = ["kyc.basic"]
BOND_COUNTRIES = ["CH", "DE", "FR", "GB", "NL", "SG"]  # an offering closed to the others, as a prospectus says
BOND_MAX_HOLDERS = 500


def stablecoin_args(name: str, symbol: str, registry: str, minter: str, treasury: str) -> list[object]:
    return [name, symbol, 18, registry, STABLECOIN_TOPICS, False, minter, str(MINT_ALLOWANCE), treasury,
            str(STABLECOIN_FLOAT)]


def standard_contracts(deployer: bytes, kyc_issuers: tuple[bytes, ...] = (), custodian: bytes | None = None
                       ) -> tuple[tuple[GenesisContract, ...], dict[str, str]]:
    """Two plain tokens, an oracle reported by the deployer, the swap, the lending market, the
    identity registry, two regulated stablecoins (FUSD, FEUR), a tokenized bond (FGB30) and the
    feedback contract (ratings of services, bound to settled calls).

    Returns the genesis entries and their addresses by name. The deployer holds every plain
    token and a float of each stablecoin, is the oracle's reporter, the lending admin, the
    registry's admin, the stablecoins' owner and the bond's issuer and agent: listing markets and reporting prices are
    transactions it sends (devnet/README.md shows them). `kyc_issuers` start registered in the
    identity registry for every devnet claim topic; `custodian` starts as the stablecoins' minter.
    """
    addr = [to_checksum_address(contract_address(deployer, i)) for i in range(9)]
    names = ["tusd", "wgld", "oracle", "swap", "lending", "identity", "fusd", "feur", "bond"]
    me = to_checksum_address(deployer)
    minter = to_checksum_address(custodian if custodian is not None else deployer)
    specs = [
        ("token", ["Test USD", "TUSD", 18, str(TOKEN_SUPPLY)]),
        ("token", ["Wrapped Gold", "WGLD", 18, str(TOKEN_SUPPLY)]),
        ("oracle", [[me], ORACLE_MAX_AGE_S]),
        ("swap", []),
        ("lending", [addr[2], str(CLOSE_FACTOR), str(LIQUIDATION_INCENTIVE)]),
        ("identity", [[to_checksum_address(a) for a in kyc_issuers], KYC_TOPICS]),
        ("stablecoin", stablecoin_args("Finchain USD", "FUSD", addr[5], minter, me)),
        ("stablecoin", stablecoin_args("Finchain EUR", "FEUR", addr[5], minter, me)),
        ("asset_token", ["Finchain Green Bond 2030", "FGB30", 0, addr[5], BOND_TOPICS, BOND_COUNTRIES,
                         BOND_MAX_HOLDERS, 0, [me]]),
    ]
    contracts = tuple(genesis_contract(name, deployer, load_contract(kind), args)
                      for name, (kind, args) in zip(names, specs, strict=True))
    return append_contract(deployer, contracts, dict(zip(names, addr, strict=True)), "feedback", "feedback", [])


def append_contract(deployer: bytes, contracts: tuple[GenesisContract, ...], addresses: dict[str, str], name: str,
                    kind: str, args: list[object]) -> tuple[tuple[GenesisContract, ...], dict[str, str]]:
    """One more genesis contract after `contracts`, by the same deployer at its next nonce: the
    addresses of those before it stay as they are."""
    address = to_checksum_address(contract_address(deployer, len(contracts)))
    return ((*contracts, genesis_contract(name, deployer, load_contract(kind), args)),
            {**addresses, name: address})
