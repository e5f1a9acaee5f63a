"""The recent movements the rules look back over, in memory, by address.

It holds the last `length` blocks' movements. On start it is filled again from the store, so
the rules see after a restart what they saw before it. Movements arrive in chain order, so each
address's deques are in order and the oldest block's movements are at their left.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator

from finance.monitor.movements import Movement


class RecentWindow:
    def __init__(self, length: int) -> None:
        self.length = max(1, length)
        self._blocks: deque[tuple[int, list[Movement]]] = deque()
        self._out: defaultdict[str, deque[Movement]] = defaultdict(deque)
        self._in: defaultdict[str, deque[Movement]] = defaultdict(deque)

    def start_block(self, height: int) -> None:
        while self._blocks and self._blocks[0][0] <= height - self.length:
            _, old = self._blocks.popleft()
            for m in old:
                self._forget(self._out, m.sender)
                self._forget(self._in, m.receiver)
        self._blocks.append((height, []))

    @staticmethod
    def _forget(table: defaultdict[str, deque[Movement]], address: str) -> None:
        q = table[address]
        q.popleft()
        if not q:
            del table[address]

    def add(self, m: Movement) -> None:
        if not self._blocks or self._blocks[-1][0] != m.height:
            self.start_block(m.height)
        self._blocks[-1][1].append(m)
        self._out[m.sender].append(m)
        self._in[m.receiver].append(m)

    def fill(self, movements: Iterable[Movement]) -> None:
        for m in movements:
            self.add(m)

    def outgoing(self, address: str, since: int) -> Iterator[Movement]:
        """The address's outgoing movements at heights >= since, newest first."""
        return _since(self._out.get(address), since)

    def incoming(self, address: str, since: int) -> Iterator[Movement]:
        return _since(self._in.get(address), since)


def _since(moves: deque[Movement] | None, since: int) -> Iterator[Movement]:
    if moves:
        for m in reversed(moves):
            if m.height < since:
                return
            yield m
