"""``Waiters``: the calls waiting for the broker, and the outcomes nobody waits for any more.

A ``Client`` has one ``Waiters`` for its whole life (session scope, not connection scope), so
that what a call waits for is not tied to one network connection:

* ``publishes``: the future of each QoS 1/2 ``publish`` awaiting its end, keyed by the core's
  ``PublishHandle``; its timeout is kept by ``deadlines`` (one timer for all of them);
* ``acks``: the future of each SUBSCRIBE / UNSUBSCRIBE, keyed by packet id;
* ``outcomes``: publishes whose caller stopped waiting (timeout, connection lost) although
  the message stays in the session; the exception it got carries the future (``outcome``),
  which the end of the flow resolves;
* ``nowait``: the futures ``publish_nowait`` returned, resolved to the reason code (None for
  QoS 0) or failed with the ``MqttError`` that says why.

Futures carry the core's event as their result, never an exception: the waiting call decides
what to raise, and knows the context. A publish that ends with nobody waiting for it is never
silent: a failure is logged at WARNING with its topic and reason (never the payload).
"""

from __future__ import annotations

import asyncio

from ._checks import Logger
from ._deadlines import Deadlines
from .errors import MqttCodeError, MqttError
from .protocol.events import (
    Disconnected,
    Event,
    PublishCompleted,
    PublishFailed,
    SubscribeCompleted,
    UnsubscribeCompleted,
)
from .protocol.session import PublishHandle

__all__ = ("Waiters",)


class Waiters:
    """Futures by publish handle and by packet id (see the module docstring)."""

    __slots__ = ("_deadlines", "_logger", "acks", "nowait", "outcomes", "publishes")

    def __init__(self, logger: Logger) -> None:
        self._logger = logger
        self.publishes: dict[PublishHandle, asyncio.Future[Event]] = {}
        self.acks: dict[int, asyncio.Future[Event]] = {}
        self.outcomes: dict[PublishHandle, asyncio.Future[int]] = {}
        self.nowait: dict[PublishHandle, asyncio.Future[int | None]] = {}
        self._deadlines: Deadlines | None = None

    def deadlines(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        """The timeouts of publish waits, on ``loop`` (made anew if the loop changed)."""
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

    def wait_for_ack(self, packet_id: int) -> asyncio.Future[Event]:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.acks[packet_id] = future
        return future

    def publish_ended(self, event: PublishCompleted | PublishFailed) -> None:
        """Resolve what waits for this publish; say so if nothing does."""
        handle = event.handle
        future = self.publishes.pop(handle, None)
        if future is not None and not future.done():
            future.set_result(event)
            return
        failure = _failure(event)
        promised = self.nowait.pop(handle, None)
        if promised is not None and not promised.done():  # (its owner awaits it: no log)
            if failure is None:
                code = event.reason_code  # type: ignore[union-attr]
                promised.set_result(code if handle.packet.qos else None)
            else:
                promised.set_exception(failure)
            return
        outcome = self.outcomes.pop(handle, None)
        if outcome is not None and not outcome.done():
            if failure is None:
                outcome.set_result(event.reason_code)  # type: ignore[union-attr]
            else:
                outcome.set_exception(failure)
                outcome.exception()  # (logged below; asyncio need not log it again)
        topic = handle.packet.topic
        if failure is None:
            self._logger.debug("publish to %r completed in the background", topic)
        else:
            self._logger.warning(
                "publish to %r (QoS %d) failed after its caller stopped waiting: %s",
                topic,
                handle.packet.qos,
                failure,
            )

    def ack_received(self, event: SubscribeCompleted | UnsubscribeCompleted) -> None:
        future = self.acks.pop(event.packet_id, None)
        if future is None or future.done():
            self._logger.debug("acknowledgement nobody waits for any more: %s", event)
        else:
            future.set_result(event)

    def abandon(self, handle: PublishHandle) -> asyncio.Future[int]:
        """The caller of a written publish stops waiting: the future of how it ends."""
        outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.outcomes[handle] = outcome
        return outcome

    def connection_ended(self, event: Disconnected) -> None:
        """Every call waiting on this connection gets ``event`` (the callers raise)."""
        waiting = [*self.publishes.values(), *self.acks.values()]
        self.publishes.clear()
        self.acks.clear()
        for future in waiting:
            if not future.done():
                future.set_result(event)


def _failure(event: PublishCompleted | PublishFailed) -> MqttError | None:
    if isinstance(event, PublishFailed):
        return event.error
    if event.reason_code < 0x80:
        return None
    return MqttCodeError(
        event.reason_code,
        f"the broker refused the publish to {event.handle.packet.topic!r}",
        properties=event.properties,
    )
