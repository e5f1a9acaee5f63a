"""Value movements of a committed block: coin transfers and token Transfer events, in one shape.

The monitor sees the chain only through a node's JSON-RPC (`chain_getBlockReceipts`). A native
transfer moves the coin ("FIN"); a token's Transfer event (any contract, the stablecoins and
asset tokens included) moves that token, named by its address. A failed transaction moves
nothing (its receipt has no events and its transfer did not happen); mints and burns (from or to
the zero address) are movements too, so value is followed from where it appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.types.crypto import AddressError, parse_address, to_checksum_address

COIN = "FIN"
ZERO = to_checksum_address(b"\0" * 20)


class BadBlock(ValueError):
    """A node's answer that is not the block shape the monitor reads."""


@dataclass(frozen=True, slots=True)
class Movement:
    height: int
    index: int  # the transaction's position in its block
    seq: int  # the movement's position in its transaction: 0 for the coin, 1 + event index for tokens
    tx_hash: str
    asset: str  # COIN or a token's EIP-55 address
    sender: str  # EIP-55
    receiver: str  # EIP-55
    amount: int

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.height, self.index, self.seq)

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "index": self.index, "seq": self.seq, "tx_hash": self.tx_hash,
                "asset": self.asset, "from": self.sender, "to": self.receiver, "amount": str(self.amount)}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Movement:
        return Movement(d["height"], d["index"], d["seq"], d["tx_hash"], d["asset"], d["from"], d["to"],
                        int(d["amount"]))


def _address(value: Any) -> str:
    try:
        return to_checksum_address(parse_address(value))
    except (AddressError, TypeError) as exc:
        raise BadBlock(f"not an address: {value!r:.60}") from exc


def _amount(value: Any) -> int:
    if isinstance(value, bool):
        raise BadBlock("an amount is a decimal string")
    try:
        amount = int(value)
    except (TypeError, ValueError) as exc:
        raise BadBlock(f"not an amount: {value!r:.60}") from exc
    if amount < 0:
        raise BadBlock("a negative amount")
    return amount


def _token_transfer(event: dict[str, Any]) -> tuple[str, str, int] | None:
    data = event.get("data")
    if event.get("name") != "Transfer" or not isinstance(data, list) or len(data) != 3:
        return None
    try:
        return _address(data[0]), _address(data[1]), _amount(data[2])
    except BadBlock:
        return None  # an event named Transfer of another shape is not a token movement


def block_movements(answer: dict[str, Any]) -> list[Movement]:
    """The movements of one `chain_getBlockReceipts` answer, in chain order."""
    try:
        height = answer["height"]
        entries = answer["txs"]
    except (KeyError, TypeError) as exc:
        raise BadBlock(f"block answer without {exc}") from None
    if not isinstance(height, int) or not isinstance(entries, list):
        raise BadBlock("block answer: height and txs of the wrong type")
    out: list[Movement] = []
    for index, entry in enumerate(entries):
        try:
            tx, receipt = entry["tx"], entry["receipt"]
            ok = receipt["status"] == "success"
            tx_hash = tx["hash"]
        except (KeyError, TypeError) as exc:
            raise BadBlock(f"transaction {index} of block {height} without {exc}") from None
        if not ok:
            continue
        if tx.get("type") == "transfer":
            amount = _amount(tx.get("amount"))
            if amount:
                out.append(Movement(height, index, 0, tx_hash, COIN, _address(tx.get("from")), _address(tx.get("to")),
                                    amount))
        elif _amount(tx.get("amount", "0")):
            # Coin sent with a call or a deploy goes to the contract.
            to = tx.get("to") or tx.get("contract_address")
            out.append(Movement(height, index, 0, tx_hash, COIN, _address(tx.get("from")), _address(to),
                                _amount(tx["amount"])))
        for seq, event in enumerate(receipt.get("events") or []):
            found = _token_transfer(event) if isinstance(event, dict) else None
            if found is not None and found[2]:
                out.append(Movement(height, index, 1 + seq, tx_hash, _address(event.get("address")), *found))
    return out
