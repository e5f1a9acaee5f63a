"""End to end on a 4-validator devnet: the financial flow through the standard contracts.

Deploy a token, create a pair, add liquidity, swap, supply, borrow, let interest accrue,
push the price down through the oracle, liquidate; every step checked through the RPC.
The four node processes run with different PYTHONHASHSEED values, so their agreement on
every block and state root is also the determinism check across processes.
"""

from __future__ import annotations

import pytest

from devnet.cluster import Cluster
from vm.testing import load_contract

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

E18 = 10**18
FAR = 4_000_000_000  # a swap deadline far in the future (seconds)


def test_financial_flow_on_a_devnet(tmp_path):
    with Cluster(validators=4, block_time_ms=300, base_dir=tmp_path) as c:
        contracts = c.manifest.contracts
        fusd, oracle, swap, lending = contracts["tusd"], contracts["oracle"], contracts["swap"], contracts["lending"]
        alice, bob, carol = c.accounts[0], c.accounts[1], c.accounts[2]
        a_addr, b_addr, c_addr = c.addresses[0], c.addresses[1], c.addresses[2]
        rpc = c.node(0).client
        reader = c.node(3).client  # reads go to another node than the writes

        def send(key, contract, method, args, **kw):
            res = rpc.call_contract(key, contract, method, args, timeout=30, **kw)
            receipt = res["receipt"]
            assert receipt["status"] == "success", f"{method}: {receipt['error']}"
            reader.wait_for_tx(res["hash"], timeout=30)
            return receipt

        def view(contract, method, args=()):
            out = reader.contract_call(contract, method, list(args))
            assert out["status"] == "success", f"{method}: {out['error']}"
            return out["output"]

        # 1. Deploy a token by transaction.
        deployed = rpc.deploy(alice, load_contract("token"), ["Test Coin", "TST", 18, str(10**9 * E18)], timeout=30)
        assert deployed["receipt"]["status"] == "success", deployed["receipt"]["error"]
        tst = deployed["contract_address"]
        reader.wait_for_tx(deployed["hash"], timeout=30)  # committed on node 0 need not yet mean on node 3
        assert reader.get_code(tst)["source"] == load_contract("token")
        assert int(view(tst, "balance_of", [a_addr])) == 10**9 * E18

        # 2. A pair and its liquidity.
        for token in (fusd, tst):
            send(alice, token, "approve", [swap, str(10**30)])
            send(alice, token, "approve", [lending, str(10**30)])
        send(alice, swap, "add_liquidity", [fusd, tst, str(10**6 * E18), str(10**6 * E18), "0", "0", a_addr, FAR])
        reserves = [int(x) for x in view(swap, "get_reserves", [fusd, tst])]
        assert reserves == [10**6 * E18, 10**6 * E18]

        # 3. Bob swaps FUSD for TST; the quote view agrees with what he gets.
        send(alice, fusd, "transfer", [b_addr, str(10_000 * E18)])
        send(bob, fusd, "approve", [swap, str(10**30)])
        quote = view(swap, "quote", [str(1000 * E18), [fusd, tst]])
        path = [fusd, tst]
        send(bob, swap, "swap_exact_tokens_for_tokens", [str(1000 * E18), quote["amount_out"], path, b_addr, FAR])
        got = int(view(tst, "balance_of", [b_addr]))
        assert got == int(quote["amount_out"]) > 990 * E18
        r0, r1 = (int(x) for x in view(swap, "get_reserves", [fusd, tst]))
        assert r0 * r1 >= reserves[0] * reserves[1]

        # 4. Prices and markets.
        send(alice, oracle, "report", [fusd, str(E18)])
        send(alice, oracle, "report", [tst, str(E18)])
        market = ["75" + "0" * 16, str(10**17), str(10**15), str(10**15), str(10**16), str(8 * 10**17), str(E18),
                  str(E18)]
        send(alice, lending, "list_market", [fusd, *market])
        send(alice, lending, "list_market", [tst, *market])
        send(alice, lending, "supply", [fusd, str(100_000 * E18)])

        # 5. Bob supplies his TST and borrows FUSD up to near his limit.
        send(bob, tst, "approve", [lending, str(10**30)])
        send(bob, lending, "supply", [tst, str(got)])
        borrow = got * 7 // 10
        send(bob, lending, "borrow", [fusd, str(borrow)])
        liquidity = view(lending, "account_liquidity", [b_addr])
        assert int(liquidity["shortfall"]) == 0 and int(liquidity["liquidity"]) > 0

        # 6. Interest accrues block by block.
        debt = int(view(lending, "borrow_balance", [fusd, b_addr]))
        c.wait_height(reader.status()["height"] + 4)
        later = int(view(lending, "borrow_balance", [fusd, b_addr]))
        assert later > debt >= borrow

        # 7. The oracle pushes TST down: Bob is now short.
        send(alice, oracle, "report", [tst, str(E18 // 2)])
        assert int(view(lending, "account_liquidity", [b_addr])["shortfall"]) > 0
        assert int(view(lending, "health_factor", [b_addr])) < E18

        # 8. Carol liquidates part of Bob's debt and receives his collateral.
        send(alice, fusd, "transfer", [c_addr, str(10_000 * E18)])
        send(carol, fusd, "approve", [lending, str(10**30)])
        before = int(view(lending, "ctoken_balance", [tst, b_addr]))
        repay = 100 * E18
        send(carol, lending, "liquidate", [b_addr, fusd, str(repay), tst])
        seized = int(view(lending, "ctoken_balance", [tst, c_addr]))
        assert seized > 0 and int(view(lending, "ctoken_balance", [tst, b_addr])) == before - seized
        assert int(view(lending, "borrow_balance", [fusd, b_addr])) < later

        # 9. A liquidation of more than the close factor is refused, with its reason in the receipt.
        too_much = int(view(lending, "borrow_balance", [fusd, b_addr]))
        failed = rpc.call_contract(carol, lending, "liquidate", [b_addr, fusd, str(too_much), tst],
                                   gas_limit=2_000_000, timeout=30)
        assert failed["receipt"]["status"] == "failed" and failed["receipt"]["error"] == "too much repay"

        c.wait_height(failed["height"] + 1)
        assert c.assert_agree() >= failed["height"] + 1
