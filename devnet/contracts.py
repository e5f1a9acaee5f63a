"""The standard contracts a devnet starts with, deployed in its genesis by the first account."""

from __future__ import annotations

from node.types.crypto import to_checksum_address
from node.types.genesis import GenesisCall, GenesisContract, genesis_call, genesis_contract
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
# The vault's shares carry 6 more decimals than FUSD: 10**6 virtual shares guard the empty vault
# (docs/finance.md, "Investment vault").
VAULT_DECIMALS_OFFSET = 6


def stablecoin_args(name: str, symbol: str, registry: str, minter: str, treasury: str) -> list[object]:
    return [name, symbol, 18, registry, STABLECOIN_TOPICS, False, minter, str(MINT_ALLOWANCE), treasury,
            str(STABLECOIN_FLOAT)]


def standard_contracts(deployer: bytes, kyc_issuers: tuple[bytes, ...] = (), custodian: bytes | None = None
                       ) -> tuple[tuple[GenesisContract, ...], dict[str, str]]:
    """Two plain tokens, an oracle reported by the deployer, the swap, the lending market, the
    identity registry, two regulated stablecoins (FUSD, FEUR), a tokenized bond (FGB30), the
    feedback contract (ratings of services, bound to settled calls), the payments router
    (vm/contracts/payments.py; `standard_calls` seeds its FX pools) and a vault over FUSD in the
    lending market (fvUSD shares; it takes deposits once the admin lists FUSD there).

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
    contracts, addresses = append_contract(deployer, contracts, dict(zip(names, addr, strict=True)), "feedback",
                                           "feedback", [])
    contracts, addresses = append_contract(deployer, contracts, addresses, "payments", "payments",
                                           [addresses["swap"]])
    return append_contract(deployer, contracts, addresses, "vault", "vault",
                           [addresses["fusd"], addresses["lending"], "Finchain USD Vault", "fvUSD",
                            VAULT_DECIMALS_OFFSET])


def append_contract(deployer: bytes, contracts: tuple[GenesisContract, ...], addresses: dict[str, str], name: str,
                    kind: str, args: list[object]) -> tuple[tuple[GenesisContract, ...], dict[str, str]]:
    """One more genesis contract after `contracts`, by the same deployer at its next nonce: the
    addresses of those before it stay as they are."""
    address = to_checksum_address(contract_address(deployer, len(contracts)))
    return ((*contracts, genesis_contract(name, deployer, load_contract(kind), args)),
            {**addresses, name: address})


# ---- genesis calls: FX pools at the oracle's price, the payments router, travel-rule corridors ----

# Oracle prices (one smallest unit in the quote unit, USD, scaled by 10**18): EUR at 1.08 USD.
FX_PRICES = {"fusd": COIN, "feur": 108 * COIN // 100, "tusd": COIN}
# Pools seeded by the deployer, at the oracle's price: (token a, token b, amount a).
FX_POOLS = [("fusd", "feur", 108_000 * COIN), ("fusd", "tusd", 100_000 * COIN)]
TRAVEL_THRESHOLD = 1_000 * COIN  # at or above this many units of the sent coin, travel data is required
TRAVEL_CORRIDORS = [("fusd", "feur"), ("feur", "fusd")]
FAR_DEADLINE_S = 2**40


def standard_calls(deployer: bytes, contracts: tuple[GenesisContract, ...], addresses: dict[str, str]
                   ) -> tuple[GenesisCall, ...]:
    """Run after the contracts, by the deployer: the swap trusts the payments router, the oracle
    reports FX_PRICES, FX_POOLS get their liquidity (amount b = amount a at the oracle's price) and
    the TRAVEL_CORRIDORS of the payments contract are gated at TRAVEL_THRESHOLD."""
    a = addresses
    me = to_checksum_address(deployer)
    steps: list[tuple[str, str, list[object]]] = [("swap", "set_router", [a["payments"], True])]
    steps += [("oracle", "report", [a[name], str(price)]) for name, price in FX_PRICES.items()]
    for token_a, token_b, amount_a in FX_POOLS:
        amount_b = amount_a * FX_PRICES[token_a] // FX_PRICES[token_b]
        steps += [(token_a, "approve", [a["swap"], str(amount_a)]), (token_b, "approve", [a["swap"], str(amount_b)]),
                  ("swap", "add_liquidity", [a[token_a], a[token_b], str(amount_a), str(amount_b), "0", "0", me,
                                             FAR_DEADLINE_S])]
    steps += [("payments", "set_corridor", [a[s], a[d], str(TRAVEL_THRESHOLD), True]) for s, d in TRAVEL_CORRIDORS]
    return tuple(genesis_call(deployer, bytes.fromhex(a[name][2:]), method, args, contracts)
                 for name, method, args in steps)
