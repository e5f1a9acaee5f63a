"""The vault test world: the lending world's token A in the market, a vault over it, depositors and a
borrower whose interest makes the vault earn."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.vm.lending_world import EXP, MAX_UINT, World, make_world
from vm.testing import load_contract

OFFSET = 6
VIRTUAL = 10**OFFSET


@dataclass
class VaultWorld:
    w: World
    vault: bytes
    users: list
    borrower: bytes
    gas: dict = field(default_factory=dict)

    @property
    def chain(self):
        return self.w.chain

    @property
    def asset(self) -> bytes:
        return self.w.tokens["A"]

    def q(self, method, args=None):
        return self.chain.query(self.vault, method, args or [])

    def call(self, user, method, args):
        return self.chain.call(user, self.vault, method, args)

    def do(self, user, method, args):
        res = self.call(user, method, args)
        assert res.ok, f"{method}: {res.error}"
        self.gas.setdefault(method, res.gas_used)
        return res.output

    def fails(self, user, method, args, reason):
        res = self.call(user, method, args)
        assert not res.ok, f"{method} succeeded"
        assert res.error == reason, res.error
        return res

    def assets_of(self, who) -> int:
        return self.chain.query(self.asset, "balance_of", [who])

    def shares_of(self, who) -> int:
        return self.q("balance_of", [who])

    def price(self) -> tuple[int, int]:
        """(total assets + 1, supply + virtual shares): the share price as a fraction."""
        return self.q("total_assets") + 1, self.q("total_supply") + VIRTUAL

    def borrow(self, amount: int) -> None:
        self.w.do(self.borrower, "borrow", [self.asset, amount])

    def market(self) -> dict:
        return self.w.q("market_now", [self.asset])


def deploy_vault(w: World, token: bytes, offset: int = OFFSET):
    return w.chain.deploy(w.admin, load_contract("vault"), [token, w.lending, "Vault A", "vA", offset])


def make_vault_world(n_users: int = 3, offset: int = OFFSET, collateral: int = 10**24) -> VaultWorld:
    """`n_users` depositors who approved the vault, and a borrower with `collateral` of B supplied."""
    w = make_world(n_users=n_users + 1)
    res = deploy_vault(w, w.tokens["A"], offset)
    assert res.ok, res.error
    vw = VaultWorld(w, res.address, w.users[:n_users], w.users[n_users])
    for u in vw.users:
        w.chain.must(u, vw.asset, "approve", [vw.vault, MAX_UINT])
    w.do(vw.borrower, "supply", [w.tokens["B"], collateral])
    return vw


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


__all__ = ["EXP", "MAX_UINT", "OFFSET", "VIRTUAL", "VaultWorld", "ceil_div", "deploy_vault", "make_vault_world"]
