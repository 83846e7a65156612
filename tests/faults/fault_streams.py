"""Helpers for the fault tests that stream numbered messages through a fault.

A ``NumberPublisher`` publishes the numbers ``0 .. count - 1`` (the payload is the number in
decimal) with ``publish_nowait``, keeping at most ``window`` outcomes open: when ``window`` are
out it awaits the oldest. It records every outcome (the reason code, or the ``MqttError`` the
future failed with) and sets ``reached`` when it has handed number ``trigger`` to the client,
so that a test can inject its fault while the stream is running. A ``NumberCollector`` takes
what a subscriber receives into a list, in arrival order, until the ``END`` marker.

``LogWatch`` records what logger "asyncmqtt" says, with the monotonic time (the event loop's
clock) of each record, so that a test can measure when the client noticed a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator

from asyncmqtt import Client, MqttError

END = b"end"  # payload of the marker published after the numbers


class NumberPublisher:
    """Publishes numbered messages through ``publish_nowait`` with a sliding window."""

    def __init__(
        self, client: Client, topic: str, qos: int, count: int, *, window: int, trigger: int
    ) -> None:
        self.client = client
        self.topic = topic
        self.qos = qos
        self.count = count
        self.window = window
        self.trigger = trigger
        self.published = 0  # numbers handed to publish_nowait so far
        self.outcomes: dict[int, int | MqttError | None] = {}
        self.reached = asyncio.Event()

    async def run(self) -> dict[int, int | MqttError | None]:
        outstanding: deque[tuple[int, asyncio.Future[int | None]]] = deque()
        for number in range(self.count):
            future = self.client.publish_nowait(self.topic, str(number).encode(), qos=self.qos)
            outstanding.append((number, future))
            self.published = number + 1
            if number == self.trigger:
                self.reached.set()
            if len(outstanding) >= self.window:
                await self._settle(*outstanding.popleft())
        while outstanding:
            await self._settle(*outstanding.popleft())
        return self.outcomes

    async def _settle(self, number: int, future: asyncio.Future[int | None]) -> None:
        try:
            self.outcomes[number] = await future
        except MqttError as error:
            self.outcomes[number] = error

    def failed(self) -> dict[int, MqttError]:
        return {n: o for n, o in self.outcomes.items() if isinstance(o, MqttError)}

    def succeeded(self) -> set[int]:
        return {n for n, o in self.outcomes.items() if not isinstance(o, MqttError)}


class NumberCollector:
    """Collects the numbers a subscriber receives (in arrival order) until ``END``."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.ended = asyncio.Event()

    async def collect(self, client: Client) -> None:
        async for message in client.messages:
            if message.payload == END:
                self.ended.set()
            else:
                self.received.append(int(message.payload))

    def counts(self) -> Counter[int]:
        return Counter(self.received)

    def duplicates(self) -> dict[int, int]:
        return {number: n for number, n in self.counts().items() if n > 1}


class LogWatch(logging.Handler):
    """Keeps ``(time.monotonic(), record)`` for every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((time.monotonic(), record))

    def lines(self, level: int, text: str) -> list[tuple[float, str]]:
        """``(when, message)`` of the records at ``level`` whose message contains ``text``."""
        return [
            (when, record.getMessage())
            for when, record in self.records
            if record.levelno == level and text in record.getMessage()
        ]

    def reconnections(self) -> list[str]:
        """The INFO "connected to ..." lines logged after the first loss ("... lost: ...")."""
        losses = self.lines(logging.WARNING, " lost: ")
        if not losses:
            return []
        first = losses[0][0]
        return [
            text
            for when, text in self.lines(logging.INFO, "connected to ")
            if when >= first and text.startswith("connected to ")
        ]

    def all_lines(self) -> list[str]:
        return [f"{r.levelname} {r.getMessage()}" for _, r in self.records]


@contextlib.contextmanager
def watch_log(level: int = logging.INFO) -> Iterator[LogWatch]:
    """Attach a ``LogWatch`` to logger "asyncmqtt" (at ``level`` at least) while in the block."""
    logger = logging.getLogger("asyncmqtt")
    watch = LogWatch()
    previous = logger.level
    if previous == logging.NOTSET or previous > level:
        logger.setLevel(level)
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
        logger.setLevel(previous)
