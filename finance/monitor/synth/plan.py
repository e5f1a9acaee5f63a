"""The plan of a synthetic ledger: who pays whom, in which asset, how much and in which slot.

A slot is one step of the replay: its transactions are sent once every transaction of the slot
before has committed, so a slot takes one block or more and a span of k slots is at least k
blocks. The ledger has three parts:

* **setup**: the stablecoin's holder hands a float to the other funders, then the funders (the
  genesis accounts) pay every other account what it will spend. A funder pays thousands of
  accounts, so it trips fan-out, velocity and large-value on purpose; the scorer leaves the
  setup's blocks out.
* **background**: ordinary users on a ring (a random order of them; each pays only its three
  successors, so each has three payers too), one small payment every `PERIOD` slots, coin and
  stablecoin in turn. Three counterparties stay below every fan, scatter and gather threshold;
  amounts below 5 units stay below every amount threshold; a 4-hop cycle would need more than
  12 users on the ring; 20 slots hold at most 4 payments out and 12 in.
* **planted instances** of each typology on fresh accounts, each one well over its own rule and
  shaped not to trip the others (the comments at each builder say how). Every planted account
  that will move 1,000 units or more sends a dust payment two slots before (a "touch"), so only
  the dormant instances are silent before a large movement; instances start `WARM_UP` slots after
  the setup, more than the pass-through window, so no funding counts as the "in" of a pass-through.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from finance.monitor.synth.params import TYPOLOGIES, Params
from node.types.crypto import SECP256K1_N, PrivateKey, to_checksum_address

UNIT: Final = 10**18
COIN: Final = "FIN"
TOKEN: Final = "FUSD"
PERIOD: Final = 5  # slots between two payments of one ordinary user
SUCCESSORS: Final = 3  # the counterparties of an ordinary user
MIN_USERS: Final = 16  # above 4 hops x 3 positions, so the ring has no short cycle
WARM_UP: Final = 25  # slots of background only after the setup (more than the pass-through window)
GAS_COIN: Final = 5 * UNIT  # what a planted sender gets for fees
USER_COIN: Final = 55 * UNIT  # an ordinary user's coin: more than it can spend (10 payments of <= 5)
USER_TOKEN: Final = 11 * UNIT  # and its stablecoin (10 payments of <= 1)
TOUCH: Final = UNIT // 1000
MARGIN: Final = 1.05


SPAN: Final = {"large_value": 1, "structuring": 7, "pass_through": 3, "fan_out": 5, "fan_in": 5,
               "scatter_gather": 4, "gather_scatter": 5, "cycle": 4, "watchlist": 5, "dormant": 1, "velocity": 3}


class PlanError(ValueError):
    """Arguments that cannot make a ledger (too few slots or funders)."""


@dataclass(frozen=True, slots=True)
class Move:
    sender: int  # account index in Plan.keys
    receiver: int
    asset: str  # COIN or TOKEN
    amount: int  # base units
    instance: int = -1  # the planted instance it belongs to; -1 background or setup, -2 a touch


@dataclass(slots=True)
class Instance:
    typology: str
    asset: str
    subjects: list[int]
    first_slot: int = 0
    last_slot: int = 0


@dataclass(slots=True)
class Plan:
    params: Params
    keys: list[PrivateKey]
    addresses: list[str]  # EIP-55, by account index
    funders: int  # the first accounts are the funders; funder 0 holds the stablecoin
    distribute: list[Move]  # the stablecoin float to the other funders
    funding: list[Move]
    slots: list[list[Move]]
    instances: list[Instance]
    users: list[int]
    watchlist: dict[int, tuple[str, str]] = field(default_factory=dict)  # account -> (source, reason)
    dormant: set[int] = field(default_factory=set)

    def count(self) -> int:
        return len(self.distribute) + len(self.funding) + sum(len(s) for s in self.slots)


def derive(seed: str, index: int) -> PrivateKey:
    counter = 0
    while True:
        digest = hashlib.sha256(f"{seed}/aml-ledger/{index}/{counter}".encode()).digest()
        if 0 < int.from_bytes(digest, "big") < SECP256K1_N:
            return PrivateKey(digest)
        counter += 1


class _Builder:
    def __init__(self, seed: str, funders: list[PrivateKey], params: Params, slots: int) -> None:
        self.seed = seed
        self.rnd = random.Random(seed)
        self.p = params
        self.keys = list(funders)
        self.addresses = [to_checksum_address(k.address) for k in funders]
        self.n_funders = len(funders)
        self.funder_of: dict[int, int] = {}
        self.need: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.slots: list[list[Move]] = [[] for _ in range(slots)]
        self.instances: list[Instance] = []
        self.watchlist: dict[int, tuple[str, str]] = {}
        self.dormant: set[int] = set()
        self._next_funder = 0

    # -- accounts, amounts, moves ---------------------------------------------------------------------

    def account(self) -> int:
        i = len(self.keys)
        key = derive(self.seed, i)
        self.keys.append(key)
        self.addresses.append(to_checksum_address(key.address))
        # Consecutive accounts get funders in turn, so no funder pays 4 members of one group that
        # later pays a common address (a scatter-gather through the setup): groups have at most 12.
        self.funder_of[i] = self._next_funder % self.n_funders
        self._next_funder += 1
        return i

    def accounts(self, n: int) -> list[int]:
        return [self.account() for _ in range(n)]

    def units(self, lo: float, hi: float) -> int:
        """A random amount in [lo, hi] whole units, to the cent."""
        return self.rnd.randint(round(lo * 100), round(hi * 100)) * UNIT // 100

    def fund(self, account: int, asset: str, amount: int) -> None:
        self.need[account][asset] += int(amount * MARGIN)

    def move(self, slot: int, sender: int, receiver: int, asset: str, amount: int, instance: int = -1) -> None:
        self.slots[slot].append(Move(sender, receiver, asset, amount, instance))

    # -- planted typologies: each returns (subjects, moves as (slot offset, sender, receiver, amount)) -------

    def _large_value(self, asset: str) -> tuple[list[int], list[tuple]]:
        # One movement of 1-2x the threshold to a receiver that keeps it.
        s, r = self.accounts(2)
        amount = self.units(self.p.threshold, 2 * self.p.threshold)
        self.fund(s, asset, amount)
        return [s], [(0, s, r, amount)]

    def _structuring(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 3-4 payments at 82-98% of the threshold, 2 slots apart (well inside the window), to one or two
        # receivers; each under the threshold, their sum over it.
        s, *rs = self.accounts(1 + self.rnd.randint(1, 2))
        t = self.p.threshold
        moves = [(2 * k, s, rs[k % len(rs)], self.units(0.82 * t, 0.98 * t))
                 for k in range(self.rnd.randint(self.p.structuring_min_count, self.p.structuring_min_count + 1))]
        self.fund(s, asset, sum(m[3] for m in moves))
        return [s], moves

    def _pass_through(self, asset: str) -> tuple[list[int], list[tuple]]:
        # A (1.5-6 times the minimum, under the structuring band) in, 95% of it out two slots later.
        src, mid, dst = self.accounts(3)
        a = self.units(1.5 * self.p.pass_min_amount, 6 * self.p.pass_min_amount)
        self.fund(src, asset, a)
        return [mid], [(0, src, mid, a), (2, mid, dst, a * 95 // 100)]

    def _fan_out(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 10-12 receivers (the rule wants 8) over 5 slots, 1-6 times the minimum each.
        s = self.account()
        rs = self.accounts(self.rnd.randint(self.p.fan_min_counterparties + 2, self.p.fan_min_counterparties + 4))
        moves = [(k % 5, s, r, self.units(self.p.fan_min_amount, 6 * self.p.fan_min_amount)) for k, r in enumerate(rs)]
        self.fund(s, asset, sum(m[3] for m in moves))
        return [s], moves

    def _fan_in(self, asset: str) -> tuple[list[int], list[tuple]]:
        r = self.account()
        ss = self.accounts(self.rnd.randint(self.p.fan_min_counterparties + 2, self.p.fan_min_counterparties + 4))
        moves = [(k % 5, s, r, self.units(self.p.fan_min_amount, 6 * self.p.fan_min_amount)) for k, s in enumerate(ss)]
        for m in moves:
            self.fund(m[1], asset, m[3])
        return [r], moves

    def _scatter_gather(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 5 intermediaries (the rule wants 4; fewer than a fan's 8), each passing on 95% of less than
        # the pass-through minimum.
        src = self.account()
        mids = self.accounts(self.p.graph_min + 1)
        sink = self.account()
        moves: list[tuple] = []
        for k, m in enumerate(mids):
            a = self.units(2 * self.p.graph_min_amount, 0.9 * self.p.pass_min_amount)
            moves += [(0, src, m, a), (2 + k % 2, m, sink, a * 95 // 100)]
        self.fund(src, asset, sum(m[3] for m in moves if m[1] == src))
        return [src, sink], moves

    def _gather_scatter(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 5 sources into a hub, which pays 5 sinks 80% of what came in (under the pass-through fraction);
        # 5 payers plus the hub's funder stay under a fan-in.
        srcs = self.accounts(self.p.graph_min + 1)
        hub = self.account()
        sinks = self.accounts(self.p.graph_min + 1)
        moves = [(k % 2, s, hub, self.units(2 * self.p.graph_min_amount, 0.9 * self.p.pass_min_amount))
                 for k, s in enumerate(srcs)]
        for m in moves:
            self.fund(m[1], asset, m[3])
        each = sum(m[3] for m in moves) * 80 // 100 // len(sinks)
        moves += [(3 + k % 2, hub, s, each) for k, s in enumerate(sinks)]
        return [hub], moves

    def _cycle(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 3-4 hops back to the origin, one slot apart, each passing on 98% of less than the pass-through minimum.
        members = self.accounts(self.rnd.randint(3, self.p.cycle_max_hops))
        a = self.units(2 * self.p.graph_min_amount, 0.9 * self.p.pass_min_amount)
        self.fund(members[0], asset, a)
        moves = []
        for k, m in enumerate(members):
            moves.append((k, m, members[(k + 1) % len(members)], a))
            a = a * 98 // 100
        return list(members), moves

    def _watchlist(self, asset: str, n: int) -> tuple[list[int], list[tuple]]:
        # Even instances: a watchlisted address pays X, which pays Y (two hops away), which pays Z.
        # Odd ones: someone pays a watchlisted address. Amounts under the pass-through minimum.
        a = self.units(self.p.graph_min_amount, 0.9 * self.p.pass_min_amount)
        if n % 2 == 0:
            w, x, y, z = self.accounts(4)
            self.watchlist[w] = ("synthetic-sanctions", f"planted watchlist instance {n} (a source of funds)")
            self.fund(w, asset, a)
            return [w, x, y], [(0, w, x, a), (2, x, y, a * 95 // 100), (4, y, z, a * 90 // 100)]
        s, w = self.accounts(2)
        self.watchlist[w] = ("synthetic-sanctions", f"planted watchlist instance {n} (a destination)")
        self.fund(s, asset, a)
        return [s, w], [(0, s, w, a)]

    def _dormant(self, asset: str) -> tuple[list[int], list[tuple]]:
        # Funded in the setup, silent, then 1.5-6 times the minimum in one movement (under the structuring band).
        d, r = self.accounts(2)
        a = self.units(1.5 * self.p.dormant_min_amount, 6 * self.p.dormant_min_amount)
        self.fund(d, asset, a)
        self.dormant.add(d)
        return [d], [(0, d, r, a)]

    def _velocity(self, asset: str) -> tuple[list[int], list[tuple]]:
        # 36 movements in 3 slots (the rule wants 30 in its window), to 3 receivers, 0.5-2 units each:
        # under a fan's counterparties and its total.
        s = self.account()
        rs = self.accounts(3)
        moves = [(k % 3, s, rs[k % 3], self.units(0.5, 2)) for k in range(self.p.velocity_min_movements + 6)]
        self.fund(s, asset, sum(m[3] for m in moves))
        return [s], moves

    def plant(self, typology: str, n: int) -> None:
        asset = COIN if n % 2 == 0 else TOKEN
        index = len(self.instances)
        if typology == "watchlist":
            subjects, moves = self._watchlist(asset, n)
        else:
            subjects, moves = getattr(self, "_" + typology)(asset)
        last = len(self.slots) - 1 - SPAN[typology]
        first = self.p.dormant_blocks + 10 if typology == "dormant" else WARM_UP
        start = self.rnd.randint(first, last)
        for offset, sender, receiver, amount in moves:
            self.move(start + offset, sender, receiver, asset, amount, index)
        offsets = [m[0] for m in moves]
        self.instances.append(Instance(typology, asset, subjects, start + min(offsets), start + max(offsets)))

    # -- the rest -------------------------------------------------------------------------------------

    def touches(self) -> None:
        first: dict[int, int] = {}
        for slot, moves in enumerate(self.slots):
            for m in moves:
                if m.instance >= 0 and m.amount >= self.p.dormant_min_amount * UNIT and m.sender not in self.dormant:
                    first.setdefault(m.sender, slot)
        for sender, slot in first.items():
            self.move(max(0, slot - 2), sender, self.account(), COIN, TOUCH, -2)

    def background(self, n_users: int) -> list[int]:
        users = self.accounts(n_users)
        ring = list(users)
        self.rnd.shuffle(ring)
        succ = {u: [ring[(k + j) % len(ring)] for j in range(1, SUCCESSORS + 1)] for k, u in enumerate(ring)}
        for u in users:
            self.need[u][COIN] += USER_COIN
            self.need[u][TOKEN] += USER_TOKEN
            phase, token_turn = self.rnd.randrange(PERIOD), self.rnd.random() < 0.5
            for slot in range(phase, len(self.slots), PERIOD):
                asset = TOKEN if token_turn else COIN
                token_turn = not token_turn
                amount = self.units(0.01, 1) if asset == TOKEN else self.units(0.01, 5)
                self.move(slot, u, self.rnd.choice(succ[u]), asset, amount)
        return users

    def gas(self, users: set[int]) -> None:
        senders = {m.sender for moves in self.slots for m in moves}
        for s in senders - users:
            if s >= self.n_funders:
                self.need[s][COIN] += GAS_COIN

    def funding_moves(self) -> tuple[list[Move], list[Move]]:
        funding = [Move(self.funder_of[a], a, asset, amount) for a in sorted(self.need)
                   for asset, amount in sorted(self.need[a].items()) if amount]
        token_by_funder: dict[int, int] = defaultdict(int)
        for m in funding:
            if m.asset == TOKEN:
                token_by_funder[m.sender] += m.amount
        distribute = [Move(0, f, TOKEN, amount) for f, amount in sorted(token_by_funder.items()) if f != 0]
        return distribute, funding


def build_plan(seed: str, funders: list[PrivateKey], txs: int, patterns: int, slots: int = 100,
               params: Params | None = None) -> Plan:
    """A ledger of about `txs` transactions (at least the setup and the planted instances) with
    `patterns` instances spread evenly over the typologies, the coin and the stablecoin in turn."""
    p = params or Params()
    if slots < p.dormant_blocks + 20 or slots < WARM_UP + 10:
        raise PlanError(f"{slots} slots are too few: the dormant instances need {p.dormant_blocks + 20}")
    if len(funders) < 4:
        # A group of 12 that pays one address (a fan-in) must not have 4 members paid by one funder.
        raise PlanError("at least 4 funders are needed")
    b = _Builder(seed, funders, p, slots)
    for k in range(patterns):
        typology = TYPOLOGIES[k % len(TYPOLOGIES)]
        b.plant(typology, k // len(TYPOLOGIES))
    b.touches()
    planted = sum(len(s) for s in b.slots)
    # The funding of the planted accounts: one or two payments each, and the float's distribution.
    senders = {m.sender for moves in b.slots for m in moves}
    setup = len(senders) + sum(1 for v in b.need.values() if v.get(TOKEN)) + b.n_funders - 1
    per_user = len(range(0, slots, PERIOD)) + 2
    n_users = max(MIN_USERS, (txs - planted - setup) // per_user)
    users = b.background(n_users)
    b.gas(set(users))
    distribute, funding = b.funding_moves()
    return Plan(p, b.keys, b.addresses, b.n_funders, distribute, funding, b.slots, b.instances, users, b.watchlist,
                b.dormant)


# -- checks of a replayed plan against the rules it was designed for -----------------------------------


def _max_in_window(heights: list[int], window: int) -> int:
    best, i = 0, 0
    for j, h in enumerate(heights):
        while h - heights[i] >= window:
            i += 1
        best = max(best, j - i + 1)
    return best


def _max_distinct_in_window(events: list[tuple[int, int]], window: int) -> int:
    best, i = 0, 0
    live: dict[int, int] = defaultdict(int)
    for h, other in events:
        live[other] += 1
        while h - events[i][0] >= window:
            live[events[i][1]] -= 1
            if not live[events[i][1]]:
                del live[events[i][1]]
            i += 1
        best = max(best, len(live))
    return best


def quiet_check(plan: Plan, committed: list[tuple[int, Move]]) -> dict[str, int]:
    """How close the ordinary users came to each rule, from the heights their movements committed at
    (setup included): the most movements in a velocity window, the most distinct payees and payers
    in a fan window, the largest single amount in whole units."""
    users = set(plan.users)
    moves: dict[int, list[int]] = defaultdict(list)
    outs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    ins: dict[int, list[tuple[int, int]]] = defaultdict(list)
    biggest = 0
    for h, m in sorted(committed, key=lambda hm: hm[0]):
        if m.sender in users or m.receiver in users:
            biggest = max(biggest, m.amount if m.sender in users else 0)
        if m.sender in users:
            moves[m.sender].append(h)
            outs[m.sender].append((h, m.receiver))
        if m.receiver in users:
            moves[m.receiver].append(h)
            ins[m.receiver].append((h, m.sender))
    p = plan.params
    return {
        "max_movements_per_velocity_window": max((_max_in_window(v, p.velocity_window) for v in moves.values()),
                                                 default=0),
        "max_payees_per_fan_window": max((_max_distinct_in_window(v, p.fan_window) for v in outs.values()), default=0),
        "max_payers_per_fan_window": max((_max_distinct_in_window(v, p.fan_window) for v in ins.values()), default=0),
        "max_amount_units": biggest // UNIT,
    }
