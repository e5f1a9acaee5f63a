"""Reads of the identity registry contract (vm/contracts/identity.py) through a node's RPC.

The views answer in the contract's JSON form: ints as decimal strings, bytes as 0x hex.
"""

from __future__ import annotations

from typing import Any

from node.client.sdk import AsyncClient, Client


class RegistryError(Exception):
    """A registry view failed on the node (wrong address, not the registry contract)."""


def _output(answer: dict[str, Any], method: str) -> Any:
    if answer.get("status") != "success":
        raise RegistryError(f"identity registry {method} failed: {answer.get('error') or 'unknown error'}")
    return answer["output"]


def _claim(out: Any) -> dict[str, Any]:
    return dict(out) if isinstance(out, dict) else {}


class Registry:
    def __init__(self, client: Client, address: str) -> None:
        self.client = client
        self.address = address

    def view(self, method: str, *args: Any) -> Any:
        return _output(self.client.contract_call(self.address, method, list(args)), method)

    def get_claim(self, subject: str, topic: str) -> dict[str, Any]:
        return _claim(self.view("get_claim", subject, topic))

    def claim_by_ref(self, issuer: str, ref: bytes) -> dict[str, Any]:
        return _claim(self.view("claim_by_ref", issuer, "0x" + ref.hex()))

    def issuer(self, issuer: str) -> dict[str, Any]:
        return _claim(self.view("issuer", issuer))

    def check(self, subject: str, topics: list[str]) -> str:
        return str(self.view("check", subject, topics))


class AsyncRegistry:
    def __init__(self, client: AsyncClient, address: str) -> None:
        self.client = client
        self.address = address

    async def view(self, method: str, *args: Any) -> Any:
        return _output(await self.client.contract_call(self.address, method, list(args)), method)

    async def get_claim(self, subject: str, topic: str) -> dict[str, Any]:
        return _claim(await self.view("get_claim", subject, topic))

    async def claim_by_ref(self, issuer: str, ref: bytes) -> dict[str, Any]:
        return _claim(await self.view("claim_by_ref", issuer, "0x" + ref.hex()))

    async def issuer(self, issuer: str) -> dict[str, Any]:
        return _claim(await self.view("issuer", issuer))
