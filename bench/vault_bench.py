"""Benchmark of the investment vault (vm/contracts/vault.py): gas and throughput of its actions.

Each user deposits 1 FUSD into the vault over FUSD in the lending market, then redeems half of
its shares; one mint and one withdraw are measured for gas. Two measurements, medians over --runs:

* ``vm``: the VM alone over an in-memory state (vm/testing.py), call by call;
* ``node``: the node's block builder over LevelDB (as bench/vm_bench.py): one block of signed
  deposits executed, fees, receipts and the state root included, then committed; then one block
  of redeems.

    .venv/bin/python bench/vault_bench.py                      # vm and node, 1,000 users, 3 runs
    .venv/bin/python bench/vault_bench.py --users 200 --runs 1 --mode vm

Not a test: the numbers depend on the machine. A deposit is three contracts deep (vault, FUSD's
transfer_from, the market's supply pulling FUSD again), a redeem likewise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vm_bench import NodeWorld

from devnet.contracts import VAULT_DECIMALS_OFFSET, stablecoin_args
from vm import Address
from vm.contracts import source
from vm.testing import Chain

E18 = 10**18
MAX_UINT = 2**256 - 1
# The devnet's FUSD market (devnet/README.md): base 0, 1e9 and 1e10 per block, kink 80%.
MARKET = [75 * 10**16, 10**17, 0, 10**9, 10**10, 8 * 10**17, E18, E18]
SHARES_PER_FUSD = 10 ** (18 + VAULT_DECIMALS_OFFSET)


def setup_calls(admin: Any, users: list[Any], c: dict[str, Any]) -> list[tuple]:
    """(sender, contract, method, args): FUSD priced and listed, every user holding 10 FUSD and
    having approved the vault."""
    calls: list[tuple] = [
        (admin, c["oracle"], "report", [c["fusd"], E18]),
        (admin, c["fusd"], "approve", [c["lending"], MAX_UINT]),
        (admin, c["lending"], "list_market", [c["fusd"], *MARKET]),
    ]
    for u in users:
        calls.append((admin, c["fusd"], "transfer", [u, 10 * E18]))
        calls.append((u, c["fusd"], "approve", [c["vault"], MAX_UINT]))
    return calls


def bench_vm(n_users: int) -> dict[str, float]:
    chain = Chain()
    admin = chain.account(10**30)
    users = [chain.account(10**24) for _ in range(n_users)]
    c: dict[str, Any] = {}

    def deploy(name: str, kind: str, args: list[Any]) -> None:
        res = chain.deploy(admin, source(kind), args)
        if not res.ok:
            raise SystemExit(f"deploy {name}: {res.error}")
        c[name] = res.address

    deploy("identity", "identity", [[], ["kyc.basic"]])
    fusd = stablecoin_args("Finchain USD", "FUSD", c["identity"], admin, admin)
    fusd[7], fusd[9] = int(str(fusd[7])), int(str(fusd[9]))
    deploy("fusd", "stablecoin", fusd)
    deploy("oracle", "oracle", [[admin], 3600])
    deploy("lending", "lending", [c["oracle"], 5 * 10**17, 108 * 10**16])
    deploy("vault", "vault", [c["fusd"], c["lending"], "Finchain USD Vault", "fvUSD", VAULT_DECIMALS_OFFSET])
    for call in setup_calls(admin, users, c):
        chain.must(*call)

    def timed(method: str, args: list[list[Any]]) -> tuple[float, list[int]]:
        gas = []
        start = time.perf_counter()
        for u, a in zip(users, args, strict=True):
            res = chain.call(u, c["vault"], method, a)
            if not res.ok:
                raise SystemExit(f"{method}: {res.error}")
            gas.append(res.gas_used)
        return len(users) / (time.perf_counter() - start), gas

    dep_rate, dep_gas = timed("deposit", [[E18, u] for u in users])
    chain.advance(10)
    red_rate, red_gas = timed("redeem", [[SHARES_PER_FUSD // 2, u, u] for u in users])
    u = users[0]
    mint_gas = chain.call(u, c["vault"], "mint", [SHARES_PER_FUSD, u]).gas_used
    withdraw_gas = chain.call(u, c["vault"], "withdraw", [E18 // 2, u, u]).gas_used
    return {"deposit/s": dep_rate, "redeem/s": red_rate, "gas deposit": statistics.median(dep_gas),
            "gas redeem": statistics.median(red_gas), "gas mint": mint_gas, "gas withdraw": withdraw_gas}


def bench_node(n_users: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        w = NodeWorld(Path(tmp) / "db", n_users)
        admin = Address(w.admin.address)
        users = [Address(k.address) for k in w.users]
        w.block([w.tx(*call) for call in setup_calls(admin, users, w.c)])
        deposits = [w.tx(u, w.c["vault"], "deposit", [E18, u]) for u in users]
        dep_took = w.block(deposits)
        redeems = [w.tx(u, w.c["vault"], "redeem", [SHARES_PER_FUSD // 2, u, u]) for u in users]
        red_took = w.block(redeems)
        gas = {}
        for label, tx in (("gas deposit", deposits[-1]), ("gas redeem", redeems[-1])):
            found = w.chain.reader.get_tx(tx.hash)
            gas[label] = found.receipt.gas_used if found else 0
        w.store.close()
        return {"deposit/s": n_users / dep_took, "redeem/s": n_users / red_took, **gas}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000, help="depositors (one deposit and one redeem each)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=("vm", "node", "both"), default="both")
    a = ap.parse_args()
    modes = [("vm", bench_vm), ("node", bench_node)]
    print(f"{a.users} deposits of 1 FUSD and {a.users} redeems of half the shares, median of {a.runs} runs")
    for label, fn in modes:
        if a.mode not in (label, "both"):
            continue
        runs = [fn(a.users) for _ in range(a.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        rates = "  ".join(f"{k} {v:8,.0f}" for k, v in med.items() if k.endswith("/s"))
        gas = "  ".join(f"{k} {v:,.0f}" for k, v in med.items() if k.startswith("gas"))
        print(f"{label:4} {rates}  {gas}")


if __name__ == "__main__":
    main()
