"""Ethereum client libraries against real finchain processes: web3.py and eth-account, unchanged.

A wallet's everyday work: read the chain id and balances, send coin with a legacy and an
EIP-1559 transaction, follow it to its receipt, read and send a stablecoin through its
ERC-20 face and see the Transfer log, subscribe to heads and logs; the same key signs native
and Ethereum transactions in one nonce sequence; refusals carry the words tools look for.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from devnet.cluster import Cluster
from devnet.homes import DEVNET_ETH_CHAIN_ID
from node.client.sdk import Client
from node.types.crypto import PrivateKey, to_checksum_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

COIN = 10**18
ERC20_ABI = json.loads("""[
 {"name":"balanceOf","type":"function","stateMutability":"view","inputs":[{"name":"a","type":"address"}],
  "outputs":[{"name":"","type":"uint256"}]},
 {"name":"totalSupply","type":"function","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"name":"decimals","type":"function","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint8"}]},
 {"name":"symbol","type":"function","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"string"}]},
 {"name":"name","type":"function","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"string"}]},
 {"name":"allowance","type":"function","stateMutability":"view",
  "inputs":[{"name":"o","type":"address"},{"name":"s","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"name":"transfer","type":"function","stateMutability":"nonpayable",
  "inputs":[{"name":"to","type":"address"},{"name":"v","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
 {"name":"approve","type":"function","stateMutability":"nonpayable",
  "inputs":[{"name":"s","type":"address"},{"name":"v","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
 {"name":"Transfer","type":"event","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},
  {"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]},
 {"name":"Approval","type":"event","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},
  {"name":"spender","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]}
]""")


def _spent(receipt) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def test_web3_wallet_flow_on_a_node(tmp_path):
    with Cluster(validators=1, block_time_ms=200, base_dir=tmp_path) as c:
        url = c.node(0).rpc_url
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 20}))
        assert w3.is_connected()
        assert w3.eth.chain_id == DEVNET_ETH_CHAIN_ID
        assert w3.net.version == str(DEVNET_ETH_CHAIN_ID)
        assert w3.eth.accounts == []
        assert w3.eth.syncing is False
        funder = Account.from_key(c.accounts[0].secret)
        alice = Account.from_key(bytes(range(1, 33)))
        native = Client(url)
        assert w3.eth.get_balance(funder.address) == int(native.account(funder.address)["balance"])

        # A legacy (EIP-155) transfer, priced by eth_gasPrice.
        before = w3.eth.get_balance(funder.address)
        legacy = funder.sign_transaction({"to": alice.address, "value": 3 * COIN, "gas": 21_000,
                                          "gasPrice": w3.eth.gas_price, "chainId": w3.eth.chain_id,
                                          "nonce": w3.eth.get_transaction_count(funder.address, "pending")})
        tx_hash = w3.eth.send_raw_transaction(legacy.raw_transaction)
        assert tx_hash == legacy.hash  # the id is Keccak-256 of the raw bytes
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.2)
        assert receipt["status"] == 1 and receipt["type"] == 0
        assert w3.eth.get_balance(alice.address) == 3 * COIN
        assert w3.eth.get_balance(funder.address) == before - 3 * COIN - _spent(receipt)
        seen = w3.eth.get_transaction(tx_hash)
        assert seen["from"] == funder.address and seen["value"] == 3 * COIN and seen["blockNumber"] == receipt[
            "blockNumber"]
        block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
        assert any(t["hash"] == tx_hash for t in block["transactions"])
        assert w3.eth.get_block(block["hash"])["number"] == block["number"]
        assert w3.eth.get_block("finalized")["number"] >= block["number"]
        assert w3.eth.get_block("earliest")["number"] == 0

        # An EIP-1559 transfer from the new account, fees from the node.
        latest = w3.eth.get_block("latest")
        tip = w3.eth.max_priority_fee
        tx = {"type": 2, "to": funder.address, "value": COIN, "gas": w3.eth.estimate_gas(
            {"from": alice.address, "to": funder.address, "value": COIN}), "maxPriorityFeePerGas": tip,
              "maxFeePerGas": 2 * latest["baseFeePerGas"] + tip, "chainId": w3.eth.chain_id,
              "nonce": w3.eth.get_transaction_count(alice.address)}
        assert tx["gas"] == 21_000
        signed = alice.sign_transaction(tx)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction),
                                                      timeout=30, poll_latency=0.2)
        assert receipt["status"] == 1 and receipt["type"] == 2
        assert w3.eth.get_balance(alice.address) == 2 * COIN - _spent(receipt)
        history = w3.eth.fee_history(4, "latest", [25, 75])
        assert len(history["baseFeePerGas"]) == len(history["reward"]) + 1

        # The same key, native then Ethereum: one nonce sequence.
        carol = PrivateKey((424_242).to_bytes(32, "big"))
        native_hash = native.transfer(c.accounts[0], to_checksum_address(carol.address), 5)
        pending = w3.eth.get_transaction_count(funder.address, "pending")
        signed = funder.sign_transaction({"to": to_checksum_address(carol.address), "value": 7, "gas": 21_000,
                                          "gasPrice": w3.eth.gas_price, "chainId": w3.eth.chain_id, "nonce": pending})
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30,
                                            poll_latency=0.2)
        native_seen = w3.eth.get_transaction(native_hash)
        assert native_seen["nonce"] == pending - 1 and native_seen["value"] == 5
        assert w3.eth.get_balance(to_checksum_address(carol.address)) == 12
        with pytest.raises(Web3RPCError, match="nonce too low"):
            w3.eth.send_raw_transaction(signed.raw_transaction)
        poor = Account.from_key(bytes(range(2, 34)))
        broke = poor.sign_transaction({"to": alice.address, "value": 1, "gas": 21_000, "gasPrice": w3.eth.gas_price,
                                       "chainId": w3.eth.chain_id, "nonce": 0})
        with pytest.raises(Web3RPCError, match=r"insufficient funds for gas \* price \+ value"):
            w3.eth.send_raw_transaction(broke.raw_transaction)
        other_chain = funder.sign_transaction({"to": alice.address, "value": 1, "gas": 21_000, "gasPrice": 10**10,
                                               "chainId": 1, "nonce": pending + 1})
        with pytest.raises(Web3RPCError, match="invalid chain id"):
            w3.eth.send_raw_transaction(other_chain.raw_transaction)
        assert native.call("mempool_status")["size"] == 0

        # FUSD through its ERC-20 face.
        fusd = w3.eth.contract(address=c.manifest.contracts["fusd"], abi=ERC20_ABI)
        assert fusd.functions.symbol().call() == "FUSD" and fusd.functions.decimals().call() == 18
        float_ = fusd.functions.balanceOf(funder.address).call()
        assert float_ == int(native.contract_call(fusd.address, "balance_of", [funder.address])["output"]) > 0
        built = fusd.functions.transfer(alice.address, 250 * COIN).build_transaction(
            {"from": funder.address, "nonce": w3.eth.get_transaction_count(funder.address, "pending"),
             "chainId": w3.eth.chain_id})
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(funder.sign_transaction(built).raw_transaction), timeout=30, poll_latency=0.2)
        assert receipt["status"] == 1
        (event,) = fusd.events.Transfer().process_receipt(receipt)
        assert (event["args"]["from"], event["args"]["to"], event["args"]["value"]) == (funder.address,
                                                                                       alice.address, 250 * COIN)
        assert fusd.functions.balanceOf(alice.address).call() == 250 * COIN
        assert fusd.functions.balanceOf(funder.address).call() == float_ - 250 * COIN
        logs = w3.eth.get_logs({"fromBlock": 1, "toBlock": "latest", "address": fusd.address,
                                "topics": [None, None, "0x" + bytes(12).hex() + alice.address[2:].lower()]})
        assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
        assert w3.eth.get_code(fusd.address)[:1] == b"\xfe" and w3.eth.get_code(alice.address) == b""

        # A compliance refusal reverts with its reason; a non-token contract is refused.
        bond = w3.eth.contract(address=c.manifest.contracts["bond"], abi=ERC20_ABI)
        with pytest.raises(ContractLogicError) as refused:
            bond.functions.transfer(Account.from_key(bytes(range(3, 35))).address, 1).call({"from": funder.address})
        assert "execution reverted" in str(refused.value)
        oracle = w3.eth.contract(address=c.manifest.contracts["oracle"], abi=ERC20_ABI)
        with pytest.raises(ContractLogicError, match="token face only"):  # web3 reports any eth_call error so
            oracle.functions.balanceOf(alice.address).call()

        asyncio.run(_subscriptions(url, w3, funder, alice, fusd.address))


async def _subscriptions(url: str, w3: Web3, funder, alice, fusd: str) -> None:
    """eth_subscribe: a head per block, and the Transfer log of a token transfer, in Ethereum's shape."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "/ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
        heads = (await ws.receive_json(timeout=10))["result"]
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                            "params": ["logs", {"address": fusd}]})
        logs = (await ws.receive_json(timeout=10))["result"]
        contract = w3.eth.contract(address=fusd, abi=ERC20_ABI)
        built = contract.functions.transfer(alice.address, 5).build_transaction(
            {"from": funder.address, "nonce": w3.eth.get_transaction_count(funder.address, "pending"),
             "chainId": w3.eth.chain_id})
        sent = w3.eth.send_raw_transaction(funder.sign_transaction(built).raw_transaction)
        got_head = got_log = None
        async with asyncio.timeout(30):
            while got_log is None or got_head is None:
                msg = await ws.receive_json()
                assert msg["method"] == "eth_subscription"
                if msg["params"]["subscription"] == heads:
                    got_head = msg["params"]["result"]
                elif msg["params"]["subscription"] == logs:
                    got_log = msg["params"]["result"]
        assert int(got_head["number"], 16) >= 1 and "transactions" not in got_head
        assert got_log["transactionHash"] == "0x" + bytes(sent).hex()
        assert int(got_log["data"], 16) == 5
        await ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "eth_unsubscribe", "params": [logs]})


def test_a_transfer_sent_to_node_0_is_seen_on_node_3(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        first, last = (Web3(Web3.HTTPProvider(c.node(i).rpc_url)) for i in (0, 3))
        funder = Account.from_key(c.accounts[1].secret)
        to = Account.from_key(bytes(range(5, 37))).address
        signed = funder.sign_transaction({"type": 2, "to": to, "value": 9, "gas": 21_000,
                                          "maxFeePerGas": 2 * first.eth.get_block("latest")["baseFeePerGas"] + 10**9,
                                          "maxPriorityFeePerGas": 10**9, "chainId": first.eth.chain_id,
                                          "nonce": first.eth.get_transaction_count(funder.address, "pending")})
        first.eth.send_raw_transaction(signed.raw_transaction)
        receipt = last.eth.wait_for_transaction_receipt(signed.hash, timeout=30, poll_latency=0.2)
        assert receipt["status"] == 1
        assert last.eth.get_balance(to) == 9
        assert last.eth.get_block(receipt["blockNumber"])["hash"] == first.eth.get_block(receipt["blockNumber"])[
            "hash"]
