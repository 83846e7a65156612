"""Timeouts for many futures at once, on one timer.

``asyncio.timeout()`` costs a timer handle, a push onto the loop's heap, a cancel and two
context-manager calls for every call it guards. A busy publisher awaits tens of thousands of
acknowledgements a second, almost all with the client's one default timeout, so their deadlines
come in the order the futures do. A deque kept in deadline order with a single timer for its
head gives the same result for a fraction of the work: a future that is still pending at its
deadline gets ``TimeoutError`` set on it, which is what its awaiter sees.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from typing import Any


def _deadline_of(entry: tuple[float, asyncio.Future[Any]]) -> float:
    return entry[0]


class Deadlines:
    """Fail futures with ``TimeoutError`` when their deadline passes before they are done."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Made by the first ``add``: an empty deque costs 600 bytes, and most clients that
        # never publish at QoS 1 or 2 would carry one for nothing.
        self._queue: deque[tuple[float, asyncio.Future[Any]]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when ``_timer`` fires (kept, not asked of the handle each time)

    def __len__(self) -> int:
        return 0 if self._queue is None else len(self._queue)

    def add(self, future: asyncio.Future[Any], deadline: float) -> None:
        """Set ``TimeoutError`` on ``future`` if it is not done by ``deadline`` (loop time).

        The caller passes a deadline rather than a duration because it has just read the
        loop's clock anyway (one read per publish instead of two).
        """
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        # Futures mostly finish in the order they came, so the finished ones collect at the
        # head: dropping them here keeps the queue about as long as what is outstanding.
        while queue and queue[0][1].done():
            queue.popleft()
        if not queue or deadline >= queue[-1][0]:
            queue.append((deadline, future))
        else:  # a shorter timeout than the ones before it: rare, so a sorted insert will do
            queue.insert(bisect.bisect_right(queue, deadline, key=_deadline_of), (deadline, future))
        if self._timer is None or deadline < self._timer_at:
            self._arm(queue[0][0])

    def close(self) -> None:
        """Forget every future and stop the timer (their owner has resolved them or gone)."""
        self._queue = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        queue = self._queue
        now = self.loop.time()
        while queue and (queue[0][0] <= now or queue[0][1].done()):
            _, future = queue.popleft()
            if not future.done():
                future.set_exception(TimeoutError())
        if queue:
            self._arm(queue[0][0])
