"""Fuzz target for block decoding and validation: `Chain.validate_block` over a real LevelDB chain.

The chain is at height 2 (a contract deployed, transfers made), so a block for height 3 carries a
last commit, transactions of every kind and evidence. Seeds are blocks the chain itself built;
mutations change bytes, fields of the block tree, its transactions, and its commit (signed again,
with the header's commit hash set to match, so the signatures themselves are checked). A
"reseal" mutation changes the transactions and builds the block again, so valid blocks of other
contents keep reaching execution. Oracle: only InvalidBlock escapes, and an accepted block is
its input bytes and re-encodes to them.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from node.chain import Chain, ExecutedBlock
from node.types import codec
from node.types.block import PRECOMMIT, Commit, CommitSig, decode_block, sign_vote
from node.types.codec import DecodeError
from node.types.errors import InvalidBlock, InvalidTransaction
from node.types.evidence import DuplicateVoteEvidence
from node.types.tx import Call, SignedTx, Transfer, TxBody
from tests.fuzz.codec_txs import COUNTER, TxTarget
from tests.fuzz.driver import OracleFailure
from tests.fuzz.mutate import mutate_bytes, mutate_tree, pack_loose
from tests.node.helpers import CHAIN_ID, key, make_chain, make_genesis
from tests.node.test_chain import T0, VALIDATOR, advance
from tests.node.test_evidence import equivocation
from vm import contract_address
from vm.values import encode_value

SENDERS = 8


def _transfer(sender: int, nonce: int, amount: int = 1, to: int = 1) -> SignedTx:
    return TxBody(CHAIN_ID, nonce, 21_000, 10, 1, 0, Transfer(key(to).address, amount)).sign(key(sender))


def _bump(sender: int, nonce: int, contract: bytes, n: int = 1) -> SignedTx:
    body = TxBody(CHAIN_ID, nonce, 200_000, 10, 1, 0, Call(contract, "bump", encode_value([n]), 0))
    return body.sign(key(sender))


class BlockTarget:
    name = "blocks"
    time_bound = 5.0
    rss_bound_mb = 200.0

    def __init__(self, validate: Callable[[Chain, bytes], ExecutedBlock] | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="fuzz-blocks-"))
        self.chain, _ = make_chain(self._dir, make_genesis(funded=SENDERS))
        self.validate = validate or (lambda chain, raw: chain.validate_block(raw))
        from node.client.sdk import build_deploy

        deploy = build_deploy(key(0), CHAIN_ID, 0, COUNTER, [], gas_limit=2_000_000, max_fee=10, priority_fee=1)
        self.contract = contract_address(key(0).address, 0)
        advance(self.chain, [deploy, _transfer(1, 0)], T0 + 1000)
        advance(self.chain, [_bump(0, 1, self.contract), _transfer(2, 0)], T0 + 2000)
        self.nonces = {i: self.chain.get_account(key(i).address).nonce for i in range(SENDERS)}
        self.txs = TxTarget()
        self._seeds = self._build_seeds()

    def close(self) -> None:
        self.chain.store.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _build(self, txs: list[SignedTx], evidence: tuple[DuplicateVoteEvidence, ...] = (),
               dt: int = 1000) -> ExecutedBlock:
        return self.chain.build_block(VALIDATOR.address, txs, self.chain.last_commit(), self.chain.tip_time_ms + dt,
                                      evidence)

    def _build_seeds(self) -> list[bytes]:
        n = self.nonces
        blocks = [
            self._build([]),
            self._build([_transfer(i, n[i], amount=i + 1, to=(i + 1) % SENDERS) for i in range(SENDERS)]),
            self._build([_bump(3, n[3], self.contract, 7), _bump(3, n[3] + 1, self.contract, 2**70),
                         _transfer(4, n[4], amount=10**30)]),  # a call that reverts, a transfer that fails
            self._build([_transfer(5, n[5])], (equivocation(1), equivocation(2)), dt=5),
        ]
        return [b.raw for b in blocks]

    def seeds(self) -> list[bytes]:
        return list(self._seeds)

    def render(self, item: bytes) -> str:
        return item[:300].hex() + ("..." if len(item) > 300 else "")

    def mutate(self, rng: random.Random, item: bytes, corpus: list[bytes]) -> bytes:
        r = rng.random()
        if r < 0.2:
            return mutate_bytes(rng, item, corpus, max_size=1 << 20)
        try:
            block = decode_block(item)
        except DecodeError:
            return mutate_bytes(rng, item, corpus)
        tree = block.to_list()
        if r < 0.5:
            return pack_loose(rng, mutate_tree(rng, tree, exotic=rng.random() < 0.1), p=0.0 if rng.random() < 0.8
                              else 0.2)
        if r < 0.65:  # one transaction mutated in place (decodes or not, runs or not)
            txs = tree[1]
            if txs:
                k = rng.randrange(len(txs))
                txs[k] = self.txs.mutate(rng, txs[k], txs)
            else:
                txs.append(rng.choice(self.txs.seeds()))
            return codec.encode(tree) if _encodable(tree) else pack_loose(rng, tree)
        if r < 0.8:
            return self._mutate_commit(rng, tree)
        return self._reseal(rng, block.txs)

    def _mutate_commit(self, rng: random.Random, tree: list[Any]) -> bytes:
        """A changed last commit, signed again as a validator or a stranger would, its hash put in the header."""
        height, round_, block_hash = self.chain.height, 0, self.chain.tip_hash
        signer = VALIDATOR
        op = rng.randrange(6)
        if op == 0:
            round_ = rng.choice((1, 2**31, 2**64 - 1))
        elif op == 1:
            height = rng.choice((0, height - 1, height + 1))
        elif op == 2:
            block_hash = rng.randbytes(32)
        elif op == 3:
            signer = key(rng.randrange(200, 300))
        sig = sign_vote(signer, CHAIN_ID, PRECOMMIT, height, round_, block_hash)
        sigs = [CommitSig(signer.address if op != 4 else VALIDATOR.address, sig)]
        if op == 4:
            sigs *= 2  # the same validator twice
        if op == 5:
            sigs = []
        commit = Commit(height, round_, block_hash, tuple(sigs))
        tree[2] = commit.to_list()
        tree[0][9] = commit.hash()
        return codec.encode(tree)

    def _reseal(self, rng: random.Random, raws: tuple[bytes, ...]) -> bytes:
        """Another set of transactions, built into a valid block: the acceptance path with new contents."""
        txs: list[SignedTx] = []
        for raw in raws:
            try:
                txs.append(self.chain._decode_tx(raw))
            except InvalidTransaction:
                continue
        op = rng.randrange(4)
        if op == 0 and txs:
            del txs[rng.randrange(len(txs))]
        elif op == 1:
            s = rng.randrange(SENDERS)
            txs.append(rng.choice((_transfer(s, self.nonces[s], rng.randrange(10**20)),
                                   _bump(s, self.nonces[s], self.contract, rng.randrange(-5, 2**65)))))
        elif op == 2:
            rng.shuffle(txs)
        else:
            txs = txs + txs  # duplicates: build_block leaves out what may not run
        return self._build(txs, dt=rng.choice((1, 1000, 10**6))).raw

    def run(self, item: bytes) -> str:
        height = self.chain.height
        try:
            executed = self.validate(self.chain, item)
        except InvalidBlock as exc:
            return f"rejected:{type(exc).__name__}"
        if self.chain.height != height:
            raise OracleFailure("validating a block changed the chain's height")
        if executed.raw != item or executed.block.encode() != item:
            raise OracleFailure("an accepted block is not its input bytes, or does not re-encode to them")
        return f"accepted:{min(len(executed.txs), 3)}+txs" if executed.txs else "accepted:empty"


def _encodable(tree: Any) -> bool:
    try:
        codec.encode(tree)
    except (TypeError, ValueError):
        return False
    return True


def planted_block_validator(chain: Chain, raw: bytes) -> ExecutedBlock:
    """A planted fault for the positive control: it reads the first commit signature without checking shapes."""
    try:
        tree = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as exc:
        raise InvalidBlock(f"does not decode: {exc}") from None
    if isinstance(tree, list) and len(tree) > 2 and tree[2] is not None:
        _ = tree[2][3][0][1]  # IndexError or TypeError on a commit without signatures or of another shape
    return chain.validate_block(raw)
