"""Contract transactions through the node: tx encoding, execution in blocks over LevelDB, genesis contracts."""

import dataclasses

import pytest

from node.client.sdk import build_call, build_deploy
from node.state.contracts import code_key
from node.types import codec, errors
from node.types.block import STATUS_FAILED, STATUS_OK
from node.types.genesis import genesis_contract
from node.types.tx import Call, Deploy, TxBody, decode_tx, intrinsic_gas
from tests.node.helpers import CHAIN_ID, COIN, key, make_chain, make_genesis
from tests.node.test_chain import T0, advance, commit_for
from vm import Address, contract_address
from vm.values import decode_value, encode_value

VAULT = '''
"""Holds native coin for its owner and counts deposits."""


@constructor
def init(label: str):
    storage["owner"] = ctx.sender
    storage["label"] = label
    storage["deposits"] = 0


@public
@payable
def deposit() -> int:
    require(ctx.value > 0, "send some value")
    n = storage["deposits"] + 1
    storage["deposits"] = n
    emit("Deposit", ctx.sender, ctx.value, n)
    return n


@public
def withdraw(amount: int, to: address):
    require(ctx.sender == storage["owner"], "only the owner")
    storage["last"] = [amount, to]
    send_coin(to, amount)


@public
def burn_gas():
    storage["deposits"] = 99
    while True:
        pass


@view
def info() -> dict:
    return {"label": storage["label"], "deposits": storage["deposits"], "height": ctx.height, "time": ctx.time}
'''


def deploy_tx(sender=0, nonce=0, args=("vault",), gas_limit=5_000_000):
    # 1 base unit per gas and no tip (the floor of make_genesis): every fee is burned, fee == gas.
    return build_deploy(key(sender), CHAIN_ID, nonce, VAULT, list(args), gas_limit=gas_limit, max_fee=1, priority_fee=0)


def call_tx(contract, method, args=(), sender=0, nonce=1, value=0, gas_limit=300_000):
    return build_call(key(sender), CHAIN_ID, nonce, contract, method, list(args), value=value, gas_limit=gas_limit,
                      max_fee=1, priority_fee=0)


def total_balance(chain, addresses):
    return sum(chain.get_account(a).balance for a in addresses)


def test_deploy_call_pay_and_restart(tmp_path):
    chain, _ = make_chain(tmp_path)
    supply = make_genesis().total_supply
    owner = key(0).address
    vault = contract_address(owner, 0)
    b1 = advance(chain, [deploy_tx()], T0 + 1000)
    r = b1.receipts[0]
    assert (r.status, r.error) == (STATUS_OK, "")
    assert decode_value(r.output) is None
    assert chain.store.get_state(code_key(vault)) == VAULT.encode()
    assert chain.get_account(owner).nonce == 1
    b2 = advance(chain, [call_tx(vault, "deposit", sender=1, nonce=0, value=5 * COIN),
                         call_tx(vault, "withdraw", [2 * COIN, Address(key(2).address)], nonce=1)], T0 + 2000)
    dep, wd = b2.receipts
    assert (dep.status, wd.status) == (STATUS_OK, STATUS_OK), (dep.error, wd.error)
    assert decode_value(dep.output) == 1
    assert [(e.address, e.name, decode_value(e.data)) for e in dep.events] == [
        (vault, "Deposit", [Address(key(1).address), 5 * COIN, 1])]
    assert chain.get_account(vault).balance == 3 * COIN
    assert chain.get_account(key(2).address).balance == 1002 * COIN
    # Fees are burned: balances plus every fee paid add up to the genesis supply.
    fees = sum(x.fee for x in b1.receipts + b2.receipts)
    assert total_balance(chain, [key(i).address for i in range(4)] + [vault]) + fees == supply
    # The fee is the gas used, not the gas limit.
    assert dep.fee == dep.gas_used < 300_000
    assert dep.gas_used > intrinsic_gas(call_tx(vault, "deposit").body)
    root = chain.state_root
    chain.store.close()
    chain2, _ = make_chain(tmp_path)
    assert chain2.state_root == root
    assert chain2.get_account(vault).balance == 3 * COIN
    chain2.store.close()


def test_failed_calls_keep_nothing_but_the_fee_and_nonce(tmp_path):
    chain, _ = make_chain(tmp_path)
    owner = key(0).address
    vault = contract_address(owner, 0)
    advance(chain, [deploy_tx()], T0 + 1000)
    before = chain.get_account(key(1).address)
    slot_before = chain.store.get_state(b"s" + vault + encode_value("deposits"))
    b = advance(chain, [
        call_tx(vault, "withdraw", [1, Address(owner)], sender=1, nonce=0),  # not the owner
        call_tx(vault, "burn_gas", sender=1, nonce=1, gas_limit=200_000),  # out of gas
        call_tx(vault, "deposit", sender=1, nonce=2, value=2000 * COIN),  # more than the balance
        call_tx(vault, "nothing", sender=1, nonce=3),
    ], T0 + 2000)
    assert [(r.status, r.error) for r in b.receipts] == [
        (STATUS_FAILED, "only the owner"),
        (STATUS_FAILED, "out of gas"),
        (STATUS_FAILED, f"insufficient balance: {before.balance - sum(r.fee for r in b.receipts[:2]) - 300_000} "
                        f"< {2000 * COIN}"),
        (STATUS_FAILED, "the contract has no public method 'nothing'"),
    ]
    assert b.receipts[1].gas_used == 200_000  # out of gas uses the whole limit
    after = chain.get_account(key(1).address)
    assert after.nonce == 4
    assert after.balance == before.balance - sum(r.fee for r in b.receipts)
    assert chain.store.get_state(b"s" + vault + encode_value("deposits")) == slot_before
    assert all(r.events == () for r in b.receipts)
    chain.store.close()


def test_a_second_node_validates_contract_blocks_to_the_same_header(tmp_path):
    chain, _ = make_chain(tmp_path / "a")
    other, _ = make_chain(tmp_path / "b")
    vault = contract_address(key(0).address, 0)
    for txs, t in [([deploy_tx()], T0 + 1000), ([call_tx(vault, "deposit", sender=1, nonce=0, value=7)], T0 + 2000)]:
        built = advance(chain, txs, t)
        checked = other.validate_block(built.raw)
        assert checked.block.header == built.block.header
        other.commit_block(checked, commit_for(checked))
    assert other.state_root == chain.state_root
    chain.store.close()
    other.store.close()


def test_contract_payloads_round_trip_and_reject_bad_arguments():
    signed = deploy_tx()
    again = decode_tx(signed.raw)
    assert again.body == signed.body and isinstance(again.body.payload, Deploy)
    call = call_tx(b"\x01" * 20, "deposit", [1, "x", b"\x00", Address(b"\x02" * 20), [1], {"k": 2**200}])
    assert decode_tx(call.raw).body.payload == call.body.payload
    assert isinstance(call.body.payload, Call)
    for bad_args in [b"\xc1", b"\x01", b"\xcb" + b"\x00" * 8, b"\x91\xcb" + b"\x00" * 8]:
        body = dataclasses.replace(call.body, payload=dataclasses.replace(call.body.payload, args=bad_args))
        tampered = body.sign(key(0))
        with pytest.raises(errors.MalformedTransaction):
            decode_tx(tampered.raw)
    # Kind 4 is still unknown.
    raw = codec.encode([[CHAIN_ID, 0, 21_000, b"\x01", b"", 0, [4, b""]], b"\x00" * 65])
    with pytest.raises(errors.MalformedTransaction, match="payload kind 4"):
        decode_tx(raw)


def test_intrinsic_gas_counts_payload_bytes():
    body = deploy_tx().body
    assert intrinsic_gas(body) == 21_000 + 16 * (len(VAULT.encode()) + len(body.payload.args))
    low = TxBody(CHAIN_ID, 0, 21_000, 1, 0, 0, body.payload)
    assert intrinsic_gas(low) > low.gas_limit


def test_genesis_contracts_are_deployed_before_block_one(tmp_path):
    deployer = key(0).address
    genesis = dataclasses.replace(make_genesis(), contracts=(genesis_contract("vault", deployer, VAULT, ["gen"]),))
    chain, _ = make_chain(tmp_path, genesis)
    vault = contract_address(deployer, 0)
    assert chain.store.get_state(code_key(vault)) == VAULT.encode()
    assert chain.get_account(deployer).nonce == 1
    b = advance(chain, [call_tx(vault, "deposit", sender=1, nonce=0, value=3)], T0 + 1000)
    assert b.receipts[0].status == STATUS_OK
    # A different genesis source is a different chain.
    other = dataclasses.replace(genesis, contracts=(genesis_contract("vault", deployer, VAULT, ["other"]),))
    assert other.hash() != genesis.hash() != make_genesis().hash()
    chain.store.close()


def test_text_without_a_utf8_form_fails_the_deploy_not_the_block(tmp_path):
    # A lone surrogate in a result, revert reason or event name would break the receipt's
    # encoding outside the VM; it is refused at deploy, in any literal, defaults included.
    chain, _ = make_chain(tmp_path)
    sources = ['@public\ndef f(x: str = "\\ud800") -> str:\n    return x\n',
               '@public\ndef f():\n    revert("\\udfff")\n',
               '@public\ndef f():\n    emit("\\ud800", 1)\n']
    txs = [build_deploy(key(0), CHAIN_ID, n, src, [], gas_limit=5_000_000) for n, src in enumerate(sources)]
    block = advance(chain, txs, T0 + 1000)
    assert [(r.status, "lone surrogate" in r.error) for r in block.receipts] == [(STATUS_FAILED, True)] * 3
