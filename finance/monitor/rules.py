"""The AML rules (docs/monitoring.md), applied to each movement in chain order.

Each rule looks at the movement and the recent window (finance.monitor.window) and returns at
most one alert. Rules over a window fire once per subject per window: a fan-out of 30 payments
is one alert, not 23. Aggregates are per asset: a window's coin and token amounts are not added.
Typologies follow the FATF red-flag indicators and IBM AMLworld's patterns (fan-out, fan-in,
scatter-gather, gather-scatter, cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finance.monitor.config import UNIT, MonitorConfig, Rule
from finance.monitor.movements import COIN, ZERO, Movement
from finance.monitor.window import RecentWindow

MAX_CYCLE_VISITS = 2_000  # a cycle search stops after so many addresses: a hub must not stall the monitor


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule saw: who, which movements, and a sentence a person can read."""

    subject: str  # the address the rule suppresses on
    addresses: tuple[str, ...]
    movements: tuple[Movement, ...]
    explanation: str
    evidence: dict[str, Any]
    severity: str | None = None  # None: the rule's own


def units(amount: int, asset: str) -> str:
    whole, frac = divmod(amount, UNIT)
    text = f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "")
    return f"{text} {asset if asset == COIN else 'of token ' + asset}"


class Rules:
    """The rules with what they read besides the window: last activity, proximity, the watchlist."""

    def __init__(self, config: MonitorConfig, window: RecentWindow, last_active: Callable[[str], int | None],
                 proximity: Callable[[str], tuple[int, str] | None], watchlist: dict[str, Any]) -> None:
        self.config = config
        self.window = window
        self.last_active = last_active
        self.proximity = proximity
        self.listed = watchlist  # the detector's, changed in place when the watchlist changes
        self.prices: dict[str, int] = {}  # asset -> oracle price for the block being read (FiatTerms)
        self.table: list[tuple[Rule, Callable[[Rule, Movement], Finding | None]]] = [
            (config.rules[name], getattr(self, name)) for name in config.rules if config.rules[name].enabled
        ]

    # -- single movements ----------------------------------------------------------------

    def large_value(self, rule: Rule, m: Movement) -> Finding | None:
        if m.sender == ZERO:
            return None
        limit = self.config.threshold(m.asset)
        if m.amount >= limit:
            return Finding(m.sender, (m.sender, m.receiver), (m,),
                           f"{m.sender} sent {units(m.amount, m.asset)} to {m.receiver}, at or above the threshold "
                           f"of {units(limit, m.asset)}", {"threshold": str(limit)})
        fiat, price = self.config.fiat, self.prices.get(m.asset)
        if fiat is None or price is None:
            return None
        value = m.amount * price // UNIT
        if value < fiat.threshold:
            return None
        return Finding(m.sender, (m.sender, m.receiver), (m,),
                       f"{m.sender} sent {units(m.amount, m.asset)} to {m.receiver}, worth {value / UNIT:,.2f} "
                       f"in the oracle's quote unit, at or above {fiat.threshold / UNIT:,.2f}",
                       {"value": str(value), "price": str(price), "fiat_threshold": str(fiat.threshold)})

    def dormant(self, rule: Rule, m: Movement) -> Finding | None:
        last = self.last_active(m.sender)
        quiet = rule.get("dormant_blocks")
        if last is None or m.height - last < quiet or m.amount < rule.get("min_amount") or m.sender == ZERO:
            return None
        return Finding(m.sender, (m.sender, m.receiver), (m,),
                       f"{m.sender} moved {units(m.amount, m.asset)} after {m.height - last} blocks without any "
                       f"movement (dormant from {quiet} blocks)",
                       {"last_active": last, "quiet_blocks": m.height - last})

    def watchlist(self, rule: Rule, m: Movement) -> Finding | None:
        for listed, other, way in ((m.sender, m.receiver, "from"), (m.receiver, m.sender, "to")):
            entry = self.listed.get(listed)
            if entry is not None:
                return Finding(other, (listed, other), (m,),
                               f"{units(m.amount, m.asset)} {way} the watchlisted address {listed} "
                               f"({entry['source']}: {entry['reason']})", {"watchlisted": listed, "hops": 1,
                                                                           "source": entry["source"]})
        near = self.proximity(m.sender)
        if near is not None and near[0] < rule.get("hops"):
            hops, origin = near[0] + 1, near[1]
            return Finding(m.receiver, (origin, m.sender, m.receiver), (m,),
                           f"{m.receiver} received {units(m.amount, m.asset)} from {m.sender}, {hops} hops from the "
                           f"watchlisted address {origin}", {"watchlisted": origin, "hops": hops}, "medium")
        return None

    # -- windows of one address --------------------------------------------------------------

    def structuring(self, rule: Rule, m: Movement) -> Finding | None:
        limit = self.config.threshold(m.asset)
        low = int(limit * rule.get("band"))
        if not low <= m.amount < limit:
            return None
        since = m.height - rule.get("window") + 1
        near = [x for x in self.window.outgoing(m.sender, since) if x.asset == m.asset and low <= x.amount < limit]
        total = sum(x.amount for x in near)
        if len(near) < rule.get("min_count") or total < limit:
            return None
        return Finding(m.sender, (m.sender,), tuple(reversed(near)),
                       f"{m.sender} sent {len(near)} amounts just below the threshold of {units(limit, m.asset)} "
                       f"within {rule.get('window')} blocks, {units(total, m.asset)} in all",
                       {"count": len(near), "total": str(total), "threshold": str(limit)})

    def pass_through(self, rule: Rule, m: Movement) -> Finding | None:
        since = m.height - rule.get("window") + 1
        came = [x for x in self.window.incoming(m.sender, since) if x.asset == m.asset]
        if not came:
            return None
        first = came[-1].key
        received = sum(x.amount for x in came)
        left = [x for x in self.window.outgoing(m.sender, since) if x.asset == m.asset and x.key > first]
        sent = sum(x.amount for x in left)
        if received < rule.get("min_amount") or sent < rule.get("min_fraction") * received:
            return None
        return Finding(m.sender, (m.sender,), tuple(reversed(came)) + tuple(reversed(left)),
                       f"{m.sender} received {units(received, m.asset)} and sent on {units(sent, m.asset)} "
                       f"({100 * sent // received}%) within {m.height - came[-1].height + 1} blocks",
                       {"received": str(received), "sent": str(sent)})

    def _fan(self, rule: Rule, m: Movement, outgoing: bool) -> Finding | None:
        hub = m.sender if outgoing else m.receiver
        since = m.height - rule.get("window") + 1
        moves = [x for x in (self.window.outgoing(hub, since) if outgoing else self.window.incoming(hub, since))
                 if x.asset == m.asset]
        parties = {x.receiver if outgoing else x.sender for x in moves}
        total = sum(x.amount for x in moves)
        if len(parties) < rule.get("min_counterparties") or total < rule.get("min_amount") or hub == ZERO:
            return None
        way = "paid" if outgoing else "was paid by"
        return Finding(hub, (hub, *sorted(parties)), tuple(reversed(moves)),
                       f"{hub} {way} {len(parties)} distinct counterparties within {rule.get('window')} blocks, "
                       f"{units(total, m.asset)} in all", {"counterparties": len(parties), "total": str(total)})

    def fan_out(self, rule: Rule, m: Movement) -> Finding | None:
        return self._fan(rule, m, True)

    def fan_in(self, rule: Rule, m: Movement) -> Finding | None:
        return self._fan(rule, m, False)

    def velocity(self, rule: Rule, m: Movement) -> Finding | None:
        since = m.height - rule.get("window") + 1
        for address in (m.sender, m.receiver):
            if address == ZERO:
                continue
            count = 0
            for _ in self.window.outgoing(address, since):
                count += 1
            for _ in self.window.incoming(address, since):
                count += 1
            if count >= rule.get("min_movements"):
                return Finding(address, (address,), (m,),
                               f"{address} made {count} movements within {rule.get('window')} blocks",
                               {"movements": count})
        return None

    # -- graphs of a few hops ------------------------------------------------------------------

    def scatter_gather(self, rule: Rule, m: Movement) -> Finding | None:
        """A source pays several intermediaries, which each pay one sink: found when a sink is paid."""
        since = m.height - rule.get("window") + 1
        sink = m.receiver
        payers: dict[str, Movement] = {}
        for x in self.window.incoming(sink, since):  # newest first: each payer's latest payment to the sink
            if x.asset == m.asset:
                payers.setdefault(x.sender, x)
        for source_move in self.window.incoming(m.sender, since):
            source = source_move.sender
            if source in (sink, ZERO) or source_move.asset != m.asset:
                continue
            legs = [x for x in self.window.outgoing(source, since)
                    if x.asset == m.asset and x.receiver in payers and x.key < payers[x.receiver].key]
            middles = {x.receiver for x in legs}
            if len(middles) >= rule.get("min_intermediaries"):
                total = sum(payers[j].amount for j in middles)
                if total < rule.get("min_amount"):
                    continue
                moves = tuple(legs) + tuple(payers[j] for j in sorted(middles))
                return Finding(source, (source, *sorted(middles), sink), moves,
                               f"{source} paid {len(middles)} intermediaries that each paid {sink}, "
                               f"{units(total, m.asset)} gathered", {"source": source, "sink": sink,
                                                                     "intermediaries": sorted(middles)})
        return None

    def gather_scatter(self, rule: Rule, m: Movement) -> Finding | None:
        """Several sources pay a hub, which pays several sinks: found when the hub pays."""
        since = m.height - rule.get("window") + 1
        hub = m.sender
        first_out = min((x.key for x in self.window.outgoing(hub, since) if x.asset == m.asset), default=m.key)
        came = [x for x in self.window.incoming(hub, since) if x.asset == m.asset and x.key < first_out]
        went = [x for x in self.window.outgoing(hub, since) if x.asset == m.asset]
        sources, sinks = {x.sender for x in came}, {x.receiver for x in went}
        if len(sources) < rule.get("min_sources") or len(sinks) < rule.get("min_sinks") or hub == ZERO:
            return None
        total = sum(x.amount for x in came)
        if total < rule.get("min_amount"):
            return None
        return Finding(hub, (hub, *sorted(sources), *sorted(sinks)), tuple(reversed(came)) + tuple(reversed(went)),
                       f"{hub} was paid by {len(sources)} sources and paid {len(sinks)} others within "
                       f"{rule.get('window')} blocks, {units(total, m.asset)} gathered",
                       {"sources": sorted(sources), "sinks": sorted(sinks)})

    def cycle(self, rule: Rule, m: Movement) -> Finding | None:
        """Value that left an address comes back to it: a path origin -> ... -> m.sender -> origin."""
        if m.amount < rule.get("min_amount") or m.receiver == ZERO:
            return None
        since = m.height - rule.get("window") + 1
        origin = m.receiver
        # Walk back from m.sender along earlier incoming movements (time-respecting), at most max_hops - 1.
        frontier: list[tuple[str, tuple[int, int, int], tuple[Movement, ...]]] = [(m.sender, m.key, ())]
        seen = {m.sender}
        for _ in range(rule.get("max_hops") - 1):
            nxt = []
            for address, before, path in frontier:
                for x in self.window.incoming(address, since):
                    if x.key >= before or x.asset != m.asset or x.amount < rule.get("min_amount"):
                        continue
                    if x.sender == origin:
                        moves = (x, *path, m)
                        hops = len(moves)
                        parties = tuple(dict.fromkeys(y.sender for y in moves))
                        return Finding(origin, parties, moves,
                                       f"{units(m.amount, m.asset)} came back to {origin} in {hops} hops within "
                                       f"{m.height - x.height + 1} blocks", {"hops": hops, "path": list(parties)})
                    if x.sender not in seen and len(seen) < MAX_CYCLE_VISITS:
                        seen.add(x.sender)
                        nxt.append((x.sender, x.key, (x, *path)))
            frontier = nxt
        return None
