"""``TimerQueue``: many deadlines on one clock, so that a driver needs a single timer.

Theory of operation
-------------------
The broker core has deadlines of many kinds (keepalives, connect timeouts, will delays,
session expiries, message expiries), each belonging to some object. They live in one binary
heap of ``(when, sequence, key)`` entries; the sequence number keeps entries with the same
time in the order they were scheduled and means keys are never compared.

Entries are never removed when a deadline moves or is cancelled: that would cost a search of
the heap. Instead the owner of a key checks, when its entry comes due, whether the deadline
still holds (a keepalive entry finds that packets arrived since, and schedules itself again
for the new deadline). So ``next_deadline`` may be earlier than the true next deadline, never
later, and a driver that wakes up at it at worst does nothing: deadlines are never missed.
"""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

__all__ = ("TimerQueue",)

K = TypeVar("K")


class TimerQueue(Generic[K]):
    """Deadlines (times on the caller's clock) for keys of any type."""

    __slots__ = ("_heap", "_sequence")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = 0

    def schedule(self, when: float, key: K) -> None:
        """Have ``key`` come due at ``when`` (once; schedule it again for another time)."""
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, key))

    def next_deadline(self) -> float | None:
        """The earliest time scheduled, or None when nothing is."""
        heap = self._heap
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[K]:
        """The keys due at ``now`` (their time is ``now`` or earlier), earliest first; each
        leaves the queue."""
        heap = self._heap
        due: list[K] = []
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        return due

    def __len__(self) -> int:
        """How many entries are scheduled (stale ones included)."""
        return len(self._heap)
