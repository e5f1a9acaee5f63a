"""One decoder for both transaction envelopes: native (msgpack) and Ethereum-signed (RLP).

A native transaction always starts with 0x92, the msgpack header of its two-element outer array;
an Ethereum one starts with an RLP list header (0xc0 and up) or a type byte (0x00-0x7f), so the first
byte alone tells them apart. An Ethereum transaction becomes a SignedTx of this chain: its body
carries the chain's own id (the signature already bound the numeric one), never expires, and its
payload is a transfer (value, empty data) or an ERC-20 call mapped onto the token's method.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.types.crypto import TAG_TX_ID, keccak256, tagged_hash
from node.types.erc20 import decode_calldata
from node.types.errors import InvalidTransaction, MalformedTransaction, WrongChain
from node.types.eth_tx import EthTx, decode_eth_tx
from node.types.genesis import Genesis
from node.types.tx import Call, SignedTx, Transfer, TxBody, decode_tx, signer_of
from vm.values import encode_value

NATIVE_FIRST_BYTE = 0x92


def is_native(raw: bytes) -> bool:
    return bool(raw) and raw[0] == NATIVE_FIRST_BYTE


def tx_id(raw: bytes) -> bytes:
    """A committed transaction's id from its bytes alone, without checking its signature."""
    return tagged_hash(TAG_TX_ID, raw) if is_native(raw) else keccak256(raw)


@dataclass(frozen=True, slots=True)
class TxDecoder:
    max_tx_bytes: int
    chain_id: str
    eth_chain_id: int  # 0: the Ethereum envelope is refused

    @staticmethod
    def for_genesis(genesis: Genesis) -> TxDecoder:
        return TxDecoder(genesis.params.max_tx_bytes, genesis.chain_id, genesis.eth_chain_id)

    def __call__(self, raw: bytes, sender: bytes | None = None) -> SignedTx:
        """Decode either envelope; `sender`: what `signer(raw)` found for these bytes (in a worker)."""
        if is_native(raw):
            return decode_tx(raw, self.max_tx_bytes, sender)
        if not self.eth_chain_id:
            if raw and (raw[0] >= 0xC0 or raw[0] <= 0x7F):  # an RLP list or a typed envelope: Ethereum's
                raise WrongChain("this chain has no eth_chain_id: Ethereum-signed transactions are refused")
            raise MalformedTransaction("malformed transaction: neither a native envelope (0x92) nor an Ethereum one")
        return from_eth(decode_eth_tx(raw, self.eth_chain_id, self.max_tx_bytes, sender), self.chain_id)

    def signer(self, raw: bytes) -> bytes | None:
        """Who signed `raw`, None where decoding would refuse it before (or at) its signature:
        the recovery that `self(raw, sender)` then skips, done where the loop does not run it."""
        if is_native(raw):
            return signer_of(raw)
        if not self.eth_chain_id:
            return None
        try:
            return decode_eth_tx(raw, self.eth_chain_id, self.max_tx_bytes).sender
        except InvalidTransaction:
            return None


def from_eth(tx: EthTx, chain_id: str) -> SignedTx:
    """The chain transaction an Ethereum one stands for; UnknownSelector for calldata it does not serve."""
    if tx.data:
        mapped = decode_calldata(tx.data)
        payload: Transfer | Call = Call(to=tx.to, method=mapped.function.method, args=encode_value(mapped.args),
                                        amount=tx.value)
    else:
        payload = Transfer(to=tx.to, amount=tx.value)
    body = TxBody(chain_id=chain_id, nonce=tx.nonce, gas_limit=tx.gas_limit, max_fee_per_gas=tx.max_fee_per_gas,
                  max_priority_fee_per_gas=tx.max_priority_fee_per_gas, expiry_height=0, payload=payload)
    signature = tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big") + bytes([tx.y_parity])
    return SignedTx(body=body, signature=signature, hash=tx.hash, raw=tx.raw, sender=tx.sender)
